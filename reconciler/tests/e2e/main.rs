//! The reconciler end to end: the real `helios-reconciler` binary, a config
//! repo made with git2 in a temp dir (a local path, as an operator would
//! give it), and the real Docker Engine of this machine. Every scenario
//! asserts on live containers and volumes (`docker ps`, `docker inspect`),
//! not on the reconciler's own account of them; the state repository is
//! read only where the scenario is about what it records.
//!
//! No registry is needed: images are built `FROM scratch` on Debian's
//! static busybox. Without a Docker daemon, Compose or busybox the tests
//! say they are skipped; with `HELIOS_REQUIRE_DOCKER=1` (CI) they fail.

#![allow(clippy::panic)] // Test helpers fail loudly by design.

mod common;

use common::{
    Cleanup, build_image, commit_all, container_ids, describe, docker_ready, inspect, volumes,
    wait_for,
};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const BINARY: &str = env!("CARGO_BIN_EXE_helios-reconciler");

/// One scenario's config repo, state directory, image and apps.
struct World {
    scenario: String,
    root: PathBuf,
    repo: git2::Repository,
    state_dir: PathBuf,
    image: String,
    _cleanup: Cleanup,
}

impl World {
    /// A fresh world, or `None` when Docker is not here (the test is
    /// skipped). `apps` are the short names of the apps the scenario uses.
    fn new(scenario: &str, apps: &[&str]) -> Option<Self> {
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
        let repo = common::config_repo(&root.join("config"));
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
    fn app(&self, short: &str) -> String {
        format!("{short}-{}", self.scenario)
    }

    /// Writes (`Some`) or deletes (`None`) files of the config repo, then
    /// commits everything on `main`.
    fn commit(&self, files: &[(&str, Option<&str>)]) {
        commit_all(&self.repo, files);
    }

    /// Commits the two apps most scenarios start from, `shop` (mode `one`,
    /// one web replica) and `blog`, beside a file that is no Heliosfile;
    /// returns their app names.
    fn commit_shop_and_blog(&self) -> (String, String) {
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
    fn run_command(&self, extra: &[&str]) -> Command {
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
    fn run_once(&self) -> Output {
        self.run_command(&["--once"])
            .output()
            .expect("helios-reconciler runs")
    }

    /// One cycle that must converge (exit 0).
    fn converge(&self) -> Output {
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
    fn start_daemon(&self, extra: &[&str]) -> Child {
        let log = std::fs::File::create(self.root.join("daemon.log")).expect("a log file");
        self.run_command(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the daemon starts")
    }

    /// `apps/<app>/status.yaml` of the state repository.
    fn status(&self, app: &str) -> String {
        std::fs::read_to_string(self.state_dir.join("apps").join(app).join("status.yaml"))
            .unwrap_or_else(|e| panic!("status of {app}: {e}"))
    }
}

/// An app of two services and a database. `web` answers HTTP and has a
/// healthcheck; `worker` gets an env value and the database's URL (with
/// its generated password). The commands trap SIGTERM so that a recreate
/// takes no 10 s grace period.
fn shop(name: &str, image: &str, mode: &str, replicas: u32) -> String {
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
fn blog(name: &str, image: &str, greeting: &str) -> String {
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
fn only_container(app: &str, service: &str) -> String {
    let ids = container_ids(app, service);
    assert_eq!(ids.len(), 1, "{app}/{service}: {ids:?}");
    ids[0].clone()
}

fn is_running(id: &str) -> bool {
    inspect(id, "{{.State.Running}}") == "true"
}

/// The value of an environment variable of a live container.
fn container_env(id: &str, variable: &str) -> Option<String> {
    inspect(id, "{{range .Config.Env}}{{println .}}{{end}}")
        .lines()
        .find_map(|line| {
            line.strip_prefix(&format!("{variable}="))
                .map(str::to_string)
        })
}

/// Every service of `app` runs, each with `replicas` containers.
fn assert_running(app: &str, services: &[(&str, usize)]) {
    for (service, replicas) in services {
        let ids = container_ids(app, service);
        assert_eq!(ids.len(), *replicas, "{app}/{service}: {ids:?}");
        for id in &ids {
            assert!(is_running(id), "{app}/{service} {id} is not running");
        }
    }
}

/// Every blob of the state repository's HEAD, to look for secret values.
fn committed_text(state_dir: &Path) -> String {
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

fn state_commits(state_dir: &Path) -> usize {
    let repo = git2::Repository::open(state_dir).expect("the state repo");
    let mut walk = repo.revwalk().expect("a walk");
    walk.push_head().expect("a head");
    walk.count()
}

#[test]
fn deploy_change_scale_remove_and_keep_the_password() {
    let Some(world) = World::new("deploy", &["shop", "blog"]) else {
        return;
    };
    let (shop_app, blog_app) = world.commit_shop_and_blog();

    // Deploy two apps.
    world.converge();
    assert_running(&shop_app, &[("web", 1), ("worker", 1), ("cache", 1)]);
    assert_running(&blog_app, &[("web", 1), ("store", 1)]);
    let web = only_container(&shop_app, "web");
    assert_eq!(inspect(&web, "{{.State.Health.Status}}"), "healthy");
    let worker = only_container(&shop_app, "worker");
    assert_eq!(container_env(&worker, "MODE").as_deref(), Some("one"));

    // The generated password reached the database and the worker's URL,
    // and nowhere in the state repository.
    let cache = only_container(&shop_app, "cache");
    let password = container_env(&cache, "REDISCLI_AUTH").expect("the database password");
    assert!(password.len() >= 32, "{password}");
    let url = container_env(&worker, "CACHE_URL").expect("CACHE_URL");
    assert!(url.contains(&password), "{url}");
    assert!(!committed_text(&world.state_dir).contains(&password));

    // Ten cycles, each a new process (a restart): the password stays,
    // nothing is recreated, the state repository gets no new commit.
    let commits = state_commits(&world.state_dir);
    for _ in 0..10 {
        world.converge();
    }
    assert_eq!(only_container(&shop_app, "cache"), cache);
    assert_eq!(only_container(&shop_app, "worker"), worker);
    assert_eq!(
        container_env(&cache, "REDISCLI_AUTH").as_deref(),
        Some(password.as_str())
    );
    assert_eq!(state_commits(&world.state_dir), commits);

    // Change an env value: only that service is recreated.
    let blog_web = only_container(&blog_app, "web");
    world.commit(&[(
        "shop/Heliosfile",
        Some(&shop(&shop_app, &world.image, "two", 1)),
    )]);
    world.converge();
    let new_worker = only_container(&shop_app, "worker");
    assert_ne!(new_worker, worker, "the worker was recreated");
    assert_eq!(container_env(&new_worker, "MODE").as_deref(), Some("two"));
    assert_eq!(only_container(&shop_app, "web"), web, "web was kept");
    assert_eq!(only_container(&shop_app, "cache"), cache, "cache was kept");
    assert_eq!(only_container(&blog_app, "web"), blog_web, "blog was kept");
    assert!(state_commits(&world.state_dir) > commits);

    // Scale web to two replicas.
    world.commit(&[(
        "shop/Heliosfile",
        Some(&shop(&shop_app, &world.image, "two", 2)),
    )]);
    world.converge();
    assert_running(&shop_app, &[("web", 2), ("worker", 1), ("cache", 1)]);
    assert_eq!(only_container(&shop_app, "worker"), new_worker);

    // Remove one app from git: its containers go, its volume stays.
    let blog_volumes = volumes(&blog_app);
    assert_eq!(blog_volumes.len(), 1, "{blog_volumes:?}");
    world.commit(&[("blog/Heliosfile", None)]);
    world.converge();
    assert!(container_ids(&blog_app, "web").is_empty());
    assert!(container_ids(&blog_app, "store").is_empty());
    assert_eq!(volumes(&blog_app), blog_volumes, "the data volume is kept");
    assert_running(&shop_app, &[("web", 2), ("worker", 1), ("cache", 1)]);
    assert_eq!(
        container_env(&only_container(&shop_app, "cache"), "REDISCLI_AUTH").as_deref(),
        Some(password.as_str())
    );
    assert!(!committed_text(&world.state_dir).contains(&password));
}

#[test]
fn a_killed_container_is_healed_and_counted_as_drift() {
    let Some(world) = World::new("drift", &["shop"]) else {
        return;
    };
    let shop_app = world.app("shop");
    world.commit(&[(
        "shop/Heliosfile",
        Some(&shop(&shop_app, &world.image, "one", 1)),
    )]);
    world.converge();
    let worker = only_container(&shop_app, "worker");
    common::run_ok(Command::new("docker").args(["kill", &worker]));
    assert!(!is_running(&worker));

    world.converge();
    assert_running(&shop_app, &[("web", 1), ("worker", 1), ("cache", 1)]);
    let status = world.status(&shop_app);
    assert!(status.contains("worker (drifted: exited)"), "{status}");
}

#[test]
fn an_invalid_heliosfile_holds_its_app_and_the_others_go_on() {
    let Some(world) = World::new("invalid", &["shop", "blog"]) else {
        return;
    };
    let (shop_app, blog_app) = world.commit_shop_and_blog();
    world.converge();
    let shop_before: Vec<Vec<String>> = ["web", "worker", "cache"]
        .iter()
        .map(|s| container_ids(&shop_app, s))
        .collect();
    let blog_web = only_container(&blog_app, "web");

    // One commit breaks shop (a port out of range) and changes blog.
    let broken = shop(&shop_app, &world.image, "two", 1).replace("8080", "80800");
    world.commit(&[
        ("shop/Heliosfile", Some(&broken)),
        (
            "blog/Heliosfile",
            Some(&blog(&blog_app, &world.image, "hello")),
        ),
    ]);
    let output = world.run_once();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));

    // shop runs unchanged; blog was updated.
    let shop_after: Vec<Vec<String>> = ["web", "worker", "cache"]
        .iter()
        .map(|s| container_ids(&shop_app, s))
        .collect();
    assert_eq!(shop_after, shop_before);
    assert_running(&shop_app, &[("web", 1), ("worker", 1), ("cache", 1)]);
    let new_blog_web = only_container(&blog_app, "web");
    assert_ne!(new_blog_web, blog_web);
    assert_eq!(
        container_env(&new_blog_web, "GREETING").as_deref(),
        Some("hello")
    );

    // The status shows the diagnostic, with its code.
    let status = world.status(&shop_app);
    assert!(status.contains("held"), "{status}");
    assert!(status.contains("80800"), "{status}");
    assert!(status.contains("H0"), "{status}");
}

#[test]
fn a_commit_removing_every_app_is_refused() {
    let Some(world) = World::new("guard", &["shop", "blog"]) else {
        return;
    };
    let (shop_app, blog_app) = world.commit_shop_and_blog();
    world.converge();
    let before: Vec<Vec<String>> = [
        (&shop_app, "web"),
        (&shop_app, "worker"),
        (&blog_app, "web"),
    ]
    .iter()
    .map(|(app, s)| container_ids(app, s))
    .collect();

    world.commit(&[("shop/Heliosfile", None), ("blog/Heliosfile", None)]);
    let output = world.run_once();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--allow-mass-prune"), "{stderr}");

    let after: Vec<Vec<String>> = [
        (&shop_app, "web"),
        (&shop_app, "worker"),
        (&blog_app, "web"),
    ]
    .iter()
    .map(|(app, s)| container_ids(app, s))
    .collect();
    assert_eq!(after, before, "nothing was deleted");
    assert_running(&shop_app, &[("web", 1), ("worker", 1), ("cache", 1)]);
    assert_running(&blog_app, &[("web", 1), ("store", 1)]);
}

#[test]
fn killed_mid_apply_it_converges_when_started_again_and_one_instance_runs() {
    let Some(world) = World::new("crash", &["shop", "blog"]) else {
        return;
    };
    let (shop_app, blog_app) = world.commit_shop_and_blog();
    let mut daemon = world.start_daemon(&["--interval", "1s"]);

    // The apply has begun: a first container exists.
    let started = wait_for(Duration::from_secs(60), || {
        let any = ["cache", "store", "web", "worker"].iter().any(|s| {
            !container_ids(&shop_app, s).is_empty() || !container_ids(&blog_app, s).is_empty()
        });
        any.then_some(())
    });

    // A second instance on the same state dir is refused while the first
    // runs, with a message naming the state dir.
    let second = world.run_once();
    let second_stderr = String::from_utf8_lossy(&second.stderr).into_owned();

    daemon.kill().expect("kill -9 the daemon");
    let _ = daemon.wait();
    let log = std::fs::read_to_string(world.root.join("daemon.log")).unwrap_or_default();
    assert!(
        started.is_some(),
        "the daemon never started applying:\n{log}"
    );
    assert_eq!(second.status.code(), Some(2), "{}", describe(&second));
    assert!(
        second_stderr.contains("another helios-reconciler"),
        "{second_stderr}"
    );
    assert!(
        second_stderr.contains(&world.state_dir.display().to_string()),
        "{second_stderr}"
    );

    // Started again, it converges. The Compose tool the killed daemon ran
    // may still be finishing its `up`, so a cycle racing it may fail; the
    // next one must converge.
    let converged = (0..3).any(|_| world.run_once().status.success());
    assert!(converged, "did not converge after the crash:\n{log}");
    assert_running(&shop_app, &[("web", 1), ("worker", 1), ("cache", 1)]);
    assert_running(&blog_app, &[("web", 1), ("store", 1)]);
    let web = only_container(&shop_app, "web");
    assert_eq!(inspect(&web, "{{.State.Health.Status}}"), "healthy");
}
