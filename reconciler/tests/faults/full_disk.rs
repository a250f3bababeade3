//! The state directory's file system full: the cycle fails clearly, the
//! state repository stays sound, and the next cycle after space returns
//! converges and records what was applied.

use crate::common::{self};
use crate::harness::*;
use crate::world::*;
use std::process::Command;

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

/// The cycle that could not write its record had applied the change; the
/// next cycle finds live state as it should be, and records it then.
#[test]
fn a_full_apps_folder_fails_the_record_and_recovers() {
    full_apps_folder(true);
}

/// `apps/` of the state directory fills up during a cycle that applies a
/// change. With `check_record`, the recovered state repository must record
/// that apply.
pub(crate) fn full_apps_folder(check_record: bool) {
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
