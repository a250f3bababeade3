//! Drift on a cluster: did someone change a field Helios manages?
//!
//! Spec hashes cannot tell: a hand edit changes the live object, not its
//! `dev.helios.spec-hash` annotation. So when a drift check is due, each
//! desired object that is live with the desired hash is applied as a
//! server-side dry run (`dryRun=All`, no force) and:
//!
//! - a 409 naming only Update managers (`kubectl edit`, `scale`, `patch`)
//!   is a hand edit of those fields: drift, corrected with a forced apply;
//! - a 409 naming an Apply manager is another applier's claim: a conflict,
//!   taken over only with `--force-conflicts`;
//! - a 200 whose object differs from the live one (a field Helios applied
//!   that is gone or changed without a conflict, such as a deleted label)
//!   is drift too, named by the paths that differ.
//!
//! Wake-ups between checks come from a watch on owned Deployments and
//! StatefulSets: a new generation (a spec edit) or a deletion.

use super::api::{self, ApiFailure};
use super::objects::{self, KindInfo};
use super::{DRIFT_CHECKS_AT_ONCE, KubernetesBackend, desired_object};
use crate::backend::{BackendError, DriftEvent, InstanceStatus, ObservedState};
use crate::desired::DesiredState;
use futures_util::StreamExt;
use heliosc::lower::labels;
use kube::api::{WatchEvent, WatchParams};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// What a drift check found on one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObjectDrift {
    /// Fields Helios applied were changed by hand (Update managers).
    Edited {
        /// The fields (`.spec.replicas`).
        fields: Vec<String>,
        /// Who changed them (`kubectl-edit`), when the API server said.
        managers: Vec<String>,
    },
    /// Another applier owns fields Helios applies.
    Conflict {
        /// The other manager.
        manager: String,
        /// The fields.
        fields: Vec<String>,
    },
}

/// Fields of an object that only the API server writes: never drift.
const SERVER_FIELDS: [&str; 6] = [
    "managedFields",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "uid",
    "selfLink",
];

/// The paths at which `wanted` (the dry-run result) and `live` differ,
/// server-written fields and `status` aside.
pub fn differing_paths(wanted: &Value, live: &Value) -> Vec<String> {
    let mut paths = Vec::new();
    compare(wanted, live, String::new(), &mut paths);
    paths
}

fn compare(wanted: &Value, live: &Value, path: String, out: &mut Vec<String>) {
    match (wanted, live) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                if (path.is_empty() && key == "status")
                    || (path == ".metadata" && SERVER_FIELDS.contains(&key.as_str()))
                {
                    continue;
                }
                let null = Value::Null;
                compare(
                    a.get(key).unwrap_or(&null),
                    b.get(key).unwrap_or(&null),
                    format!("{path}.{key}"),
                    out,
                );
            }
        }
        (a, b) if a != b => out.push(if path.is_empty() {
            ".".to_string()
        } else {
            path
        }),
        _ => {}
    }
}

/// Dry-runs the apply of one desired object (with its ownership marks)
/// and says whether and how the live object drifted from it.
pub async fn check_object(
    client: &kube::Client,
    info: &KindInfo,
    desired: &Value,
    live: Option<&Value>,
) -> Result<Option<ObjectDrift>, ApiFailure> {
    match api::apply(client, info, desired, false, true).await {
        Ok(result) => {
            let Some(live) = live else { return Ok(None) };
            let paths = differing_paths(&result, live);
            Ok((!paths.is_empty()).then_some(ObjectDrift::Edited {
                fields: paths,
                managers: Vec::new(),
            }))
        }
        Err(ApiFailure::Conflict(conflicts)) => {
            if let Some(theirs) = conflicts.iter().find(|c| !c.by_update) {
                return Ok(Some(ObjectDrift::Conflict {
                    manager: theirs.manager.clone(),
                    fields: theirs.fields.clone(),
                }));
            }
            Ok(Some(ObjectDrift::Edited {
                fields: conflicts.iter().flat_map(|c| c.fields.clone()).collect(),
                managers: conflicts.iter().map(|c| c.manager.clone()).collect(),
            }))
        }
        Err(other) => Err(other),
    }
}

impl KubernetesBackend {
    /// The drift check of [`Backend::check_drift`](crate::backend::Backend::check_drift):
    /// every desired object live with the desired spec is dry-run (a few
    /// at a time); a hand edit marks its component
    /// [`InstanceStatus::Edited`], another applier's claim
    /// [`InstanceStatus::Conflict`]; both are noted for the app's status.
    pub(super) async fn check_drift_of(
        &self,
        desired: &DesiredState,
        observed: &mut ObservedState,
    ) -> Result<(), BackendError> {
        // Only live objects with the desired spec: the others are updated
        // anyway. One dry run per object, a few at a time.
        let mut checks = Vec::new();
        for (name, app) in &desired.apps {
            let Some(live_app) = observed.apps.get(name) else {
                continue;
            };
            for (key, component) in &app.components {
                let current = live_app.components.get(key).is_some_and(|c| {
                    c.instances
                        .iter()
                        .all(|i| i.spec_hash.as_deref() == Some(component.spec_hash.as_str()))
                });
                if !current {
                    continue;
                }
                if let Some((info, object)) = desired_object(app, key) {
                    let live = self.live_object(name, key);
                    checks.push(async move {
                        let found = check_object(&self.client, info, &object, live.as_ref()).await;
                        (name, key, found)
                    });
                }
            }
        }
        let results: Vec<_> = futures_util::stream::iter(checks)
            .buffer_unordered(DRIFT_CHECKS_AT_ONCE)
            .collect()
            .await;
        for (app, key, found) in results {
            let found = match found {
                Ok(found) => found,
                Err(ApiFailure::Unavailable(e)) => return Err(BackendError::Unavailable(e)),
                Err(e) => {
                    self.note(app, format!("{key}: drift check failed: {e}"));
                    continue;
                }
            };
            let status = match found {
                None => continue,
                Some(ObjectDrift::Edited { fields, managers }) => {
                    let by = if managers.is_empty() {
                        String::new()
                    } else {
                        format!(" by {}", managers.join(", "))
                    };
                    self.note(app, format!("{key}: edited{by} ({})", fields.join(", ")));
                    InstanceStatus::Edited
                }
                Some(ObjectDrift::Conflict { manager, fields }) => {
                    // Planned as an update: its apply reports the conflict
                    // per object, or takes the fields over when forced.
                    self.note(
                        app,
                        format!(
                            "{key}: {} managed by `{manager}` (another applier)",
                            fields.join(", ")
                        ),
                    );
                    InstanceStatus::Conflict
                }
            };
            if let Some(component) = observed
                .apps
                .get_mut(app)
                .and_then(|a| a.components.get_mut(key))
            {
                for instance in &mut component.instances {
                    instance.status = status;
                }
            }
        }
        Ok(())
    }
}

/// Watches owned Deployments and StatefulSets and calls `on_event` when
/// one gets a new generation (its spec changed) or is deleted; reconnects
/// with a growing pause when the watch ends or fails. Status updates (pods
/// coming and going) do not wake anything.
pub async fn watch<F>(client: kube::Client, mut on_event: F)
where
    F: FnMut(DriftEvent) + Send + 'static,
{
    let mut generations: BTreeMap<String, i64> = BTreeMap::new();
    let mut pause = Duration::from_secs(1);
    loop {
        let params = WatchParams::default()
            .labels(&objects::owned_selector())
            .timeout(290);
        let mut streams = Vec::new();
        for kind in ["Deployment", "StatefulSet"] {
            let Some(info) = KindInfo::of(kind) else {
                continue;
            };
            if let Ok(events) = api::api(&client, info, None).watch(&params, "0").await {
                streams.push(events.map(move |event| (kind, event)).boxed());
            }
        }
        if streams.len() == 2 {
            pause = Duration::from_secs(1);
        }
        let mut events = futures_util::stream::select_all(streams);
        while let Some((kind, Ok(event))) = events.next().await {
            let (object, deleted) = match event {
                WatchEvent::Added(o) | WatchEvent::Modified(o) => (o, false),
                WatchEvent::Deleted(o) => (o, true),
                WatchEvent::Bookmark(_) | WatchEvent::Error(_) => continue,
            };
            let Some(app) = object
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(labels::APP).cloned())
            else {
                continue;
            };
            let name = format!(
                "{kind}/{}/{}",
                object.metadata.namespace.clone().unwrap_or_default(),
                object.metadata.name.clone().unwrap_or_default()
            );
            let generation = object.metadata.generation.unwrap_or(0);
            let previous = generations.insert(name.clone(), generation);
            let action = if deleted {
                generations.remove(&name);
                "deleted"
            } else if previous.is_some_and(|p| p != generation) {
                "spec changed"
            } else {
                continue;
            };
            on_event(DriftEvent {
                app,
                object: name,
                action: action.to_string(),
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(60));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_managed_content_differs() {
        let live = json!({"metadata": {"name": "web", "resourceVersion": "9", "managedFields": [1], "labels": {"a": "b"}},
                          "spec": {"replicas": 7, "template": {"x": 1}}, "status": {"replicas": 7}});
        let wanted = json!({"metadata": {"name": "web", "resourceVersion": "10", "labels": {"a": "b", "c": "d"}},
                            "spec": {"replicas": 2, "template": {"x": 1}}, "status": {"replicas": 2}});
        assert_eq!(
            differing_paths(&wanted, &live),
            [".metadata.labels.c", ".spec.replicas"]
        );
        assert!(differing_paths(&live, &live).is_empty());
    }
}
