//! One fault test's config repo, state directory, image and app, on an
//! engine.

use crate::common::{self, Cleanup, build_image, commit_all, config_repo, docker_ready, wait_for};
use crate::engine::*;
use crate::harness::*;
use crate::{BINARY, RUN_LIMIT};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// One test's config repo, state directory, image and app, on an engine.
pub(crate) struct World {
    pub(crate) root: PathBuf,
    /// The config repo's work tree (it may be moved away and back).
    pub(crate) config: PathBuf,
    pub(crate) state_dir: PathBuf,
    pub(crate) image: String,
    pub(crate) app: String,
    pub(crate) engine: Engine,
    pub(crate) _cleanup: Cleanup,
}

impl World {
    /// A fresh world whose app is named `<short>-<pid>`, or `None` when
    /// Docker is not here. With `own`, the image is loaded into that
    /// engine too and the reconciler is pointed at it.
    pub(crate) fn new(short: &str, own: Option<&OwnEngine>) -> Option<Self> {
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
    pub(crate) fn commit_at(dir: &Path, files: &[(&str, Option<&str>)]) {
        let repo = git2::Repository::open(dir).expect("the config repo");
        commit_all(&repo, files);
    }

    /// Commits the app's Heliosfile.
    pub(crate) fn commit_app(&self, mode: &str, web_delay_s: u32) {
        let text = heliosfile(&self.app, &self.image, mode, web_delay_s);
        Self::commit_at(&self.config, &[("app/Heliosfile", Some(&text))]);
    }

    pub(crate) fn run_command(&self, extra: &[&str]) -> Command {
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
    pub(crate) fn spawn_once(&self, name: &str) -> (Child, PathBuf) {
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
    pub(crate) fn finish(mut child: Child, log: &Path) -> Ran {
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
    pub(crate) fn run_once(&self) -> Ran {
        let (child, log) = self.spawn_once("once");
        Self::finish(child, &log)
    }

    /// One cycle that must converge.
    pub(crate) fn converge(&self) -> Ran {
        let ran = self.run_once();
        assert_eq!(ran.code, Some(0), "did not converge: {}", ran.describe());
        ran
    }

    /// The daemon on `127.0.0.1:<free port>`.
    pub(crate) fn start_daemon(&self, extra: &[&str]) -> Daemon {
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
    pub(crate) fn git(&self, args: &[&str]) -> String {
        common::run_ok(
            Command::new("git")
                .arg("-C")
                .arg(&self.state_dir)
                .args(args),
        )
    }

    /// The state repository's HEAD commit.
    pub(crate) fn state_head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    pub(crate) fn state_commits(&self) -> usize {
        self.git(&["rev-list", "--count", "HEAD"])
            .trim()
            .parse()
            .expect("a count")
    }

    /// The commits since `head` record a new apply of `app`: its
    /// `applied.yaml` (source commit, spec hashes) changed.
    pub(crate) fn assert_recorded_since(&self, head: &str, app: &str) {
        let changed = self.git(&["diff", "--name-only", head, "HEAD"]);
        assert!(
            changed.contains(&format!("apps/{app}/applied.yaml")),
            "the apply was not recorded: {changed}"
        );
    }

    /// The state repository is whole: `git fsck` passes, HEAD is
    /// `expected_head` (when given), and no lock was left behind.
    pub(crate) fn assert_state_repo_sound(&self, expected_head: Option<&str>) {
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
pub(crate) fn heliosfile(name: &str, image: &str, mode: &str, web_delay_s: u32) -> String {
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
pub(crate) fn engine_root(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("helios-faults-{tag}-{}", std::process::id()))
}
