//! Pruning on a cluster: deleting the objects, volume claims and
//! Namespaces of an app, only those observed carrying its ownership
//! label, with background propagation; a removed app's Namespace only
//! when nothing but Helios's objects is left in it (or only volume claims
//! with `--prune-volumes`).

use super::api::{self, ApiFailure};
use super::inventory;
use super::objects::{KindInfo, ObjectRef, PERSISTENT_VOLUME_CLAIM};
use super::{KubernetesBackend, api_error};
use crate::backend::BackendError;
use crate::plan::{VolumeAction, VolumePlan};
use heliosc::lower::labels;

impl KubernetesBackend {
    /// Removes every owned object of `app`; see the module doc.
    pub(super) async fn remove_app(
        &self,
        app: &str,
        volumes: &[VolumePlan],
    ) -> Result<(), BackendError> {
        let keys: Vec<String> = self
            .live
            .lock()
            .ok()
            .and_then(|l| l.get(app).map(|a| a.objects.keys().cloned().collect()))
            .unwrap_or_default();
        let (namespaces, others): (Vec<String>, Vec<String>) =
            keys.into_iter().partition(|k| k.starts_with("Namespace/"));
        let mut errors = self.delete_keys(app, &others).await;
        errors.extend(self.delete_claims(app, volumes).await);
        if !errors.is_empty() {
            return Err(BackendError::Api(errors.join("\n")));
        }
        let prune_volumes = volumes.iter().all(|v| v.action == VolumeAction::Delete);
        for key in namespaces {
            let namespace = key.trim_start_matches("Namespace/");
            let foreign = self
                .foreign_contents(app, namespace)
                .await
                .map_err(|e| api_error(&format!("Namespace {namespace}"), &e))?;
            // Claims made by StatefulSets are in no inventory: deleting the
            // Namespace would delete them, so it goes only with
            // `--prune-volumes` or when nothing but Helios's objects are left.
            let claims_only = foreign
                .iter()
                .all(|f| f.starts_with("PersistentVolumeClaim "));
            if foreign.is_empty() || (prune_volumes && claims_only) {
                errors.extend(self.delete_keys(app, std::slice::from_ref(&key)).await);
            } else {
                self.note(
                    app,
                    format!(
                        "Namespace {namespace} kept: it holds {} (`--prune-volumes` deletes volume claims)",
                        foreign.join(", ")
                    ),
                );
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(BackendError::Api(errors.join("\n")))
        }
    }

    /// Deletes owned objects of `app` by key, the last kinds first; only
    /// objects the last observe saw carrying the app's ownership label.
    pub(super) async fn delete_keys(&self, app: &str, keys: &[String]) -> Vec<String> {
        let mut keys: Vec<&String> = keys.iter().collect();
        keys.sort_by_key(|key| {
            std::cmp::Reverse(KindInfo::order(key.split('/').next().unwrap_or_default()))
        });
        let mut errors = Vec::new();
        for key in keys {
            let owned = self
                .live_object(app, key)
                .is_some_and(|o| o["metadata"]["labels"][labels::APP] == app);
            if !owned {
                tracing::warn!(%app, object = %key, "not observed with the app's ownership label; not deleted");
                continue;
            }
            let Some(object) = ObjectRef::from_key(key) else {
                continue;
            };
            let Some(info) = object.info() else { continue };
            if let Err(e) = api::delete(
                &self.client,
                info,
                object.namespace.as_deref(),
                &object.name,
            )
            .await
            {
                errors.push(format!("{key}: {e}"));
            } else if let Ok(mut live) = self.live.lock()
                && let Some(live) = live.get_mut(app)
            {
                live.objects.remove(key);
            }
        }
        errors
    }

    pub(super) async fn delete_claims(&self, app: &str, volumes: &[VolumePlan]) -> Vec<String> {
        let claims = self
            .live
            .lock()
            .ok()
            .and_then(|l| l.get(app).map(|a| a.claims.clone()))
            .unwrap_or_default();
        let mut errors = Vec::new();
        for volume in volumes.iter().filter(|v| v.action == VolumeAction::Delete) {
            let Some(namespace) = claims.get(&volume.name) else {
                continue;
            };
            if let Err(e) = api::delete(
                &self.client,
                &PERSISTENT_VOLUME_CLAIM,
                Some(namespace),
                &volume.name,
            )
            .await
            {
                errors.push(format!(
                    "PersistentVolumeClaim/{namespace}/{}: {e}",
                    volume.name
                ));
            }
        }
        errors
    }

    /// Whether `namespace` holds anything Helios did not apply for `app`:
    /// a volume claim (made by a StatefulSet, in no inventory), or a
    /// workload, Service, ConfigMap or Secret without the app's label.
    pub(super) async fn foreign_contents(
        &self,
        app: &str,
        namespace: &str,
    ) -> Result<Vec<String>, ApiFailure> {
        let mut found = Vec::new();
        for claim in api::list(
            &self.client,
            &PERSISTENT_VOLUME_CLAIM,
            Some(namespace),
            None,
        )
        .await?
        {
            found.push(format!(
                "PersistentVolumeClaim {}",
                claim.metadata.name.unwrap_or_default()
            ));
        }
        for kind in [
            "Deployment",
            "StatefulSet",
            "Service",
            "ConfigMap",
            "Secret",
        ] {
            let Some(info) = KindInfo::of(kind) else {
                continue;
            };
            for object in api::list(&self.client, info, Some(namespace), None).await? {
                let name = object.metadata.name.clone().unwrap_or_default();
                let ours = object.metadata.labels.as_ref().is_some_and(|l| {
                    l.get(labels::APP).map(String::as_str) == Some(app)
                        || l.get(inventory::INVENTORY_LABEL).map(String::as_str) == Some(app)
                });
                // What the cluster puts in every namespace.
                let cluster_made = (kind == "ConfigMap" && name == "kube-root-ca.crt")
                    || (kind == "Secret"
                        && object.data["type"] == "kubernetes.io/service-account-token");
                if !ours && !cluster_made {
                    found.push(format!("{kind} {name}"));
                }
            }
        }
        Ok(found)
    }
}
