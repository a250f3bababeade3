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
//!
//! Its parts: [`report`] (what a cycle tells its caller), `ledger` (what
//! happened to each app during a cycle, and how it is summed up), `apply`
//! (the plan's steps, several apps at once, and the health wait),
//! `inventory` (what each owned app may have live, and the backend's copy
//! of it) and `secrets` (each app's secret values, their digests, the
//! redactor). The backoff between failed cycles is the source's
//! ([`crate::source::Backoff`]).

use crate::backend::{AppSecrets, Backend, BackendError, ObservedState};
use crate::desired::{
    AppInputs, DesiredOptions, DesiredState, FailedApp, SecretDigests, desired_state_with,
};
use crate::plan::{Action, Plan, PlanOptions, plan};
use crate::secrets::Secret;
use crate::secrets::digest::DigestKey;
use crate::source::{Backoff, FetchOutcome, GitSource, SourceError};
use crate::state::{AppResult, AppStatus, Inventory, PlanRecord, StateDir, StateError};
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
    /// How many apps are applied at once (`--apply-concurrency`); the
    /// steps of one app always run one after the other.
    pub apply_concurrency: usize,
    /// How many images are built at once (`--build-jobs`).
    pub build_jobs: usize,
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
            apply_concurrency: 1,
            build_jobs: 1,
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

mod apply;
mod inventory;
mod ledger;
pub mod report;
mod secrets;
#[cfg(test)]
mod tests;

pub use report::{AppReport, Counts, CycleReport, DriftCorrected, Outcome};

use ledger::{Run, counts, describe_cycle, drift_corrected};
use secrets::secret_digests;

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
        let mut inventory = self.state.read_inventory()?;
        let mut observed = self.observe(&mut inventory, &desired).await?;
        if drift_due {
            // What observing cannot see (a field edited by hand), looked
            // for only when a drift check is due: it costs a request per
            // object on a cluster.
            self.backend
                .check_drift(&desired, &mut observed)
                .await
                .map_err(CycleError::Backend)?;
        }
        let plan = plan(&desired, &observed, &self.options.plan);
        for skipped in &plan.skipped {
            tracing::info!(app = %skipped.app, path = %skipped.path, "skipped app {}: target {}", skipped.app, skipped.target);
        }

        let mut run = Run::new(&plan, &desired, compile_ms);
        let outcome = match &plan.refused {
            Some(refusal) => {
                let message = refusal.describe();
                run.refuse(&plan, &message);
                Outcome::Refused(message)
            }
            None if plan.steps.is_empty() => Outcome::Unchanged,
            None => {
                self.apply(commit, &plan, &desired, &app_secrets, &mut run)
                    .await;
                self.wait(&mut run).await;
                Outcome::Applied
            }
        };
        for app in &plan.apps {
            let notes = self.backend.take_notes(&app.app);
            if !notes.is_empty() {
                run.diagnostics
                    .entry(app.app.clone())
                    .or_default()
                    .extend(notes);
            }
        }
        // Everything recorded or logged from here on may hold what a tool
        // printed: one redaction step for all of it.
        run.redact(&redactor);

        let drift_corrected = drift_corrected(&plan, &inventory, &run);
        let inventory = self.inventory(inventory, &plan, &desired, &observed, &run);
        self.record(&plan, &desired, &run, &inventory, &source_commit)?;
        let state_commit = self
            .state
            .commit(&source_commit, &describe_cycle(&plan, &run, &outcome))?;
        self.store_inventory(&plan, &inventory).await;
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
        let mut inventory = self.state.read_inventory()?;
        let mut observed = self.observe(&mut inventory, &desired).await?;
        // A plan shows hand edits too: the check only reads (dry runs).
        self.backend
            .check_drift(&desired, &mut observed)
            .await
            .map_err(CycleError::Backend)?;
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
        let mut inputs_of = |path: &str, app: &heliosc::ir::App| {
            let secrets = self.app_secrets(app, user_secrets, generate)?;
            let digests = match key {
                Some(key) => secret_digests(app, &secrets, key),
                None => SecretDigests::default(),
            };
            // The tag of the image built from this commit's sources, for
            // an app some service of which runs it.
            let runs_built_image =
                app.image_repository.is_some() && app.services.values().any(|s| s.image.is_none());
            let source_tag = if runs_built_image {
                Some(self.source.source_tag(commit, path, &app.build)?)
            } else {
                None
            };
            app_secrets.insert(app.name.clone(), secrets);
            Ok(AppInputs {
                digests,
                source_tag,
            })
        };
        let mut desired = desired_state_with(&texts, &self.options.desired, &mut inputs_of);
        desired.failed.extend(unreadable);
        desired.failed.sort_by(|a, b| a.path.cmp(&b.path));
        app_secrets.retain(|name, _| desired.apps.contains_key(name));
        Ok((desired, app_secrets))
    }

    /// Live state of the apps this reconciler owns: those it applied (its
    /// inventory) and those it is asked to apply. Other apps carrying the
    /// Helios labels (another reconciler's, or a `heliosc build` someone
    /// brought up by hand) are not its to prune, as Flux prunes only what
    /// its inventory lists. Each app gets its last source path from the
    /// inventory (the backend's labels do not carry it), so that an app
    /// whose file no longer parses is held rather than deleted.
    ///
    /// A backend that keeps a copy of the inventory (a cluster's
    /// ConfigMaps) fills in the apps this reconciler's state directory
    /// does not list: after the state directory was lost, the new one
    /// still owns, and so prunes, what the old one applied.
    async fn observe(
        &self,
        inventory: &mut Inventory,
        desired: &DesiredState,
    ) -> Result<ObservedState, CycleError> {
        let mut observed = self.backend.observe().await.map_err(CycleError::Backend)?;
        for (name, entry) in self
            .backend
            .stored_inventory(&self.source_identity())
            .unwrap_or_default()
        {
            if let std::collections::btree_map::Entry::Vacant(vacant) = inventory.apps.entry(name) {
                tracing::info!(app = %vacant.key(), "inventory entry restored from the backend's copy");
                vacant.insert(entry);
            }
        }
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
                for (key, component) in applied.components {
                    if !component.spec.is_empty() {
                        app.applied_specs.insert(key.clone(), component.spec);
                    }
                    if !component.secrets.is_empty() {
                        app.applied_secrets.insert(key, component.secrets);
                    }
                }
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
            // A failed apply keeps the last applied record. An unchanged app
            // (live state is what it should be) gets one when its record
            // does not say so: none yet (a state dir started afresh), or an
            // apply whose record could not be written (a full disk).
            let mut rewritten = false;
            if let Some(wanted) = desired.apps.get(name)
                && result != AppResult::Failed
                && (run.applied.contains(name) || !self.state.applied_describes(wanted)?)
            {
                self.state.write_applied(wanted, source_commit)?;
                rewritten = !run.applied.contains(name);
            }
            let previous = self.state.read_status(name)?;
            // An app nothing happened to keeps its record, so that an idle
            // cycle commits nothing and `git log` shows only real changes.
            let same = previous
                .as_ref()
                .is_some_and(|p| p.result == result && p.diagnostics == diagnostics);
            if same && !run.applied.contains(name) && !rewritten {
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
        self.state.write_skipped(&plan.skipped)?;
        self.state.write_inventory(inventory)
    }
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
