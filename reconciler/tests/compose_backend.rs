//! The Compose backend end to end on the real Docker Engine: a Heliosfile
//! compiled through `desired.rs` is applied, observed, checked for health,
//! changed (only the changed service is recreated), broken by hand (a
//! killed container shows as exited) and removed (its volume kept).
//!
//! No registry is needed: the image is built locally `FROM scratch` with a
//! static busybox (Debian's `busybox-static`). Without a Docker daemon,
//! Compose or busybox the test is skipped with a message; with
//! `HELIOS_REQUIRE_DOCKER=1` it fails instead.

#![allow(clippy::panic)] // Test helpers fail loudly by design.

use helios_reconciler::backend::{AppSecrets, Backend, HealthState, InstanceStatus, Secret};
use helios_reconciler::backends::compose::ComposeBackend;
use helios_reconciler::desired::{DesiredApp, DesiredOptions, desired_state};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BUSYBOX: &str = "/bin/busybox";

fn docker_required() -> bool {
    std::env::var("HELIOS_REQUIRE_DOCKER").is_ok_and(|v| v == "1")
}

/// Skips (returns false) or, when Docker is required, fails.
fn prerequisite(ok: bool, message: &str) -> bool {
    if ok {
        return true;
    }
    if docker_required() {
        panic!("HELIOS_REQUIRE_DOCKER=1 but {message}");
    }
    eprintln!("skipped: {message}");
    false
}

fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run_ok(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Everything the test creates on the Docker host; dropping it removes it
/// all, whether the test passed or panicked.
struct Cleanup {
    project: String,
    image: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let label = format!("label=com.docker.compose.project={}", self.project);
        let ids = Command::new("docker")
            .args(["ps", "-aq", "--filter", &label])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for id in ids.split_whitespace() {
            let _ = Command::new("docker").args(["rm", "-f", id]).output();
        }
        for kind in ["volume", "network"] {
            let names = Command::new("docker")
                .args([kind, "ls", "-q", "--filter", &label])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            for name in names.split_whitespace() {
                let _ = Command::new("docker").args([kind, "rm", name]).output();
            }
        }
        let _ = Command::new("docker")
            .args(["image", "rm", "-f", &self.image])
            .output();
    }
}

fn build_image(context: &Path, tag: &str) {
    let _ = std::fs::remove_dir_all(context);
    std::fs::create_dir_all(context.join("www")).expect("create context");
    std::fs::copy(BUSYBOX, context.join("busybox")).expect("copy busybox");
    std::fs::write(context.join("www/index.html"), "ok\n").expect("index");
    // A fake Redis for the database: `redis-server` reads the config the
    // compiled command gives it and answers on 6379; `redis-cli` (the
    // compiled healthcheck) answers PONG.
    for (name, script) in [
        (
            "redis-server",
            "#!/bin/sh\ncat > /tmp/redis-config\ntrap 'exit 0' TERM\nnc -ll -p 6379 -e echo +PONG &\nwait\n",
        ),
        ("redis-cli", "#!/bin/sh\necho PONG\n"),
    ] {
        let path = context.join(name);
        std::fs::write(&path, script).expect("script");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
    }
    std::fs::write(
        context.join("Dockerfile"),
        "FROM scratch\n\
         COPY busybox /bin/busybox\n\
         RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
         RUN mkdir -p /tmp && chmod 1777 /tmp\n\
         COPY www /www\n\
         COPY redis-server redis-cli /usr/local/bin/\n\
         ENV PATH=/usr/local/bin:/bin\n",
    )
    .expect("Dockerfile");
    run_ok(
        Command::new("docker")
            .args(["build", "-q", "-t", tag])
            .arg(context),
    );
}

/// The app: a web service with an HTTP healthcheck, a worker whose env
/// the test changes, and a database (for its volume). The commands trap
/// SIGTERM so that recreating and stopping takes no 10 s grace period.
fn heliosfile(project: &str, image: &str, worker_mode: &str) -> String {
    format!(
        "name: {project}\n\
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
         \x20 worker:\n\
         \x20   image: {image}\n\
         \x20   command: [sh, -c, \"trap 'exit 0' TERM; sleep 3600 & wait\"]\n\
         \x20   env:\n\
         \x20     MODE: {worker_mode}\n\
         databases:\n\
         \x20 cache:\n\
         \x20   type: redis\n\
         \x20   image: {image}\n"
    )
}

fn compile(text: &str, project: &str) -> DesiredApp {
    let files = vec![(format!("apps/{project}/Heliosfile"), text.to_string())];
    let mut state = desired_state(&files, &DesiredOptions::default());
    assert!(state.failed.is_empty(), "{:?}", state.failed);
    state.apps.remove(project).expect("the app compiled")
}

/// Container ids of one service of the project.
fn container_ids(project: &str, service: &str) -> Vec<String> {
    let mut ids: Vec<String> = run_ok(Command::new("docker").args([
        "ps",
        "-aq",
        "--no-trunc",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--filter",
        &format!("label=com.docker.compose.service={service}"),
    ]))
    .split_whitespace()
    .map(str::to_string)
    .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "current_thread")]
async fn compose_backend_applies_observes_and_removes() {
    if !prerequisite(succeeds("docker", &["info"]), "no Docker daemon")
        || !prerequisite(
            succeeds("docker-compose", &["version"]) || succeeds("docker", &["compose", "version"]),
            "no Compose tool (docker compose or docker-compose)",
        )
        || !prerequisite(
            Path::new(BUSYBOX).is_file(),
            "no static busybox at /bin/busybox (apt-get install busybox-static)",
        )
    {
        return;
    }
    let started = Instant::now();
    let pid = std::process::id();
    let project = format!("helios-backend-{pid}");
    let image = format!("helios-backend-test/base:{pid}");
    let _cleanup = Cleanup {
        project: project.clone(),
        image: image.clone(),
    };
    let root: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("backend-{pid}"));
    let _ = std::fs::remove_dir_all(&root);
    build_image(&root.join("image"), &image);

    let state_dir = root.join("state");
    let backend = ComposeBackend::connect(&state_dir)
        .await
        .expect("connected");
    assert_eq!(backend.name(), "compose");

    // The caller's secrets by value: the backend writes the env file.
    let secrets = AppSecrets {
        database_passwords: BTreeMap::from([(
            "cache".to_string(),
            Secret(format!("pw-{pid}-secret")),
        )]),
        ..Default::default()
    };

    // Deploy: databases first, then services, as the plan orders them.
    let app = compile(&heliosfile(&project, &image, "one"), &project);
    backend
        .apply(&app, &["cache".to_string()], &secrets)
        .await
        .expect("database applied");
    let services: Vec<String> = vec!["web".to_string(), "worker".to_string()];
    backend
        .apply(&app, &services, &secrets)
        .await
        .expect("services applied");
    let env_file = state_dir.join("secrets").join(format!("{project}.env"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&env_file)
            .expect("env file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let compose_yaml =
        std::fs::read_to_string(backend.compose_file(&project)).expect("compose.yaml written");
    assert!(!compose_yaml.contains(&format!("pw-{pid}")));

    // Observe: every component with its desired spec hash.
    let observed = backend.observe().await.expect("observed");
    let live = &observed.apps[&project];
    for (key, wanted) in &app.components {
        let component = live
            .components
            .get(key)
            .unwrap_or_else(|| panic!("{key} observed: {live:?}"));
        assert_eq!(component.kind, wanted.kind, "{key}");
        assert_eq!(component.instances.len(), 1, "{key}");
        assert_eq!(
            component.instances[0].spec_hash.as_deref(),
            Some(wanted.spec_hash.as_str()),
            "{key}"
        );
    }
    assert!(live.volumes.contains("cache-data"), "{live:?}");

    // Health: web's healthcheck passes.
    let health = backend
        .wait_healthy(
            &project,
            Duration::from_secs(40),
            Duration::from_millis(500),
        )
        .await
        .expect("health");
    assert_eq!(health.state, HealthState::Healthy, "{:?}", health.details);

    // Change the worker's env: only the worker is recreated.
    let web_before = container_ids(&project, "web");
    let worker_before = container_ids(&project, "worker");
    let changed = compile(&heliosfile(&project, &image, "two"), &project);
    assert_eq!(changed.components["web"], app.components["web"]);
    assert_ne!(changed.components["worker"], app.components["worker"]);
    let all: Vec<String> = changed.components.keys().cloned().collect();
    backend
        .apply(&changed, &all, &secrets)
        .await
        .expect("re-applied");
    assert_eq!(container_ids(&project, "web"), web_before, "web was kept");
    let worker_after = container_ids(&project, "worker");
    assert_eq!(worker_after.len(), 1);
    assert_ne!(worker_after, worker_before, "worker was recreated");
    let observed = backend.observe().await.expect("observed");
    assert_eq!(
        observed.apps[&project].components["worker"].instances[0]
            .spec_hash
            .as_deref(),
        Some(changed.components["worker"].spec_hash.as_str())
    );

    // Kill the worker by hand: observe shows it exited, health is not ok.
    run_ok(Command::new("docker").args(["kill", &worker_after[0]]));
    let observed = backend.observe().await.expect("observed");
    assert_eq!(
        observed.apps[&project].components["worker"].instances[0].status,
        InstanceStatus::Exited
    );
    let health = backend.health(&project).await.expect("health");
    assert_eq!(health.state, HealthState::Unhealthy, "{:?}", health.details);
    assert!(
        health.details.iter().any(|d| d.starts_with("worker:")),
        "{:?}",
        health.details
    );

    // Heal: applying again starts it.
    backend
        .apply(&changed, &all, &secrets)
        .await
        .expect("healed");
    let observed = backend.observe().await.expect("observed");
    assert_ne!(
        observed.apps[&project].components["worker"].instances[0].status,
        InstanceStatus::Exited
    );

    // Remove: containers gone, the data volume kept and still reported.
    backend.remove(&project, false).await.expect("removed");
    assert!(container_ids(&project, "web").is_empty());
    assert!(container_ids(&project, "worker").is_empty());
    let observed = backend.observe().await.expect("observed");
    let left = &observed.apps[&project];
    assert!(left.components.is_empty(), "{left:?}");
    assert!(left.volumes.contains("cache-data"), "{left:?}");

    // Remove with prune: the volume goes too, and the app is forgotten.
    backend.remove(&project, true).await.expect("pruned");
    let observed = backend.observe().await.expect("observed");
    assert!(!observed.apps.contains_key(&project), "{observed:?}");

    assert!(
        started.elapsed() < Duration::from_secs(90),
        "took {:?}",
        started.elapsed()
    );
    let _ = std::fs::remove_dir_all(&root);
}
