//! The inventory: what each app this reconciler owns may have live, as the
//! cycle leaves it (kept in the state directory), and the backend's copy
//! of it (a cluster's ConfigMaps), kept in step after each cycle.

use super::ledger::Run;
use super::{AppResult, Reconciler};
use crate::backend::{Backend, ObservedState};
use crate::desired::DesiredState;
use crate::plan::{Action, Plan, VolumeAction};
use crate::state::{Inventory, InventoryApp};
use std::collections::BTreeSet;

impl<B: Backend> Reconciler<B> {
    /// Who this reconciler is, as written into the backend's copies of its
    /// inventory: the config repo, branch and path it follows.
    pub(super) fn source_identity(&self) -> String {
        let config = self.source.config();
        format!("{}#{}:{}", config.url, config.branch, config.path)
    }

    /// Keeps the backend's copy of the inventory of every app the plan
    /// looked at. A failure is logged, not fatal: the state directory
    /// holds the inventory, and the next cycle writes the copy again.
    pub(super) async fn store_inventory(&self, plan: &Plan, inventory: &Inventory) {
        let source = self.source_identity();
        for app in &plan.apps {
            if app.action == Action::Held {
                continue;
            }
            let entry = inventory.apps.get(&app.app);
            if let Err(e) = self.backend.store_inventory(&source, &app.app, entry).await {
                tracing::warn!(app = %app.app, "keeping the backend's copy of the inventory: {e}");
            }
        }
    }

    /// The inventory after the cycle: what each app may have live now.
    pub(super) fn inventory(
        &self,
        mut inventory: Inventory,
        plan: &Plan,
        desired: &DesiredState,
        observed: &ObservedState,
        run: &Run,
    ) -> Inventory {
        for app in &plan.apps {
            let name = &app.app;
            let live = observed.apps.get(name);
            // What the plan deletes is gone; every other live volume stays.
            let kept_volumes = || {
                let deleted: BTreeSet<&str> = app
                    .volumes
                    .iter()
                    .filter(|v| v.action == VolumeAction::Delete)
                    .map(|v| v.name.as_str())
                    .collect();
                live.map(|l| {
                    l.volumes
                        .iter()
                        .filter(|v| !deleted.contains(v.as_str()))
                        .cloned()
                        .collect::<BTreeSet<String>>()
                })
                .unwrap_or_default()
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
}
