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

mod build;
#[path = "../common/mod.rs"]
mod common;
mod health;
mod secrets;
mod world;

use common::{container_ids, describe, inspect, volumes, wait_for};
use std::process::Command;
use std::time::Duration;
use world::{
    World, assert_running, blog, committed_text, container_env, is_running,
    last_state_commit_message, only_container, shop, state_commits,
};

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
    assert!(!stderr.contains("refused: refused"), "{stderr}");
    // The audit trail says what happened: nothing deleted, a refusal.
    let message = last_state_commit_message(&world.state_dir);
    assert!(message.contains("plan refused"), "{message}");
    assert!(!message.contains("deleted"), "{message}");

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

#[test]
fn a_missing_or_an_extra_replica_is_healed_and_volumes_carry_helios_labels() {
    let Some(world) = World::new("replicas", &["shop"]) else {
        return;
    };
    let app = world.app("shop");
    world.commit(&[("shop/Heliosfile", Some(&shop(&app, &world.image, "one", 2)))]);
    world.converge();
    assert_running(&app, &[("web", 2), ("worker", 1), ("cache", 1)]);
    let worker = only_container(&app, "worker");

    // The data volume says whose it is.
    let volume = volumes(&app);
    assert_eq!(volume.len(), 1, "{volume:?}");
    let labels = common::run_ok(Command::new("docker").args([
        "volume",
        "inspect",
        "--format",
        "{{json .Labels}}",
        &volume[0],
    ]));
    let labels: std::collections::BTreeMap<String, String> =
        serde_json::from_str(labels.trim()).expect("labels");
    assert_eq!(labels.get("dev.helios.app"), Some(&app), "{labels:?}");
    assert_eq!(
        labels.get("dev.helios.component").map(String::as_str),
        Some("database"),
        "{labels:?}"
    );

    // One replica removed by hand: the next cycle brings it back.
    let webs = container_ids(&app, "web");
    common::run_ok(Command::new("docker").args(["rm", "-f", &webs[1]]));
    let output = world.converge();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_running(&app, &[("web", 2), ("worker", 1), ("cache", 1)]);
    assert!(
        container_ids(&app, "web").contains(&webs[0]),
        "the other replica was kept"
    );
    assert_eq!(only_container(&app, "worker"), worker);
    let status = world.status(&app);
    assert!(
        status.contains("drifted: missing instance"),
        "{status}\n{stderr}"
    );

    // One replica too many, started by hand with Compose: removed again.
    let state = world.state_dir.to_string_lossy().into_owned();
    common::run_ok(Command::new("docker-compose").args([
        "--compatibility",
        "-p",
        &app,
        "-f",
        &format!("{state}/compose/{app}/compose.yaml"),
        "--env-file",
        &format!("{state}/secrets/compose/{app}.env"),
        "up",
        "-d",
        "--no-recreate",
        "--scale",
        "web=3",
        "web",
    ]));
    assert_eq!(container_ids(&app, "web").len(), 3);
    world.converge();
    assert_running(&app, &[("web", 2), ("worker", 1), ("cache", 1)]);
    assert!(world.status(&app).contains("drifted: extra instance"));
}
