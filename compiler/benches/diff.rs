//! Benchmark of `heliosc diff` on a repository of 1,000 apps where one
//! commit changes one app: `diff_1000_apps_one_changed_cli` runs
//! `heliosc diff --base A --head B --repo DIR` as a child process (a cold
//! process each time). The repository is made once with git2, before
//! timing. The bar is one second; the 999 unchanged Heliosfiles are the same
//! blobs at both commits, so they are not compiled.
//!
//! After criterion's run, the median of ten more runs is printed and checked
//! against the bar.
//!
//! `cargo bench -p heliosc --bench diff -- --warm-up-time 1 --measurement-time 5`

use criterion::Criterion;
use git2::{Repository, Signature, Time};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// How many apps the repository holds.
const APPS: usize = 1_000;
/// The acceptance bar for one `heliosc diff`.
const BAR: Duration = Duration::from_secs(1);

/// A small, valid app: two services and a database, references between them.
fn heliosfile(n: usize, tag: &str) -> String {
    let database = ["postgresql", "mysql", "redis", "mongodb"][n % 4];
    format!(
        "name: app-{n}\n\
         version: 1\n\
         image: registry.example.com/app-{n}\n\
         secrets: [API_KEY]\n\
         services:\n  \
           web:\n    \
             image: registry.example.com/app-{n}:{tag}\n    \
             http_port: 8080\n    \
             replicas: {replicas}\n    \
             memory: 256\n    \
             healthcheck: {{ path: /healthz }}\n    \
             env:\n      \
               DATABASE_URL: ${{db.URL}}\n      \
               API_KEY: ${{secret.API_KEY}}\n      \
               WORKER: http://${{worker.HOST}}:9000\n  \
           worker:\n    \
             command: [run, --queue, jobs-{n}]\n    \
             ports: [9000]\n\
         databases:\n  \
           db: {{ type: {database} }}\n",
        replicas = 1 + n % 3,
    )
}

/// Writes (`Some`) or deletes files and commits them with a fixed author.
fn commit(repo: &Repository, dir: &Path, files: &[(String, String)], when: i64) -> String {
    let mut index = repo.index().expect("index");
    for (path, text) in files {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().expect("a parent")).expect("mkdir");
        std::fs::write(&file, text).expect("write");
        index.add_path(Path::new(path)).expect("git add");
    }
    index.write().expect("write index");
    let tree = repo
        .find_tree(index.write_tree().expect("tree"))
        .expect("tree");
    let signature =
        Signature::new("Bench", "bench@example.com", &Time::new(when, 0)).expect("signature");
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    repo.commit(
        Some("HEAD"),
        &signature,
        &signature,
        "bench",
        &tree,
        &parents,
    )
    .expect("commit")
    .to_string()
}

/// The repository, its two commits.
fn make_repo() -> (PathBuf, String, String) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-diff-repo");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the repo folder");
    let repo = Repository::init(&dir).expect("git init");
    let path = |n: usize| format!("apps/app-{n:04}/Heliosfile.yml");
    let all: Vec<(String, String)> = (0..APPS)
        .map(|n| (path(n), heliosfile(n, "1.0.0")))
        .collect();
    let base = commit(&repo, &dir, &all, 1_700_000_000);
    let changed = APPS / 2;
    let head = commit(
        &repo,
        &dir,
        &[(path(changed), heliosfile(changed, "1.0.1"))],
        1_700_000_060,
    );
    (dir, base, head)
}

fn main() {
    let heliosc = env!("CARGO_BIN_EXE_heliosc");
    let (dir, base, head) = make_repo();
    let run = || -> Output {
        Command::new(heliosc)
            .args(["diff", "--base", &base, "--head", &head, "--repo"])
            .arg(&dir)
            .args(["--format", "json"])
            .output()
            .expect("run heliosc")
    };
    let output = run();
    assert_eq!(
        output.status.code(),
        Some(3),
        "heliosc diff: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(json["summary"]["changed"], 1, "{}", json["summary"]);
    assert_eq!(json["summary"]["unchanged"], APPS - 1);

    let mut criterion = Criterion::default().configure_from_args().sample_size(10);
    criterion.bench_function("diff_1000_apps_one_changed_cli", |b| b.iter(run));
    criterion.final_summary();

    let mut times: Vec<Duration> = (0..10)
        .map(|_| {
            let started = Instant::now();
            run();
            started.elapsed()
        })
        .collect();
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "heliosc diff, {APPS} apps, one changed: median of 10 runs {:.1} ms (bar {} ms)",
        median.as_secs_f64() * 1000.0,
        BAR.as_millis()
    );
    assert!(median < BAR, "heliosc diff took {median:?}, over the bar");
    let _ = std::fs::remove_dir_all(&dir);
}
