//! One reconcile cycle: fetch, load, compile, observe, plan, guard, apply,
//! wait, record. Orchestration only: every step's I/O is behind
//! [`GitSource`], [`Backend`] and [`StateDir`], and every decision is the
//! planner's.
//!
//! The contract is the one of a Kubernetes controller's `reconcile`:
//! idempotent (running it again on the same inputs changes nothing and
//! commits nothing), and it says when to run next ([`Next`]). A cycle whose
//! commit and tree were already reconciled, with no drift check due, stops
//! after the fetch: an idle cycle costs one fetch.
//!
//! A failure of one app (an apply error, a failing health check, a
//! Heliosfile that does not compile) is recorded for that app and the
//! others go on; only a failure of the whole cycle (the source cannot be
//! fetched, the backend cannot be observed, the state cannot be written) is
//! a [`CycleError`], after which the caller backs off.

use crate::backend::{AppSecrets, Backend, BackendError, Health, HealthState, ObservedState};
use crate::desired::{
    ComponentSecrets, DesiredOptions, DesiredState, FailedApp, SecretDigests, desired_state_with,
};
use crate::plan::{Action, Phase, Plan, PlanOptions, Reason, plan};
use crate::secrets::digest::DigestKey;
use crate::secrets::redact::Redactor;
use crate::secrets::{Secret, secrets_file};
use crate::source::{Backoff, FetchOutcome, GitSource, SourceError};
use crate::state::{
    AppResult, AppStatus, Durations, Inventory, InventoryApp, PlanRecord, StateDir, StateError,
};
use git2::Oid;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How cycles run.
#[derive(Clone, Debug)]
pub struct CycleOptions {
    /// How apps are compiled.
    pub desired: DesiredOptions,
    /// The planner's options (guard, volumes).
    pub plan: PlanOptions,
    /// The wait between two cycles when all is well (`--interval`).
    pub interval: Duration,
    /// How often live state is compared with desired state even when the
    /// commit did not move, to heal drift (a killed container).
    pub drift_interval: Duration,
    /// How long an applied app may take to become healthy before it is
    /// recorded as degraded.
    pub health_timeout: Duration,
    /// How often health is polled while waiting.
    pub health_poll: Duration,
    /// The first wait after a failed cycle; it doubles up to
    /// [`CycleOptions::max_backoff`].
    pub min_backoff: Duration,
    /// The longest wait after failed cycles.
    pub max_backoff: Duration,
    /// The file of user secrets (`--secrets-file`), read again at the
    /// start of every cycle so that a rotated value is applied; each app
    /// gets the ones its Heliosfile declares.
    pub secrets_file: Option<PathBuf>,
}

impl Default for CycleOptions {
    fn default() -> Self {
        Self {
            desired: DesiredOptions::default(),
            plan: PlanOptions::default(),
            interval: Duration::from_secs(30),
            drift_interval: Duration::from_secs(300),
            health_timeout: Duration::from_secs(120),
            health_poll: Duration::from_secs(2),
            min_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(300),
            secrets_file: None,
        }
    }
}

/// What the caller does after a cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Run the next cycle after this long: the interval when converged,
    /// a growing backoff when not.
    Requeue(Duration),
}

/// A failure of a whole cycle: nothing was applied or recorded past it,
/// and the last state stays.
#[derive(Debug)]
pub enum CycleError {
    /// The config repo could not be fetched or read.
    Source(SourceError),
    /// The backend could not be observed.
    Backend(BackendError),
    /// The state directory could not be read, written or committed.
    State(StateError),
    /// The secrets file could not be read: nothing was applied, since
    /// apps would otherwise run with stale or missing values.
    Secrets(String),
}

impl fmt::Display for CycleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Source(e) => write!(f, "source: {e}"),
            Self::Backend(e) => write!(f, "observing the backend: {e}"),
            Self::State(e) => write!(f, "state directory: {e}"),
            Self::Secrets(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CycleError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Source(e) => Some(e),
            Self::Backend(e) => Some(e),
            Self::State(e) => Some(e),
            Self::Secrets(_) => None,
        }
    }
}

impl From<SourceError> for CycleError {
    fn from(e: SourceError) -> Self {
        Self::Source(e)
    }
}

impl From<StateError> for CycleError {
    fn from(e: StateError) -> Self {
        Self::State(e)
    }
}

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

/// The last tree (and user secrets) reconciled to convergence, to skip
/// idle cycles.
#[derive(Clone, Debug)]
struct Reconciled {
    tree: Option<Oid>,
    secrets: BTreeMap<String, Secret>,
    at: Instant,
}

/// The reconciler: a source, a state directory and a backend, and what it
/// remembers between cycles (only to save work: a restart forgets it and
/// the first cycle does everything).
#[derive(Debug)]
pub struct Reconciler<B> {
    source: GitSource,
    state: StateDir,
    backend: B,
    options: CycleOptions,
    last: Option<Reconciled>,
    backoff: Backoff,
    stopping: Arc<AtomicBool>,
    owned: Arc<RwLock<BTreeSet<String>>>,
}

impl<B: Backend> Reconciler<B> {
    /// A reconciler that has run no cycle yet.
    pub fn new(source: GitSource, state: StateDir, backend: B, options: CycleOptions) -> Self {
        let backoff = Backoff::new(options.min_backoff, options.max_backoff);
        Self {
            source,
            state,
            backend,
            options,
            last: None,
            backoff,
            stopping: Arc::new(AtomicBool::new(false)),
            owned: Arc::default(),
        }
    }

    /// The apps this reconciler owns (its inventory after the last cycle),
    /// shared with whoever filters drift events: an event about an app it
    /// does not own must not wake a drift check.
    pub fn owned_apps(&self) -> Arc<RwLock<BTreeSet<String>>> {
        Arc::clone(&self.owned)
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The config repo.
    pub fn source(&self) -> &GitSource {
        &self.source
    }

    /// The state directory.
    pub fn state(&self) -> &StateDir {
        &self.state
    }

    /// The flag that stops the cycle in flight early (the daemon sets it
    /// on SIGINT or SIGTERM): the step being applied finishes, no other
    /// starts, the health wait ends, and what was done is recorded. A
    /// stop must not leave an app half-applied by killing its Compose run,
    /// nor wait minutes for the rest of a long cycle.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stopping)
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Makes the next cycle compare live state with the desired one even
    /// if the commit did not move and no drift check is due: the backend
    /// reported that something owned changed (a container died).
    pub fn request_drift_check(&mut self) {
        self.last = None;
    }

    /// What to do after a failed cycle: retry after a growing, jittered
    /// delay.
    pub fn error_policy(&mut self, _error: &CycleError) -> Next {
        Next::Requeue(self.backoff.next_delay(jitter()))
    }

    /// Runs one cycle.
    pub async fn reconcile(&mut self) -> Result<CycleReport, CycleError> {
        let fetched = self.source.fetch()?;
        let commit = fetched.commit();
        let tree = self.source.tree_id(commit)?;
        let source_commit = commit.to_string();
        if let FetchOutcome::NewCommit {
            previous: Some(previous),
            rewritten: true,
            ..
        } = &fetched
        {
            tracing::warn!(%previous, commit = %source_commit, "the branch was rewritten (force push); following it");
        }
        let user_secrets = self.read_user_secrets()?;
        let drift_due = self
            .last
            .as_ref()
            .is_none_or(|last| last.at.elapsed() >= self.options.drift_interval);
        let same = self
            .last
            .as_ref()
            .is_some_and(|last| last.tree == tree && last.secrets == user_secrets);
        if !drift_due && same {
            tracing::debug!(commit = %source_commit, "already reconciled; nothing to do");
            return Ok(CycleReport {
                source_commit,
                outcome: Outcome::Skipped,
                converged: true,
                apps: Vec::new(),
                unattributed: Vec::new(),
                counts: Counts::default(),
                state_commit: None,
                drift_corrected: Vec::new(),
                next: Next::Requeue(self.options.interval),
            });
        }

        let compile_start = Instant::now();
        let key = Some(self.state.digest_key()?);
        let (desired, app_secrets) = self.load(commit, &user_secrets, &key, true)?;
        let compile_ms = millis(compile_start.elapsed());
        let redactor = self.redactor(&user_secrets, &app_secrets);
        let inventory = self.state.read_inventory()?;
        let observed = self.observe(&inventory, &desired).await?;
        let plan = plan(&desired, &observed, &self.options.plan);

        let mut run = Run::new(&plan, &desired, compile_ms);
        let outcome = match &plan.refused {
            Some(refusal) => {
                let message = refusal.describe();
                run.refuse(&plan, &message);
                Outcome::Refused(message)
            }
            None if plan.steps.is_empty() => Outcome::Unchanged,
            None => {
                self.apply(&plan, &desired, &app_secrets, &mut run).await;
                self.wait(&mut run).await;
                Outcome::Applied
            }
        };
        // Everything recorded or logged from here on may hold what a tool
        // printed: one redaction step for all of it.
        run.redact(&redactor);

        let drift_corrected = drift_corrected(&plan, &inventory, &run);
        let inventory = self.inventory(inventory, &plan, &desired, &observed, &run);
        self.record(&plan, &desired, &run, &inventory, &source_commit)?;
        let state_commit = self
            .state
            .commit(&source_commit, &describe_cycle(&plan, &run, &outcome))?;
        if let Ok(mut owned) = self.owned.write() {
            *owned = inventory.apps.keys().cloned().collect();
        }

        let apps: Vec<AppReport> = plan
            .apps
            .iter()
            .map(|app| {
                let result = run.results.get(&app.app).copied();
                let diagnostics = run.diagnostics.get(&app.app).cloned().unwrap_or_default();
                AppReport {
                    app: app.app.clone(),
                    action: app.action,
                    result,
                    diagnostics,
                }
            })
            .collect();
        let unattributed: Vec<FailedApp> = desired
            .failed
            .iter()
            .filter(|f| f.name.is_none())
            .cloned()
            .collect();
        for app in &apps {
            log_app(app);
        }
        for failed in &unattributed {
            tracing::error!(path = %failed.path, "Heliosfile failed and names no app:\n{}", failed.diagnostics);
        }
        let counts = counts(&plan, &apps);
        let converged = plan.refused.is_none()
            && unattributed.is_empty()
            && apps
                .iter()
                .all(|a| matches!(a.result, Some(AppResult::Healthy | AppResult::Removed)));
        let next = if converged {
            self.backoff.reset();
            self.last = Some(Reconciled {
                tree,
                secrets: user_secrets,
                at: Instant::now(),
            });
            Next::Requeue(self.options.interval)
        } else {
            self.last = None;
            Next::Requeue(self.backoff.next_delay(jitter()))
        };
        Ok(CycleReport {
            source_commit,
            outcome,
            converged,
            apps,
            unattributed,
            counts,
            state_commit,
            drift_corrected,
            next,
        })
    }

    /// Fetches and plans without applying or recording anything (`plan`).
    pub async fn plan_only(&mut self) -> Result<(String, Plan), CycleError> {
        let commit = self.source.fetch()?.commit();
        let user_secrets = self.read_user_secrets()?;
        // Read-only beside a running daemon: a missing key or password is
        // not made here; what it would digest is then simply new.
        let key = self.state.digest_key_if_any()?;
        let (desired, _) = self.load(commit, &user_secrets, &key, false)?;
        let inventory = self.state.read_inventory()?;
        let observed = self.observe(&inventory, &desired).await?;
        Ok((
            commit.to_string(),
            plan(&desired, &observed, &self.options.plan),
        ))
    }

    /// Reads and compiles every Heliosfile of `commit`. A file that cannot
    /// be read (not UTF-8, too large) fails like one that does not compile.
    ///
    /// Each app that checks clean gets its secret values here: the user
    /// secrets it declares (one without a value, or with one that cannot
    /// be delivered, holds the app, naming the secret) and its database
    /// passwords (generated and stored the first time, when `generate`).
    /// Their keyed digests go into the spec of each component that uses
    /// them, so that a rotated value recreates exactly those.
    fn load(
        &self,
        commit: Oid,
        user_secrets: &BTreeMap<String, Secret>,
        key: &Option<DigestKey>,
        generate: bool,
    ) -> Result<(DesiredState, BTreeMap<String, AppSecrets>), CycleError> {
        let files = self.source.read_heliosfiles(commit)?;
        let mut texts = Vec::new();
        let mut unreadable = Vec::new();
        for file in files {
            match file.text {
                Ok(text) => texts.push((file.path, text)),
                Err(e) => unreadable.push(FailedApp {
                    diagnostics: format!("error: `{}` {e}\n", file.path),
                    path: file.path,
                    name: None,
                }),
            }
        }
        let mut app_secrets = BTreeMap::new();
        let mut secrets_of = |app: &heliosc::ir::App| {
            let secrets = self.app_secrets(app, user_secrets, generate)?;
            let digests = match key {
                Some(key) => secret_digests(app, &secrets, key),
                None => SecretDigests::default(),
            };
            app_secrets.insert(app.name.clone(), secrets);
            Ok(digests)
        };
        let mut desired = desired_state_with(&texts, &self.options.desired, &mut secrets_of);
        desired.failed.extend(unreadable);
        desired.failed.sort_by(|a, b| a.path.cmp(&b.path));
        app_secrets.retain(|name, _| desired.apps.contains_key(name));
        Ok((desired, app_secrets))
    }

    /// The user secrets of `--secrets-file` as they are now (none without
    /// one).
    fn read_user_secrets(&self) -> Result<BTreeMap<String, Secret>, CycleError> {
        match &self.options.secrets_file {
            Some(path) => secrets_file::read(path).map_err(CycleError::Secrets),
            None => Ok(BTreeMap::new()),
        }
    }

    /// The secret values `app` gets, or why it must be held.
    fn app_secrets(
        &self,
        app: &heliosc::ir::App,
        user_secrets: &BTreeMap<String, Secret>,
        generate: bool,
    ) -> Result<AppSecrets, String> {
        let mut secrets = AppSecrets::default();
        for name in &app.secrets {
            let Some(value) = user_secrets.get(name) else {
                return Err(match &self.options.secrets_file {
                    Some(path) => format!(
                        "secret `{name}` is declared but `{}` has no value for it; nothing of the app is applied until it has one",
                        path.display()
                    ),
                    None => format!(
                        "secret `{name}` is declared but no --secrets-file is given; nothing of the app is applied until it has a value"
                    ),
                });
            };
            if let Some(why) = value.uncarriable() {
                return Err(format!(
                    "the value of secret `{name}` {why}, which Compose cannot carry; it is refused, not altered, and nothing of the app is applied"
                ));
            }
            secrets.user.insert(name.clone(), value.clone());
        }
        let databases: Vec<String> = app.databases.keys().cloned().collect();
        secrets.database_passwords = if generate {
            self.state
                .database_passwords(&app.name, &databases)
                .map_err(|e| format!("database passwords: {e}"))?
        } else {
            self.state
                .stored_database_passwords(&app.name, &databases)
                .map_err(|e| format!("database passwords: {e}"))?
        };
        Ok(secrets)
    }

    /// Knows every secret value of this cycle: the user secrets, the
    /// database passwords of the apps, the config repo's credentials.
    fn redactor(
        &self,
        user_secrets: &BTreeMap<String, Secret>,
        app_secrets: &BTreeMap<String, AppSecrets>,
    ) -> Redactor {
        let mut redactor = Redactor::new();
        redactor.learn_all(user_secrets.values());
        for secrets in app_secrets.values() {
            redactor.learn_all(secrets.database_passwords.values());
        }
        redactor.learn_all(self.source.config().auth.credentials());
        redactor
    }

    /// `text` with every secret value this reconciler knows of replaced by
    /// `***`, for messages of a failed cycle (the daemon's log).
    pub fn redact(&self, text: &str) -> String {
        let user_secrets = self.read_user_secrets().unwrap_or_default();
        self.redactor(&user_secrets, &BTreeMap::new()).redact(text)
    }

    /// Live state of the apps this reconciler owns: those it applied (its
    /// inventory) and those it is asked to apply. Other apps carrying the
    /// Helios labels (another reconciler's, or a `heliosc build` someone
    /// brought up by hand) are not its to prune, as Flux prunes only what
    /// its inventory lists. Each app gets its last source path from the
    /// inventory (the backend's labels do not carry it), so that an app
    /// whose file no longer parses is held rather than deleted.
    async fn observe(
        &self,
        inventory: &Inventory,
        desired: &DesiredState,
    ) -> Result<ObservedState, CycleError> {
        let mut observed = self.backend.observe().await.map_err(CycleError::Backend)?;
        observed.apps.retain(|name, _| {
            let owned = inventory.apps.contains_key(name)
                || desired.apps.contains_key(name)
                || desired.is_held(name);
            if !owned {
                tracing::debug!(app = %name, "live Helios app not in this reconciler's inventory; left alone");
            }
            owned
        });
        for (name, app) in &mut observed.apps {
            if let Some(applied) = self.state.read_applied(name)? {
                app.applied_secrets = applied
                    .components
                    .into_iter()
                    .filter(|(_, c)| !c.secrets.is_empty())
                    .map(|(key, c)| (key, c.secrets))
                    .collect();
            }
            if app.source_path.is_none() {
                app.source_path = inventory
                    .apps
                    .get(name)
                    .filter(|entry| !entry.components.is_empty())
                    .map(|entry| entry.source_path.clone());
            }
        }
        Ok(observed)
    }

    /// Runs the plan's steps in order. An app whose step fails gets no
    /// further step (its services would start without their database);
    /// the other apps go on.
    async fn apply(
        &self,
        plan: &Plan,
        desired: &DesiredState,
        app_secrets: &BTreeMap<String, AppSecrets>,
        run: &mut Run,
    ) {
        let prune_volumes = self.options.plan.prune_volumes;
        for (index, step) in plan.steps.iter().enumerate() {
            if self.stopping() {
                tracing::info!("stopping: the remaining steps are left to the next start");
                run.stop_before(&plan.steps[index..]);
                break;
            }
            if run.results.get(&step.app) == Some(&AppResult::Failed) {
                continue;
            }
            let start = Instant::now();
            let result = match step.phase {
                Phase::ApplyNamespaces | Phase::ApplyDatabases | Phase::ApplyServices => {
                    match (desired.apps.get(&step.app), app_secrets.get(&step.app)) {
                        (Some(app), Some(secrets)) => self
                            .backend
                            .apply(app, &step.components, secrets)
                            .await
                            .map_err(|e| e.to_string()),
                        // The planner only applies desired apps, and each
                        // got its secrets when it was loaded.
                        _ => Err("not a desired app".to_string()),
                    }
                }
                Phase::DeleteComponents => self
                    .backend
                    .delete(&step.app, &step.components, prune_volumes)
                    .await
                    .map_err(|e| e.to_string()),
                Phase::RemoveApp => self
                    .backend
                    .remove(&step.app, prune_volumes)
                    .await
                    .map_err(|e| e.to_string()),
            };
            run.durations_of(&step.app).apply_ms += millis(start.elapsed());
            match result {
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
    }

    /// Polls the health of every app applied without error until each is
    /// healthy or unhealthy, or the timeout passes; all apps wait together,
    /// so a cycle waits at most one timeout.
    async fn wait(&self, run: &mut Run) {
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

    /// The inventory after the cycle: what each app may have live now.
    fn inventory(
        &self,
        mut inventory: Inventory,
        plan: &Plan,
        desired: &DesiredState,
        observed: &ObservedState,
        run: &Run,
    ) -> Inventory {
        let prune_volumes = self.options.plan.prune_volumes;
        for app in &plan.apps {
            let name = &app.app;
            let live = observed.apps.get(name);
            let kept_volumes = || {
                if prune_volumes {
                    BTreeSet::new()
                } else {
                    live.map(|l| l.volumes.clone()).unwrap_or_default()
                }
            };
            match (run.results.get(name), desired.apps.get(name)) {
                (Some(AppResult::Removed), _) => {
                    let volumes = kept_volumes();
                    if volumes.is_empty() {
                        inventory.apps.remove(name);
                    } else {
                        let entry = inventory.apps.entry(name.clone()).or_default();
                        entry.components.clear();
                        entry.volumes = volumes;
                    }
                }
                (Some(AppResult::Healthy | AppResult::Degraded), Some(wanted)) => {
                    let mut entry = InventoryApp::of(wanted);
                    entry.volumes.extend(kept_volumes());
                    inventory.apps.insert(name.clone(), entry);
                }
                (Some(AppResult::Failed), Some(wanted)) => {
                    // Partly applied: whatever either version has may run.
                    let entry = inventory.apps.entry(name.clone()).or_default();
                    entry.source_path.clone_from(&wanted.source_path);
                    entry.components.extend(wanted.components.keys().cloned());
                    entry.volumes.extend(wanted.volumes.iter().cloned());
                }
                _ => {}
            }
        }
        inventory
    }

    /// Writes what changed: statuses, applied files, the inventory.
    fn record(
        &self,
        plan: &Plan,
        desired: &DesiredState,
        run: &Run,
        inventory: &Inventory,
        source_commit: &str,
    ) -> Result<(), StateError> {
        for app in &plan.apps {
            let name = &app.app;
            let Some(&result) = run.results.get(name) else {
                continue;
            };
            let diagnostics = run.diagnostics.get(name).cloned().unwrap_or_default();
            // A failed apply keeps the last applied record; an unchanged app
            // gets one only if it has none (a state dir started afresh).
            if let Some(wanted) = desired.apps.get(name)
                && result != AppResult::Failed
                && (run.applied.contains(name) || self.state.read_applied(name)?.is_none())
            {
                self.state.write_applied(wanted, source_commit)?;
            }
            let previous = self.state.read_status(name)?;
            // An app nothing happened to keeps its record, so that an idle
            // cycle commits nothing and `git log` shows only real changes.
            let same = previous
                .as_ref()
                .is_some_and(|p| p.result == result && p.diagnostics == diagnostics);
            if same && !run.applied.contains(name) {
                continue;
            }
            let mut durations = run.durations.get(name).cloned().unwrap_or_default();
            durations.compile_ms = run.compile_ms;
            durations.total_ms = durations.compile_ms + durations.apply_ms + durations.wait_ms;
            self.state.write_status(&AppStatus {
                app: name.clone(),
                source_commit: source_commit.to_string(),
                plan: PlanRecord::from_plan(app),
                result,
                diagnostics,
                durations,
            })?;
        }
        self.state.write_inventory(inventory)
    }
}

/// The keyed digests of the secret values each Compose component of `app`
/// uses (the variables its compiled definition interpolates), named for
/// people: a user secret by its name, a password as `<db>.PASSWORD`, as a Heliosfile refers to it.
fn secret_digests(app: &heliosc::ir::App, secrets: &AppSecrets, key: &DigestKey) -> SecretDigests {
    let mut values: BTreeMap<String, (String, &Secret)> = BTreeMap::new();
    for (database, password) in &secrets.database_passwords {
        values.insert(
            heliosc::lower::database_password_variable(database),
            (format!("{database}.PASSWORD"), password),
        );
    }
    for (name, value) in &secrets.user {
        values.insert(
            heliosc::lower::user_secret_variable(name),
            (name.clone(), value),
        );
    }
    let mut digests = SecretDigests::default();
    for (component, variables) in heliosc::lower::compose::service_variables(app) {
        let mut by_secret = BTreeMap::new();
        let mut all = String::new();
        for variable in &variables {
            // A password not generated yet (`plan` beside the daemon) has
            // no digest: its component is new anyway.
            let Some((name, value)) = values.get(variable) else {
                continue;
            };
            let digest = key.value_digest(variable, value);
            all.push_str(&format!("{variable}={digest}\n"));
            by_secret.insert(name.clone(), digest);
        }
        if by_secret.is_empty() {
            continue;
        }
        digests.components.insert(
            component,
            ComponentSecrets {
                digest: key.hmac_hex(all.as_bytes()),
                by_secret,
            },
        );
    }
    digests
}

/// The state commit's summary: what was applied and with what result,
/// `2 updated, 1 created (degraded), 1 held`, or why nothing was.
fn describe_cycle(plan: &Plan, run: &Run, outcome: &Outcome) -> String {
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
fn drift_corrected(plan: &Plan, inventory: &Inventory, run: &Run) -> Vec<DriftCorrected> {
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
struct Run {
    /// Apps that had at least one step.
    applied: BTreeSet<String>,
    results: BTreeMap<String, AppResult>,
    diagnostics: BTreeMap<String, Vec<String>>,
    durations: BTreeMap<String, Durations>,
    compile_ms: u64,
}

impl Run {
    /// Results known before anything is applied: unchanged and held apps.
    fn new(plan: &Plan, desired: &DesiredState, compile_ms: u64) -> Self {
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
    fn refuse(&mut self, plan: &Plan, message: &str) {
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
    fn stop_before(&mut self, remaining: &[crate::plan::Step]) {
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
    fn redact(&mut self, redactor: &Redactor) {
        for lines in self.diagnostics.values_mut() {
            for line in lines.iter_mut() {
                *line = redactor.redact(line);
            }
        }
    }

    fn durations_of(&mut self, app: &str) -> &mut Durations {
        self.durations.entry(app.to_string()).or_default()
    }

    fn settle(&mut self, app: &str, result: AppResult, details: Vec<String>, waited: Duration) {
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

fn counts(plan: &Plan, apps: &[AppReport]) -> Counts {
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

/// One log line per app that is not simply unchanged and fine.
fn log_app(app: &AppReport) {
    let result = app.result.map_or("not applied", result_str);
    let diagnostics = app.diagnostics.join("\n");
    match app.result {
        Some(AppResult::Healthy | AppResult::Removed) if app.action == Action::Unchanged => {
            tracing::debug!(app = %app.app, action = app.action.as_str(), result, "unchanged");
        }
        Some(AppResult::Healthy | AppResult::Removed) => {
            tracing::info!(app = %app.app, action = app.action.as_str(), result, "reconciled");
        }
        _ => {
            tracing::warn!(app = %app.app, action = app.action.as_str(), result, "{diagnostics}");
        }
    }
}

/// The name of a result as in `status.yaml`.
pub fn result_str(result: AppResult) -> &'static str {
    match result {
        AppResult::Healthy => "healthy",
        AppResult::Degraded => "degraded",
        AppResult::Failed => "failed",
        AppResult::Held => "held",
        AppResult::Removed => "removed",
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A number in `[0, 1)` from the OS's random source, for [`Backoff`]; 0.5
/// if it has none (the jitter only spreads retries out).
fn jitter() -> f64 {
    let mut bytes = [0u8; 4];
    match getrandom::fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    //! Whole cycles on a real config repo (a git repository in a temp dir,
    //! fetched by path) and a real state directory, against live state
    //! held in memory.

    use super::*;
    use crate::backend::{AppSecrets, Instance, InstanceStatus, ObservedComponent};
    use crate::desired::DesiredApp;
    use crate::source::SourceConfig;
    use std::path::Path;
    use std::sync::Mutex;

    /// Live state in memory; every operation completes at once. Apps named
    /// in `failing` fail to apply.
    #[derive(Default)]
    struct InMemory {
        live: Mutex<ObservedState>,
        failing: BTreeSet<String>,
        operations: Mutex<Vec<String>>,
        /// Set during the first apply: a SIGTERM arriving mid-step.
        stop_on_apply: Mutex<Option<Arc<AtomicBool>>>,
        /// The secrets each app was last applied with.
        secrets: Mutex<BTreeMap<String, AppSecrets>>,
        /// An apply error that prints the app's secret values, as a tool
        /// echoing its env file would.
        leak_on_apply: bool,
        /// Apps whose health check fails.
        unhealthy: BTreeSet<String>,
    }

    impl InMemory {
        fn live(&self) -> ObservedState {
            self.live.lock().expect("not poisoned").clone()
        }

        fn log(&self, operation: String) {
            self.operations
                .lock()
                .expect("not poisoned")
                .push(operation);
        }
    }

    impl Backend for InMemory {
        fn name(&self) -> &'static str {
            "in-memory"
        }

        async fn observe(&self) -> Result<ObservedState, BackendError> {
            Ok(self.live())
        }

        async fn apply(
            &self,
            app: &DesiredApp,
            components: &[String],
            secrets: &AppSecrets,
        ) -> Result<(), BackendError> {
            self.log(format!("apply {} {}", app.name, components.join(",")));
            self.secrets
                .lock()
                .expect("not poisoned")
                .insert(app.name.clone(), secrets.clone());
            if self.leak_on_apply {
                let values: Vec<&str> = secrets
                    .user
                    .values()
                    .chain(secrets.database_passwords.values())
                    .map(Secret::expose)
                    .collect();
                return Err(BackendError::Command {
                    command: "docker-compose up".to_string(),
                    code: Some(1),
                    stderr: format!("ERROR: bad values: {}", values.join(" | ")),
                });
            }
            if let Some(stop) = self.stop_on_apply.lock().expect("not poisoned").take() {
                stop.store(true, Ordering::Relaxed);
            }
            if self.failing.contains(&app.name) {
                return Err(BackendError::Api("refused by the test".to_string()));
            }
            let mut live = self.live.lock().expect("not poisoned");
            let observed = live.apps.entry(app.name.clone()).or_default();
            for key in components {
                let wanted = &app.components[key];
                observed.components.insert(
                    key.clone(),
                    ObservedComponent {
                        kind: wanted.kind,
                        instances: (0..wanted.replicas.unwrap_or(1))
                            .map(|_| Instance {
                                spec_hash: Some(wanted.spec_hash.clone()),
                                secrets_digest: wanted.secrets_digest.clone(),
                                status: InstanceStatus::Healthy,
                            })
                            .collect(),
                    },
                );
            }
            observed.volumes.extend(app.volumes.iter().cloned());
            Ok(())
        }

        async fn delete(
            &self,
            app: &str,
            components: &[String],
            _prune_volumes: bool,
        ) -> Result<(), BackendError> {
            self.log(format!("delete {app} {}", components.join(",")));
            let mut live = self.live.lock().expect("not poisoned");
            if let Some(observed) = live.apps.get_mut(app) {
                for key in components {
                    observed.components.remove(key);
                }
            }
            Ok(())
        }

        async fn remove(&self, app: &str, prune_volumes: bool) -> Result<(), BackendError> {
            self.log(format!("remove {app}"));
            let mut live = self.live.lock().expect("not poisoned");
            if prune_volumes {
                live.apps.remove(app);
            } else if let Some(observed) = live.apps.get_mut(app) {
                observed.components.clear();
            }
            Ok(())
        }

        async fn health(&self, app: &str) -> Result<Health, BackendError> {
            let live = self.live.lock().expect("not poisoned");
            let up = live.apps.get(app).is_some_and(|a| !a.components.is_empty())
                && !self.unhealthy.contains(app);
            Ok(Health {
                state: if up {
                    HealthState::Healthy
                } else {
                    HealthState::Unhealthy
                },
                details: Vec::new(),
            })
        }
    }

    const SHOP: &str = "name: shop\nversion: 1\nservices:\n  web: { image: nginx:1.27 }\ndatabases:\n  db: { type: redis }\n";
    const BLOG: &str = "name: blog\nversion: 1\nservices:\n  web: { image: ghost:5 }\n";

    /// The config repo: a work tree on `main` that commits are made in.
    struct Remote {
        repo: git2::Repository,
    }

    impl Remote {
        fn new(dir: &Path) -> Self {
            let mut options = git2::RepositoryInitOptions::new();
            options.initial_head("main");
            let repo = git2::Repository::init_opts(dir, &options).expect("git init");
            Self { repo }
        }

        fn workdir(&self) -> &Path {
            self.repo.workdir().expect("a work tree")
        }

        /// Writes (`Some`) or deletes (`None`) files, then commits all.
        fn commit(&self, files: &[(&str, Option<&str>)]) -> String {
            for (path, text) in files {
                let path = self.workdir().join(path);
                match text {
                    Some(text) => {
                        std::fs::create_dir_all(path.parent().expect("a parent"))
                            .expect("a folder");
                        std::fs::write(&path, text).expect("a file");
                    }
                    None => std::fs::remove_file(&path).expect("a removal"),
                }
            }
            let mut index = self.repo.index().expect("the index");
            index
                .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
                .expect("add");
            index.update_all(["*"], None).expect("update");
            index.write().expect("write the index");
            let tree = self
                .repo
                .find_tree(index.write_tree().expect("a tree"))
                .expect("the tree");
            let signature = git2::Signature::now("Test", "test@helios.invalid").expect("who");
            let parent = self.repo.head().ok().and_then(|h| h.peel_to_commit().ok());
            let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
            self.repo
                .commit(
                    Some("HEAD"),
                    &signature,
                    &signature,
                    "change",
                    &tree,
                    &parents,
                )
                .expect("a commit")
                .to_string()
        }
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        remote: Remote,
        reconciler: Reconciler<InMemory>,
    }

    fn fixture(backend: InMemory, files: &[(&str, Option<&str>)]) -> Fixture {
        let dir = tempfile::tempdir().expect("a temp dir");
        let remote = Remote::new(&dir.path().join("config"));
        remote.commit(files);
        let state_dir = dir.path().join("state");
        let state = StateDir::open_or_init(&state_dir).expect("the state dir");
        let url = remote.workdir().to_string_lossy().into_owned();
        let source =
            GitSource::open(SourceConfig::new(url, "main"), &state_dir).expect("the source");
        let options = CycleOptions {
            // Every cycle compares live state, unless a test says otherwise.
            drift_interval: Duration::ZERO,
            health_timeout: Duration::from_millis(200),
            health_poll: Duration::from_millis(10),
            ..CycleOptions::default()
        };
        Fixture {
            _dir: dir,
            remote,
            reconciler: Reconciler::new(source, state, backend, options),
        }
    }

    fn result_of(report: &CycleReport, app: &str) -> Option<AppResult> {
        report
            .apps
            .iter()
            .find(|a| a.app == app)
            .and_then(|a| a.result)
    }

    fn state_commits(state: &StateDir) -> usize {
        let repo = git2::Repository::open(state.dir()).expect("the state repo");
        let mut walk = repo.revwalk().expect("a walk");
        if walk.push_head().is_err() {
            return 0;
        }
        walk.count()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn first_cycle_creates_second_is_a_no_op() {
        let mut f = fixture(
            InMemory::default(),
            &[
                ("shop/Heliosfile", Some(SHOP)),
                ("blog/Heliosfile", Some(BLOG)),
            ],
        );
        let first = f.reconciler.reconcile().await.expect("a cycle");
        assert!(first.converged, "{first:?}");
        assert_eq!(first.outcome, Outcome::Applied);
        assert_eq!(first.counts.created, 2);
        assert_eq!(result_of(&first, "shop"), Some(AppResult::Healthy));
        assert!(first.state_commit.is_some());
        assert_eq!(first.next, Next::Requeue(Duration::from_secs(30)));
        // Databases before services.
        let operations = f
            .reconciler
            .backend()
            .operations
            .lock()
            .expect("ok")
            .clone();
        let db = operations.iter().position(|o| o == "apply shop db");
        let web = operations.iter().position(|o| o == "apply shop web");
        assert!(db < web && db.is_some(), "{operations:?}");

        let state = f.reconciler.state();
        let status = state.read_status("shop").expect("read").expect("a status");
        assert_eq!(status.result, AppResult::Healthy);
        assert_eq!(status.source_commit, first.source_commit);
        assert!(state.read_applied("blog").expect("read").is_some());
        let inventory = state.read_inventory().expect("the inventory");
        assert_eq!(inventory.apps.keys().collect::<Vec<_>>(), ["blog", "shop"]);
        // Neither the fetched repo nor the env files are recorded.
        let repo = git2::Repository::open(state.dir()).expect("the state repo");
        let tree = repo.head().and_then(|h| h.peel_to_tree()).expect("a tree");
        assert!(tree.get_name("source.git").is_none());
        assert!(tree.get_name("secrets").is_none());
        let commits = state_commits(state);

        let second = f.reconciler.reconcile().await.expect("a cycle");
        assert!(second.converged);
        // Compared with live state, nothing to apply: counted as such.
        assert_eq!(second.outcome, Outcome::Unchanged);
        assert_eq!(second.counts.unchanged, 2);
        assert_eq!(second.state_commit, None);
        assert_eq!(state_commits(f.reconciler.state()), commits);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_stop_mid_step_finishes_that_step_and_starts_no_other() {
        let mut f = fixture(
            InMemory::default(),
            &[
                ("shop/Heliosfile", Some(SHOP)),
                ("blog/Heliosfile", Some(BLOG)),
            ],
        );
        let stop = f.reconciler.stop_flag();
        *f.reconciler
            .backend()
            .stop_on_apply
            .lock()
            .expect("not poisoned") = Some(stop);
        let report = f.reconciler.reconcile().await.expect("a cycle");
        let operations = f
            .reconciler
            .backend()
            .operations
            .lock()
            .expect("ok")
            .clone();
        // The database step ran to its end; neither service step started.
        assert_eq!(operations, ["apply shop db"]);
        assert!(!report.converged);
        assert_eq!(result_of(&report, "shop"), Some(AppResult::Failed));
        assert_eq!(result_of(&report, "blog"), None);
        let state = f.reconciler.state();
        let status = state.read_status("shop").expect("read").expect("a status");
        assert!(
            status
                .diagnostics
                .iter()
                .any(|d| d.contains("stopped before")),
            "{status:?}"
        );
        assert!(state.read_status("blog").expect("read").is_none());
        assert!(state.read_applied("shop").expect("read").is_none());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn live_apps_it_never_applied_are_left_alone() {
        // An app brought up by hand from `heliosc build` output, or by
        // another reconciler: Helios labels, but not in this inventory.
        let backend = InMemory::default();
        backend.live.lock().expect("not poisoned").apps.insert(
            "handmade".to_string(),
            crate::backend::ObservedApp {
                components: BTreeMap::from([(
                    "web".to_string(),
                    ObservedComponent {
                        kind: crate::desired::ComponentKind::Service,
                        instances: vec![Instance {
                            spec_hash: Some("sha256:0".to_string()),
                            secrets_digest: None,
                            status: InstanceStatus::Healthy,
                        }],
                    },
                )]),
                ..Default::default()
            },
        );
        let mut f = fixture(backend, &[("shop/Heliosfile", Some(SHOP))]);
        let report = f.reconciler.reconcile().await.expect("a cycle");
        assert!(report.converged, "{report:?}");
        assert!(
            report.apps.iter().all(|a| a.app != "handmade"),
            "{report:?}"
        );
        assert!(f.reconciler.backend().live().apps.contains_key("handmade"));
        let operations = f
            .reconciler
            .backend()
            .operations
            .lock()
            .expect("ok")
            .clone();
        assert!(
            operations.iter().all(|o| !o.contains("handmade")),
            "{operations:?}"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_unchanged_commit_is_skipped_until_a_drift_check_is_due() {
        let mut f = fixture(InMemory::default(), &[("shop/Heliosfile", Some(SHOP))]);
        f.reconciler.options.drift_interval = Duration::from_secs(3600);
        assert!(f.reconciler.reconcile().await.expect("a cycle").converged);
        let skipped = f.reconciler.reconcile().await.expect("a cycle");
        assert_eq!(skipped.outcome, Outcome::Skipped);

        // The backend saw a container die: the next cycle looks.
        f.reconciler
            .backend()
            .live
            .lock()
            .expect("ok")
            .apps
            .get_mut("shop")
            .expect("shop")
            .components
            .remove("web");
        f.reconciler.request_drift_check();
        let checked = f.reconciler.reconcile().await.expect("a cycle");
        assert_eq!(checked.outcome, Outcome::Applied);
        assert_eq!(
            checked.drift_corrected,
            [DriftCorrected {
                app: "shop".to_string(),
                component: "web".to_string(),
                reason: "missing",
            }]
        );
        let skipped = f.reconciler.reconcile().await.expect("a cycle");
        assert_eq!(skipped.outcome, Outcome::Skipped);

        // A new commit is reconciled at once.
        f.remote
            .commit(&[("shop/Heliosfile", Some(&SHOP.replace("1.27", "1.28")))]);
        let changed = f.reconciler.reconcile().await.expect("a cycle");
        assert_eq!(changed.outcome, Outcome::Applied);
        assert_eq!(changed.counts.updated, 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_removed_app_is_deleted_and_recorded() {
        let mut f = fixture(
            InMemory::default(),
            &[
                ("shop/Heliosfile", Some(SHOP)),
                ("blog/Heliosfile", Some(BLOG)),
                ("wiki/Heliosfile", Some(&BLOG.replace("blog", "wiki"))),
            ],
        );
        f.reconciler.reconcile().await.expect("a cycle");
        f.remote.commit(&[("blog/Heliosfile", None)]);
        let report = f.reconciler.reconcile().await.expect("a cycle");
        assert!(report.converged, "{report:?}");
        assert_eq!(report.counts.deleted, 1);
        assert_eq!(result_of(&report, "blog"), Some(AppResult::Removed));
        let live = f.reconciler.backend().live();
        assert!(live.apps["blog"].components.is_empty());
        assert!(!live.apps["shop"].components.is_empty());
        let state = f.reconciler.state();
        let status = state.read_status("blog").expect("read").expect("a status");
        assert_eq!(status.result, AppResult::Removed);
        assert!(
            !state
                .read_inventory()
                .expect("read")
                .apps
                .contains_key("blog")
        );
        assert!(report.state_commit.is_some());
        // Removed once: the next cycle does nothing.
        let again = f.reconciler.reconcile().await.expect("a cycle");
        assert_eq!(again.state_commit, None);
        assert!(again.converged);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_invalid_heliosfile_holds_its_app_with_diagnostics() {
        let mut f = fixture(
            InMemory::default(),
            &[
                ("shop/Heliosfile", Some(SHOP)),
                ("blog/Heliosfile", Some(BLOG)),
            ],
        );
        f.reconciler.reconcile().await.expect("a cycle");
        let before = f.reconciler.backend().live();
        let broken = SHOP.replace("image: nginx:1.27", "image: nginx:1.28, replicas: lots");
        f.remote.commit(&[
            ("shop/Heliosfile", Some(&broken)),
            ("blog/Heliosfile", Some(&BLOG.replace("ghost:5", "ghost:6"))),
        ]);
        let report = f.reconciler.reconcile().await.expect("a cycle");
        assert!(!report.converged);
        assert_eq!(result_of(&report, "shop"), Some(AppResult::Held));
        // The other app goes on.
        assert_eq!(result_of(&report, "blog"), Some(AppResult::Healthy));
        assert_eq!(report.counts.updated, 1);
        let live = f.reconciler.backend().live();
        assert_eq!(live.apps["shop"], before.apps["shop"]);
        let status = f
            .reconciler
            .state()
            .read_status("shop")
            .expect("read")
            .expect("a status");
        assert_eq!(status.result, AppResult::Held);
        let diagnostics = status.diagnostics.join("\n");
        assert!(diagnostics.contains("shop/Heliosfile"), "{diagnostics}");
        assert!(diagnostics.contains("replicas"), "{diagnostics}");
        assert!(report.next != Next::Requeue(Duration::from_secs(30)));

        // Held again with the same diagnostics: nothing new to record.
        let again = f.reconciler.reconcile().await.expect("a cycle");
        assert_eq!(again.state_commit, None);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_guard_refuses_deleting_every_app() {
        let mut f = fixture(
            InMemory::default(),
            &[
                ("shop/Heliosfile", Some(SHOP)),
                ("blog/Heliosfile", Some(BLOG)),
            ],
        );
        f.reconciler.reconcile().await.expect("a cycle");
        let before = f.reconciler.backend().live();
        f.remote.commit(&[
            ("shop/Heliosfile", None),
            ("blog/Heliosfile", None),
            ("README.md", Some("nothing here\n")),
        ]);
        let report = f.reconciler.reconcile().await.expect("a cycle");
        assert!(!report.converged);
        assert!(
            matches!(&report.outcome, Outcome::Refused(m) if m.contains("every owned app")),
            "{:?}",
            report.outcome
        );
        assert_eq!(f.reconciler.backend().live(), before);
        let status = f
            .reconciler
            .state()
            .read_status("blog")
            .expect("read")
            .expect("a status");
        assert_eq!(status.result, AppResult::Held);
        assert!(status.diagnostics[0].contains("refused"), "{status:?}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn one_failing_app_does_not_stop_the_others() {
        let backend = InMemory {
            failing: BTreeSet::from(["shop".to_string()]),
            ..InMemory::default()
        };
        let mut f = fixture(
            backend,
            &[
                ("shop/Heliosfile", Some(SHOP)),
                ("blog/Heliosfile", Some(BLOG)),
            ],
        );
        let report = f.reconciler.reconcile().await.expect("a cycle");
        assert!(!report.converged);
        assert_eq!(result_of(&report, "shop"), Some(AppResult::Failed));
        assert_eq!(result_of(&report, "blog"), Some(AppResult::Healthy));
        assert_eq!(report.counts.failed, 1);
        // Its services are not started without their database.
        let operations = f
            .reconciler
            .backend()
            .operations
            .lock()
            .expect("ok")
            .clone();
        assert!(
            !operations.contains(&"apply shop web".to_string()),
            "{operations:?}"
        );
        let status = f
            .reconciler
            .state()
            .read_status("shop")
            .expect("read")
            .expect("a status");
        assert_eq!(status.result, AppResult::Failed);
        assert!(status.diagnostics[0].contains("refused by the test"));
        assert!(
            f.reconciler
                .state()
                .read_applied("shop")
                .expect("read")
                .is_none()
        );
    }

    const STRIPE: &str = "name: shop\nversion: 1\nsecrets: [STRIPE_KEY]\nservices:\n  web:\n    image: nginx:1.27\n    env:\n      KEY: ${secret.STRIPE_KEY}\n  other:\n    image: nginx:1.27\ndatabases:\n  db: { type: postgresql }\n";

    fn with_secrets_file(f: &mut Fixture, text: &str) -> std::path::PathBuf {
        let path = f._dir.path().join("secrets.env");
        std::fs::write(&path, text).expect("written");
        f.reconciler.options.secrets_file = Some(path.clone());
        path
    }

    #[tokio::test(flavor = "current_thread")]
    async fn each_app_gets_the_user_secrets_it_declares() {
        let mut f = fixture(
            InMemory::default(),
            &[
                ("shop/Heliosfile", Some(STRIPE)),
                ("blog/Heliosfile", Some(BLOG)),
            ],
        );
        with_secrets_file(&mut f, "STRIPE_KEY=sk_test_1\nSMTP_PASSWORD=mail_2\n");
        assert!(f.reconciler.reconcile().await.expect("a cycle").converged);
        let given = f.reconciler.backend().secrets.lock().expect("ok").clone();
        let shop: Vec<(&str, &str)> = given["shop"]
            .user
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose()))
            .collect();
        assert_eq!(shop, [("STRIPE_KEY", "sk_test_1")]);
        assert_eq!(given["shop"].database_passwords["db"].expose().len(), 32);
        assert!(given["blog"].user.is_empty());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_declared_secret_without_a_value_holds_its_app_only() {
        let mut f = fixture(
            InMemory::default(),
            &[
                ("shop/Heliosfile", Some(STRIPE)),
                ("blog/Heliosfile", Some(BLOG)),
            ],
        );
        with_secrets_file(&mut f, "OTHER=1\n");
        let report = f.reconciler.reconcile().await.expect("a cycle");
        assert!(!report.converged);
        assert_eq!(result_of(&report, "shop"), Some(AppResult::Held));
        assert_eq!(result_of(&report, "blog"), Some(AppResult::Healthy));
        let shop = report.apps.iter().find(|a| a.app == "shop").expect("shop");
        assert!(
            shop.diagnostics
                .iter()
                .any(|d| d.contains("secret `STRIPE_KEY` is declared")),
            "{:?}",
            shop.diagnostics
        );
        let operations = f
            .reconciler
            .backend()
            .operations
            .lock()
            .expect("ok")
            .clone();
        assert!(
            operations.iter().all(|o| !o.contains("shop")),
            "{operations:?}"
        );
        let status = f
            .reconciler
            .state()
            .read_status("shop")
            .expect("read")
            .expect("a status");
        assert_eq!(status.result, AppResult::Held);

        // A value that cannot be carried is refused the same way, named.
        with_secrets_file(&mut f, "STRIPE_KEY=\"a\rb\"\n");
        let report = f.reconciler.reconcile().await.expect("a cycle");
        let shop = report.apps.iter().find(|a| a.app == "shop").expect("shop");
        assert_eq!(shop.result, Some(AppResult::Held));
        assert!(
            shop.diagnostics
                .iter()
                .any(|d| d.contains("`STRIPE_KEY` contains a carriage return")),
            "{:?}",
            shop.diagnostics
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_rotated_secret_updates_exactly_the_services_that_use_it() {
        let mut f = fixture(InMemory::default(), &[("shop/Heliosfile", Some(STRIPE))]);
        let path = with_secrets_file(&mut f, "STRIPE_KEY=sk_live_1\n");
        assert!(f.reconciler.reconcile().await.expect("a cycle").converged);
        // Same commit, no drift check due: only the new value wakes it.
        f.reconciler.options.drift_interval = Duration::from_secs(3600);
        assert_eq!(
            f.reconciler.reconcile().await.expect("a cycle").outcome,
            Outcome::Skipped
        );
        std::fs::write(&path, "STRIPE_KEY=sk_live_2\n").expect("rotated");
        f.reconciler
            .backend()
            .operations
            .lock()
            .expect("ok")
            .clear();
        let (_, plan) = f.reconciler.plan_only().await.expect("a plan");
        let text = plan.to_text();
        assert!(
            text.contains("~ update service shop/web (secret STRIPE_KEY changed)"),
            "{text}"
        );
        assert!(text.contains("= unchanged service shop/other"), "{text}");
        assert!(!text.contains("sk_live"), "{text}");
        let report = f.reconciler.reconcile().await.expect("a cycle");
        assert!(report.converged, "{report:?}");
        let operations = f
            .reconciler
            .backend()
            .operations
            .lock()
            .expect("ok")
            .clone();
        assert_eq!(operations, ["apply shop web"]);
        let status = f
            .reconciler
            .state()
            .read_status("shop")
            .expect("read")
            .expect("a status");
        assert_eq!(
            status.plan.changes,
            ["update web (secret STRIPE_KEY changed)"]
        );
        // The database password rotated by an operator: the database and
        // nothing else uses it here.
        let password_file = f.reconciler.state().password_file("shop").expect("a path");
        std::fs::write(&password_file, "HELIOS_DB_PASSWORD='rotated'\n").expect("rotated");
        f.reconciler.request_drift_check();
        f.reconciler
            .backend()
            .operations
            .lock()
            .expect("ok")
            .clear();
        let report = f.reconciler.reconcile().await.expect("a cycle");
        assert!(report.converged, "{report:?}");
        let operations = f
            .reconciler
            .backend()
            .operations
            .lock()
            .expect("ok")
            .clone();
        assert_eq!(operations, ["apply shop db"]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn what_a_tool_prints_is_recorded_without_secret_values() {
        let backend = InMemory {
            leak_on_apply: true,
            ..InMemory::default()
        };
        let mut f = fixture(backend, &[("shop/Heliosfile", Some(STRIPE))]);
        with_secrets_file(&mut f, "STRIPE_KEY=it's ${HOME} $$ `x`\n");
        let report = f.reconciler.reconcile().await.expect("a cycle");
        let shop = report.apps.iter().find(|a| a.app == "shop").expect("shop");
        assert_eq!(shop.result, Some(AppResult::Failed));
        let password = f
            .reconciler
            .state()
            .database_passwords("shop", &["db".to_string()])
            .expect("passwords")["db"]
            .expose()
            .to_string();
        let diagnostics = shop.diagnostics.join("\n");
        assert!(
            diagnostics.contains("ERROR: bad values: *** | ***"),
            "{diagnostics}"
        );
        let status =
            std::fs::read_to_string(f.reconciler.state().dir().join("apps/shop/status.yaml"))
                .expect("a status");
        for secret in ["it's ${HOME} $$ `x`", password.as_str()] {
            assert!(!diagnostics.contains(secret));
            assert!(!status.contains(secret), "{status}");
        }
    }

    fn last_state_message(state: &StateDir) -> String {
        let repo = git2::Repository::open(state.dir()).expect("the state repo");
        let head = repo
            .head()
            .and_then(|h| h.peel_to_commit())
            .expect("a commit");
        head.message().unwrap_or_default().to_string()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn state_commits_say_what_was_applied_and_with_what_result() {
        let backend = InMemory {
            unhealthy: BTreeSet::from(["shop".to_string()]),
            ..InMemory::default()
        };
        let mut f = fixture(
            backend,
            &[
                ("shop/Heliosfile", Some(SHOP)),
                ("blog/Heliosfile", Some(BLOG)),
            ],
        );
        let report = f.reconciler.reconcile().await.expect("a cycle");
        assert_eq!(report.outcome, Outcome::Applied);
        let message = last_state_message(f.reconciler.state());
        assert!(
            message.starts_with(&format!(
                "reconcile {}: 1 created, 1 created (degraded)\n",
                &report.source_commit[..7]
            )),
            "{message}"
        );

        // A refused plan deletes nothing and says so.
        f.remote
            .commit(&[("shop/Heliosfile", None), ("blog/Heliosfile", None)]);
        let report = f.reconciler.reconcile().await.expect("a cycle");
        assert!(matches!(report.outcome, Outcome::Refused(_)));
        let message = last_state_message(f.reconciler.state());
        assert!(
            message.contains(": plan refused: the plan deletes every owned app"),
            "{message}"
        );
        assert!(
            !message.contains("deleted,") && !message.contains("1 deleted"),
            "{message}"
        );
        assert!(!message.contains("refused: refused"), "{message}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn drift_is_healed() {
        let mut f = fixture(InMemory::default(), &[("blog/Heliosfile", Some(BLOG))]);
        f.reconciler.reconcile().await.expect("a cycle");
        {
            let mut live = f.reconciler.backend().live.lock().expect("ok");
            let web = live
                .apps
                .get_mut("blog")
                .and_then(|a| a.components.get_mut("web"))
                .expect("blog web");
            web.instances[0].status = InstanceStatus::Exited;
        }
        let report = f.reconciler.reconcile().await.expect("a cycle");
        assert!(report.converged);
        assert_eq!(report.counts.updated, 1);
        assert_eq!(
            report.drift_corrected,
            [DriftCorrected {
                app: "blog".to_string(),
                component: "web".to_string(),
                reason: "exited",
            }]
        );
        let live = f.reconciler.backend().live();
        assert_eq!(
            live.apps["blog"].components["web"].instances[0].status,
            InstanceStatus::Healthy
        );
    }
}
