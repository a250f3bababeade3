//! The one in-memory backend that tests and benchmarks drive the reconciler
//! with: live state held in a [`ObservedState`], every operation completing
//! at once, and the failures a test needs (a refused apply, an unhealthy
//! app, an error message echoing secret values, a SIGTERM mid-apply) as
//! switches. Like a cluster, it keeps a copy of each app's inventory. It
//! is not a product backend: nothing runs.

use crate::backend::{
    AppSecrets, Backend, BackendError, Health, HealthState, Instance, InstanceStatus,
    ObservedComponent, ObservedState,
};
use crate::desired::DesiredApp;
use crate::plan::{VolumeAction, VolumePlan};
use crate::state::InventoryApp;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Live state in memory. Apps named in `failing` fail to apply, apps in
/// `unhealthy` fail their health check.
#[derive(Default)]
pub struct FakeBackend {
    live: Mutex<ObservedState>,
    operations: Mutex<Vec<String>>,
    secrets: Mutex<BTreeMap<String, AppSecrets>>,
    stop_on_apply: Mutex<Option<Arc<AtomicBool>>>,
    /// The backend's copy of inventories, by app: who wrote it, and what.
    stored: Mutex<BTreeMap<String, (String, InventoryApp)>>,
    failing: BTreeSet<String>,
    unhealthy: BTreeSet<String>,
    leak_on_apply: bool,
}

impl FakeBackend {
    /// Refuses every apply of `app`.
    pub fn failing(mut self, app: &str) -> Self {
        self.failing.insert(app.to_string());
        self
    }

    /// Reports `app` unhealthy.
    pub fn unhealthy(mut self, app: &str) -> Self {
        self.unhealthy.insert(app.to_string());
        self
    }

    /// Fails every apply with an error that prints the app's secret
    /// values, as a tool echoing its env file would.
    pub fn leaking_secrets_on_apply(mut self) -> Self {
        self.leak_on_apply = true;
        self
    }

    /// A copy of the live state.
    pub fn live(&self) -> ObservedState {
        lock(&self.live).clone()
    }

    /// The operations run so far, one line each (`apply shop db`,
    /// `delete shop worker`, `remove blog`).
    pub fn operations(&self) -> Vec<String> {
        lock(&self.operations).clone()
    }

    /// Forgets the operations run so far.
    pub fn clear_operations(&self) {
        lock(&self.operations).clear();
    }

    /// Changes the live state in place (a test simulating drift).
    pub fn edit_live(&self, edit: impl FnOnce(&mut ObservedState)) {
        edit(&mut lock(&self.live));
    }

    /// The secrets `app` was last applied with.
    pub fn secrets_of(&self, app: &str) -> Option<AppSecrets> {
        lock(&self.secrets).get(app).cloned()
    }

    /// Sets `stop` during the next apply: a SIGTERM arriving mid-step.
    pub fn stop_on_next_apply(&self, stop: Arc<AtomicBool>) {
        *lock(&self.stop_on_apply) = Some(stop);
    }

    /// Forgets the backend's copies of inventories (a deleted ConfigMap).
    pub fn lose_stored_inventory(&self) {
        lock(&self.stored).clear();
    }

    fn log(&self, operation: String) {
        lock(&self.operations).push(operation);
    }
}

/// A poisoned lock only follows a panic in another test thread, which has
/// failed that test already.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Backend for FakeBackend {
    fn name(&self) -> &'static str {
        "fake"
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
        lock(&self.secrets).insert(app.name.clone(), secrets.clone());
        if self.leak_on_apply {
            let values: Vec<&str> = secrets
                .user
                .values()
                .chain(secrets.database_passwords.values())
                .map(|s| s.expose())
                .collect();
            return Err(BackendError::Command {
                command: "docker-compose up".to_string(),
                code: Some(1),
                stderr: format!("ERROR: bad values: {}", values.join(" | ")),
            });
        }
        if let Some(stop) = lock(&self.stop_on_apply).take() {
            stop.store(true, Ordering::Relaxed);
        }
        if self.failing.contains(&app.name) {
            return Err(BackendError::Api("refused by the test".to_string()));
        }
        let mut live = lock(&self.live);
        let observed = live.apps.entry(app.name.clone()).or_default();
        for key in components {
            let Some(wanted) = app.components.get(key) else {
                return Err(BackendError::Api(format!("no component {key}")));
            };
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
        volumes: &[VolumePlan],
    ) -> Result<(), BackendError> {
        self.log(format!("delete {app} {}", components.join(",")));
        let mut live = lock(&self.live);
        if let Some(observed) = live.apps.get_mut(app) {
            for key in components {
                observed.components.remove(key);
            }
            for volume in volumes.iter().filter(|v| v.action == VolumeAction::Delete) {
                observed.volumes.remove(&volume.name);
            }
        }
        Ok(())
    }

    async fn remove(&self, app: &str, volumes: &[VolumePlan]) -> Result<(), BackendError> {
        self.log(format!("remove {app}"));
        let mut live = lock(&self.live);
        if let Some(observed) = live.apps.get_mut(app) {
            observed.components.clear();
            for volume in volumes.iter().filter(|v| v.action == VolumeAction::Delete) {
                observed.volumes.remove(&volume.name);
            }
            if observed.volumes.is_empty() {
                live.apps.remove(app);
            }
        }
        Ok(())
    }

    fn stored_inventory(&self, source: &str) -> Option<BTreeMap<String, InventoryApp>> {
        Some(
            lock(&self.stored)
                .iter()
                .filter(|(_, (by, _))| by == source)
                .map(|(app, (_, entry))| (app.clone(), entry.clone()))
                .collect(),
        )
    }

    async fn store_inventory(
        &self,
        source: &str,
        app: &str,
        entry: Option<&InventoryApp>,
    ) -> Result<(), BackendError> {
        let mut stored = lock(&self.stored);
        let current = stored.get(app).map(|(_, e)| e);
        if current == entry {
            return Ok(());
        }
        self.log(format!("store inventory {app}"));
        match entry {
            Some(entry) => stored.insert(app.to_string(), (source.to_string(), entry.clone())),
            None => stored.remove(app),
        };
        Ok(())
    }

    async fn health(&self, app: &str) -> Result<Health, BackendError> {
        let live = lock(&self.live);
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
