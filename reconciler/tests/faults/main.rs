//! The reconciler under faults, end to end: the real `helios-reconciler`
//! binary against a real Docker Engine while something goes wrong around
//! it.
//!
//! - The Docker Engine restarts between cycles, during a cycle, and while
//!   the daemon runs. This machine's own engine is never touched: the test
//!   starts a `dockerd` of its own, in a network namespace of its own (own
//!   socket, data root, exec root and containerd, `vfs` storage, no
//!   iptables rules) and points the reconciler at it with `DOCKER_HOST`.
//! - The state directory's file system is full (a small tmpfs).
//! - The config repo goes away while apps run, then comes back.
//! - An empty commit (the same tree) is an idle cycle.
//!
//! Everything asserted is observed from outside: exit codes, live
//! containers, the state repository through `git`, and the daemon's
//! `/metrics` and `/healthz`. Each test removes what it made (containers,
//! networks, images, its dockerd, its mounts) in `Drop` guards, even when
//! it panics. Without Docker (or without `dockerd` or `mount` for the tests
//! that need them) the tests say they are skipped; with
//! `HELIOS_REQUIRE_DOCKER=1` (CI) they fail instead.

#![allow(clippy::panic)] // Test helpers fail loudly by design.

#[path = "../common/mod.rs"]
mod common;
mod config_repo;
mod engine;
mod full_disk;
mod harness;
mod restarts;
mod world;

use std::time::Duration;

pub(crate) const BINARY: &str = env!("CARGO_BIN_EXE_helios-reconciler");

/// How long one `run --once` may take before the test calls it hung.
pub(crate) const RUN_LIMIT: Duration = Duration::from_secs(240);

pub(crate) fn docker_required() -> bool {
    std::env::var("HELIOS_REQUIRE_DOCKER").is_ok_and(|v| v == "1")
}

/// Skips the test with `message`, or fails it under `HELIOS_REQUIRE_DOCKER=1`.
pub(crate) fn skip(message: &str) {
    if docker_required() {
        panic!("HELIOS_REQUIRE_DOCKER=1 but {message}");
    }
    eprintln!("skipped: {message}");
}
