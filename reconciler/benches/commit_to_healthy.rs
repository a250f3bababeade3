//! Commit-to-healthy: how long after a commit to the config repo the
//! changed service runs healthy on this Docker host, with the real
//! `helios-reconciler` daemon and the real Docker Engine.
//!
//! Two ways the daemon learns of the commit: `notify` (a local repo path,
//! watched, the default) and `polling` (`--no-watch --interval 5s`, as with
//! a remote it cannot watch; about half an interval is added on average).
//! Each iteration commits a one-service change (a new env value, so the
//! service is recreated) and polls Docker until a container with that
//! value reports `healthy`. The service's healthcheck runs every second,
//! so up to a second of every figure is Docker's first probe.
//!
//! Needs Docker, a Compose tool and busybox like the end-to-end tests;
//! without them it says so and measures nothing.
//! `cargo bench -p helios-reconciler --bench commit_to_healthy`

#![allow(clippy::panic)] // A benchmark harness; failures are loud.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{Cleanup, build_image, commit_all, config_repo, container_ids, docker_ready};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_helios-reconciler");

fn heliosfile(name: &str, image: &str, version: u64) -> String {
    format!(
        "name: {name}\n\
         version: 1\n\
         services:\n\
         \x20 web:\n\
         \x20   image: {image}\n\
         \x20   command: [sh, -c, \"trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait\"]\n\
         \x20   http_port: 8080\n\
         \x20   healthcheck:\n\
         \x20     path: /index.html\n\
         \x20     interval: 1s\n\
         \x20     timeout: 1s\n\
         \x20     retries: 30\n\
         \x20   env:\n\
         \x20     RELEASE: \"{version}\"\n"
    )
}

/// The daemon; stopped with SIGTERM (then killed) when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether `app`'s web service runs healthy with `RELEASE=version`.
fn healthy_with(app: &str, version: u64) -> bool {
    let wanted = format!("RELEASE={version}");
    container_ids(app, "web").iter().any(|id| {
        // Not `inspect`: a container being replaced may be gone already.
        let Ok(output) = Command::new("docker")
            .args([
                "inspect",
                "--format",
                "{{.State.Health.Status}} {{range .Config.Env}}{{.}} {{end}}",
                id,
            ])
            .output()
        else {
            return false;
        };
        let state = String::from_utf8_lossy(&output.stdout);
        state.starts_with("healthy ") && state.split_whitespace().any(|e| e == wanted)
    })
}

fn wait_healthy(app: &str, version: u64, limit: Duration) -> Duration {
    let start = Instant::now();
    while !healthy_with(app, version) {
        assert!(
            start.elapsed() < limit,
            "{app} not healthy with RELEASE={version} after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

fn commit_to_healthy(c: &mut Criterion) {
    if !docker_ready() {
        return;
    }
    let pid = std::process::id();
    let image = format!("helios-bench/base:{pid}");
    // (name, flags, the poll interval a commit may wait for).
    let modes: [(&str, &[&str], Duration); 2] = [
        ("notify", &["--interval", "30s"], Duration::ZERO),
        (
            "polling",
            &["--no-watch", "--interval", "5s"],
            Duration::from_secs(5),
        ),
    ];
    let apps: Vec<String> = modes
        .iter()
        .map(|(mode, _, _)| format!("bench-{mode}-{pid}"))
        .collect();
    let _cleanup = Cleanup {
        projects: apps.clone(),
        images: vec![image.clone()],
    };
    let root: PathBuf = std::env::temp_dir().join(format!("helios-commit-to-healthy-{pid}"));
    let _ = std::fs::remove_dir_all(&root);
    build_image(&root.join("image"), &image);

    let mut group = c.benchmark_group("commit_to_healthy");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(40));
    for ((mode, flags, interval), app) in modes.iter().zip(&apps) {
        let world = root.join(mode);
        let repo = config_repo(&world.join("config"));
        let mut version = 0;
        commit_all(
            &repo,
            &[("app/Heliosfile", Some(&heliosfile(app, &image, version)))],
        );
        let daemon = start_daemon(&world, repo.workdir().expect("a work tree"), flags);
        wait_healthy(app, version, Duration::from_secs(120));
        group.bench_function(*mode, |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    version += 1;
                    // A commit lands at any moment of the poll period, not
                    // right after the last cycle: spread the phases evenly
                    // (golden-ratio steps) over one interval, unmeasured.
                    std::thread::sleep(interval.mul_f64((version as f64 * 0.618_034).fract()));
                    let start = Instant::now();
                    commit_all(
                        &repo,
                        &[("app/Heliosfile", Some(&heliosfile(app, &image, version)))],
                    );
                    wait_healthy(app, version, Duration::from_secs(120));
                    total += start.elapsed();
                }
                total
            });
        });
        drop(daemon);
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&root);
}

fn start_daemon(world: &Path, repo: &Path, flags: &[&str]) -> Daemon {
    let log = std::fs::File::create(world.join("daemon.log")).expect("a log file");
    let child = Command::new(BINARY)
        .arg("run")
        .arg("--repo")
        .arg(repo)
        .arg("--state-dir")
        .arg(world.join("state"))
        .args(["--backend", "compose", "--health-timeout", "60s"])
        .args(flags)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the daemon starts");
    Daemon(child)
}

criterion_group!(benches, commit_to_healthy);
criterion_main!(benches);
