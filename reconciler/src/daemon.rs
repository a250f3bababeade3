//! `helios-reconciler run`: the reconcile loop and everything that wakes or
//! stops it.
//!
//! Start-up takes the state directory's lock before anything else, so a
//! second instance fails at once without touching Docker or the remote.
//! Then the loop: one cycle, one summary line, and a wait for the cycle's
//! [`Next`] that ends early on
//!
//! - a new commit of a local config repo (see [`crate::watch`]),
//! - an owned container dying or turning unhealthy (the backend's
//!   [`Backend::watch_drift`]), which forces a drift check,
//! - SIGINT or SIGTERM, which ends the loop.
//!
//! A signal never interrupts a cycle: the steps in flight complete (a
//! half-applied app is worse than a late exit), nothing new starts, and the
//! process exits 0. A second signal exits at once.

use crate::args::{BackendArg, RunArgs, SourceArgs, TargetArgs};
use crate::metrics::{self, Metrics};
use crate::{EXIT_FAILURE, EXIT_SETUP, watch};
use helios_reconciler::backend::{Backend, DriftEvent};
use helios_reconciler::backends::compose::{BuildLimits, ComposeBackend};
use helios_reconciler::backends::kubernetes::{KubernetesBackend, KubernetesOptions};
use helios_reconciler::cycle::{CycleError, CycleOptions, CycleReport, Next, Outcome, Reconciler};
use helios_reconciler::lock::StateLock;
use helios_reconciler::plan::PlanOptions;
use helios_reconciler::secrets::{Secret, secrets_file};
use helios_reconciler::source::{Auth, GitSource, SourceConfig, SourceError};
use helios_reconciler::state::StateDir;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc, watch as signal_watch};

/// How long to let a burst of file or Docker events settle before the cycle
/// they trigger (a commit writes a ref lock then renames it; a killed
/// container reports `kill`, `die` and `stop`).
const DEBOUNCE: Duration = Duration::from_millis(150);

/// The least time between the end of a cycle and a drift check a Docker
/// event triggers: a container in a crash loop must not keep the
/// reconciler cycling.
const DRIFT_MIN_GAP: Duration = Duration::from_secs(5);

/// Drift events kept while the loop is busy; more are dropped, as one is
/// enough to trigger the check.
const DRIFT_QUEUE: usize = 64;

/// `run`: returns the process's exit code.
pub(crate) async fn run(args: RunArgs) -> ExitCode {
    let opened = match open(&args) {
        Ok(opened) => opened,
        Err(message) => return setup_failed(&message),
    };
    // The daemon is generic over its backend: one arm per backend, each
    // running the same loop.
    match args.target.backend {
        BackendArg::Compose => match ComposeBackend::connect(&args.target.state_dir).await {
            Ok(backend) => {
                let limits = BuildLimits {
                    memory_bytes: args.target.build_memory,
                    timeout: args.target.build_timeout,
                };
                opened
                    .with(backend.with_build_limits(limits))
                    .run(&args)
                    .await
            }
            Err(e) => setup_failed(&e.to_string()),
        },
        BackendArg::Kubernetes => {
            match KubernetesBackend::connect(kubernetes_options(&args.target)).await {
                Ok(backend) => opened.with(backend).run(&args).await,
                Err(e) => setup_failed(&e.to_string()),
            }
        }
    }
}

fn setup_failed(message: &str) -> ExitCode {
    tracing::error!("{message}");
    ExitCode::from(EXIT_SETUP)
}

/// Everything opened at start-up.
struct Daemon<B> {
    // Held until the process exits.
    _lock: StateLock,
    reconciler: Reconciler<B>,
    shutdown: signal_watch::Receiver<bool>,
}

/// What start-up opens before it connects to the backend.
struct Opened {
    lock: StateLock,
    shutdown: signal_watch::Receiver<bool>,
    state: StateDir,
    source: GitSource,
    options: CycleOptions,
}

impl Opened {
    fn with<B: Backend>(self, backend: B) -> Daemon<B> {
        Daemon {
            _lock: self.lock,
            reconciler: Reconciler::new(self.source, self.state, backend, self.options),
            shutdown: self.shutdown,
        }
    }
}

fn open(args: &RunArgs) -> Result<Opened, String> {
    let target = &args.target;
    let state_dir = &target.state_dir;
    // First: a second instance must not fetch, connect or write anything.
    let lock = StateLock::acquire(state_dir).map_err(|e| e.to_string())?;
    // Before anything slow, so that a signal during start-up is not fatal
    // in the middle of writing the state repository.
    let shutdown = signals()?;
    // Read now for its errors: a daemon started with a broken file would
    // only fail every cycle. Each cycle reads it again.
    read_secrets(target)?;
    let state = StateDir::open_or_init(state_dir)
        .map_err(|e| format!("state directory `{}`: {e}", state_dir.display()))?;
    let source = open_source(&args.source, state_dir)?;
    let options = CycleOptions {
        interval: args.interval,
        drift_interval: args.drift_interval,
        health_timeout: args.health_timeout,
        plan: plan_options(target),
        secrets_file: target.secrets_file.clone(),
        apply_concurrency: apply_concurrency(target),
        build_jobs: usize::try_from(target.build_jobs).unwrap_or(1),
        ..CycleOptions::default()
    };
    Ok(Opened {
        lock,
        shutdown,
        state,
        source,
        options,
    })
}

/// `--apply-concurrency`, else the backend's default: 8 apps at once on
/// a cluster (each apply is a few API requests), 1 on a Docker host
/// (each is a Compose run that pulls and starts containers).
fn apply_concurrency(target: &TargetArgs) -> usize {
    let default = match target.backend {
        BackendArg::Compose => 1,
        BackendArg::Kubernetes => 8,
    };
    target
        .apply_concurrency
        .map_or(default, |n| usize::try_from(n).unwrap_or(default))
}

/// The Kubernetes backend's options of the command line.
pub(crate) fn kubernetes_options(target: &TargetArgs) -> KubernetesOptions {
    KubernetesOptions {
        kubeconfig: target.kubeconfig.clone(),
        context: target.context.clone(),
        force_conflicts: target.force_conflicts,
    }
}

/// The planner's options of the command line.
pub(crate) fn plan_options(target: &TargetArgs) -> PlanOptions {
    PlanOptions {
        max_prune_percent: target.max_prune_percent,
        allow_mass_prune: target.allow_mass_prune,
        prune_volumes: target.prune_volumes,
        // A Docker host builds the images its apps run from the config
        // repo; a cluster deploys the tags CI pushed.
        build_images: target.backend == BackendArg::Compose,
    }
}

/// The user secrets of `--secrets-file`, if given.
pub(crate) fn read_secrets(target: &TargetArgs) -> Result<BTreeMap<String, Secret>, String> {
    match &target.secrets_file {
        Some(path) => secrets_file::read(path),
        None => Ok(BTreeMap::new()),
    }
}

/// The config repo, fetched into `<dir>/source.git`. Credentials are read
/// from where the flags point (never from the command line itself).
pub(crate) fn open_source(source: &SourceArgs, dir: &Path) -> Result<GitSource, String> {
    let auth = if let Some(var) = &source.token_env {
        Auth::token_from_env(var).map_err(|e| e.to_string())?
    } else if let Some(path) = &source.token_file {
        Auth::token_from_file(path).map_err(|e| e.to_string())?
    } else if let Some(path) = &source.ssh_key {
        Auth::SshKey {
            private_key_path: path.clone(),
            passphrase: None,
        }
    } else {
        Auth::None
    };
    let config = SourceConfig {
        path: source.path.clone(),
        auth,
        ..SourceConfig::new(source.repo.clone(), source.branch.clone())
    };
    GitSource::open(config, dir).map_err(|e| e.to_string())
}

/// SIGINT and SIGTERM: the first asks the loop to stop after the cycle in
/// flight; the second exits at once.
fn signals() -> Result<signal_watch::Receiver<bool>, String> {
    use tokio::signal::unix::{SignalKind, signal};
    let error = |e: std::io::Error| format!("cannot handle signals: {e}");
    let mut terminate = signal(SignalKind::terminate()).map_err(error)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(error)?;
    let (sender, receiver) = signal_watch::channel(false);
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        tracing::info!("signal received: finishing the cycle in flight, then exiting");
        let _ = sender.send(true);
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        tracing::warn!("second signal: exiting now");
        std::process::exit(i32::from(EXIT_FAILURE));
    });
    Ok(receiver)
}

impl<B: Backend> Daemon<B> {
    async fn run(mut self, args: &RunArgs) -> ExitCode {
        // A signal cuts the cycle in flight short after its current step.
        let stop = self.reconciler.stop_flag();
        let mut shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            if shutdown.wait_for(|stopping| *stopping).await.is_ok() {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        });
        if args.once {
            return self.once().await;
        }
        let metrics = Arc::new(Metrics::new(grace(args)));
        if let Some(address) = args.listen {
            match tokio::net::TcpListener::bind(address).await {
                Ok(listener) => {
                    tracing::info!(%address, "serving /metrics and /healthz");
                    tokio::spawn(metrics::serve(listener, Arc::clone(&metrics)));
                }
                Err(e) => {
                    tracing::error!("cannot listen on {address}: {e}");
                    return ExitCode::from(EXIT_SETUP);
                }
            }
        }

        let commits = Arc::new(Notify::new());
        // Kept alive for the life of the loop.
        let _watcher = if args.no_watch {
            None
        } else {
            self.watch_commits(&commits)
        };
        let secrets_changed = Arc::new(Notify::new());
        let _secrets_watcher = args.target.secrets_file.as_deref().and_then(|path| {
            match watch::watch_file(path, Arc::clone(&secrets_changed)) {
                Ok(watcher) => Some(watcher),
                Err(e) => {
                    tracing::warn!("cannot watch the secrets file ({e}); it is read every cycle");
                    None
                }
            }
        });
        let (drift_sender, mut drift) = mpsc::channel::<DriftEvent>(DRIFT_QUEUE);
        let owned = self.reconciler.owned_apps();
        let watching = self.reconciler.backend().watch_drift(move |event| {
            // Another reconciler's app, or one brought up by hand: not
            // this one's to heal, so no drift check for it.
            let ours = owned.read().is_ok_and(|apps| apps.contains(&event.app));
            if !ours {
                tracing::debug!(app = %event.app, object = %event.object, "not in this reconciler's inventory; event ignored");
                return;
            }
            // Full means a check is pending already.
            let _ = drift_sender.try_send(event);
        });
        let watch_task = tokio::spawn(watching);

        tracing::info!(
            repo = %args.source.repo,
            branch = %args.source.branch,
            path = %args.source.path,
            state_dir = %args.target.state_dir.display(),
            interval_s = args.interval.as_secs_f64(),
            "reconciler started"
        );
        loop {
            if *self.shutdown.borrow() {
                break;
            }
            metrics.cycle_started();
            let started = Instant::now();
            let result = self.reconciler.reconcile().await;
            let took = started.elapsed();
            // After a cycle that did not converge, the next one (after the
            // backoff) is a full one anyway: drift events need not wake it,
            // and must not defeat the backoff.
            let converged = matches!(&result, Ok(report) if report.converged);
            let Next::Requeue(delay) = match result {
                Ok(report) => {
                    log_cycle(&report, took);
                    let Next::Requeue(delay) = report.next;
                    metrics.cycle_finished(&report, took, delay);
                    report.next
                }
                Err(error) => {
                    let next = self.reconciler.error_policy(&error);
                    let Next::Requeue(delay) = next;
                    let message = self.reconciler.redact(&error.to_string());
                    if matches!(error, CycleError::Source(SourceError::PathMissing { .. })) {
                        tracing::warn!(next_s = delay.as_secs_f64(), "cycle failed: {message}");
                    } else {
                        tracing::error!(
                            duration_ms = took.as_millis(),
                            next_s = delay.as_secs_f64(),
                            "cycle failed: {message}"
                        );
                    }
                    metrics.cycle_failed(took, delay);
                    next
                }
            };
            // Docker events that came in during the cycle were mostly its
            // own doing (Compose recreating a container reports `die` and
            // `destroy`): they must not trigger another cycle. A real crash
            // in that window is found by the next drift check.
            while drift.try_recv().is_ok() {}
            let ended = Instant::now();

            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = self.shutdown.changed() => {}
                () = commits.notified() => {
                    settle().await;
                    // The burst's other events are this same commit.
                    let _ = futures_util::FutureExt::now_or_never(commits.notified());
                    tracing::info!("the config repo changed; reconciling now");
                }
                () = secrets_changed.notified() => {
                    settle().await;
                    let _ = futures_util::FutureExt::now_or_never(secrets_changed.notified());
                    tracing::info!("the secrets file changed; reconciling now");
                }
                Some(event) = drift.recv(), if converged => {
                    let gap = (ended + DRIFT_MIN_GAP).saturating_duration_since(Instant::now());
                    tokio::select! {
                        () = tokio::time::sleep(gap.max(DEBOUNCE)) => {}
                        _ = self.shutdown.changed() => continue,
                    }
                    let mut others = 0usize;
                    while drift.try_recv().is_ok() {
                        others += 1;
                    }
                    tracing::info!(
                        app = %event.app,
                        object = %event.object,
                        action = %event.action,
                        others,
                        "an owned object changed; checking for drift now"
                    );
                    self.reconciler.request_drift_check();
                }
            }
        }
        watch_task.abort();
        tracing::info!("stopped");
        ExitCode::SUCCESS
    }

    /// `run --once`: 0 when converged, 1 when not or when the cycle failed.
    async fn once(&mut self) -> ExitCode {
        let started = Instant::now();
        match self.reconciler.reconcile().await {
            Ok(report) => {
                log_cycle(&report, started.elapsed());
                if report.converged {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(EXIT_FAILURE)
                }
            }
            Err(error) => {
                let message = self.reconciler.redact(&error.to_string());
                tracing::error!("cycle failed: {message}");
                // A --path that names nothing is a usage error, not a
                // host that failed to converge.
                if matches!(error, CycleError::Source(SourceError::PathMissing { .. })) {
                    ExitCode::from(EXIT_SETUP)
                } else {
                    ExitCode::from(EXIT_FAILURE)
                }
            }
        }
    }

    /// Starts watching the config repo when it is a local path; without
    /// a watch the loop just polls.
    fn watch_commits(&self, wake: &Arc<Notify>) -> Option<watch::CommitWatcher> {
        let path = self.reconciler.source().local_path()?;
        match watch::watch_commits(&path, Arc::clone(wake)) {
            Ok(watcher) => {
                tracing::info!(git_dir = %watcher.git_dir.display(), "watching the config repo for new commits");
                Some(watcher)
            }
            Err(e) => {
                tracing::warn!("cannot watch the config repo ({e}); polling only");
                None
            }
        }
    }
}

async fn settle() {
    tokio::time::sleep(DEBOUNCE).await;
}

/// How overdue the loop may be before `/healthz` fails: a cycle may wait
/// the whole health timeout, and a fetch or an apply may take minutes.
fn grace(args: &RunArgs) -> Duration {
    args.health_timeout
        .saturating_add(args.interval.saturating_mul(5))
        .saturating_add(Duration::from_secs(60))
}

/// The cycle's one line.
fn log_cycle(report: &CycleReport, took: Duration) {
    let Next::Requeue(next) = report.next;
    let commit: String = report.source_commit.chars().take(12).collect();
    let c = &report.counts;
    let duration_ms = took.as_millis();
    let next_s = next.as_secs_f64();
    match &report.outcome {
        Outcome::Skipped => {
            tracing::info!(%commit, duration_ms, next_s, "cycle: up to date");
        }
        Outcome::Applied | Outcome::Unchanged if report.converged => {
            tracing::info!(
                %commit,
                created = c.created,
                updated = c.updated,
                deleted = c.deleted,
                unchanged = c.unchanged,
                drift_corrected = report.drift_corrected.len(),
                state_commit = report.state_commit.as_deref().unwrap_or("-"),
                duration_ms,
                next_s,
                "cycle: converged"
            );
        }
        Outcome::Applied | Outcome::Unchanged => {
            tracing::warn!(
                %commit,
                created = c.created,
                updated = c.updated,
                deleted = c.deleted,
                unchanged = c.unchanged,
                held = c.held,
                failed = c.failed,
                degraded = c.degraded,
                unattributed = report.unattributed.len(),
                drift_corrected = report.drift_corrected.len(),
                state_commit = report.state_commit.as_deref().unwrap_or("-"),
                duration_ms,
                next_s,
                "cycle: not converged"
            );
        }
        Outcome::Refused(why) => {
            tracing::error!(%commit, duration_ms, next_s, "cycle: plan {why}");
        }
    }
}
