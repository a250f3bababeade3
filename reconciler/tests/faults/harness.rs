//! What the fault tests run and watch: a small tmpfs, one `run --once`,
//! the daemon, its `/metrics` and `/healthz`.

use crate::common::{self, wait_for};
use crate::skip;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

/// A tmpfs of `size` mounted at a folder; unmounted when dropped.
pub(crate) struct Tmpfs {
    pub(crate) at: PathBuf,
}

impl Tmpfs {
    /// Mounts it, or `None` when mounting is not allowed here (the test is
    /// skipped).
    pub(crate) fn mount(at: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(at).expect("the mount point");
        let output = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(at)
            .output();
        match output {
            Ok(output) if output.status.success() => Some(Self {
                at: at.to_path_buf(),
            }),
            Ok(output) => {
                skip(&format!(
                    "cannot mount a tmpfs (root is needed): {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                ));
                None
            }
            Err(e) => {
                skip(&format!("cannot run mount: {e}"));
                None
            }
        }
    }

    /// Fills the file system to the last byte with `filler`.
    pub(crate) fn fill(&self, filler: &Path) {
        let mut file = std::fs::File::create(filler).expect("the filler");
        for chunk in [64 * 1024, 1] {
            let bytes = vec![0u8; chunk];
            loop {
                match file.write(&bytes) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                    Err(e) => panic!("filling {}: {e}", filler.display()),
                }
            }
        }
        let _ = file.sync_all();
        let available = common::run_ok(
            Command::new("df")
                .args(["-B1", "--output=avail"])
                .arg(&self.at),
        );
        assert_eq!(
            available.lines().nth(1).map(str::trim),
            Some("0"),
            "{} is not full: {available}",
            self.at.display()
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.at)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.at).status();
        }
    }
}

/// One `run --once`: its exit code (`None`: killed by a signal) and its log.
#[derive(Debug)]
pub(crate) struct Ran {
    pub(crate) code: Option<i32>,
    pub(crate) stderr: String,
}

impl Ran {
    pub(crate) fn describe(&self) -> String {
        format!("exit code {:?}\n--- stderr\n{}", self.code, self.stderr)
    }
}

/// The daemon (`run` without `--once`); stopped (SIGTERM, then SIGKILL)
/// when dropped.
pub(crate) struct Daemon {
    pub(crate) child: Child,
    pub(crate) log: PathBuf,
    pub(crate) port: u16,
}

impl Daemon {
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn get(&self, path: &str) -> Option<String> {
        http_get(self.port, path)
    }

    pub(crate) fn metrics(&self) -> String {
        self.get("/metrics").unwrap_or_default()
    }

    /// `helios_cycles_total{outcome=...}` now.
    pub(crate) fn cycles(&self, outcome: &str) -> u64 {
        cycles(&self.metrics(), outcome)
    }

    /// Cycles that did not fail: skipped (idle), unchanged or applied.
    pub(crate) fn successes(&self) -> u64 {
        let metrics = self.metrics();
        ["skipped", "unchanged", "applied"]
            .iter()
            .map(|outcome| cycles(&metrics, outcome))
            .sum()
    }

    /// `/healthz` answers `200 ok`.
    pub(crate) fn assert_healthy(&self) {
        let health = self.get("/healthz");
        assert!(
            health
                .as_deref()
                .is_some_and(|h| h.starts_with("HTTP/1.1 200") && h.ends_with("ok\n")),
            "/healthz: {health:?}\n{}",
            self.log()
        );
    }

    /// Waits until `probe` holds, or fails with the daemon's log.
    pub(crate) fn wait(&self, limit: Duration, what: &str, mut probe: impl FnMut() -> bool) {
        let done = wait_for(limit, || probe().then_some(()));
        assert!(
            done.is_some(),
            "{what} (not within {limit:?})\n--- metrics\n{}\n--- daemon log\n{}",
            self.metrics(),
            self.log()
        );
    }

    /// Waits until the daemon's Docker events stream is connected: no
    /// `Docker events: ...; reconnecting in Ns` line follows the last one
    /// within its N seconds and two more.
    pub(crate) fn wait_events_connected(&self, limit: Duration) {
        let deadline = std::time::Instant::now() + limit;
        let failures = |log: &str| {
            log.lines()
                .filter(|l| l.contains("Docker events:"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        loop {
            let before = failures(&self.log());
            let delay = before
                .last()
                .and_then(|l| l.rsplit("reconnecting in ").next())
                .and_then(|t| t.trim().trim_end_matches('s').parse::<u64>().ok())
                .unwrap_or(0);
            std::thread::sleep(Duration::from_secs(delay + 2));
            if failures(&self.log()).len() == before.len() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "Docker events never reconnected:\n{}",
                self.log()
            );
        }
    }

    /// SIGTERM; it must exit 0 soon.
    pub(crate) fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let exited = wait_for(Duration::from_secs(120), || {
            self.child.try_wait().ok().flatten()
        });
        assert_eq!(
            exited.and_then(|s| s.code()),
            Some(0),
            "the daemon did not stop cleanly:\n{}",
            self.log()
        );
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        if wait_for(Duration::from_secs(30), || {
            self.child.try_wait().ok().flatten()
        })
        .is_none()
        {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `helios_cycles_total{outcome="<outcome>"}` of a `/metrics` text.
pub(crate) fn cycles(metrics: &str, outcome: &str) -> u64 {
    let prefix = format!("helios_cycles_total{{outcome=\"{outcome}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

/// `helios_drift_corrected_total{reason="exited"}` of a `/metrics` text.
pub(crate) fn drift_exited(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("helios_drift_corrected_total{reason=\"exited\"} "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub(crate) fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}
