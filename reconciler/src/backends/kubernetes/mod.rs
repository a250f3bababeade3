//! The Kubernetes backend: one cluster, through the `kube` client.
//!
//! - **Apply** ([`apply`]): server-side apply of each desired object with
//!   field manager `helios`, in dependency order ([`objects`]); the Secrets
//!   it owns first ([`credentials`]). Another applier's field is a conflict
//!   reported per object, taken over only with `--force-conflicts`; a hand
//!   edit (an Update manager) is drift, taken back with force.
//! - **Observe** ([`observe`]): one list per kind of every object carrying
//!   `dev.helios.app` (no get per object), its spec hash read from the
//!   `dev.helios.spec-hash` annotation, so an unchanged commit needs no
//!   write; PersistentVolumeClaims by the same label are the app's volumes;
//!   the inventory ConfigMaps ([`inventory`]) come in the same pass.
//! - **Prune** ([`prune`]): deletes only objects it observed with the app's ownership
//!   label, with background propagation; claims only when the plan says
//!   so; a removed app's Namespace only when it holds nothing else.
//! - **Health** ([`health`]): rollout status of Deployments and
//!   StatefulSets, with the pods' reasons.
//! - **Drift** ([`drift`]): a server-side dry-run apply of the desired
//!   objects compared with the live ones.
//! - **Watch**: owned Deployments and StatefulSets, by label; a changed
//!   generation or a deletion wakes a drift check.

pub mod api;
pub mod credentials;
pub mod drift;
pub mod health;
pub mod inventory;
pub mod objects;
mod observe;
mod prune;
#[cfg(test)]
mod tests;

use crate::backend::{AppSecrets, Backend, BackendError, DriftEvent, Health, ObservedState};
use crate::desired::{ComponentKind, DesiredApp, DesiredState};
use crate::plan::VolumePlan;
use crate::state::InventoryApp;
use api::ApiFailure;
use heliosc::lower::Body;
use inventory::StoredInventory;
use objects::{KindInfo, POD, owned_object};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// How many drift dry runs are in flight at once.
const DRIFT_CHECKS_AT_ONCE: usize = 8;

/// How the backend connects and applies.
#[derive(Clone, Debug, Default)]
pub struct KubernetesOptions {
    /// A kubeconfig file (`--kubeconfig`); else `KUBECONFIG`,
    /// `~/.kube/config`, then the in-cluster service account.
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (`--context`); else its current context.
    pub context: Option<String>,
    /// Take over fields another applier owns (`--force-conflicts`).
    pub force_conflicts: bool,
}

/// What the last observe saw of one app.
#[derive(Clone, Debug, Default)]
struct LiveApp {
    /// Owned objects by component key.
    objects: BTreeMap<String, Value>,
    /// Owned volume claims: name → namespace.
    claims: BTreeMap<String, String>,
}

/// The backend. Cheap to clone (the client and the caches are shared).
#[derive(Clone)]
pub struct KubernetesBackend {
    client: kube::Client,
    options: KubernetesOptions,
    live: Arc<Mutex<BTreeMap<String, LiveApp>>>,
    stored: Arc<Mutex<Option<BTreeMap<String, StoredInventory>>>>,
    notes: Arc<Mutex<BTreeMap<String, Vec<String>>>>,
}

impl std::fmt::Debug for KubernetesBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesBackend")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl KubernetesBackend {
    /// A backend on an existing client (tests give kube's mock service).
    pub fn new(client: kube::Client, options: KubernetesOptions) -> Self {
        Self {
            client,
            options,
            live: Arc::default(),
            stored: Arc::default(),
            notes: Arc::default(),
        }
    }

    /// Connects with the kubeconfig from the usual places: `--kubeconfig`,
    /// else `KUBECONFIG`, `~/.kube/config`, then the in-cluster service
    /// account; `--context` picks the context.
    pub async fn connect(options: KubernetesOptions) -> Result<Self, BackendError> {
        use kube::config::{KubeConfigOptions, Kubeconfig};
        let context = KubeConfigOptions {
            context: options.context.clone(),
            ..KubeConfigOptions::default()
        };
        let unavailable = |e: &dyn std::fmt::Display| {
            BackendError::Unavailable(format!("no cluster configuration: {e}"))
        };
        let config = match (&options.kubeconfig, &options.context) {
            (Some(path), _) => {
                let file = Kubeconfig::read_from(path).map_err(|e| {
                    BackendError::Unavailable(format!("kubeconfig {}: {e}", path.display()))
                })?;
                kube::Config::from_custom_kubeconfig(file, &context)
                    .await
                    .map_err(|e| unavailable(&e))?
            }
            // A context names a kubeconfig entry: no in-cluster fallback.
            (None, Some(_)) => kube::Config::from_kubeconfig(&context)
                .await
                .map_err(|e| unavailable(&e))?,
            // `KUBECONFIG`, `~/.kube/config`, then the service account.
            (None, None) => kube::Config::infer().await.map_err(|e| unavailable(&e))?,
        };
        let client = kube::Client::try_from(config)
            .map_err(|e| BackendError::Unavailable(format!("Kubernetes client: {e}")))?;
        Ok(Self::new(client, options))
    }

    fn note(&self, app: &str, note: String) {
        if let Ok(mut notes) = self.notes.lock() {
            notes.entry(app.to_string()).or_default().push(note);
        }
    }

    fn live_object(&self, app: &str, key: &str) -> Option<Value> {
        self.live
            .lock()
            .ok()
            .and_then(|live| live.get(app).and_then(|a| a.objects.get(key).cloned()))
    }

    /// Applies one object; a hand edit is taken back with force, another
    /// applier's field only with `--force-conflicts`.
    async fn apply_object(&self, info: &KindInfo, object: &Value) -> Result<(), ApiFailure> {
        let force = self.options.force_conflicts;
        match api::apply(&self.client, info, object, force, false).await {
            Ok(_) => Ok(()),
            Err(ApiFailure::Conflict(conflicts)) if conflicts.iter().all(|c| c.by_update) => {
                let fields: Vec<&str> = conflicts
                    .iter()
                    .flat_map(|c| c.fields.iter().map(String::as_str))
                    .collect();
                tracing::info!(
                    object = %object_name(object),
                    fields = %fields.join(", "),
                    "taking back fields edited by hand"
                );
                api::apply(&self.client, info, object, true, false)
                    .await
                    .map(drop)
            }
            Err(e) => Err(e),
        }
    }

    async fn ensure_secrets(
        &self,
        app: &DesiredApp,
        namespace: &str,
        databases: &BTreeSet<String>,
        with_user_secrets: bool,
        secrets: &AppSecrets,
    ) -> Vec<String> {
        let mut errors = Vec::new();
        for database in databases {
            if let Err(e) =
                credentials::ensure_credentials(&self.client, namespace, &app.name, database).await
            {
                errors.push(e);
            }
        }
        if with_user_secrets && !app.user_secrets.is_empty() {
            let values: BTreeMap<String, crate::secrets::Secret> = app
                .user_secrets
                .iter()
                .filter_map(|name| secrets.user.get(name).map(|v| (name.clone(), v.clone())))
                .collect();
            if let Err(e) =
                credentials::apply_app_secrets(&self.client, namespace, &app.name, &values, true)
                    .await
            {
                errors.push(e);
            }
        }
        errors
    }
}

fn object_name(object: &Value) -> String {
    format!(
        "{}/{}{}",
        object["kind"].as_str().unwrap_or_default(),
        object["metadata"]["namespace"]
            .as_str()
            .map(|n| format!("{n}/"))
            .unwrap_or_default(),
        object["metadata"]["name"].as_str().unwrap_or_default()
    )
}

fn api_error(what: &str, error: &ApiFailure) -> BackendError {
    match error {
        ApiFailure::Unavailable(message) => BackendError::Unavailable(format!("{what}: {message}")),
        other => BackendError::Api(format!("{what}: {other}")),
    }
}

/// The desired object of `key`, with the ownership marks.
fn desired_object(app: &DesiredApp, key: &str) -> Option<(&'static KindInfo, Value)> {
    let component = app.lowered.components.iter().find(|c| c.key == key)?;
    let Body::Kubernetes(object) = &component.body else {
        return None;
    };
    let info = KindInfo::of(&object.kind)?;
    let digest = app
        .components
        .get(key)
        .and_then(|c| c.secrets_digest.as_deref());
    Some((
        info,
        owned_object(
            &object.object,
            &app.name,
            component.kind.as_str(),
            &component.spec_hash,
            digest,
        ),
    ))
}

impl Backend for KubernetesBackend {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    async fn observe(&self) -> Result<ObservedState, BackendError> {
        self.observe_all().await
    }

    async fn apply(
        &self,
        app: &DesiredApp,
        components: &[String],
        secrets: &AppSecrets,
    ) -> Result<(), BackendError> {
        let mut wanted: Vec<(&String, &'static KindInfo, Value)> = Vec::new();
        let mut errors = Vec::new();
        for key in components {
            match desired_object(app, key) {
                Some((info, object)) => wanted.push((key, info, object)),
                None => errors.push(format!("{key}: not a Kubernetes object of the app")),
            }
        }
        wanted.sort_by_key(|(key, info, _)| (KindInfo::order(info.kind), key.to_string()));

        // The Secrets the manifests read go in right after the Namespace:
        // each database's credentials with its StatefulSet's step, the
        // user secrets with the first workload that reads them.
        let databases: BTreeSet<String> = app
            .lowered
            .components
            .iter()
            .filter(|c| {
                c.kind == ComponentKind::Database
                    && components.contains(&c.key)
                    && c.key.starts_with("StatefulSet/")
            })
            .map(|c| c.owner.clone())
            .collect();
        let with_user_secrets = wanted.iter().any(|(_, info, _)| info.kind == "Deployment");
        let mut secrets_done = databases.is_empty() && !with_user_secrets;

        for (key, info, object) in &wanted {
            if !secrets_done && info.kind != "Namespace" {
                secrets_done = true;
                if let Some(namespace) = object["metadata"]["namespace"].as_str() {
                    errors.extend(
                        self.ensure_secrets(app, namespace, &databases, with_user_secrets, secrets)
                            .await,
                    );
                }
            }
            if let Err(e) = self.apply_object(info, object).await {
                let message = match &e {
                    ApiFailure::Conflict(conflicts) => {
                        let theirs: Vec<String> = conflicts
                            .iter()
                            .filter(|c| !c.by_update)
                            .map(|c| {
                                format!(
                                    "{} managed by `{}` (another applier)",
                                    c.fields.join(", "),
                                    c.manager
                                )
                            })
                            .collect();
                        format!(
                            "{key}: conflict: {}; `--force-conflicts` takes them over",
                            theirs.join("; ")
                        )
                    }
                    other => format!("{key}: {other}"),
                };
                if matches!(e, ApiFailure::Unavailable(_)) {
                    return Err(BackendError::Unavailable(message));
                }
                errors.push(message);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(BackendError::Api(errors.join("\n")))
        }
    }

    async fn delete(
        &self,
        app: &str,
        components: &[String],
        volumes: &[VolumePlan],
    ) -> Result<(), BackendError> {
        let mut errors = self.delete_keys(app, components).await;
        errors.extend(self.delete_claims(app, volumes).await);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(BackendError::Api(errors.join("\n")))
        }
    }

    async fn remove(&self, app: &str, volumes: &[VolumePlan]) -> Result<(), BackendError> {
        self.remove_app(app, volumes).await
    }

    async fn health(&self, app: &str) -> Result<Health, BackendError> {
        let selector = objects::app_selector(app);
        let mut workloads = Vec::new();
        for kind in ["Deployment", "StatefulSet"] {
            let Some(info) = KindInfo::of(kind) else {
                continue;
            };
            for item in api::list(&self.client, info, None, Some(&selector))
                .await
                .map_err(|e| api_error("health", &e))?
            {
                let mut value = serde_json::to_value(&item).unwrap_or(Value::Null);
                value["kind"] = Value::String(kind.to_string());
                workloads.push(value);
            }
        }
        let mut health = health::app_health(&workloads, &[]);
        if health.state != crate::backend::HealthState::Healthy {
            let pods: Vec<Value> = api::list(&self.client, &POD, None, Some(&selector))
                .await
                .map_err(|e| api_error("health", &e))?
                .iter()
                .map(|p| serde_json::to_value(p).unwrap_or(Value::Null))
                .collect();
            health = health::app_health(&workloads, &pods);
        }
        Ok(health)
    }

    async fn check_drift(
        &self,
        desired: &DesiredState,
        observed: &mut ObservedState,
    ) -> Result<(), BackendError> {
        self.check_drift_of(desired, observed).await
    }

    fn stored_inventory(&self, source: &str) -> Option<BTreeMap<String, InventoryApp>> {
        let stored = self.stored.lock().ok()?.clone()?;
        Some(
            stored
                .into_iter()
                .filter(|(_, inventory)| inventory.source == source)
                .map(|(app, inventory)| (app, inventory.entry()))
                .collect(),
        )
    }

    async fn store_inventory(
        &self,
        source: &str,
        app: &str,
        entry: Option<&InventoryApp>,
    ) -> Result<(), BackendError> {
        let wanted = entry.map(|e| StoredInventory::of(source, e));
        let current = self
            .stored
            .lock()
            .ok()
            .and_then(|s| s.as_ref().and_then(|s| s.get(app).cloned()));
        if wanted == current {
            return Ok(());
        }
        let info = inventory::configmap_kind();
        match (&wanted, &current) {
            (Some(wanted), _) => {
                // An app removed with its claims kept owns no object: its
                // copy stays where it was, in the kept Namespace.
                let Some(namespace) = wanted
                    .namespace()
                    .or_else(|| current.as_ref().and_then(StoredInventory::namespace))
                else {
                    return Ok(());
                };
                let configmap = wanted.to_configmap(app, namespace);
                // Forced: the ConfigMap is Helios's alone, and a hand edit
                // of it must not stop the inventory from being kept.
                api::apply(&self.client, info, &configmap, true, false)
                    .await
                    .map_err(|e| {
                        api_error(
                            &format!("ConfigMap {namespace}/{}", inventory::configmap_name(app)),
                            &e,
                        )
                    })?;
            }
            (None, Some(current)) => {
                if let Some(namespace) = current.namespace() {
                    api::delete(
                        &self.client,
                        info,
                        Some(namespace),
                        &inventory::configmap_name(app),
                    )
                    .await
                    .map_err(|e| api_error("inventory ConfigMap", &e))?;
                }
            }
            (None, None) => {}
        }
        if let Ok(mut stored) = self.stored.lock() {
            let stored = stored.get_or_insert_with(BTreeMap::new);
            match wanted {
                Some(wanted) => stored.insert(app.to_string(), wanted),
                None => stored.remove(app),
            };
        }
        Ok(())
    }

    fn take_notes(&self, app: &str) -> Vec<String> {
        self.notes
            .lock()
            .ok()
            .and_then(|mut notes| notes.remove(app))
            .unwrap_or_default()
    }

    fn watch_drift<F>(&self, on_event: F) -> impl std::future::Future<Output = ()> + Send + 'static
    where
        F: FnMut(DriftEvent) + Send + 'static,
    {
        drift::watch(self.client.clone(), on_event)
    }
}
