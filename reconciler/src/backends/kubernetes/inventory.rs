//! The cluster's copy of an app's inventory: a ConfigMap
//! `helios-inventory-<app>` in the app's namespace, labelled
//! `dev.helios.inventory=<app>`, holding what the state repo's inventory
//! holds (the Heliosfile's path, every owned object as group, version,
//! kind, namespace and name, the kept volume claims). Either copy rebuilds
//! the other after a loss: a new state directory learns from the cluster
//! what it owns, and a deleted ConfigMap is written again from the state.

use super::objects::{APPLY_ORDER, KindInfo, MANAGED_BY, ObjectRef};
use crate::state::InventoryApp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The label that marks an inventory ConfigMap, its value the app.
pub const INVENTORY_LABEL: &str = "dev.helios.inventory";

/// The data key of the ConfigMap.
const DATA_KEY: &str = "inventory.yaml";

/// The ConfigMap's name.
pub fn configmap_name(app: &str) -> String {
    format!("helios-inventory-{app}")
}

pub(super) fn configmap_kind() -> &'static KindInfo {
    &APPLY_ORDER[2]
}

/// What the ConfigMap holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredInventory {
    /// Who wrote it: the config repo, branch and path of the reconciler
    /// (several reconcilers may share a cluster; each adopts only its own).
    #[serde(default)]
    pub source: String,
    /// The Heliosfile the app was applied from.
    pub source_path: String,
    /// Every owned object.
    pub objects: Vec<ObjectRef>,
    /// Kept PersistentVolumeClaims.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub volumes: BTreeSet<String>,
}

impl StoredInventory {
    /// The cluster copy of a state-repo entry (component keys of unknown
    /// kinds are left out: they cannot be addressed).
    pub fn of(source: &str, entry: &InventoryApp) -> Self {
        let mut objects: Vec<ObjectRef> = entry
            .components
            .iter()
            .filter_map(|key| ObjectRef::from_key(key))
            .collect();
        objects.sort();
        Self {
            source: source.to_string(),
            source_path: entry.source_path.clone(),
            objects,
            volumes: entry.volumes.clone(),
        }
    }

    /// The state-repo entry it rebuilds.
    pub fn entry(&self) -> InventoryApp {
        InventoryApp {
            source_path: self.source_path.clone(),
            components: self.objects.iter().map(ObjectRef::key).collect(),
            volumes: self.volumes.clone(),
        }
    }

    /// The namespace the app's objects live in: where its ConfigMap goes.
    pub fn namespace(&self) -> Option<&str> {
        self.objects
            .iter()
            .find_map(|o| o.namespace.as_deref())
            .or_else(|| {
                self.objects
                    .iter()
                    .find(|o| o.kind == "Namespace")
                    .map(|o| o.name.as_str())
            })
    }

    /// The ConfigMap to apply.
    pub fn to_configmap(&self, app: &str, namespace: &str) -> Value {
        let text = serde_saphyr::to_string(self).unwrap_or_default();
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": configmap_name(app),
                "namespace": namespace,
                "labels": {
                    INVENTORY_LABEL: app,
                    "app.kubernetes.io/managed-by": MANAGED_BY,
                },
            },
            "data": { DATA_KEY: text },
        })
    }

    /// The inventory a listed ConfigMap holds, with its app; `None` for a
    /// ConfigMap that is not one (no label, unreadable data).
    pub fn from_configmap(configmap: &Value) -> Option<(String, Self)> {
        let app = configmap["metadata"]["labels"][INVENTORY_LABEL].as_str()?;
        let text = configmap["data"][DATA_KEY].as_str()?;
        let stored: Self = serde_saphyr::from_str(text).ok()?;
        Some((app.to_string(), stored))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inventory_survives_the_round_trip_through_its_configmap() {
        let entry = InventoryApp {
            source_path: "shop/Heliosfile".to_string(),
            components: [
                "Namespace/shop",
                "Deployment/shop/web",
                "StatefulSet/shop/db",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            volumes: BTreeSet::from(["data-db-0".to_string()]),
        };
        let stored = StoredInventory::of("https://git.example.com/config.git#main:prod", &entry);
        assert_eq!(stored.namespace(), Some("shop"));
        let configmap = stored.to_configmap("shop", "shop");
        assert_eq!(configmap["metadata"]["name"], "helios-inventory-shop");
        let (app, back) = StoredInventory::from_configmap(&configmap).expect("an inventory");
        assert_eq!(app, "shop");
        assert_eq!(back.entry(), entry);
        assert_eq!(back.source, "https://git.example.com/config.git#main:prod");
        assert!(
            configmap["data"][DATA_KEY]
                .as_str()
                .is_some_and(|t| t.contains("group: apps")),
            "{configmap}"
        );
    }
}
