//! The backend: what the reconciler drives (one Docker host through Compose,
//! or one Kubernetes cluster), as one trait both implement, and the
//! observed state a backend reports.
//!
//! This module owns the contract only. The Compose and Kubernetes
//! implementations live in their own modules and are built one after the
//! other; the trait was designed from both:
//!
//! - **Async.** The Kubernetes backend talks to the API server through
//!   `kube`, which is async, and the Compose one waits on child processes
//!   and the Docker Engine API. A sync trait would force each backend to
//!   carry its own runtime and block the daemon's, which must keep serving
//!   `/healthz` and react to SIGTERM while an apply or a health wait is in
//!   flight. The methods return `impl Future + Send` (not `async fn`), so
//!   that the daemon may spawn them on a multi-threaded runtime;
//!   implementations still write `async fn`.
//! - **Per component.** The plan applies databases before services and
//!   deletes last, across apps, so `apply` and `delete` take the component
//!   keys of one step (Compose: `up -d <services>`; Kubernetes: server-side
//!   apply of those objects, namespaces first).
//! - **Owned only.** `observe` reports only what carries the reconciler's
//!   ownership labels; removal never touches anything else, and keeps data
//!   volumes (Compose volumes, Kubernetes PersistentVolumeClaims, hence the
//!   app's Namespace too) unless the plan marks them
//!   [`VolumeAction::Delete`](crate::plan::VolumeAction::Delete) (`--prune-volumes`): the backend executes the
//!   plan's [`VolumePlan`]s and decides nothing about volumes itself.
//! - **Secrets by value, never in the desired app.** [`AppSecrets`] carries
//!   them separately; Compose writes them to the env file, Kubernetes to
//!   Secrets it creates once and never overwrites.

use crate::build::ImageBuild;
use crate::desired::{ComponentKind, DesiredApp, DesiredState};
use crate::plan::VolumePlan;
use crate::secrets::Secret;
use crate::secrets::env_file::Uncarriable;
use crate::state::InventoryApp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;

/// What a backend can do. Every method is about owned objects only.
pub trait Backend {
    /// The backend's name as on the command line: `compose` or `kubernetes`.
    fn name(&self) -> &'static str;

    /// Reads the live state of every owned app.
    fn observe(&self) -> impl Future<Output = Result<ObservedState, BackendError>> + Send;

    /// Creates or updates the given components of `app` (keys of
    /// [`DesiredApp::components`]) so that they match it.
    fn apply(
        &self,
        app: &DesiredApp,
        components: &[String],
        secrets: &AppSecrets,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Deletes the given owned components of an app that stays, and of
    /// `volumes` (the plan's, for volumes the app no longer uses) those
    /// marked [`VolumeAction::Delete`](crate::plan::VolumeAction::Delete).
    fn delete(
        &self,
        app: &str,
        components: &[String],
        volumes: &[VolumePlan],
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Removes every owned object of `app` (Compose: `down`). Of its data
    /// volumes, exactly those `volumes` marks [`VolumeAction::Delete`](crate::plan::VolumeAction::Delete) go.
    fn remove(
        &self,
        app: &str,
        volumes: &[VolumePlan],
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// The app's health right now; the caller polls it until healthy or
    /// its timeout.
    fn health(&self, app: &str) -> impl Future<Output = Result<Health, BackendError>> + Send;

    /// Whether this backend builds the images apps run from the config repo
    /// (Compose: on the Docker host). A cluster's does not: CI builds and
    /// pushes them with the tag `heliosc tag` prints.
    fn builds_images(&self) -> bool {
        false
    }

    /// Builds `build` from `context`, a tar archive of its build context
    /// made from git objects, unless an image of that name exists already.
    /// A failure carries the last lines of the build log.
    fn build_image(
        &self,
        build: &ImageBuild,
        context: Vec<u8>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        let _ = context;
        std::future::ready(Err(BackendError::Api(format!(
            "{}: this backend does not build images",
            build.image
        ))))
    }

    /// Looks closer for drift that `observe` cannot see, when a drift check
    /// is due: a field of a live component with the desired spec that
    /// was changed by hand (Kubernetes: a server-side dry-run apply of
    /// each such object). A drifted component gets an instance
    /// [`InstanceStatus::Edited`] in `observed`, which the planner turns
    /// into an update; what was found is also said in the app's
    /// [`take_notes`](Self::take_notes). The default finds nothing
    /// (Compose containers have no fields to edit in place).
    fn check_drift(
        &self,
        desired: &DesiredState,
        observed: &mut ObservedState,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        let _ = (desired, observed);
        std::future::ready(Ok(()))
    }

    /// The inventories the backend keeps itself (Kubernetes: a ConfigMap
    /// `helios-inventory-<app>` per app) that `source` wrote, as the last
    /// `observe` read them; `None` when the backend keeps none. A state
    /// directory that lost its inventory gets it back from here.
    fn stored_inventory(&self, source: &str) -> Option<BTreeMap<String, InventoryApp>> {
        let _ = source;
        None
    }

    /// Keeps the backend's copy of `app`'s inventory entry, written by
    /// `source` (`None`: the app owns nothing any more). Writes nothing
    /// when the copy already says so, so that a cycle that changes nothing
    /// writes nothing.
    fn store_inventory(
        &self,
        source: &str,
        app: &str,
        entry: Option<&InventoryApp>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        let _ = (source, app, entry);
        std::future::ready(Ok(()))
    }

    /// What happened to `app` during this cycle that its status should
    /// say although nothing failed (a hand edit taken back, a Namespace
    /// kept because it holds volume claims, another applier's conflict),
    /// drained.
    fn take_notes(&self, app: &str) -> Vec<String> {
        let _ = app;
        Vec::new()
    }

    /// Watches live state for changes to owned objects that may be drift
    /// (Compose: an owned container died, stopped, was destroyed or turned
    /// unhealthy) and calls `on_event` for each, so that the daemon runs a
    /// drift check at once instead of at the next `--drift-interval`.
    ///
    /// The future owns what it needs (it outlives no borrow of `self`),
    /// runs until dropped, and reconnects by itself when its source fails;
    /// it returns only if the backend cannot watch at all. The default
    /// watches nothing and returns at once: drift is then found by the
    /// periodic drift check alone. Events the reconciler's own applies
    /// cause are reported too: telling them apart is the caller's job.
    fn watch_drift<F>(&self, on_event: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: FnMut(DriftEvent) + Send + 'static,
    {
        drop(on_event);
        std::future::ready(())
    }
}

/// A change to an owned object that may be drift.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriftEvent {
    /// The app it belongs to.
    pub app: String,
    /// The object (a container's name).
    pub object: String,
    /// What happened (`die`, `destroy`, `health_status: unhealthy`, ...).
    pub action: String,
}

/// A failure of a backend operation.
#[derive(Debug)]
pub enum BackendError {
    /// The backend cannot be reached at all (no Docker daemon, no API
    /// server): nothing was observed or changed.
    Unavailable(String),
    /// A command the backend ran (e.g. `docker compose up`) exited with an
    /// error; its output is kept, secrets excluded.
    Command {
        /// The command line, without secret values.
        command: String,
        /// Its exit code, if it exited.
        code: Option<i32>,
        /// What it printed on standard error.
        stderr: String,
    },
    /// The backend's API answered with an error.
    Api(String),
    /// The backend refused to touch an object it does not own.
    NotOwned {
        /// The app the object belongs to, or `-` if it belongs to none.
        app: String,
        /// The object.
        object: String,
    },
    /// A secret the app needs has no value.
    MissingSecret {
        /// The app.
        app: String,
        /// The secret's name.
        secret: String,
    },
    /// A secret value cannot be written where the backend passes it (a
    /// newline in a Compose env file); nothing was applied.
    Uncarriable(Uncarriable),
    /// Local I/O failed (writing the compose file, the env file).
    Io(std::io::Error),
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(why) => write!(f, "backend unavailable: {why}"),
            Self::Command {
                command,
                code,
                stderr,
            } => {
                write!(f, "`{command}` failed")?;
                if let Some(code) = code {
                    write!(f, " with exit code {code}")?;
                }
                if !stderr.trim().is_empty() {
                    write!(f, ": {}", stderr.trim())?;
                }
                Ok(())
            }
            Self::Api(why) => write!(f, "backend API error: {why}"),
            Self::NotOwned { app, object } => {
                write!(f, "{object} is not owned by app `{app}`; left alone")
            }
            Self::MissingSecret { app, secret } => {
                write!(f, "app `{app}` needs secret `{secret}`, which has no value")
            }
            Self::Uncarriable(error) => write!(f, "{error}"),
            Self::Io(error) => write!(f, "I/O error: {error}"),
        }
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(error) => Some(error),
            _ => None,
        }
    }
}

impl From<std::io::Error> for BackendError {
    fn from(error: std::io::Error) -> Self {
        Self::Io(error)
    }
}

/// The secret values one app gets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppSecrets {
    /// Generated password per database name (created once, never changed).
    pub database_passwords: BTreeMap<String, Secret>,
    /// User secrets by name (from `--secrets-file`).
    pub user: BTreeMap<String, Secret>,
}

/// Live state of every owned app.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedState {
    /// Owned apps by name.
    pub apps: BTreeMap<String, ObservedApp>,
}

/// Live state of one owned app.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedApp {
    /// Components by key (as in [`DesiredApp::components`]).
    pub components: BTreeMap<String, ObservedComponent>,
    /// Owned data volumes (Compose volumes without the project prefix;
    /// Kubernetes PersistentVolumeClaims).
    pub volumes: BTreeSet<String>,
    /// The Heliosfile this app was last applied from, from the
    /// reconciler's inventory (a backend's labels do not carry it). Lets
    /// the planner hold an app whose file no longer even parses.
    pub source_path: Option<String>,
    /// Per component, the keyed digest of each secret value it was last
    /// applied with, from the reconciler's record of what it applied: lets
    /// the plan say which secret changed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub applied_secrets: BTreeMap<String, BTreeMap<String, String>>,
    /// Per component, the compiled YAML it was last applied from (the
    /// same record): lets the plan show the fields an update changes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub applied_specs: BTreeMap<String, String>,
}

/// Live state of one component.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedComponent {
    /// What it is (from the `dev.helios.component` label).
    pub kind: ComponentKind,
    /// Its instances: Compose containers, Kubernetes pods (or the object
    /// itself, for objects without pods).
    pub instances: Vec<Instance>,
}

/// One running (or not) instance of a component.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// The spec hash it was created from, if it carries one.
    pub spec_hash: Option<String>,
    /// The keyed digest of the secret values it was created with, if it
    /// carries one (Compose: the `dev.helios.secrets-digest` label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets_digest: Option<String>,
    /// Its state.
    pub status: InstanceStatus,
}

/// The state of an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceStatus {
    /// Running, with no health check.
    Running,
    /// Running and its health check passes.
    Healthy,
    /// Running, health check not yet decided: not drift, it is on its way.
    Starting,
    /// Running and its health check fails.
    Unhealthy,
    /// Stopped or crashed.
    Exited,
    /// Expected (a replica) but absent.
    Missing,
    /// Its object was changed by hand since Helios applied it (Kubernetes:
    /// `kubectl edit`, `scale` or `patch` of a field Helios applies).
    Edited,
    /// Another applier owns fields Helios applies (Kubernetes: a
    /// server-side apply manager other than `helios`): applying fails with
    /// a conflict unless `--force-conflicts`.
    Conflict,
}

/// An app's health, as the backend sees it now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The overall state.
    pub state: HealthState,
    /// One line per component that is not healthy, for the status record.
    pub details: Vec<String>,
}

/// The overall health of an app.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    /// Every instance runs and passes its health check.
    Healthy,
    /// Still rolling out or starting: wait.
    Progressing,
    /// Some instance fails and will not get better by waiting.
    Unhealthy,
    /// The rollout itself failed (Kubernetes: `ProgressDeadlineExceeded`):
    /// the new version will not come up without a change.
    Failed,
}

#[cfg(test)]
mod tests {
    //! A whole plan → apply → observe sequence against an in-memory
    //! backend, to check that applying a plan's steps converges: the next
    //! plan changes nothing.

    use super::*;
    use crate::backends::fake::FakeBackend;
    use crate::desired::{DesiredOptions, DesiredState, desired_state};
    use crate::plan::{Phase, PlanOptions, plan};
    use std::task::{Context, Poll, Waker};

    /// Runs a future that never waits (the in-memory backend's).
    fn ready<T>(future: impl Future<Output = T>) -> T {
        let mut future = std::pin::pin!(future);
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(value) => value,
            Poll::Pending => unreachable!("in-memory operations complete at once"),
        }
    }

    fn run_cycle(backend: &FakeBackend, desired: &DesiredState, options: &PlanOptions) {
        let observed = ready(backend.observe()).expect("observed");
        let plan = plan(desired, &observed, options);
        for step in &plan.steps {
            let result = match step.phase {
                Phase::ApplyNamespaces | Phase::ApplyDatabases | Phase::ApplyServices => {
                    ready(backend.apply(
                        &desired.apps[&step.app],
                        &step.components,
                        &AppSecrets::default(),
                    ))
                }
                Phase::DeleteComponents => {
                    ready(backend.delete(&step.app, &step.components, &step.volumes))
                }
                Phase::RemoveApp => ready(backend.remove(&step.app, &step.volumes)),
                Phase::BuildImage => Ok(()),
            };
            result.expect("applied");
        }
    }

    fn compile(files: &[(&str, &str)]) -> DesiredState {
        let files: Vec<(String, String)> = files
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect();
        desired_state(&files, &DesiredOptions::default())
    }

    #[test]
    fn applying_a_plan_converges() {
        let shop = "name: shop\nversion: 1\nservices:\n  web: { image: nginx:1.27 }\n  worker: { image: busybox:1 }\ndatabases:\n  db: { type: redis }\n";
        let blog = "name: blog\nversion: 1\nservices:\n  web: { image: ghost:5 }\n";
        let wiki = "name: wiki\nversion: 1\nservices:\n  web: { image: wiki:1 }\n";
        let backend = FakeBackend::default();
        let options = PlanOptions::default();
        let converged = |desired: &DesiredState| {
            let observed = ready(backend.observe()).expect("observed");
            let next = plan(desired, &observed, &options);
            assert!(!next.has_changes(), "{}", next.to_text());
        };

        let first = compile(&[
            ("shop/Heliosfile", shop),
            ("blog/Heliosfile", blog),
            ("wiki/Heliosfile", wiki),
        ]);
        run_cycle(&backend, &first, &options);
        converged(&first);

        // A changed service, a removed one, and a removed app.
        let changed = shop
            .replace("nginx:1.27", "nginx:1.28")
            .replace("  worker: { image: busybox:1 }\n", "");
        let second = compile(&[("shop/Heliosfile", &changed), ("wiki/Heliosfile", wiki)]);
        run_cycle(&backend, &second, &options);
        converged(&second);
        let live = ready(backend.observe()).expect("observed");
        assert!(!live.apps["shop"].components.contains_key("worker"));
        assert!(
            live.apps
                .get("blog")
                .is_none_or(|b| b.components.is_empty())
        );
    }
}
