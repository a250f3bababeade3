//! The Docker Engine restarting between and during cycles, and under the
//! daemon.

use crate::common::{docker_ready, wait_for};
use crate::engine::*;
use crate::harness::*;
use crate::world::*;
use std::time::Duration;

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
