//! What a cycle tells its caller: how it ended, each app's result, counts,
//! the drift it healed and when to run next.

use super::Next;
use crate::desired::FailedApp;
use crate::plan::Action;
use crate::state::AppResult;

/// How a cycle ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The commit was already reconciled and no drift check was due:
    /// nothing was read, observed or applied.
    Skipped,
    /// The plan was applied (possibly with per-app failures).
    Applied,
    /// Live state was compared with the desired one and the plan had no
    /// step to run (every app unchanged or held): nothing was applied.
    Unchanged,
    /// The mass-prune guard refused the plan: nothing was applied.
    Refused(String),
}

/// The result of one app in a cycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppReport {
    /// The app.
    pub app: String,
    /// What the plan said.
    pub action: Action,
    /// What came of it; `None` when the plan was refused and nothing was
    /// tried.
    pub result: Option<AppResult>,
    /// Compiler diagnostics, apply and health errors.
    pub diagnostics: Vec<String>,
}

/// Apps by result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Apps created.
    pub created: usize,
    /// Apps updated.
    pub updated: usize,
    /// Apps removed.
    pub deleted: usize,
    /// Apps unchanged.
    pub unchanged: usize,
    /// Apps held at their last applied state.
    pub held: usize,
    /// Apps whose apply failed.
    pub failed: usize,
    /// Apps applied that were not healthy in time.
    pub degraded: usize,
}

/// What one cycle did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CycleReport {
    /// The config repo commit reconciled.
    pub source_commit: String,
    /// How the cycle ended.
    pub outcome: Outcome,
    /// Whether live state now matches every Heliosfile: no refusal, no
    /// held, failed or degraded app, no unreadable Heliosfile.
    pub converged: bool,
    /// Per app, sorted by name (empty when skipped).
    pub apps: Vec<AppReport>,
    /// Heliosfiles that failed and name no app (unreadable, no `name:`).
    pub unattributed: Vec<FailedApp>,
    /// Counts by result.
    pub counts: Counts,
    /// The state repository's new commit, if anything changed.
    pub state_commit: Option<String>,
    /// Components that had drifted from an applied, unchanged spec and
    /// were healed (their app is healthy again).
    pub drift_corrected: Vec<DriftCorrected>,
    /// When to run again.
    pub next: Next,
}

/// A component healed because live state had drifted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriftCorrected {
    /// The app.
    pub app: String,
    /// The component.
    pub component: String,
    /// How it had drifted: `missing` (applied before, gone now), `exited`,
    /// `unhealthy` or `missing_instance`.
    pub reason: &'static str,
}
