//! The config repo going away while apps run, and an empty commit.

use crate::world::*;
use std::time::Duration;

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
