//! Applying a plan: its steps, app by app, several apps at once
//! (`--apply-concurrency`), each app's steps in the plan's order; then
//! the wait for the applied apps' health.

use super::ledger::Run;
use super::{AppResult, Reconciler, millis};
use crate::backend::{AppSecrets, Backend, Health, HealthState};
use crate::build::ImageBuild;
use crate::desired::DesiredState;
use crate::plan::{Phase, Plan, Step};
use futures_util::StreamExt;
use git2::Oid;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// What became of one step.
struct StepOutcome<'a> {
    step: &'a Step,
    took: Duration,
    result: Result<(), String>,
}

/// What became of one app's steps: those run (the last one failed, or
/// all went well) and those a stop left unstarted.
struct AppOutcome<'a> {
    done: Vec<StepOutcome<'a>>,
    not_started: Vec<&'a Step>,
}

impl<B: Backend> Reconciler<B> {
    /// Runs the plan's steps. The images to build are built first, up to
    /// `build_jobs` at once. The steps of one app run in the plan's order
    /// (namespace, databases, services, then what it no longer has), and
    /// an app whose step fails gets no further step (its services would
    /// start without their database); up to `apply_concurrency` apps are
    /// applied at once, since apps do not depend on each other. Whole
    /// apps are removed after every apply, so that a cycle that moves
    /// something from one app to another creates before it deletes.
    pub(super) async fn apply(
        &self,
        commit: Oid,
        plan: &Plan,
        desired: &DesiredState,
        app_secrets: &BTreeMap<String, AppSecrets>,
        run: &mut Run,
    ) {
        let (builds, rest): (Vec<&Step>, Vec<&Step>) = plan
            .steps
            .iter()
            .partition(|s| s.phase == Phase::BuildImage);
        let (removals, applies): (Vec<&Step>, Vec<&Step>) =
            rest.into_iter().partition(|s| s.phase == Phase::RemoveApp);
        let mut stopped = false;
        // Builds first, up to `build_jobs` at once (an app whose build
        // fails gets no further step); then applies; then removals.
        let batches = [
            (builds, self.options.build_jobs),
            (applies, self.options.apply_concurrency),
            (removals, self.options.apply_concurrency),
        ];
        for (batch, at_once) in batches {
            let mut by_app: BTreeMap<&str, Vec<&Step>> = BTreeMap::new();
            for step in batch {
                if run.results.get(&step.app) != Some(&AppResult::Failed) {
                    by_app.entry(step.app.as_str()).or_default().push(step);
                }
            }
            let outcomes: Vec<AppOutcome> = futures_util::stream::iter(by_app.into_values())
                .map(|steps| self.apply_app(commit, steps, desired, app_secrets))
                .buffer_unordered(at_once.max(1))
                .collect()
                .await;
            for outcome in outcomes {
                for done in outcome.done {
                    record_step(run, done);
                }
                if !outcome.not_started.is_empty() {
                    stopped = true;
                    let remaining: Vec<Step> = outcome.not_started.into_iter().cloned().collect();
                    run.stop_before(&remaining);
                }
            }
        }
        if stopped {
            tracing::info!("stopping: the remaining steps are left to the next start");
        }
    }

    /// Runs one app's steps in order, until one fails or the reconciler
    /// is stopping.
    async fn apply_app<'a>(
        &self,
        commit: Oid,
        steps: Vec<&'a Step>,
        desired: &DesiredState,
        app_secrets: &BTreeMap<String, AppSecrets>,
    ) -> AppOutcome<'a> {
        let mut done = Vec::new();
        for (index, step) in steps.iter().enumerate() {
            if self.stopping() {
                return AppOutcome {
                    done,
                    not_started: steps[index..].to_vec(),
                };
            }
            let start = Instant::now();
            let result = self.apply_step(commit, step, desired, app_secrets).await;
            let failed = result.is_err();
            done.push(StepOutcome {
                step,
                took: start.elapsed(),
                result,
            });
            if failed {
                break;
            }
        }
        AppOutcome {
            done,
            not_started: Vec::new(),
        }
    }

    async fn apply_step(
        &self,
        commit: Oid,
        step: &Step,
        desired: &DesiredState,
        app_secrets: &BTreeMap<String, AppSecrets>,
    ) -> Result<(), String> {
        match step.phase {
            Phase::ApplyNamespaces | Phase::ApplyDatabases | Phase::ApplyServices => {
                match (desired.apps.get(&step.app), app_secrets.get(&step.app)) {
                    (Some(app), Some(secrets)) => self
                        .backend
                        .apply(app, &step.components, secrets)
                        .await
                        .map_err(|e| e.to_string()),
                    // The planner only applies desired apps, and each got
                    // its secrets when it was loaded.
                    _ => Err("not a desired app".to_string()),
                }
            }
            Phase::DeleteComponents => self
                .backend
                .delete(&step.app, &step.components, &step.volumes)
                .await
                .map_err(|e| e.to_string()),
            Phase::RemoveApp => self
                .backend
                .remove(&step.app, &step.volumes)
                .await
                .map_err(|e| e.to_string()),
            Phase::BuildImage => {
                let Some(build) = desired.apps.get(&step.app).and_then(|a| a.build.as_ref()) else {
                    return Err("no image to build".to_string());
                };
                let context = self.source.context_tar(commit, build)?;
                let request = ImageBuild::of(&step.app, build, &commit.to_string());
                self.backend
                    .build_image(&request, context)
                    .await
                    .map_err(|e| format!("{}: {e}", build.image))
            }
        }
    }

    /// Polls the health of every app applied without error until each is
    /// healthy or unhealthy, or the timeout passes; all apps wait together,
    /// so a cycle waits at most one timeout.
    pub(super) async fn wait(&self, run: &mut Run) {
        let mut pending: BTreeSet<String> = run
            .results
            .iter()
            .filter(|(app, result)| **result == AppResult::Healthy && run.applied.contains(*app))
            .map(|(app, _)| app.clone())
            .collect();
        let start = Instant::now();
        let deadline = start + self.options.health_timeout;
        let mut last: BTreeMap<String, Health> = BTreeMap::new();
        while !pending.is_empty() {
            for app in pending.clone() {
                let settled = match self.backend.health(&app).await {
                    Ok(health) => {
                        let settled = match health.state {
                            HealthState::Healthy => Some((AppResult::Healthy, Vec::new())),
                            HealthState::Unhealthy => {
                                Some((AppResult::Degraded, health.details.clone()))
                            }
                            HealthState::Failed => {
                                Some((AppResult::Failed, health.details.clone()))
                            }
                            HealthState::Progressing => None,
                        };
                        last.insert(app.clone(), health);
                        settled
                    }
                    Err(e) => Some((AppResult::Degraded, vec![format!("health: {e}")])),
                };
                if let Some((result, details)) = settled {
                    pending.remove(&app);
                    run.settle(&app, result, details, start.elapsed());
                }
            }
            let now = Instant::now();
            if pending.is_empty() || now >= deadline || self.stopping() {
                break;
            }
            tokio::time::sleep(self.options.health_poll.min(deadline - now)).await;
        }
        for app in pending {
            let mut details = vec![if self.stopping() {
                "not healthy yet when the reconciler stopped".to_string()
            } else {
                format!(
                    "not healthy after {}s",
                    self.options.health_timeout.as_secs()
                )
            }];
            details.extend(last.remove(&app).map(|h| h.details).unwrap_or_default());
            run.settle(&app, AppResult::Degraded, details, start.elapsed());
        }
    }
}

fn record_step(run: &mut Run, outcome: StepOutcome) {
    let step = outcome.step;
    run.durations_of(&step.app).apply_ms += millis(outcome.took);
    match outcome.result {
        // A built image changes nothing yet: the app's result comes from
        // the steps that apply it.
        Ok(()) if step.phase == Phase::BuildImage => {}
        Ok(()) => {
            let done = if step.phase == Phase::RemoveApp {
                AppResult::Removed
            } else {
                // Until its health says otherwise.
                AppResult::Healthy
            };
            run.results.insert(step.app.clone(), done);
        }
        Err(message) => {
            let what = match step.components.as_slice() {
                [] => format!("{} {}", step.phase.as_str(), step.app),
                components => format!(
                    "{} {}: {}",
                    step.phase.as_str(),
                    step.app,
                    components.join(", ")
                ),
            };
            run.diagnostics
                .entry(step.app.clone())
                .or_default()
                .push(format!("{what}: {message}"));
            run.results.insert(step.app.clone(), AppResult::Failed);
        }
    }
}
