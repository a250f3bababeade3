//! Observing a cluster: one list per kind of every object carrying
//! `dev.helios.app` (no get per object), spec hashes and secrets digests
//! read from their annotations, workloads' rollouts from their status;
//! PersistentVolumeClaims by the same label
//! are the apps' volumes; the inventory ConfigMaps come in the same pass.
//! What was seen is cached for the prune and the drift check that follow.

use super::inventory::{self, StoredInventory};
use super::objects::{self, ObjectRef, PERSISTENT_VOLUME_CLAIM};
use super::{KubernetesBackend, LiveApp, api, api_error, health};
use crate::backend::{
    BackendError, HealthState, Instance, InstanceStatus, ObservedComponent, ObservedState,
};
use crate::desired::ComponentKind;
use heliosc::lower::labels;
use serde_json::Value;
use std::collections::BTreeMap;

impl KubernetesBackend {
    /// Reads the live state of every owned app.
    pub(super) async fn observe_all(&self) -> Result<ObservedState, BackendError> {
        let selector = objects::owned_selector();
        let mut lists = Vec::new();
        for info in objects::component_kinds() {
            lists.push(api::list(&self.client, info, None, Some(&selector)));
        }
        let lists = futures_util::future::try_join_all(lists)
            .await
            .map_err(|e| api_error("listing owned objects", &e))?;
        let claims = api::list(
            &self.client,
            &PERSISTENT_VOLUME_CLAIM,
            None,
            Some(&selector),
        )
        .await
        .map_err(|e| api_error("listing volume claims", &e))?;
        let configmaps = api::list(
            &self.client,
            inventory::configmap_kind(),
            None,
            Some(inventory::INVENTORY_LABEL),
        )
        .await
        .map_err(|e| api_error("listing inventories", &e))?;

        let mut state = ObservedState::default();
        let mut live: BTreeMap<String, LiveApp> = BTreeMap::new();
        for (info, items) in objects::component_kinds().zip(lists) {
            for item in items {
                let mut value = serde_json::to_value(&item).unwrap_or(Value::Null);
                value["apiVersion"] = Value::String(if info.group.is_empty() {
                    info.version.to_string()
                } else {
                    format!("{}/{}", info.group, info.version)
                });
                value["kind"] = Value::String(info.kind.to_string());
                let Some(app) = value["metadata"]["labels"][labels::APP].as_str() else {
                    continue;
                };
                let app = app.to_string();
                let reference = ObjectRef {
                    group: info.group.to_string(),
                    version: info.version.to_string(),
                    kind: info.kind.to_string(),
                    namespace: item.metadata.namespace.clone().filter(|_| info.namespaced),
                    name: item.metadata.name.clone().unwrap_or_default(),
                };
                let key = reference.key();
                let annotation = |name: &str| {
                    value["metadata"]["annotations"][name]
                        .as_str()
                        .map(str::to_string)
                };
                let component = ObservedComponent {
                    kind: component_kind(&value),
                    instances: vec![Instance {
                        spec_hash: annotation(labels::SPEC_HASH),
                        secrets_digest: annotation(labels::SECRETS_DIGEST),
                        status: instance_status(&value),
                    }],
                };
                state
                    .apps
                    .entry(app.clone())
                    .or_default()
                    .components
                    .insert(key.clone(), component);
                live.entry(app).or_default().objects.insert(key, value);
            }
        }
        for claim in claims {
            let labels_of = claim.metadata.labels.clone().unwrap_or_default();
            let (Some(app), Some(name), Some(namespace)) = (
                labels_of.get(labels::APP),
                claim.metadata.name.clone(),
                claim.metadata.namespace.clone(),
            ) else {
                continue;
            };
            state
                .apps
                .entry(app.clone())
                .or_default()
                .volumes
                .insert(name.clone());
            live.entry(app.clone())
                .or_default()
                .claims
                .insert(name, namespace);
        }
        let mut stored = BTreeMap::new();
        for configmap in configmaps {
            let value = serde_json::to_value(&configmap).unwrap_or(Value::Null);
            if let Some((app, inventory)) = StoredInventory::from_configmap(&value) {
                if let Some(observed) = state.apps.get_mut(&app) {
                    observed.source_path = Some(inventory.source_path.clone());
                }
                stored.insert(app, inventory);
            }
        }
        // A removed app's Namespace kept for its volume claims is what a
        // removal leaves, not a component: reporting it would plan the
        // app's removal again on every commit. It stays in the cache, so
        // that a removal with `--prune-volumes` still deletes it.
        for observed in state.apps.values_mut() {
            if observed
                .components
                .values()
                .all(|c| c.kind == ComponentKind::Namespace)
                && !observed.volumes.is_empty()
            {
                observed.components.clear();
            }
        }
        if let Ok(mut cache) = self.live.lock() {
            *cache = live;
        }
        if let Ok(mut cache) = self.stored.lock() {
            *cache = Some(stored);
        }
        Ok(state)
    }
}

/// What an observed object says of itself: a workload its rollout (one
/// past its progress deadline is unhealthy: drift, so that the app is
/// looked at again and its status says why; one still rolling out is
/// starting, which is not drift); any other object runs once it exists.
fn instance_status(object: &Value) -> InstanceStatus {
    if object["metadata"]["deletionTimestamp"].is_string() {
        return InstanceStatus::Exited;
    }
    if !matches!(object["kind"].as_str(), Some("Deployment" | "StatefulSet")) {
        return InstanceStatus::Running;
    }
    match health::rollout(object).0 {
        HealthState::Healthy => InstanceStatus::Healthy,
        HealthState::Progressing => InstanceStatus::Starting,
        HealthState::Unhealthy | HealthState::Failed => InstanceStatus::Unhealthy,
    }
}

/// The component kind an observed object's label gives.
fn component_kind(object: &Value) -> ComponentKind {
    match object["metadata"]["labels"][labels::COMPONENT].as_str() {
        Some("namespace") => ComponentKind::Namespace,
        Some(labels::COMPONENT_DATABASE) => ComponentKind::Database,
        _ if object["kind"] == "Namespace" => ComponentKind::Namespace,
        _ => ComponentKind::Service,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(status: Value) -> Value {
        json!({
            "kind": "Deployment",
            "metadata": {"name": "web", "generation": 2},
            "spec": {"replicas": 2},
            "status": status,
        })
    }

    #[test]
    fn a_workload_reports_its_rollout_and_other_objects_their_existence() {
        let rolled_out = deployment(json!({
            "observedGeneration": 2, "replicas": 2, "updatedReplicas": 2,
            "readyReplicas": 2, "availableReplicas": 2,
        }));
        assert_eq!(instance_status(&rolled_out), InstanceStatus::Healthy);
        let rolling = deployment(json!({"observedGeneration": 1}));
        assert_eq!(instance_status(&rolling), InstanceStatus::Starting);
        let stuck = deployment(json!({
            "observedGeneration": 2,
            "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}],
        }));
        assert_eq!(instance_status(&stuck), InstanceStatus::Unhealthy);
        let service = json!({"kind": "Service", "metadata": {"name": "web"}});
        assert_eq!(instance_status(&service), InstanceStatus::Running);
        let going = json!({"kind": "Service", "metadata": {"name": "web", "deletionTimestamp": "2026-12-02T00:00:00Z"}});
        assert_eq!(instance_status(&going), InstanceStatus::Exited);
    }
}
