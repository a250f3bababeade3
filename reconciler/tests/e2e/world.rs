//! What the end-to-end scenarios share: a world (config repo, state
//! directory, test image, cleanup) driving the real binary, the two apps
//! most scenarios use, and queries of live containers.

use crate::common::{
    Cleanup, build_image, commit_all, container_ids, describe, docker_ready, inspect,
};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub(crate) const BINARY: &str = env!("CARGO_BIN_EXE_helios-reconciler");

/// One scenario's config repo, state directory, image and apps.
pub(crate) struct World {
    pub(crate) scenario: String,
    pub(crate) root: PathBuf,
    pub(crate) repo: git2::Repository,
    pub(crate) state_dir: PathBuf,
    pub(crate) image: String,
    _cleanup: Cleanup,
}

impl World {
    /// A fresh world, or `None` when Docker is not here (the test is
    /// skipped). `apps` are the short names of the apps the scenario uses.
    pub(crate) fn new(scenario: &str, apps: &[&str]) -> Option<Self> {
        if !docker_ready() {
            return None;
        }
        let pid = std::process::id();
        let scenario = format!("{scenario}-{pid}");
        let image = format!("helios-e2e/base:{scenario}");
        let world_apps: Vec<String> = apps.iter().map(|a| format!("{a}-{scenario}")).collect();
        let cleanup = Cleanup {
            projects: world_apps,
            images: vec![image.clone()],
        };
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("e2e-{scenario}"));
        let _ = std::fs::remove_dir_all(&root);
        build_image(&root.join("image"), &image);
        let repo = crate::common::config_repo(&root.join("config"));
        Some(Self {
            scenario,
            state_dir: root.join("state"),
            root,
            repo,
            image,
            _cleanup: cleanup,
        })
    }

    /// The app name of a short name in this scenario.
    pub(crate) fn app(&self, short: &str) -> String {
        format!("{short}-{}", self.scenario)
    }

    /// Writes (`Some`) or deletes (`None`) files of the config repo, then
    /// commits everything on `main`.
    pub(crate) fn commit(&self, files: &[(&str, Option<&str>)]) {
        commit_all(&self.repo, files);
    }

    /// Commits the two apps most scenarios start from, `shop` (mode `one`,
    /// one web replica) and `blog`, beside a file that is no Heliosfile;
    /// returns their app names.
    pub(crate) fn commit_shop_and_blog(&self) -> (String, String) {
        let (shop_app, blog_app) = (self.app("shop"), self.app("blog"));
        self.commit(&[
            (
                "shop/Heliosfile",
                Some(&shop(&shop_app, &self.image, "one", 1)),
            ),
            ("blog/Heliosfile", Some(&blog(&blog_app, &self.image, "hi"))),
            ("README.md", Some("config\n")),
        ]);
        (shop_app, blog_app)
    }

    /// `helios-reconciler run` with this world's repo and state dir.
    pub(crate) fn run_command(&self, extra: &[&str]) -> Command {
        let mut command = Command::new(BINARY);
        command
            .arg("run")
            .arg("--repo")
            .arg(self.repo.workdir().expect("a work tree"))
            .arg("--state-dir")
            .arg(&self.state_dir)
            .args(["--backend", "compose", "--health-timeout", "60s"])
            .args(extra);
        command
    }

    /// One cycle: `run --once`.
    pub(crate) fn run_once(&self) -> Output {
        self.run_command(&["--once"])
            .output()
            .expect("helios-reconciler runs")
    }

    /// One cycle that must converge (exit 0).
    pub(crate) fn converge(&self) -> Output {
        let output = self.run_once();
        assert_eq!(
            output.status.code(),
            Some(0),
            "run --once did not converge: {}",
            describe(&output)
        );
        output
    }

    /// The daemon, logging to a file of the world.
    pub(crate) fn start_daemon(&self, extra: &[&str]) -> Child {
        let log = std::fs::File::create(self.root.join("daemon.log")).expect("a log file");
        self.run_command(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the daemon starts")
    }

    /// `apps/<app>/status.yaml` of the state repository.
    pub(crate) fn status(&self, app: &str) -> String {
        std::fs::read_to_string(self.state_dir.join("apps").join(app).join("status.yaml"))
            .unwrap_or_else(|e| panic!("status of {app}: {e}"))
    }
}

/// An app of two services and a database. `web` answers HTTP and has a
/// healthcheck; `worker` gets an env value and the database's URL (with
/// its generated password). The commands trap SIGTERM so that a recreate
/// takes no 10 s grace period.
pub(crate) fn shop(name: &str, image: &str, mode: &str, replicas: u32) -> String {
    format!(
        "name: {name}\n\
         version: 1\n\
         services:\n\
         \x20 web:\n\
         \x20   image: {image}\n\
         \x20   command: [sh, -c, \"trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait\"]\n\
         \x20   http_port: 8080\n\
         \x20   replicas: {replicas}\n\
         \x20   healthcheck:\n\
         \x20     path: /index.html\n\
         \x20     interval: 1s\n\
         \x20     timeout: 1s\n\
         \x20     retries: 30\n\
         \x20 worker:\n\
         \x20   image: {image}\n\
         \x20   command: [sh, -c, \"trap 'exit 0' TERM; sleep 3600 & wait\"]\n\
         \x20   env:\n\
         \x20     MODE: {mode}\n\
         \x20     CACHE_URL: ${{cache.URL}}\n\
         databases:\n\
         \x20 cache:\n\
         \x20   type: redis\n\
         \x20   image: {image}\n"
    )
}

/// An app of one web service and a database (whose volume outlives it).
pub(crate) fn blog(name: &str, image: &str, greeting: &str) -> String {
    format!(
        "name: {name}\n\
         version: 1\n\
         services:\n\
         \x20 web:\n\
         \x20   image: {image}\n\
         \x20   command: [sh, -c, \"trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait\"]\n\
         \x20   http_port: 8080\n\
         \x20   env:\n\
         \x20     GREETING: {greeting}\n\
         databases:\n\
         \x20 store:\n\
         \x20   type: redis\n\
         \x20   image: {image}\n"
    )
}

/// The one container of a service, which must exist.
pub(crate) fn only_container(app: &str, service: &str) -> String {
    let ids = container_ids(app, service);
    assert_eq!(ids.len(), 1, "{app}/{service}: {ids:?}");
    ids[0].clone()
}

pub(crate) fn is_running(id: &str) -> bool {
    inspect(id, "{{.State.Running}}") == "true"
}

/// The value of an environment variable of a live container.
pub(crate) fn container_env(id: &str, variable: &str) -> Option<String> {
    inspect(id, "{{range .Config.Env}}{{println .}}{{end}}")
        .lines()
        .find_map(|line| {
            line.strip_prefix(&format!("{variable}="))
                .map(str::to_string)
        })
}

/// Every service of `app` runs, each with `replicas` containers.
pub(crate) fn assert_running(app: &str, services: &[(&str, usize)]) {
    for (service, replicas) in services {
        let ids = container_ids(app, service);
        assert_eq!(ids.len(), *replicas, "{app}/{service}: {ids:?}");
        for id in &ids {
            assert!(is_running(id), "{app}/{service} {id} is not running");
        }
    }
}

/// Every blob of the state repository's HEAD, to look for secret values.
pub(crate) fn committed_text(state_dir: &Path) -> String {
    let repo = git2::Repository::open(state_dir).expect("the state repo");
    let tree = repo.head().and_then(|h| h.peel_to_tree()).expect("a tree");
    let mut text = String::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |_, entry| {
        if let Ok(blob) = entry.to_object(&repo).and_then(|o| o.peel_to_blob()) {
            text.push_str(&String::from_utf8_lossy(blob.content()));
        }
        git2::TreeWalkResult::Ok
    })
    .expect("a walk");
    text
}

pub(crate) fn state_commits(state_dir: &Path) -> usize {
    let repo = git2::Repository::open(state_dir).expect("the state repo");
    let mut walk = repo.revwalk().expect("a walk");
    walk.push_head().expect("a head");
    walk.count()
}

/// The environment of a live container, byte-exact (from its JSON, where
/// a value may hold anything but NUL).
pub(crate) fn container_environment(id: &str) -> std::collections::BTreeMap<String, String> {
    let json = inspect(id, "{{json .Config.Env}}");
    let entries: Vec<String> = serde_json::from_str(&json).expect("a JSON list");
    entries
        .into_iter()
        .filter_map(|entry| {
            let (name, value) = entry.split_once('=')?;
            Some((name.to_string(), value.to_string()))
        })
        .collect()
}

/// The message of the state repository's last commit.
pub(crate) fn last_state_commit_message(state_dir: &Path) -> String {
    let repo = git2::Repository::open(state_dir).expect("the state repo");
    let head = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .expect("a commit");
    head.message().unwrap_or_default().to_string()
}
