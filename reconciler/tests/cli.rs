//! The `helios-reconciler` binary as an operator runs it: its help (a
//! snapshot, so that a changed flag shows in review), exit codes of bad
//! flags, the single-instance lock, `status` on a state directory written
//! by the library, secrets that never print, and, where Docker is here,
//! `run --once`, `plan` and the daemon's wake-up on a commit, its
//! `/healthz` and its clean exit on SIGTERM.
//!
//! The end-to-end scenarios with apps on Docker are in `e2e.rs`.

#![allow(clippy::panic)] // Test helpers fail loudly by design.

mod common;

use common::{commit_all, config_repo, describe, docker_ready, wait_for};
use helios_reconciler::lock::StateLock;
use helios_reconciler::state::{AppResult, AppStatus, Durations, PlanRecord, StateDir};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const BINARY: &str = env!("CARGO_BIN_EXE_helios-reconciler");

fn reconciler(args: &[&str]) -> Output {
    Command::new(BINARY)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("helios-reconciler runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_snapshot(name: &str, value: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("snapshots")
            .join("reconciler")
            .join("cli"),
    );
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(name, value));
}

#[test]
fn help_lists_every_command_and_flag() {
    for (name, args) in [
        ("help", &["--help"][..]),
        ("run_help", &["run", "--help"][..]),
        ("plan_help", &["plan", "--help"][..]),
        ("status_help", &["status", "--help"][..]),
    ] {
        let output = reconciler(args);
        assert!(output.status.success(), "{}", describe(&output));
        assert_snapshot(name, &text(&output.stdout));
    }
}

#[test]
fn bad_flags_exit_2() {
    for args in [
        &["run", "--backend", "compose"][..],
        &[
            "run",
            "--repo",
            "r",
            "--backend",
            "compose",
            "--interval",
            "5x",
        ],
        &["run", "--repo", "r", "--backend", "docker"],
        &[
            "run",
            "--repo",
            "r",
            "--backend",
            "compose",
            "--listen",
            "nowhere",
        ],
        &["status", "--format", "xml"],
        &["status", "--log-level", "loud"],
        &["deploy"],
        &[],
    ] {
        let output = reconciler(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            describe(&output)
        );
        assert!(!text(&output.stderr).is_empty(), "{args:?}");
    }
}

#[test]
fn a_second_instance_is_refused_before_touching_anything() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let state = dir.path().join("state");
    let _held = StateLock::acquire(&state).expect("the lock");
    let output = reconciler(&[
        "run",
        "--repo",
        &dir.path().join("no-such-repo").to_string_lossy(),
        "--backend",
        "compose",
        "--state-dir",
        &state.to_string_lossy(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains(&format!("PID {}", std::process::id())),
        "{stderr}"
    );
    assert!(stderr.contains(&state.display().to_string()), "{stderr}");
    // Refused first: no fetch, no state repository.
    assert!(!state.join("source.git").exists());
    assert!(!state.join(".git").exists());
}

#[test]
fn secrets_never_print_even_when_the_file_is_wrong() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let secrets = dir.path().join("secrets.env");
    std::fs::write(&secrets, "STRIPE_KEY=sk_live_hunter2\nsk_live_hunter3\n").expect("a file");
    let output = reconciler(&[
        "run",
        "--repo",
        "/nowhere",
        "--backend",
        "compose",
        "--state-dir",
        &dir.path().join("state").to_string_lossy(),
        "--secrets-file",
        &secrets.to_string_lossy(),
        "--once",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("line 2: expected NAME=value"), "{stderr}");
    // World-readable: warned about.
    assert!(stderr.contains("chmod 600"), "{stderr}");
    assert!(!stderr.contains("hunter"), "{stderr}");
    assert!(output.stdout.is_empty());

    // A token that cannot be used is not shown either.
    let output = Command::new(BINARY)
        .args([
            "plan",
            "--repo",
            "https://git.invalid/config.git",
            "--backend",
            "compose",
            "--state-dir",
            &dir.path().join("state").to_string_lossy(),
            "--token-env",
            "HELIOS_TEST_TOKEN",
        ])
        .env("HELIOS_TEST_TOKEN", "ghp_hunter4")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(!text(&output.stderr).contains("hunter4"));
    assert!(!text(&output.stdout).contains("hunter4"));
}

fn status(app: &str, result: AppResult, diagnostics: &[&str]) -> AppStatus {
    AppStatus {
        app: app.to_string(),
        source_commit: "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d".to_string(),
        plan: PlanRecord {
            action: "update".to_string(),
            reason: Some("spec changed".to_string()),
            changes: vec!["update web (spec changed)".to_string()],
        },
        result,
        diagnostics: diagnostics.iter().map(|d| d.to_string()).collect(),
        durations: Durations {
            compile_ms: 5,
            apply_ms: 2_000,
            wait_ms: 1_245,
            total_ms: 3_250,
        },
    }
}

#[test]
fn status_prints_what_the_state_directory_records() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let state_dir = dir.path().join("state");
    let state = StateDir::open_or_init(&state_dir).expect("a state dir");
    state
        .write_status(&status("shop", AppResult::Healthy, &[]))
        .expect("a status");
    state
        .write_status(&status(
            "blog",
            AppResult::Degraded,
            &["web: unhealthy", "not healthy after 120s"],
        ))
        .expect("a status");
    state
        .commit("1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d", "2 updated")
        .expect("a commit");
    let state_path = state_dir.to_string_lossy().into_owned();

    let output = reconciler(&["status", "--state-dir", &state_path]);
    assert!(output.status.success(), "{}", describe(&output));
    let stdout = text(&output.stdout);
    let lines: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(
        lines[0][..4],
        ["APP", "RESULT", "COMMIT", "ACTION"],
        "{stdout}"
    );
    // Sorted by app; the date is the state commit's (just now).
    let blog = &lines[1];
    assert_eq!(
        blog[..4],
        ["blog", "degraded", "1a2b3c4", "update"],
        "{stdout}"
    );
    assert!(blog[4].starts_with("20") && blog[4].len() == 10, "{stdout}");
    assert_eq!(blog[6..], ["3.2s", "2"], "{stdout}");
    assert_eq!(lines[2][..2], ["shop", "healthy"], "{stdout}");
    assert_eq!(lines[2][7], "0", "{stdout}");

    let output = reconciler(&["status", "--state-dir", &state_path, "--format", "json"]);
    assert!(output.status.success(), "{}", describe(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(json[0]["app"], "blog");
    assert_eq!(json[0]["result"], "degraded");
    assert_eq!(json[0]["diagnostics"][1], "not healthy after 120s");
    assert_eq!(json[0]["durations"]["total_ms"], 3250);
    assert!(
        json[0]["updated_at"]
            .as_i64()
            .is_some_and(|t| t > 1_700_000_000)
    );
    assert_eq!(json[1]["plan"]["action"], "update");

    // The lock is not needed: status works beside a running reconciler.
    let _held = StateLock::acquire(&state_dir).expect("the lock");
    let output = reconciler(&["status", "--state-dir", &state_path]);
    assert!(output.status.success(), "{}", describe(&output));
}

#[test]
fn status_of_a_missing_state_directory_exits_2_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let missing = dir.path().join("missing");
    let output = reconciler(&["status", "--state-dir", &missing.to_string_lossy()]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("no state directory"), "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert!(!missing.exists());
}

/// A config repo with one commit and no Heliosfile: nothing to run, so no
/// image is needed, yet every stage of a cycle runs against the engine.
fn empty_config_repo(dir: &Path) -> (git2::Repository, PathBuf) {
    let path = dir.join("config");
    let repo = config_repo(&path);
    commit(&repo, "README.md", "nothing to run here\n");
    (repo, path)
}

fn commit(repo: &git2::Repository, file: &str, contents: &str) {
    commit_all(repo, &[(file, Some(contents))]);
}

#[test]
fn run_once_plan_and_status_on_an_empty_repo() {
    if !docker_ready() {
        return;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let (_repo, config) = empty_config_repo(dir.path());
    let config = config.to_string_lossy().into_owned();
    let state = dir.path().join("state").to_string_lossy().into_owned();
    // `--backend` defaults to `compose`, for `run` and `plan` alike.
    let base = ["--repo", &config, "--state-dir", &state];

    let output = reconciler(&[&["plan"][..], &base].concat());
    assert!(output.status.success(), "{}", describe(&output));
    assert!(
        text(&output.stdout).contains("plan: no app"),
        "{}",
        describe(&output)
    );
    // plan fetched elsewhere and created no state directory.
    assert!(!Path::new(&state).exists());

    let output = reconciler(&[&["run", "--once", "--log-format", "json"][..], &base].concat());
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stderr = text(&output.stderr);
    let cycle: serde_json::Value = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["message"] == "cycle: converged")
        .unwrap_or_else(|| panic!("no cycle line in {stderr}"));
    assert_eq!(cycle["level"], "INFO");
    assert_eq!(cycle["created"], 0);

    let output = reconciler(&["status", "--state-dir", &state]);
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(text(&output.stdout), "no app recorded yet\n");

    // A --path that names nothing in the branch is a usage error, not an
    // empty host.
    let output = reconciler(&[&["run", "--once", "--path", "hosts/typo"][..], &base].concat());
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        text(&output.stderr).contains("--path `hosts/typo` names no folder"),
        "{}",
        describe(&output)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

#[test]
fn the_daemon_wakes_on_a_commit_serves_metrics_and_stops_on_sigterm() {
    if !docker_ready() {
        return;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let (repo, config) = empty_config_repo(dir.path());
    let state = dir.path().join("state");
    let log = dir.path().join("daemon.log");
    let secrets = dir.path().join("secrets.env");
    std::fs::write(&secrets, "TOKEN=one\n").expect("a secrets file");
    let port = free_port();
    let mut daemon = Command::new(BINARY)
        .args(["run", "--repo"])
        .arg(&config)
        .args(["--backend", "compose", "--state-dir"])
        .arg(&state)
        .arg("--secrets-file")
        .arg(&secrets)
        // Only a wake-up can start a second cycle within the test.
        .args(["--interval", "1h", "--listen", &format!("127.0.0.1:{port}")])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("a log file"))
        .spawn()
        .expect("the daemon starts");
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let cycles = || read_log().matches("cycle: converged").count();

    let first = wait_for(Duration::from_secs(30), || (cycles() == 1).then_some(()));
    if first.is_none() {
        let _ = daemon.kill();
        panic!("no first cycle:\n{}", read_log());
    }
    let health = wait_for(Duration::from_secs(5), || http_get(port, "/healthz"));
    assert!(
        health
            .as_deref()
            .is_some_and(|h| h.starts_with("HTTP/1.1 200") && h.ends_with("ok\n")),
        "{health:?}"
    );

    commit(&repo, "README.md", "still nothing\n");
    let second = wait_for(Duration::from_secs(3), || (cycles() == 2).then_some(()));
    assert!(second.is_some(), "the commit woke nothing:\n{}", read_log());
    assert!(
        read_log().contains("the config repo changed"),
        "{}",
        read_log()
    );

    // A rotated secret wakes it too, with no commit (written as secret
    // managers do: a new file renamed over the old one).
    let replacement = dir.path().join("secrets.env.new");
    std::fs::write(&replacement, "TOKEN=s3cr3t-two\n").expect("a new secrets file");
    std::fs::rename(&replacement, &secrets).expect("renamed over");
    let third = wait_for(Duration::from_secs(3), || (cycles() == 3).then_some(()));
    assert!(
        third.is_some(),
        "the secrets file woke nothing:\n{}",
        read_log()
    );
    assert!(
        read_log().contains("the secrets file changed"),
        "{}",
        read_log()
    );
    assert!(!read_log().contains("s3cr3t-two"), "{}", read_log());

    // Every cycle compared live state and had nothing to apply.
    let metrics = http_get(port, "/metrics").unwrap_or_default();
    assert!(
        metrics.contains("helios_cycles_total{outcome=\"unchanged\"} 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("helios_cycles_total{outcome=\"applied\"} 0\n"),
        "{metrics}"
    );

    let killed = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let exited = wait_for(Duration::from_secs(10), || daemon.try_wait().ok().flatten());
    let Some(exited) = exited else {
        let _ = daemon.kill();
        panic!("still running after SIGTERM:\n{}", read_log());
    };
    assert_eq!(exited.code(), Some(0), "{}", read_log());
    assert!(read_log().contains("stopped"), "{}", read_log());
}

#[test]
fn a_killed_container_wakes_the_daemon_for_a_drift_check() {
    if !docker_ready() {
        return;
    }
    let pid = std::process::id();
    let app = format!("helios-cli-drift-{pid}");
    let image = format!("helios-cli-test/base:{pid}");
    let foreign = format!("helios-cli-foreign-{pid}");
    let _cleanup = common::Cleanup {
        projects: vec![app.clone(), foreign.clone()],
        images: vec![image.clone()],
    };
    let dir = tempfile::tempdir().expect("a temp dir");
    common::build_image(&dir.path().join("image"), &image);
    let (repo, config) = empty_config_repo(dir.path());
    std::fs::create_dir_all(config.join("app")).expect("a folder");
    commit(
        &repo,
        "app/Heliosfile",
        &format!(
            "name: {app}\nversion: 1\nservices:\n  worker:\n    image: {image}\n    \
             command: [sh, -c, \"trap 'exit 0' TERM; sleep 3600 & wait\"]\n"
        ),
    );
    let log = dir.path().join("daemon.log");
    let mut daemon = Command::new(BINARY)
        .args(["run", "--repo"])
        .arg(&config)
        .args(["--backend", "compose", "--state-dir"])
        .arg(dir.path().join("state"))
        // Neither the interval nor the drift interval can explain a
        // second cycle within the test: only the Docker event can.
        .args(["--interval", "1h", "--drift-interval", "1h"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("a log file"))
        .spawn()
        .expect("the daemon starts");
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let converged = || read_log().matches("cycle: converged").count();
    let stop = |daemon: &mut std::process::Child| {
        let _ = Command::new("kill")
            .args(["-TERM", &daemon.id().to_string()])
            .status();
        wait_for(Duration::from_secs(30), || daemon.try_wait().ok().flatten())
    };

    if wait_for(Duration::from_secs(90), || (converged() == 1).then_some(())).is_none() {
        let _ = daemon.kill();
        panic!("no first cycle:\n{}", read_log());
    }
    // A container of an app this reconciler never applied (another
    // reconciler's, or one run by hand) dies: not its drift to check.
    let stranger = common::run_ok(Command::new("docker").args([
        "run",
        "-d",
        "--label",
        &format!("dev.helios.app={foreign}"),
        "--label",
        &format!("com.docker.compose.project={foreign}"),
        &image,
        "sleep",
        "3600",
    ]));
    common::run_ok(Command::new("docker").args(["kill", stranger.trim()]));
    std::thread::sleep(Duration::from_secs(7));
    assert_eq!(
        converged(),
        1,
        "a foreign app's event woke a cycle:\n{}",
        read_log()
    );
    assert!(
        !read_log().contains("an owned object changed"),
        "{}",
        read_log()
    );

    let worker = common::container_ids(&app, "worker");
    assert_eq!(worker.len(), 1, "{}", read_log());
    common::run_ok(Command::new("docker").args(["kill", &worker[0]]));

    let healed = wait_for(Duration::from_secs(60), || (converged() == 2).then_some(()));
    // Longer than the least gap between a cycle and an event-driven one:
    // an event of the heal itself (Compose restarting the container) would
    // show as a third cycle.
    std::thread::sleep(Duration::from_secs(6));
    let exited = stop(&mut daemon);
    let log_text = read_log();
    assert!(
        healed.is_some(),
        "no drift check after the kill:\n{log_text}"
    );
    assert!(log_text.contains("an owned object changed"), "{log_text}");
    assert!(log_text.contains("drift_corrected=1"), "{log_text}");
    let running = common::container_ids(&app, "worker");
    assert_eq!(running.len(), 1);
    assert_eq!(
        common::inspect(&running[0], "{{.State.Running}}").trim(),
        "true"
    );
    assert_eq!(log_text.matches("cycle: ").count(), 2, "{log_text}");
    assert_eq!(exited.and_then(|s| s.code()), Some(0), "{log_text}");
}
