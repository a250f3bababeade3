//! The real `helios-reconciler run` daemon holding 100 apps applied on the
//! real Docker Engine: its CPU time per idle cycle (remote unchanged) and
//! its resident memory, the acceptance bars the library-level `idle_cycle`
//! bench measures against an in-memory backend.
//!
//! The config repo has 100 apps of one busybox service each (no port, no
//! healthcheck: running is healthy, nothing waits). The daemon runs with
//! `--interval 500ms --drift-interval 1h`, so after its first cycle (100 ×
//! `docker-compose up`, minutes) every cycle is an idle one. Each criterion
//! iteration waits for [`CYCLES_PER_ITERATION`] more skipped cycles
//! (`helios_cycles_total{outcome="skipped"}` on `/metrics`) and returns the
//! daemon process's CPU time (`utime + stime` of `/proc/<pid>/stat`) over
//! them divided by that number, so criterion reports CPU per idle cycle.
//! The counters tick in 1/`CLK_TCK` s (10 ms), hence many cycles per
//! iteration; the whole measured period is reported too, and the cost of
//! the bench's own `/metrics` polling (a few scrapes per cycle, included in
//! the figures) is measured apart. Resident memory (`VmRSS`, `VmHWM` of
//! `/proc/<pid>/status`) is printed after the first cycle and at the end.
//!
//! Each app is its own Compose project with its own bridge network: the
//! engine needs address pools for 100 networks, which Docker's defaults
//! (about 30) do not give; set `default-address-pools` in
//! `/etc/docker/daemon.json`, e.g.
//! `[{"base": "10.210.0.0/16", "size": 24}]`. When the first cycle fails
//! apps for want of a pool, the bench stops and says so.
//!
//! Needs Docker, a Compose tool and busybox like the end-to-end tests, and
//! Linux's `/proc`; without them it says so and measures nothing.
//! `cargo bench -p helios-reconciler --bench daemon_100_apps`

#![allow(clippy::panic)] // A benchmark harness; failures are loud.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{Cleanup, build_image, commit_all, config_repo, docker_ready};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_helios-reconciler");

const APPS: usize = 100;

/// Idle cycles per criterion iteration: the CPU counters tick every 10 ms,
/// an idle cycle costs far less.
const CYCLES_PER_ITERATION: u64 = 30;

/// How often the bench reads `/metrics` while waiting for cycles.
const POLL: Duration = Duration::from_millis(200);

fn heliosfile(name: &str, image: &str) -> String {
    format!(
        "name: {name}\n\
         version: 1\n\
         services:\n\
         \x20 worker:\n\
         \x20   image: {image}\n\
         \x20   command: [sh, -c, \"trap 'exit 0' TERM; sleep 3600 & wait\"]\n"
    )
}

/// The daemon; stopped with SIGTERM (then killed) when dropped.
struct Daemon {
    child: Child,
    metrics: SocketAddr,
    log: std::path::PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails loudly, with the end of the daemon's log, if it has exited.
    fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("the daemon exited ({status}):\n{}", self.log_tail());
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// `GET /metrics`, or `None` while the listener is not up.
    fn scrape(&self) -> Option<Metrics> {
        let mut stream = TcpStream::connect_timeout(&self.metrics, Duration::from_secs(5)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let (head, body) = response.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.1 200")
            .then(|| Metrics(body.to_string()))
    }

    /// Waits until `helios_cycles_total{outcome="skipped"}` reaches `count`
    /// and checks that no cycle did anything else meanwhile.
    fn wait_skipped(&mut self, count: u64, before: &Metrics) -> Metrics {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(metrics) = self.scrape() {
                for outcome in ["applied", "refused", "error"] {
                    let name = format!("helios_cycles_total{{outcome=\"{outcome}\"}}");
                    assert_eq!(
                        metrics.value(&name),
                        before.value(&name),
                        "a cycle that was not idle ({outcome}):\n{}",
                        self.log_tail()
                    );
                }
                if metrics.skipped() >= count {
                    return metrics;
                }
            }
            self.assert_alive();
            assert!(
                Instant::now() < deadline,
                "no skipped cycle #{count} within a minute:\n{}",
                self.log_tail()
            );
            std::thread::sleep(POLL);
        }
    }
}

/// One `/metrics` exposition.
struct Metrics(String);

impl Metrics {
    /// The value of the sample `name` (with its labels), if present.
    fn value(&self, name: &str) -> Option<f64> {
        self.0.lines().find_map(|line| {
            let value = line.strip_prefix(name)?.strip_prefix(' ')?;
            value.trim().parse().ok()
        })
    }

    fn skipped(&self) -> u64 {
        self.value("helios_cycles_total{outcome=\"skipped\"}")
            .unwrap_or(0.0) as u64
    }

    fn apps(&self, result: &str) -> u64 {
        self.value(&format!("helios_apps{{result=\"{result}\"}}"))
            .unwrap_or(0.0) as u64
    }
}

/// The clock ticks per second of `/proc/<pid>/stat`'s times.
fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

/// `utime + stime` of process `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
    // After the command name in parentheses: field 3 (state) onwards;
    // utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').expect("(comm)") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> u64 { fields[n - 3].parse().expect("a tick count") };
    field(14) + field(15)
}

fn ticks_to_duration(ticks: u64, per_second: u64) -> Duration {
    Duration::from_nanos(ticks * 1_000_000_000 / per_second)
}

/// `VmRSS` and `VmHWM` of process `pid`, as `/proc/<pid>/status` says them.
fn resident(pid: u32) -> String {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    let field = |name: &str| -> String {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map_or_else(|| "?".to_string(), |v| v.trim().to_string())
    };
    let mb = |kb: &str| -> String {
        kb.trim_end_matches(" kB")
            .parse::<f64>()
            .map_or_else(|_| kb.to_string(), |kb| format!("{:.1} MB", kb / 1000.0))
    };
    format!(
        "VmRSS {} ({}), VmHWM {} ({})",
        field("VmRSS:"),
        mb(&field("VmRSS:")),
        field("VmHWM:"),
        mb(&field("VmHWM:"))
    )
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

fn start_daemon(world: &Path, repo: &Path) -> Daemon {
    let log = world.join("daemon.log");
    let metrics = free_port();
    let child = Command::new(BINARY)
        .arg("run")
        .arg("--repo")
        .arg(repo)
        .arg("--state-dir")
        .arg(world.join("state"))
        .args([
            "--backend",
            "compose",
            "--interval",
            "500ms",
            "--drift-interval",
            "1h",
            "--health-timeout",
            "60s",
            "--listen",
            &metrics.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("a log file"))
        .spawn()
        .expect("the daemon starts");
    Daemon {
        child,
        metrics,
        log,
    }
}

/// Waits (up to 15 minutes) until the last cycle converged with all apps
/// healthy; fails early when apps failed for want of an address pool.
fn wait_converged(daemon: &mut Daemon) -> Metrics {
    let deadline = Instant::now() + Duration::from_secs(15 * 60);
    let mut reported_failures = false;
    loop {
        if let Some(metrics) = daemon.scrape() {
            if metrics.apps("healthy") == APPS as u64
                && metrics
                    .value("helios_last_success_timestamp_seconds")
                    .is_some()
            {
                return metrics;
            }
            let finished = metrics
                .value("helios_cycles_total{outcome=\"applied\"}")
                .unwrap_or(0.0)
                >= 1.0;
            if finished && metrics.apps("failed") > 0 {
                if daemon
                    .log_text()
                    .contains("could not find an available, non-overlapping IPv4 address pool")
                {
                    panic!(
                        "{} of {APPS} apps failed: Docker ran out of address pools for \
                         their networks (each app is a Compose project with its own \
                         network). Give the engine room for {APPS} networks: \
                         \"default-address-pools\": [{{\"base\": \"10.210.0.0/16\", \
                         \"size\": 24}}] in /etc/docker/daemon.json, then restart dockerd.",
                        metrics.apps("failed")
                    );
                }
                if !reported_failures {
                    eprintln!(
                        "the first cycle left {} apps failed; waiting for the retries:\n{}",
                        metrics.apps("failed"),
                        daemon.log_tail()
                    );
                    reported_failures = true;
                }
            }
        }
        daemon.assert_alive();
        assert!(
            Instant::now() < deadline,
            "not converged with {APPS} healthy apps after 15 minutes:\n{}",
            daemon.log_tail()
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

fn daemon_100_apps(c: &mut Criterion) {
    if !docker_ready() {
        return;
    }
    if !Path::new("/proc/self/stat").is_file() {
        eprintln!("skipped: no /proc to read the daemon's CPU time and memory from");
        return;
    }
    let pid = std::process::id();
    let image = format!("helios-bench/base:d{pid}");
    let apps: Vec<String> = (0..APPS).map(|n| format!("d{pid}-{n:02}")).collect();
    // Declared before the daemon: dropped after it stopped, even on panic.
    let _cleanup = Cleanup {
        projects: apps.clone(),
        images: vec![image.clone()],
    };
    let root = std::env::temp_dir().join(format!("helios-daemon-100-apps-{pid}"));
    let _ = std::fs::remove_dir_all(&root);
    build_image(&root.join("image"), &image);

    let repo = config_repo(&root.join("config"));
    let files: Vec<(String, String)> = apps
        .iter()
        .enumerate()
        .map(|(n, app)| {
            (
                format!("apps/app{n:02}/Heliosfile"),
                heliosfile(app, &image),
            )
        })
        .collect();
    let files: Vec<(&str, Option<&str>)> = files
        .iter()
        .map(|(path, text)| (path.as_str(), Some(text.as_str())))
        .collect();
    commit_all(&repo, &files);

    let ticks_per_second = clock_ticks();
    let start = Instant::now();
    let mut daemon = start_daemon(&root, repo.workdir().expect("a work tree"));
    let converged = wait_converged(&mut daemon);
    let converged_at = start.elapsed();
    // The log line of the cycle that converged, e.g. `cycle: converged
    // commit=… created=100 … duration_ms=73767 next_s=0.5`.
    let log = daemon.log_text();
    let first_cycles: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("cycle: converged") || l.contains("cycle: not converged"))
        .filter_map(|l| l.split("duration_ms=").nth(1)?.split_whitespace().next())
        .collect();
    println!(
        "first cycle (100 apps created): {} ms (duration_ms of the cycles that applied: {}); \
         daemon start to converged: {:.1} s",
        first_cycles.first().unwrap_or(&"?"),
        first_cycles.join(", "),
        converged_at.as_secs_f64()
    );
    println!(
        "daemon resident memory with 100 apps applied, after the first cycle: {}",
        resident(daemon.pid())
    );

    // The first idle cycle: afterwards every cycle must be skipped.
    let mut last = daemon.wait_skipped(converged.skipped() + 1, &converged);
    let measured_from = (cpu_ticks(daemon.pid()), last.skipped(), Instant::now());
    let baseline = converged;

    let mut group = c.benchmark_group("daemon_100_apps");
    // One iteration per sample: criterion plans from the wall time of the
    // warm-up (one iteration, as it outlasts 1 ns), and 1 ns of measurement
    // time makes that one iteration per sample, whatever the cycles take
    // (it warns that 10 samples do not fit in 1 ns; they take ~2.5 min).
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_nanos(1))
        .measurement_time(Duration::from_nanos(1));
    group.bench_function("idle_cycle_cpu", |b| {
        b.iter_custom(|iterations| {
            let cycles = iterations * CYCLES_PER_ITERATION;
            let before = cpu_ticks(daemon.pid());
            last = daemon.wait_skipped(last.skipped() + cycles, &baseline);
            let spent = ticks_to_duration(cpu_ticks(daemon.pid()) - before, ticks_per_second);
            // Per iteration (per cycle); never zero, should no tick fall
            // in, for criterion's statistics.
            (spent / CYCLES_PER_ITERATION as u32).max(Duration::from_nanos(1))
        });
    });
    group.finish();

    let (ticks_from, skipped_from, wall_from) = measured_from;
    let ticks = cpu_ticks(daemon.pid()) - ticks_from;
    let cycles = last.skipped() - skipped_from;
    let cpu = ticks_to_duration(ticks, ticks_per_second);
    let per_cycle_ms = cpu.as_secs_f64() * 1000.0 / cycles as f64;
    let wall = wall_from.elapsed();
    let durations = |m: &Metrics| {
        (
            m.value("helios_cycle_duration_seconds_sum").unwrap_or(0.0),
            m.value("helios_cycle_duration_seconds_count")
                .unwrap_or(0.0),
        )
    };
    let end = daemon.scrape().expect("/metrics");
    let (sum_end, count_end) = durations(&end);
    let (sum_start, count_start) = durations(&baseline);
    let idle_wall_ms = (sum_end - sum_start) * 1000.0 / (count_end - count_start);

    // What the bench's own polling costs the daemon, to set apart.
    let scrapes = 2000_u32;
    let before = cpu_ticks(daemon.pid());
    let scraping = Instant::now();
    let skipped_before = daemon.scrape().expect("/metrics").skipped();
    for _ in 0..scrapes {
        daemon.scrape().expect("/metrics");
    }
    let scrape_wall = scraping.elapsed();
    let skipped_during = daemon.scrape().expect("/metrics").skipped() - skipped_before;
    let scrape_ticks = cpu_ticks(daemon.pid()) - before;
    // Less the idle cycles that ran meanwhile, at the rate measured above.
    let scrape_ms = (ticks_to_duration(scrape_ticks, ticks_per_second).as_secs_f64() * 1000.0
        - skipped_during as f64 * per_cycle_ms)
        / f64::from(scrapes + 2);
    let polls_per_cycle = wall.as_secs_f64() / cycles as f64 / POLL.as_secs_f64();

    println!(
        "daemon idle cycle CPU: {per_cycle_ms:.3} ms per cycle ({cycles} cycles, {ticks} ticks \
         of 1/{ticks_per_second} s = {:.2} s CPU over {:.1} s wall, utime + stime of the \
         daemon process)",
        cpu.as_secs_f64(),
        wall.as_secs_f64()
    );
    println!(
        "idle cycle wall (helios_cycle_duration_seconds): {idle_wall_ms:.2} ms mean over {} cycles",
        count_end - count_start
    );
    println!(
        "the bench's /metrics polling: about {polls_per_cycle:.1} scrapes per cycle at \
         {scrape_ms:.3} ms CPU each ({scrapes} scrapes in {:.2} s: {scrape_ticks} ticks, \
         {skipped_during} idle cycles ran meanwhile) — included above",
        scrape_wall.as_secs_f64()
    );

    // Unobserved: no scrape for a while, cycles counted in the daemon's log.
    let idle_lines = |log: &str| log.matches("cycle: up to date").count();
    let quiet = Duration::from_secs(30);
    let (ticks_before, lines_before) = (cpu_ticks(daemon.pid()), idle_lines(&daemon.log_text()));
    std::thread::sleep(quiet);
    let (ticks_after, lines_after) = (cpu_ticks(daemon.pid()), idle_lines(&daemon.log_text()));
    let quiet_cycles = lines_after - lines_before;
    println!(
        "daemon idle cycle CPU, unobserved (no /metrics scrape for {} s): {:.3} ms per cycle \
         ({quiet_cycles} cycles, {} ticks)",
        quiet.as_secs(),
        ticks_to_duration(ticks_after - ticks_before, ticks_per_second).as_secs_f64() * 1000.0
            / quiet_cycles as f64,
        ticks_after - ticks_before
    );
    println!(
        "daemon resident memory with 100 apps applied, at the end: {}",
        resident(daemon.pid())
    );

    drop(daemon);
    let _ = std::fs::remove_dir_all(&root);
}

criterion_group!(benches, daemon_100_apps);
criterion_main!(benches);
