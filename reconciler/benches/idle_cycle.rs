//! The reconciler's acceptance benchmark: an idle cycle (remote unchanged,
//! 100 apps applied) costs one fetch and next to nothing beyond it, and the
//! reconciler holding 100 apps stays small.
//!
//! Setup, before any timing: a config repo (a local git repository made
//! with git2 in a temp dir, fetched by path) with 100 small apps under
//! `apps/appNN/Heliosfile`, a fresh state directory, and a [`Reconciler`]
//! over them with an in-memory backend. One full cycle creates all 100 apps
//! and converges; the next one is checked to be [`Outcome::Skipped`], so the
//! idle benchmark cannot silently measure something else.
//!
//! - `fetch_unchanged`: [`GitSource::fetch`] alone on the unchanged remote
//!   (a second `GitSource` over the same state dir);
//! - `idle_cycle_100_apps`: [`Reconciler::reconcile`] on the unchanged
//!   remote (fetch, tree lookup, skip);
//! - `full_cycle_100_apps_one_changed`: a commit changing one app's image
//!   (made outside the timing), then a cycle: fetch, read and compile all
//!   100 Heliosfiles, observe, plan, apply the one app, wait for its
//!   health, record it and commit the state repo.
//!
//! Then CPU time is measured directly, from the process's `utime + stime`
//! in `/proc/self/stat` around many iterations, and printed as
//! `idle cycle CPU: X ms per cycle, fetch alone: Y ms, beyond fetch: Z ms`
//! (the bar: beyond fetch under 5 ms). The resident memory (`VmRSS`,
//! `VmHWM` from `/proc/self/status`) is printed right after the first full
//! cycle, before criterion allocates anything: the reconciler library
//! holding 100 applied apps (the bar: under 50 MB).
//!
//! `cargo bench -p helios-reconciler --bench idle_cycle -- --warm-up-time 1 --measurement-time 5`

use criterion::{BatchSize, Criterion};
use helios_reconciler::backends::fake::FakeBackend;
use helios_reconciler::cycle::{CycleOptions, Outcome, Reconciler};
use helios_reconciler::source::{FetchOutcome, GitSource, SourceConfig};
use helios_reconciler::state::StateDir;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How many apps the config repo holds.
const APPS: usize = 100;
/// The acceptance bar: CPU per idle cycle beyond the fetch itself.
const CPU_BAR_MS: f64 = 5.0;
/// The acceptance bar: resident memory with 100 apps.
const RSS_BAR_KB: u64 = 50 * 1024;
/// Clock ticks per second of `/proc/self/stat` (`USER_HZ`, 100 on Linux
/// whatever the kernel's own tick rate).
const USER_HZ: f64 = 100.0;
/// CPU time each direct measurement runs for, at least: the counters tick
/// every 10 ms, so this keeps the rounding near 1%.
const MEASURE_CPU: Duration = Duration::from_secs(1);
/// Fetch and idle cycle are measured alternately this many times each, and
/// the medians compared, so that load from other processes (which slows
/// both through shared caches) falls on both alike.
const ROUNDS: usize = 7;

/// A small, valid app: a web service, and for every third app a database
/// it reads its URL from.
fn heliosfile(n: usize, tag: &str) -> String {
    let mut text = format!(
        "name: app{n:02}\n\
         version: 1\n\
         services:\n  \
           web:\n    \
             image: registry.example.com/app{n:02}:{tag}\n    \
             http_port: 8080\n    \
             healthcheck: {{ path: /healthz }}\n"
    );
    if n.is_multiple_of(3) {
        let database = ["postgresql", "mysql", "redis", "mongodb"][n % 4];
        text.push_str(&format!(
            "    env:\n      \
                   DATABASE_URL: ${{db.URL}}\n\
             databases:\n  \
               db: {{ type: {database} }}\n"
        ));
    }
    text
}

fn heliosfile_path(n: usize) -> String {
    format!("apps/app{n:02}/Heliosfile")
}

/// The config repo: a work tree on `main` that commits are made in.
struct Remote {
    repo: git2::Repository,
}

impl Remote {
    fn new(dir: &Path) -> Self {
        let mut options = git2::RepositoryInitOptions::new();
        options.initial_head("main");
        let repo = git2::Repository::init_opts(dir, &options).expect("git init");
        Self { repo }
    }

    fn workdir(&self) -> PathBuf {
        self.repo.workdir().expect("a work tree").to_path_buf()
    }

    /// Writes the files and commits them on top of `HEAD`.
    fn commit(&self, files: &[(String, String)]) -> String {
        let workdir = self.workdir();
        let mut index = self.repo.index().expect("the index");
        for (path, text) in files {
            let file = workdir.join(path);
            std::fs::create_dir_all(file.parent().expect("a parent")).expect("a folder");
            std::fs::write(&file, text).expect("a file");
            index.add_path(Path::new(path)).expect("git add");
        }
        index.write().expect("write the index");
        let tree = self
            .repo
            .find_tree(index.write_tree().expect("a tree"))
            .expect("the tree");
        let signature = git2::Signature::now("Bench", "bench@helios.invalid").expect("who");
        let parent = self.repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        self.repo
            .commit(
                Some("HEAD"),
                &signature,
                &signature,
                "bench",
                &tree,
                &parents,
            )
            .expect("a commit")
            .to_string()
    }
}

/// `utime + stime` of this process, in seconds.
fn process_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The command name (field 2) may hold spaces; fields after it are
    // plain numbers. utime and stime are fields 14 and 15.
    let after_name = &stat[stat.rfind(')').expect("a command name") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| -> f64 { fields[i].parse::<u64>().expect("a tick count") as f64 };
    // fields[0] is field 3 (state), so field 14 is fields[11].
    (ticks(11) + ticks(12)) / USER_HZ
}

/// `VmRSS` and `VmHWM` of this process, in kB.
fn resident_kb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU milliseconds per call of `run`, over as many calls as fill
/// [`MEASURE_CPU`] (at least 100).
fn cpu_per_call(mut run: impl FnMut()) -> (f64, u64) {
    let start = process_cpu();
    let mut calls = 0u64;
    while calls < 100 || process_cpu() - start < MEASURE_CPU.as_secs_f64() {
        for _ in 0..10 {
            run();
        }
        calls += 10;
    }
    ((process_cpu() - start) * 1000.0 / calls as f64, calls)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let (before_kb, _) = resident_kb();
    let dir = tempfile::tempdir().expect("a temp dir");
    let remote = Remote::new(&dir.path().join("config"));
    let apps: Vec<(String, String)> = (0..APPS)
        .map(|n| (heliosfile_path(n), heliosfile(n, "1.0.0")))
        .collect();
    remote.commit(&apps);
    let state_dir = dir.path().join("state");
    let url = remote.workdir().to_string_lossy().into_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");

    let state = StateDir::open_or_init(&state_dir).expect("the state dir");
    let source =
        GitSource::open(SourceConfig::new(url.clone(), "main"), &state_dir).expect("the source");
    let options = CycleOptions {
        // No drift check is due during the run: every unchanged cycle is
        // an idle one.
        drift_interval: Duration::from_secs(24 * 3600),
        ..CycleOptions::default()
    };
    let mut reconciler = Reconciler::new(source, state, FakeBackend::default(), options);

    let started = Instant::now();
    let first = runtime
        .block_on(reconciler.reconcile())
        .expect("the first cycle");
    let first_took = started.elapsed();
    assert!(first.converged, "{first:?}");
    assert_eq!(first.outcome, Outcome::Applied);
    assert_eq!(first.counts.created, APPS, "{:?}", first.counts);
    let (rss, hwm) = resident_kb();
    println!(
        "first full cycle, {APPS} apps created: {:.1} ms wall; resident memory after it: \
         VmRSS {:.1} MB, VmHWM {:.1} MB ({} the {} MB bar; VmRSS {:.1} MB at start)",
        first_took.as_secs_f64() * 1000.0,
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
        if hwm < RSS_BAR_KB { "within" } else { "OVER" },
        RSS_BAR_KB / 1024,
        before_kb as f64 / 1024.0,
    );

    let idle = runtime
        .block_on(reconciler.reconcile())
        .expect("an idle cycle");
    assert_eq!(idle.outcome, Outcome::Skipped, "{idle:?}");

    // A second source over the same state dir, to time the fetch alone.
    let mut fetcher =
        GitSource::open(SourceConfig::new(url, "main"), &state_dir).expect("the source");
    assert!(matches!(
        fetcher.fetch().expect("a fetch"),
        FetchOutcome::Unchanged { .. }
    ));

    let mut criterion = Criterion::default().configure_from_args();
    criterion.bench_function("fetch_unchanged", |b| {
        b.iter(|| black_box(fetcher.fetch().expect("a fetch")))
    });
    criterion.bench_function("idle_cycle_100_apps", |b| {
        b.iter(|| black_box(runtime.block_on(reconciler.reconcile()).expect("a cycle")))
    });

    // Measured directly, before the full cycles add commits to both repos.
    // Only under `cargo bench` (`--bench`), not in a quick run (`cargo
    // test --benches`, `-- --test`) or a listing.
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    if has("--bench") && !has("--test") && !has("--list") {
        let (mut fetch, mut cycle) = (Vec::new(), Vec::new());
        let (mut fetches, mut cycles) = (0, 0);
        for _ in 0..ROUNDS {
            let (ms, calls) = cpu_per_call(|| {
                black_box(fetcher.fetch().expect("a fetch"));
            });
            fetch.push(ms);
            fetches += calls;
            let (ms, calls) = cpu_per_call(|| {
                let report = runtime.block_on(reconciler.reconcile()).expect("a cycle");
                assert_eq!(report.outcome, Outcome::Skipped);
            });
            cycle.push(ms);
            cycles += calls;
        }
        let (fetch_ms, cycle_ms) = (median(&mut fetch), median(&mut cycle));
        let beyond = cycle_ms - fetch_ms;
        println!(
            "idle cycle CPU: {cycle_ms:.3} ms per cycle, fetch alone: {fetch_ms:.3} ms, \
             beyond fetch: {beyond:.3} ms ({} the {CPU_BAR_MS} ms bar; medians of \
             {ROUNDS} rounds, {cycles} cycles and {fetches} fetches in all, process \
             utime+stime)",
            if beyond < CPU_BAR_MS {
                "within"
            } else {
                "OVER"
            },
        );
    }

    // One app changes per iteration, between two tags (a new commit each
    // time, so a new tree every cycle).
    let mut round = 0usize;
    criterion.bench_function("full_cycle_100_apps_one_changed", |b| {
        b.iter_batched(
            || {
                round += 1;
                let tag = format!("1.0.{}", round % 2 + 1);
                remote.commit(&[(heliosfile_path(APPS / 2), heliosfile(APPS / 2, &tag))]);
            },
            |()| {
                let report = runtime.block_on(reconciler.reconcile()).expect("a cycle");
                assert_eq!(report.counts.updated, 1, "{:?}", report.counts);
                assert!(report.converged);
                report
            },
            BatchSize::PerIteration,
        )
    });
    criterion.final_summary();

    let (rss, hwm) = resident_kb();
    println!(
        "resident memory at the end (criterion included): VmRSS {:.1} MB, VmHWM {:.1} MB",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
    );
}
