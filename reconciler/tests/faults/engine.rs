//! Docker Engines for the fault tests: this machine's, or a `dockerd` of
//! the test's own that can be stopped and restarted.

use crate::common::{self, wait_for};
use crate::skip;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A Docker Engine: this machine's (`host: None`, whatever `docker` talks
/// to) or one a test started (`DOCKER_HOST=unix://...`).
#[derive(Clone, Debug)]
pub(crate) struct Engine {
    pub(crate) host: Option<String>,
}

impl Engine {
    pub(crate) fn machine() -> Self {
        Self { host: None }
    }

    /// Sets `DOCKER_HOST` on `command` when this is a test's own engine.
    pub(crate) fn point(&self, command: &mut Command) {
        if let Some(host) = &self.host {
            command.env("DOCKER_HOST", host);
        }
    }

    pub(crate) fn docker(&self) -> Command {
        let mut command = Command::new("docker");
        self.point(&mut command);
        command
    }

    pub(crate) fn run_ok(&self, args: &[&str]) -> String {
        common::run_ok(self.docker().args(args))
    }

    /// Whether the engine answers.
    pub(crate) fn answers(&self) -> bool {
        self.docker()
            .args(["version", "--format", "{{.Server.Version}}"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Ids of the containers of one service of a Compose project (stopped
    /// ones too), sorted.
    pub(crate) fn ids(&self, project: &str, service: &str) -> Vec<String> {
        common::container_ids_on(self.docker(), project, service)
    }

    /// The one container of a service, which must exist.
    pub(crate) fn only(&self, project: &str, service: &str) -> String {
        let ids = self.ids(project, service);
        assert_eq!(ids.len(), 1, "{project}/{service}: {ids:?}");
        ids[0].clone()
    }

    pub(crate) fn inspect(&self, id: &str, format: &str) -> String {
        self.run_ok(&["inspect", "--format", format, id])
            .trim()
            .to_string()
    }

    pub(crate) fn running(&self, id: &str) -> bool {
        self.inspect(id, "{{.State.Running}}") == "true"
    }

    /// The value of an environment variable of a container.
    pub(crate) fn env(&self, id: &str, variable: &str) -> Option<String> {
        self.inspect(id, "{{range .Config.Env}}{{println .}}{{end}}")
            .lines()
            .find_map(|line| {
                line.strip_prefix(&format!("{variable}="))
                    .map(str::to_string)
            })
    }

    /// The ids of `app`'s web and worker, each of which must exist and run.
    pub(crate) fn assert_app_runs(&self, app: &str) -> (String, String) {
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
pub(crate) struct OwnEngine {
    pub(crate) root: PathBuf,
    pub(crate) child: Option<Child>,
    pub(crate) engine: Engine,
}

impl OwnEngine {
    /// Starts an engine under `root`, or `None` when there is no `dockerd`
    /// or `unshare` here (the test is skipped).
    pub(crate) fn start(root: &Path) -> Option<Self> {
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

    pub(crate) fn log(&self) -> String {
        let text = std::fs::read_to_string(self.root.join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Starts dockerd (again, on the same data root) and waits until it
    /// answers.
    pub(crate) fn spawn(&mut self) {
        assert!(self.child.is_none(), "dockerd already runs");
        assert!(
            self.try_spawn(),
            "the test's dockerd did not come up:\n{}",
            self.log()
        );
    }

    /// [`OwnEngine::spawn`] that does not panic (for `Drop`).
    pub(crate) fn try_spawn(&mut self) -> bool {
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
    pub(crate) fn stop(&mut self) {
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
    pub(crate) fn restart(&mut self) {
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
pub(crate) fn mounts_under(root: &Path) -> Vec<String> {
    let root = root.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split(' ').nth(4).map(str::to_string))
        .filter(|point| point == &root || point.starts_with(&format!("{root}/")))
        .collect()
}
