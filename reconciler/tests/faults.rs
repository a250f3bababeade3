//! The reconciler under faults, end to end: the real `helios-reconciler`
//! binary against a real Docker Engine while something goes wrong around
//! it.
//!
//! - The Docker Engine restarts between cycles, during a cycle, and while
//!   the daemon runs. This machine's own engine is never touched: the test
//!   starts a `dockerd` of its own, in a network namespace of its own (own
//!   socket, data root, exec root and containerd, `vfs` storage, no
//!   iptables rules) and points the reconciler at it with `DOCKER_HOST`.
//! - The state directory's file system is full (a small tmpfs).
//! - The config repo goes away while apps run, then comes back.
//! - An empty commit (the same tree) is an idle cycle.
//!
//! Everything asserted is observed from outside: exit codes, live
//! containers, the state repository through `git`, and the daemon's
//! `/metrics` and `/healthz`. Each test removes what it made (containers,
//! networks, images, its dockerd, its mounts) in `Drop` guards, even when
//! it panics. Without Docker (or without `dockerd` or `mount` for the tests
//! that need them) the tests say they are skipped; with
//! `HELIOS_REQUIRE_DOCKER=1` (CI) they fail instead.

#![allow(clippy::panic)] // Test helpers fail loudly by design.

mod common;

use common::{Cleanup, build_image, commit_all, config_repo, docker_ready, wait_for};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BINARY: &str = env!("CARGO_BIN_EXE_helios-reconciler");

/// How long one `run --once` may take before the test calls it hung.
const RUN_LIMIT: Duration = Duration::from_secs(240);

fn docker_required() -> bool {
    std::env::var("HELIOS_REQUIRE_DOCKER").is_ok_and(|v| v == "1")
}

/// Skips the test with `message`, or fails it under `HELIOS_REQUIRE_DOCKER=1`.
fn skip(message: &str) {
    if docker_required() {
        panic!("HELIOS_REQUIRE_DOCKER=1 but {message}");
    }
    eprintln!("skipped: {message}");
}

/// A Docker Engine: this machine's (`host: None`, whatever `docker` talks
/// to) or one a test started (`DOCKER_HOST=unix://...`).
#[derive(Clone, Debug)]
struct Engine {
    host: Option<String>,
}

impl Engine {
    fn machine() -> Self {
        Self { host: None }
    }

    /// Sets `DOCKER_HOST` on `command` when this is a test's own engine.
    fn point(&self, command: &mut Command) {
        if let Some(host) = &self.host {
            command.env("DOCKER_HOST", host);
        }
    }

    fn docker(&self) -> Command {
        let mut command = Command::new("docker");
        self.point(&mut command);
        command
    }

    fn run_ok(&self, args: &[&str]) -> String {
        common::run_ok(self.docker().args(args))
    }

    /// Whether the engine answers.
    fn answers(&self) -> bool {
        self.docker()
            .args(["version", "--format", "{{.Server.Version}}"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Ids of the containers of one service of a Compose project (stopped
    /// ones too), sorted.
    fn ids(&self, project: &str, service: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .run_ok(&[
                "ps",
                "-aq",
                "--no-trunc",
                "--filter",
                &format!("label=com.docker.compose.project={project}"),
                "--filter",
                &format!("label=com.docker.compose.service={service}"),
            ])
            .split_whitespace()
            .map(str::to_string)
            .collect();
        ids.sort();
        ids
    }

    /// The one container of a service, which must exist.
    fn only(&self, project: &str, service: &str) -> String {
        let ids = self.ids(project, service);
        assert_eq!(ids.len(), 1, "{project}/{service}: {ids:?}");
        ids[0].clone()
    }

    fn inspect(&self, id: &str, format: &str) -> String {
        self.run_ok(&["inspect", "--format", format, id])
            .trim()
            .to_string()
    }

    fn running(&self, id: &str) -> bool {
        self.inspect(id, "{{.State.Running}}") == "true"
    }

    /// The value of an environment variable of a container.
    fn env(&self, id: &str, variable: &str) -> Option<String> {
        self.inspect(id, "{{range .Config.Env}}{{println .}}{{end}}")
            .lines()
            .find_map(|line| {
                line.strip_prefix(&format!("{variable}="))
                    .map(str::to_string)
            })
    }

    /// The ids of `app`'s web and worker, each of which must exist and run.
    fn assert_app_runs(&self, app: &str) -> (String, String) {
        let web = self.only(app, "web");
        let worker = self.only(app, "worker");
        for id in [&web, &worker] {
            assert!(self.running(id), "{app}: {id} is not running");
        }
        (web, worker)
    }
}

/// A `dockerd` of the test's own, under `root`; dropping it removes its
/// containers, stops it (and its containerd), unmounts what it left
/// mounted and deletes `root`.
///
/// It runs in a network namespace of its own (`unshare --net`): in this
/// machine's namespace it would fight the machine's engine over `docker0`
/// (dockerd deletes a `docker0` it does not want, with `--bridge=none` or
/// on a restart, and reconfigures one it does). Its socket is a file, so
/// the reconciler and `docker` reach it all the same. Each start is a new
/// namespace, as after a reboot; its networks are recreated in it.
struct OwnEngine {
    root: PathBuf,
    child: Option<Child>,
    engine: Engine,
}

impl OwnEngine {
    /// Starts an engine under `root`, or `None` when there is no `dockerd`
    /// or `unshare` here (the test is skipped).
    fn start(root: &Path) -> Option<Self> {
        for (program, arg) in [("dockerd", "--version"), ("unshare", "--version")] {
            let found = Command::new(program)
                .arg(arg)
                .output()
                .is_ok_and(|o| o.status.success());
            if !found {
                skip(&format!(
                    "no `{program}` on PATH to start a Docker Engine of the test's own"
                ));
                return None;
            }
        }
        let _ = std::fs::remove_dir_all(root);
        std::fs::create_dir_all(root).expect("the engine's folder");
        // Its own empty configuration: the machine's daemon.json may set a
        // data root or a storage driver, which dockerd refuses to be given
        // twice.
        std::fs::write(root.join("daemon.json"), "{}\n").expect("daemon.json");
        let mut own = Self {
            root: root.to_path_buf(),
            child: None,
            engine: Engine {
                host: Some(format!("unix://{}", root.join("docker.sock").display())),
            },
        };
        own.spawn();
        Some(own)
    }

    fn log(&self) -> String {
        let text = std::fs::read_to_string(self.root.join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Starts dockerd (again, on the same data root) and waits until it
    /// answers.
    fn spawn(&mut self) {
        assert!(self.child.is_none(), "dockerd already runs");
        assert!(
            self.try_spawn(),
            "the test's dockerd did not come up:\n{}",
            self.log()
        );
    }

    /// [`OwnEngine::spawn`] that does not panic (for `Drop`).
    fn try_spawn(&mut self) -> bool {
        let Ok(log) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join("dockerd.log"))
        else {
            return false;
        };
        let Ok(err) = log.try_clone() else {
            return false;
        };
        let Some(host) = self.engine.host.clone() else {
            return false;
        };
        let root = &self.root;
        // `unshare` execs dockerd: the child's pid is dockerd's.
        let spawned = Command::new("unshare")
            .args(["--net", "dockerd", "--config-file"])
            .arg(root.join("daemon.json"))
            .arg("--host")
            .arg(host)
            .arg("--data-root")
            .arg(root.join("data"))
            .arg("--exec-root")
            .arg(root.join("exec"))
            .arg("--pidfile")
            .arg(root.join("docker.pid"))
            // vfs works on any file system; no rules in the namespace's
            // iptables are needed, nothing is published.
            .args([
                "--storage-driver",
                "vfs",
                "--iptables=false",
                "--ip-masq=false",
            ])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn();
        let Ok(child) = spawned else {
            return false;
        };
        self.child = Some(child);
        wait_for(Duration::from_secs(60), || {
            self.engine.answers().then_some(())
        })
        .is_some()
    }

    /// SIGTERM, as an engine restart or upgrade does, and waits until
    /// dockerd has exited (it stops its containers first).
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let exited = wait_for(Duration::from_secs(60), || child.try_wait().ok().flatten());
        if exited.is_none() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the test's dockerd ignored SIGTERM:\n{}", self.log());
        }
    }

    /// The engine going away and coming back.
    fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for OwnEngine {
    fn drop(&mut self) {
        if self.child.is_some() {
            let ids = self
                .engine
                .docker()
                .args(["ps", "-aq"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            for id in ids.split_whitespace() {
                let _ = self.engine.docker().args(["rm", "-f", id]).output();
            }
        }
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            if wait_for(Duration::from_secs(60), || child.try_wait().ok().flatten()).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // A dockerd killed hard leaves its containerd behind.
        if let Ok(pid) = std::fs::read_to_string(self.root.join("exec/containerd/containerd.pid")) {
            let pid = pid.trim();
            if !pid.is_empty()
                && std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| c.contains(&self.root.display().to_string()))
            {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
        for mount in mounts_under(&self.root).into_iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(&mount).status();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Mount points at or under `root`, in mount order.
fn mounts_under(root: &Path) -> Vec<String> {
    let root = root.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split(' ').nth(4).map(str::to_string))
        .filter(|point| point == &root || point.starts_with(&format!("{root}/")))
        .collect()
}

/// A tmpfs of `size` mounted at a folder; unmounted when dropped.
struct Tmpfs {
    at: PathBuf,
}

impl Tmpfs {
    /// Mounts it, or `None` when mounting is not allowed here (the test is
    /// skipped).
    fn mount(at: &Path, size: &str) -> Option<Self> {
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
    fn fill(&self, filler: &Path) {
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
struct Ran {
    code: Option<i32>,
    stderr: String,
}

impl Ran {
    fn describe(&self) -> String {
        format!("exit code {:?}\n--- stderr\n{}", self.code, self.stderr)
    }
}

/// The daemon (`run` without `--once`); stopped (SIGTERM, then SIGKILL)
/// when dropped.
struct Daemon {
    child: Child,
    log: PathBuf,
    port: u16,
}

impl Daemon {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn get(&self, path: &str) -> Option<String> {
        http_get(self.port, path)
    }

    fn metrics(&self) -> String {
        self.get("/metrics").unwrap_or_default()
    }

    /// `helios_cycles_total{outcome=...}` now.
    fn cycles(&self, outcome: &str) -> u64 {
        cycles(&self.metrics(), outcome)
    }

    /// Cycles that did not fail: skipped (idle), unchanged or applied.
    fn successes(&self) -> u64 {
        let metrics = self.metrics();
        ["skipped", "unchanged", "applied"]
            .iter()
            .map(|outcome| cycles(&metrics, outcome))
            .sum()
    }

    /// `/healthz` answers `200 ok`.
    fn assert_healthy(&self) {
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
    fn wait(&self, limit: Duration, what: &str, mut probe: impl FnMut() -> bool) {
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
    fn wait_events_connected(&self, limit: Duration) {
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
    fn stop(mut self) {
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
fn cycles(metrics: &str, outcome: &str) -> u64 {
    let prefix = format!("helios_cycles_total{{outcome=\"{outcome}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

/// `helios_drift_corrected_total{reason="exited"}` of a `/metrics` text.
fn drift_exited(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("helios_drift_corrected_total{reason=\"exited\"} "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn http_get(port: u16, path: &str) -> Option<String> {
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

/// One test's config repo, state directory, image and app, on an engine.
struct World {
    root: PathBuf,
    /// The config repo's work tree (it may be moved away and back).
    config: PathBuf,
    state_dir: PathBuf,
    image: String,
    app: String,
    engine: Engine,
    _cleanup: Cleanup,
}

impl World {
    /// A fresh world whose app is named `<short>-<pid>`, or `None` when
    /// Docker is not here. With `own`, the image is loaded into that
    /// engine too and the reconciler is pointed at it.
    fn new(short: &str, own: Option<&OwnEngine>) -> Option<Self> {
        if !docker_ready() {
            return None;
        }
        let pid = std::process::id();
        let app = format!("{short}-{pid}");
        let image = format!("helios-faults/base:{short}-{pid}");
        let cleanup = Cleanup {
            projects: vec![app.clone()],
            images: vec![image.clone()],
        };
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("faults-{short}-{pid}"));
        let _ = std::fs::remove_dir_all(&root);
        build_image(&root.join("image"), &image);
        let engine = match own {
            Some(own) => {
                // Built on this machine's engine, then copied over: the
                // test's engine has no builder cache and no registry.
                let tar = root.join("image.tar");
                common::run_ok(
                    Command::new("docker")
                        .args(["save", "-o"])
                        .arg(&tar)
                        .arg(&image),
                );
                common::run_ok(own.engine.docker().args(["load", "-q", "-i"]).arg(&tar));
                own.engine.clone()
            }
            None => Engine::machine(),
        };
        let config = root.join("config");
        config_repo(&config);
        Some(Self {
            state_dir: root.join("state"),
            root,
            config,
            image,
            app,
            engine,
            _cleanup: cleanup,
        })
    }

    /// Writes or deletes files of the config repo (wherever it is now) and
    /// commits them on `main`.
    fn commit_at(dir: &Path, files: &[(&str, Option<&str>)]) {
        let repo = git2::Repository::open(dir).expect("the config repo");
        commit_all(&repo, files);
    }

    /// Commits the app's Heliosfile.
    fn commit_app(&self, mode: &str, web_delay_s: u32) {
        let text = heliosfile(&self.app, &self.image, mode, web_delay_s);
        Self::commit_at(&self.config, &[("app/Heliosfile", Some(&text))]);
    }

    fn run_command(&self, extra: &[&str]) -> Command {
        let mut command = Command::new(BINARY);
        command
            .arg("run")
            .arg("--repo")
            .arg(&self.config)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .args(["--backend", "compose", "--health-timeout", "60s"])
            .args(extra)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        self.engine.point(&mut command);
        command
    }

    /// Starts `run --once`, logging to `name.log`.
    fn spawn_once(&self, name: &str) -> (Child, PathBuf) {
        let log = self.root.join(format!("{name}.log"));
        let child = self
            .run_command(&["--once"])
            .stderr(std::fs::File::create(&log).expect("a log"))
            .spawn()
            .expect("helios-reconciler runs");
        (child, log)
    }

    /// Waits for a `run --once` started with [`World::spawn_once`]; fails
    /// the test when it hangs.
    fn finish(mut child: Child, log: &Path) -> Ran {
        let status = wait_for(RUN_LIMIT, || child.try_wait().ok().flatten());
        let stderr = std::fs::read_to_string(log).unwrap_or_default();
        let Some(status) = status else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("run --once hung for {RUN_LIMIT:?}:\n{stderr}");
        };
        Ran {
            code: status.code(),
            stderr,
        }
    }

    /// One cycle.
    fn run_once(&self) -> Ran {
        let (child, log) = self.spawn_once("once");
        Self::finish(child, &log)
    }

    /// One cycle that must converge.
    fn converge(&self) -> Ran {
        let ran = self.run_once();
        assert_eq!(ran.code, Some(0), "did not converge: {}", ran.describe());
        ran
    }

    /// The daemon on `127.0.0.1:<free port>`.
    fn start_daemon(&self, extra: &[&str]) -> Daemon {
        let port = free_port();
        let log = self.root.join("daemon.log");
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec!["--listen", &listen];
        args.extend_from_slice(extra);
        let child = self
            .run_command(&args)
            .stderr(std::fs::File::create(&log).expect("a log"))
            .spawn()
            .expect("the daemon starts");
        Daemon { child, log, port }
    }

    /// `git -C <state dir> ARGS`, which must succeed.
    fn git(&self, args: &[&str]) -> String {
        common::run_ok(
            Command::new("git")
                .arg("-C")
                .arg(&self.state_dir)
                .args(args),
        )
    }

    /// The state repository's HEAD commit.
    fn state_head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    fn state_commits(&self) -> usize {
        self.git(&["rev-list", "--count", "HEAD"])
            .trim()
            .parse()
            .expect("a count")
    }

    /// The commits since `head` record a new apply of `app`: its
    /// `applied.yaml` (source commit, spec hashes) changed.
    fn assert_recorded_since(&self, head: &str, app: &str) {
        let changed = self.git(&["diff", "--name-only", head, "HEAD"]);
        assert!(
            changed.contains(&format!("apps/{app}/applied.yaml")),
            "the apply was not recorded: {changed}"
        );
    }

    /// The state repository is whole: `git fsck` passes, HEAD is
    /// `expected_head` (when given), and no lock was left behind.
    fn assert_state_repo_sound(&self, expected_head: Option<&str>) {
        self.git(&["fsck", "--full", "--no-progress"]);
        if let Some(expected) = expected_head {
            assert_eq!(self.state_head(), expected, "the last good commit is HEAD");
        }
        for lock in [
            ".git/index.lock",
            ".git/HEAD.lock",
            ".git/refs/heads/main.lock",
        ] {
            assert!(
                !self.state_dir.join(lock).exists(),
                "{lock} left behind in {}",
                self.state_dir.display()
            );
        }
        // The fetched config repo is whole too.
        common::run_ok(
            Command::new("git")
                .arg("-C")
                .arg(self.state_dir.join("source.git"))
                .args(["fsck", "--no-progress"]),
        );
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The app: `web` answers HTTP (after `web_delay_s` seconds) behind a
/// healthcheck, `worker` sleeps; both carry `MODE`. The commands trap
/// SIGTERM, so that a recreate or an engine stop takes no grace period.
fn heliosfile(name: &str, image: &str, mode: &str, web_delay_s: u32) -> String {
    format!(
        "name: {name}\n\
         version: 1\n\
         services:\n\
         \x20 web:\n\
         \x20   image: {image}\n\
         \x20   command: [sh, -c, \"trap 'exit 0' TERM; sleep {web_delay_s} & wait; httpd -f -p 8080 -h /www & wait\"]\n\
         \x20   http_port: 8080\n\
         \x20   env:\n\
         \x20     MODE: {mode}\n\
         \x20   healthcheck:\n\
         \x20     path: /index.html\n\
         \x20     interval: 1s\n\
         \x20     timeout: 1s\n\
         \x20     retries: 60\n\
         \x20 worker:\n\
         \x20   image: {image}\n\
         \x20   command: [sh, -c, \"trap 'exit 0' TERM; sleep 3600 & wait\"]\n\
         \x20   env:\n\
         \x20     MODE: {mode}\n"
    )
}

/// A short folder for a test's own engine: unix socket paths are limited
/// to 108 bytes, and the target directory may be deep.
fn engine_root(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("helios-faults-{tag}-{}", std::process::id()))
}

#[test]
fn the_engine_restarting_between_and_during_cycles() {
    if !docker_ready() {
        return;
    }
    let Some(mut own) = OwnEngine::start(&engine_root("cycles")) else {
        return;
    };
    let Some(world) = World::new("faults-engine", Some(&own)) else {
        return;
    };
    let engine = world.engine.clone();
    let app = world.app.clone();
    world.commit_app("one", 0);
    world.converge();
    let (web, worker) = engine.assert_app_runs(&app);
    assert!(
        !Engine::machine().answers() || Engine::machine().ids(&app, "web").is_empty(),
        "the app went to this machine's engine, not the test's"
    );

    // Between cycles: the worker is killed, then the engine restarts. The
    // restart policy brings `web` back, not the killed worker; the next
    // cycle heals the worker and leaves `web` alone.
    engine.run_ok(&["kill", &worker]);
    own.restart();
    let web_back = wait_for(Duration::from_secs(30), || {
        engine.running(&web).then_some(())
    });
    assert!(
        web_back.is_some(),
        "web did not come back after the restart"
    );
    assert!(!engine.running(&worker), "the killed worker stayed down");
    let ran = world.converge();
    let (web_after, worker_after) = engine.assert_app_runs(&app);
    assert_eq!(web_after, web, "web came back by itself and was kept");
    let status = std::fs::read_to_string(world.state_dir.join(format!("apps/{app}/status.yaml")))
        .expect("a status");
    assert!(status.contains("worker (drifted: exited)"), "{status}");
    assert!(ran.stderr.contains("converged"), "{}", ran.describe());

    // During a cycle: a change whose new `web` takes a few seconds to turn
    // healthy; the engine goes down while the cycle applies or waits.
    let head = world.state_head();
    world.commit_app("two", 6);
    let (child, log) = world.spawn_once("during");
    let applying = wait_for(Duration::from_secs(60), || {
        let new_web = engine.ids(&app, "web").iter().any(|id| id != &web);
        let new_worker = engine
            .ids(&app, "worker")
            .iter()
            .any(|id| id != &worker_after);
        (new_web || new_worker).then_some(())
    });
    own.stop();
    let ran = World::finish(child, &log);
    assert!(
        applying.is_some(),
        "the cycle never applied: {}",
        ran.describe()
    );
    assert_eq!(
        ran.code,
        Some(1),
        "a cycle whose engine went away fails cleanly: {}",
        ran.describe()
    );
    assert!(!ran.stderr.contains("panicked"), "{}", ran.describe());
    // Whatever it recorded, the state repository is whole.
    world.assert_state_repo_sound(None);

    // With the engine down, a cycle fails (it cannot observe) and changes
    // nothing recorded.
    let down_head = world.state_head();
    let ran = world.run_once();
    assert_ne!(ran.code, Some(0), "{}", ran.describe());
    assert!(!ran.stderr.contains("panicked"), "{}", ran.describe());
    world.assert_state_repo_sound(Some(&down_head));

    // Back up: a later cycle converges on the change.
    own.spawn();
    let converged = (0..3).any(|_| world.run_once().code == Some(0));
    assert!(converged, "did not converge after the engine came back");
    let (web_final, worker_final) = engine.assert_app_runs(&app);
    assert_eq!(engine.env(&web_final, "MODE").as_deref(), Some("two"));
    assert_eq!(engine.env(&worker_final, "MODE").as_deref(), Some("two"));
    assert_eq!(
        engine.inspect(&web_final, "{{.State.Health.Status}}"),
        "healthy"
    );
    assert_ne!(world.state_head(), head, "the change was recorded");
    world.assert_state_repo_sound(None);
    drop(world);
    drop(own);
}

#[test]
fn the_daemon_rides_out_an_engine_outage() {
    if !docker_ready() {
        return;
    }
    let Some(mut own) = OwnEngine::start(&engine_root("daemon")) else {
        return;
    };
    let Some(world) = World::new("faults-outage", Some(&own)) else {
        return;
    };
    let engine = world.engine.clone();
    let app = world.app.clone();
    world.commit_app("one", 0);
    let daemon = world.start_daemon(&["--interval", "1s"]);
    daemon.wait(Duration::from_secs(120), "no first converged cycle", || {
        daemon
            .metrics()
            .contains("helios_last_success_timestamp_seconds ")
    });
    engine.assert_app_runs(&app);
    daemon.assert_healthy();

    // The engine goes away and stays away, and a commit comes: its cycles
    // fail and back off, the daemon lives on and says so. (Without a
    // commit or a drift check due, cycles are idle and never ask Docker.)
    own.stop();
    let errors_before = daemon.cycles("error");
    let successes = daemon.successes();
    world.commit_app("two", 0);
    daemon.wait(
        Duration::from_secs(60),
        "cycles did not fail while the engine was down",
        || daemon.cycles("error") >= errors_before + 2,
    );
    daemon.assert_healthy();
    // Backing off: over 12 s, far fewer failures than one per second of
    // `--interval` (the backoff starts at 2.5 to 5 s and doubles).
    let errors = daemon.cycles("error");
    std::thread::sleep(Duration::from_secs(12));
    let more = daemon.cycles("error") - errors;
    assert!(
        (1..=4).contains(&more),
        "{more} failed cycles in 12 s\n{}",
        daemon.log()
    );
    assert_eq!(
        daemon.successes(),
        successes,
        "no cycle succeeds without the engine\n{}",
        daemon.log()
    );
    assert!(daemon.log().contains("cycle failed"), "{}", daemon.log());
    daemon.assert_healthy();

    // Back: the daemon reconnects by itself and applies the commit.
    own.spawn();
    daemon.wait(
        Duration::from_secs(120),
        "the daemon did not apply the commit after the engine came back",
        || {
            let webs = engine.ids(&app, "web");
            let workers = engine.ids(&app, "worker");
            webs.len() == 1
                && workers.len() == 1
                && engine.env(&workers[0], "MODE").as_deref() == Some("two")
                && engine.env(&webs[0], "MODE").as_deref() == Some("two")
                && engine.inspect(&webs[0], "{{.State.Health.Status}}") == "healthy"
        },
    );
    daemon.wait(
        Duration::from_secs(60),
        "no converged cycle after the outage",
        || daemon.log().matches("cycle: converged").count() >= 2,
    );
    daemon.assert_healthy();

    // Its Docker events reconnected too: a killed container is healed
    // (Compose starts it again) without waiting for the five-minute drift
    // check, which only a Docker event can bring forward.
    // Events in the window before it reconnects are lost (it reconnects
    // with a backoff of up to 60 s, and only a drift check finds them), so
    // first wait until its last retry went without a new failure.
    daemon.wait_events_connected(Duration::from_secs(180));
    let (_, worker) = engine.assert_app_runs(&app);
    let started = engine.inspect(&worker, "{{.State.StartedAt}}");
    let healed = drift_exited(&daemon.metrics());
    engine.run_ok(&["kill", &worker]);
    daemon.wait(
        Duration::from_secs(120),
        "the killed worker was not healed after the outage",
        || drift_exited(&daemon.metrics()) > healed,
    );
    let workers = engine.ids(&app, "worker");
    assert_eq!(workers.len(), 1, "{workers:?}");
    assert!(engine.running(&workers[0]));
    assert_ne!(
        engine.inspect(&workers[0], "{{.State.StartedAt}}"),
        started,
        "the worker was started again"
    );
    daemon.stop();
    drop(world);
    drop(own);
}

#[test]
fn a_full_state_file_system_fails_the_cycle_and_keeps_the_record() {
    let Some(world) = World::new("faults-full", None) else {
        return;
    };
    let Some(tmpfs) = Tmpfs::mount(&world.state_dir, "4m") else {
        return;
    };
    let engine = world.engine.clone();
    let app = world.app.clone();
    world.commit_app("one", 0);
    world.converge();
    let (web, worker) = engine.assert_app_runs(&app);
    let head = world.state_head();

    // Full to the last byte; then a change.
    let filler = world.state_dir.join("filler");
    tmpfs.fill(&filler);
    world.commit_app("two", 0);
    let ran = world.run_once();
    assert_eq!(ran.code, Some(1), "{}", ran.describe());
    assert!(
        ran.stderr.contains("No space left on device"),
        "the error says why: {}",
        ran.describe()
    );
    assert!(!ran.stderr.contains("panicked"), "{}", ran.describe());
    world.assert_state_repo_sound(Some(&head));
    // Nothing was touched.
    assert_eq!(engine.assert_app_runs(&app), (web.clone(), worker.clone()));
    assert_eq!(engine.env(&worker, "MODE").as_deref(), Some("one"));

    // Room again: the change is applied and recorded.
    std::fs::remove_file(&filler).expect("the filler goes");
    world.converge();
    let (_, new_worker) = engine.assert_app_runs(&app);
    assert_eq!(engine.env(&new_worker, "MODE").as_deref(), Some("two"));
    assert_ne!(world.state_head(), head, "the change was recorded");
    let message = world.git(&["log", "-1", "--format=%s"]);
    assert!(message.contains("1 updated"), "{message}");
    world.assert_recorded_since(&head, &app);
    world.assert_state_repo_sound(None);
    drop(tmpfs);
}

#[test]
fn a_full_state_repository_fails_the_commit_and_recovers() {
    let Some(world) = World::new("faults-fullgit", None) else {
        return;
    };
    // Only the state repository's git directory is small: the fetch, the
    // apply and the record's files succeed; committing them does not.
    let Some(tmpfs) = Tmpfs::mount(&world.state_dir.join(".git"), "2m") else {
        return;
    };
    let engine = world.engine.clone();
    let app = world.app.clone();
    world.commit_app("one", 0);
    world.converge();
    engine.assert_app_runs(&app);
    let head = world.state_head();

    let filler = world.state_dir.join(".git/filler");
    tmpfs.fill(&filler);
    world.commit_app("two", 0);
    let ran = world.run_once();
    assert_eq!(ran.code, Some(1), "{}", ran.describe());
    assert!(
        ran.stderr.contains("No space left on device") || ran.stderr.contains("state repository"),
        "the error says why: {}",
        ran.describe()
    );
    assert!(!ran.stderr.contains("panicked"), "{}", ran.describe());
    world.assert_state_repo_sound(Some(&head));
    engine.assert_app_runs(&app);

    std::fs::remove_file(&filler).expect("the filler goes");
    world.converge();
    let (_, worker) = engine.assert_app_runs(&app);
    assert_eq!(engine.env(&worker, "MODE").as_deref(), Some("two"));
    assert_ne!(world.state_head(), head, "the change was recorded");
    world.assert_recorded_since(&head, &app);
    world.assert_state_repo_sound(None);
    // Nothing is left uncommitted.
    let dirty = world.git(&["status", "--porcelain"]);
    assert_eq!(dirty, "", "uncommitted state files");
    drop(tmpfs);
}

#[test]
fn a_full_apps_folder_fails_the_record_and_recovers() {
    full_apps_folder(false);
}

/// A known bug, left for the cycle's owners: the cycle that could not write
/// its record had applied the change; the next cycle finds nothing to do
/// (live state matches) and writes nothing, so `applied.yaml` keeps the
/// old source commit and spec hashes and the state repository never
/// records that apply.
#[test]
#[ignore = "known bug: an apply whose record failed is never recorded (cycle.rs)"]
fn a_full_apps_folder_then_the_apply_is_recorded() {
    full_apps_folder(true);
}

/// `apps/` of the state directory fills up during a cycle that applies a
/// change. With `check_record`, the recovered state repository must record
/// that apply.
fn full_apps_folder(check_record: bool) {
    let tag = if check_record {
        "faults-record"
    } else {
        "faults-fullapps"
    };
    let Some(world) = World::new(tag, None) else {
        return;
    };
    // Only `apps/` is small: the fetch and the apply succeed; writing the
    // record (applied.yaml, the compiled files, status.yaml) does not.
    let apps = world.state_dir.join("apps");
    let Some(tmpfs) = Tmpfs::mount(&apps, "1m") else {
        return;
    };
    let engine = world.engine.clone();
    let app = world.app.clone();
    world.commit_app("one", 0);
    world.converge();
    engine.assert_app_runs(&app);
    let head = world.state_head();

    let filler = apps.join("filler");
    tmpfs.fill(&filler);
    world.commit_app("two", 0);
    let ran = world.run_once();
    assert_eq!(ran.code, Some(1), "{}", ran.describe());
    assert!(
        ran.stderr.contains("No space left on device"),
        "the error says why: {}",
        ran.describe()
    );
    assert!(!ran.stderr.contains("panicked"), "{}", ran.describe());
    world.assert_state_repo_sound(Some(&head));
    engine.assert_app_runs(&app);
    // No half-written file is left behind.
    let leftovers = common::run_ok(Command::new("find").arg(&apps).args(["-name", "*.tmp~"]));
    assert_eq!(leftovers, "", "temporary files left in apps/");

    std::fs::remove_file(&filler).expect("the filler goes");
    world.converge();
    let (_, worker) = engine.assert_app_runs(&app);
    assert_eq!(engine.env(&worker, "MODE").as_deref(), Some("two"));
    if check_record {
        world.assert_recorded_since(&head, &app);
    }
    world.assert_state_repo_sound(None);
    assert_eq!(
        world.git(&["status", "--porcelain"]),
        "",
        "uncommitted state files"
    );
    drop(tmpfs);
}

#[test]
fn a_config_repo_that_goes_away_fails_cycles_and_keeps_apps() {
    let Some(world) = World::new("faults-remote", None) else {
        return;
    };
    let engine = world.engine.clone();
    let app = world.app.clone();
    world.commit_app("one", 0);
    world.converge();
    let before = engine.assert_app_runs(&app);
    let head = world.state_head();
    let away = world.root.join("config-away");

    // Gone: one cycle fails, nothing is touched.
    std::fs::rename(&world.config, &away).expect("move the repo away");
    let ran = world.run_once();
    assert_ne!(ran.code, Some(0), "{}", ran.describe());
    assert!(!ran.stderr.contains("panicked"), "{}", ran.describe());
    assert_eq!(engine.assert_app_runs(&app), before);
    world.assert_state_repo_sound(Some(&head));
    std::fs::rename(&away, &world.config).expect("move the repo back");

    // The daemon: converged, then the repo goes away.
    let daemon = world.start_daemon(&["--interval", "1s"]);
    daemon.wait(Duration::from_secs(120), "no first converged cycle", || {
        daemon
            .metrics()
            .contains("helios_last_success_timestamp_seconds ")
    });
    std::fs::rename(&world.config, &away).expect("move the repo away");
    let errors = daemon.cycles("error");
    daemon.wait(
        Duration::from_secs(60),
        "failed cycles did not rise while the repo was away",
        || daemon.cycles("error") >= errors + 2,
    );
    daemon.assert_healthy();
    assert_eq!(engine.assert_app_runs(&app), before, "apps are untouched");
    // A change is made where the repo is now; then it comes back.
    World::commit_at(
        &away,
        &[(
            "app/Heliosfile",
            Some(&heliosfile(&app, &world.image, "two", 0)),
        )],
    );
    std::fs::rename(&away, &world.config).expect("move the repo back");
    let successes = daemon.successes();
    daemon.wait(
        Duration::from_secs(90),
        "the daemon did not recover when the repo came back",
        || daemon.successes() > successes,
    );
    daemon.wait(
        Duration::from_secs(60),
        "the change was not applied",
        || {
            let workers = engine.ids(&app, "worker");
            workers.len() == 1
                && engine.running(&workers[0])
                && engine.env(&workers[0], "MODE").as_deref() == Some("two")
        },
    );
    daemon.assert_healthy();
    daemon.stop();
    world.assert_state_repo_sound(None);
    assert_ne!(world.state_head(), head);
}

#[test]
fn an_empty_commit_is_an_idle_cycle() {
    let Some(world) = World::new("faults-empty", None) else {
        return;
    };
    let engine = world.engine.clone();
    let app = world.app.clone();
    world.commit_app("one", 0);
    world.converge();
    let before = engine.assert_app_runs(&app);
    let commits = world.state_commits();
    let status = std::fs::read_to_string(world.state_dir.join(format!("apps/{app}/status.yaml")))
        .expect("a status");

    // `git commit --allow-empty`: a new commit, the same tree.
    World::commit_at(&world.config, &[]);
    let ran = world.converge();
    assert!(
        ran.stderr.contains("cycle: converged"),
        "{}",
        ran.describe()
    );
    for zero in ["created=0", "updated=0", "deleted=0"] {
        assert!(ran.stderr.contains(zero), "{zero}: {}", ran.describe());
    }
    assert_eq!(world.state_commits(), commits, "no state commit");
    assert_eq!(engine.assert_app_runs(&app), before, "containers untouched");
    assert_eq!(
        std::fs::read_to_string(world.state_dir.join(format!("apps/{app}/status.yaml")))
            .expect("a status"),
        status,
        "no new status record"
    );
    assert_eq!(world.git(&["status", "--porcelain"]), "");

    // The daemon: woken by the empty commit, it skips the cycle.
    let daemon = world.start_daemon(&["--interval", "1h"]);
    daemon.wait(Duration::from_secs(120), "no first cycle", || {
        daemon.log().contains("cycle: converged")
    });
    let skipped = daemon.cycles("skipped");
    let applied = daemon.cycles("applied");
    World::commit_at(&world.config, &[]);
    daemon.wait(
        Duration::from_secs(30),
        "the empty commit woke no cycle",
        || daemon.cycles("skipped") > skipped,
    );
    assert_eq!(daemon.cycles("applied"), applied, "nothing was applied");
    assert!(
        daemon.log().contains("cycle: up to date"),
        "{}",
        daemon.log()
    );
    daemon.stop();
    assert_eq!(world.state_commits(), commits, "no state commit");
    assert_eq!(engine.assert_app_runs(&app), before, "containers untouched");
}
