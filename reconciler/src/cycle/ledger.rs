//! The ledger of one cycle: what happened to each app (results,
//! diagnostics, durations), and how it is summed up for the state commit,
//! the report's counts and the drift it healed.

use super::millis;
use super::report::{AppReport, Counts, DriftCorrected, Outcome};
use crate::desired::DesiredState;
use crate::plan::{Action, Plan, Reason};
use crate::secrets::redact::Redactor;
use crate::state::{AppResult, Durations, Inventory};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The state commit's summary: what was applied and with what result,
/// `2 updated, 1 created (degraded), 1 held`, or why nothing was.
pub(super) fn describe_cycle(plan: &Plan, run: &Run, outcome: &Outcome) -> String {
    if let Outcome::Refused(message) = outcome {
        return format!("plan {message}");
    }
    let mut counts: BTreeMap<(u8, String), usize> = BTreeMap::new();
    for app in &plan.apps {
        let result = run.results.get(&app.app).copied();
        let (order, what) = match (app.action, result) {
            (Action::Unchanged, Some(AppResult::Healthy)) => continue,
            (Action::Unchanged, Some(AppResult::Degraded | AppResult::Failed)) => {
                (7, "unchanged (degraded)".to_string())
            }
            (_, Some(AppResult::Held)) => (6, "held".to_string()),
            (_, Some(AppResult::Removed)) => (3, "deleted".to_string()),
            (action, Some(AppResult::Healthy)) => (order_of(action), past(action).to_string()),
            (action, Some(AppResult::Degraded)) => {
                (order_of(action), format!("{} (degraded)", past(action)))
            }
            (action, Some(AppResult::Failed)) => {
                (order_of(action), format!("{} (failed)", past(action)))
            }
            (_, None) => (8, "not applied".to_string()),
        };
        *counts.entry((order, what)).or_default() += 1;
    }
    if counts.is_empty() {
        return "no change".to_string();
    }
    counts
        .into_iter()
        .map(|((_, what), n)| format!("{n} {what}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn order_of(action: Action) -> u8 {
    match action {
        Action::Create => 1,
        Action::Update => 2,
        Action::Delete => 3,
        Action::Unchanged => 4,
        Action::Held => 6,
    }
}

fn past(action: Action) -> &'static str {
    match action {
        Action::Create => "created",
        Action::Update => "updated",
        Action::Delete => "deleted",
        Action::Unchanged => "unchanged",
        Action::Held => "held",
    }
}

/// The components of `plan` updated because they drifted, whose app came
/// out healthy. A component the plan calls missing counts only if the
/// inventory says it was applied before (else it is simply new).
pub(super) fn drift_corrected(
    plan: &Plan,
    inventory: &Inventory,
    run: &Run,
) -> Vec<DriftCorrected> {
    let mut healed = Vec::new();
    for app in &plan.apps {
        if run.results.get(&app.app) != Some(&AppResult::Healthy) || !run.applied.contains(&app.app)
        {
            continue;
        }
        let applied = inventory.apps.get(&app.app);
        for component in &app.components {
            let reason = match component.reason {
                Some(Reason::Drifted { drift }) => match drift {
                    crate::plan::Drift::Exited => "exited",
                    crate::plan::Drift::Unhealthy => "unhealthy",
                    crate::plan::Drift::MissingInstance => "missing_instance",
                    crate::plan::Drift::ExtraInstance => "extra_instance",
                    crate::plan::Drift::Edited => "edited",
                    crate::plan::Drift::Conflict => "conflict",
                },
                Some(Reason::Missing)
                    if applied.is_some_and(|a| a.components.contains(&component.name)) =>
                {
                    "missing"
                }
                _ => continue,
            };
            healed.push(DriftCorrected {
                app: app.app.clone(),
                component: component.name.clone(),
                reason,
            });
        }
    }
    healed
}

/// What happened to each app during a cycle.
pub(super) struct Run {
    /// Apps that had at least one step.
    pub(super) applied: BTreeSet<String>,
    pub(super) results: BTreeMap<String, AppResult>,
    pub(super) diagnostics: BTreeMap<String, Vec<String>>,
    pub(super) durations: BTreeMap<String, Durations>,
    pub(super) compile_ms: u64,
}

impl Run {
    /// Results known before anything is applied: unchanged and held apps.
    pub(super) fn new(plan: &Plan, desired: &DesiredState, compile_ms: u64) -> Self {
        let mut run = Self {
            applied: plan.steps.iter().map(|s| s.app.clone()).collect(),
            results: BTreeMap::new(),
            diagnostics: BTreeMap::new(),
            durations: BTreeMap::new(),
            compile_ms,
        };
        for app in &plan.apps {
            match app.action {
                Action::Unchanged => {
                    // No drift, else the plan would update it; instances
                    // still starting are not healthy yet.
                    run.results.insert(app.app.clone(), AppResult::Healthy);
                }
                Action::Held => {
                    let mut diagnostics = Vec::new();
                    if let Some(failure) = &app.failure {
                        diagnostics.push(format!("{}:\n{}", failure.path, failure.diagnostics));
                    }
                    if app.reason == Some(Reason::Unattributed) {
                        let paths: Vec<&str> = desired
                            .failed
                            .iter()
                            .filter(|f| f.name.is_none())
                            .map(|f| f.path.as_str())
                            .collect();
                        diagnostics.push(format!(
                            "not removed: a Heliosfile that names no app failed ({})",
                            paths.join(", ")
                        ));
                    }
                    run.results.insert(app.app.clone(), AppResult::Held);
                    run.diagnostics.insert(app.app.clone(), diagnostics);
                }
                Action::Create | Action::Update | Action::Delete => {}
            }
        }
        run
    }

    /// A refused plan: the apps it would delete are held, with the reason;
    /// the others are left without a result, as nothing was tried.
    pub(super) fn refuse(&mut self, plan: &Plan, message: &str) {
        self.applied.clear();
        for app in plan.apps.iter().filter(|a| a.action == Action::Delete) {
            self.results.insert(app.app.clone(), AppResult::Held);
            self.diagnostics
                .insert(app.app.clone(), vec![message.to_string()]);
        }
    }

    /// The daemon stopped before `remaining`: an app that had some of its
    /// steps applied but not all is recorded failed (its last applied
    /// record kept, both versions in the inventory); an app none of whose
    /// steps ran gets no result and keeps its record as it was.
    pub(super) fn stop_before(&mut self, remaining: &[crate::plan::Step]) {
        for step in remaining {
            if matches!(self.results.get(&step.app), Some(AppResult::Healthy)) {
                self.diagnostics
                    .entry(step.app.clone())
                    .or_default()
                    .push(format!(
                        "the reconciler stopped before {} {}",
                        step.phase.as_str(),
                        step.app
                    ));
                self.results.insert(step.app.clone(), AppResult::Failed);
            }
        }
    }

    /// Removes every secret value from what is recorded and logged.
    pub(super) fn redact(&mut self, redactor: &Redactor) {
        for lines in self.diagnostics.values_mut() {
            for line in lines.iter_mut() {
                *line = redactor.redact(line);
            }
        }
    }

    pub(super) fn durations_of(&mut self, app: &str) -> &mut Durations {
        self.durations.entry(app.to_string()).or_default()
    }

    pub(super) fn settle(
        &mut self,
        app: &str,
        result: AppResult,
        details: Vec<String>,
        waited: Duration,
    ) {
        self.results.insert(app.to_string(), result);
        self.durations_of(app).wait_ms = millis(waited);
        if !details.is_empty() {
            self.diagnostics
                .entry(app.to_string())
                .or_default()
                .extend(details);
        }
    }
}

pub(super) fn counts(plan: &Plan, apps: &[AppReport]) -> Counts {
    let mut counts = Counts {
        created: plan.summary.created,
        updated: plan.summary.updated,
        deleted: plan.summary.deleted,
        unchanged: plan.summary.unchanged,
        held: plan.summary.held,
        ..Counts::default()
    };
    for app in apps {
        match app.result {
            Some(AppResult::Failed) => counts.failed += 1,
            Some(AppResult::Degraded) => counts.degraded += 1,
            _ => {}
        }
    }
    counts
}
