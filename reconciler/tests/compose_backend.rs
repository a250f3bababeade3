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

use helios_reconciler::backend::{AppSecrets, Backend, HealthState, InstanceStatus};
use helios_reconciler::backends::compose::ComposeBackend;
use helios_reconciler::desired::{DesiredApp, DesiredOptions, desired_state};
use helios_reconciler::plan::{VolumeAction, VolumePlan};
use helios_reconciler::secrets::Secret;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::{Cleanup, build_image, container_ids, docker_ready, run_ok};

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

#[tokio::test(flavor = "current_thread")]
async fn compose_backend_applies_observes_and_removes() {
    if !docker_ready() {
        return;
    }
    let started = Instant::now();
    let pid = std::process::id();
    let project = format!("helios-backend-{pid}");
    let image = format!("helios-backend-test/base:{pid}");
    let _cleanup = Cleanup {
        projects: vec![project.clone()],
        images: vec![image.clone()],
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
            Secret::new(format!("pw-{pid}-secret")),
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
    let env_file = backend.env_file_path(&project);
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
    let cache_data = |action| VolumePlan {
        name: "cache-data".to_string(),
        action,
    };
    backend
        .remove(&project, &[cache_data(VolumeAction::Keep)])
        .await
        .expect("removed");
    assert!(container_ids(&project, "web").is_empty());
    assert!(container_ids(&project, "worker").is_empty());
    let observed = backend.observe().await.expect("observed");
    let left = &observed.apps[&project];
    assert!(left.components.is_empty(), "{left:?}");
    assert!(left.volumes.contains("cache-data"), "{left:?}");

    // Remove with prune: the volume goes too, and the app is forgotten.
    backend
        .remove(&project, &[cache_data(VolumeAction::Delete)])
        .await
        .expect("pruned");
    let observed = backend.observe().await.expect("observed");
    assert!(!observed.apps.contains_key(&project), "{observed:?}");

    assert!(
        started.elapsed() < Duration::from_secs(90),
        "took {:?}",
        started.elapsed()
    );
    let _ = std::fs::remove_dir_all(&root);
}
