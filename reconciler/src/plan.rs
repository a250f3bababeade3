//! The planner: a pure function from desired and observed state to a
//! [`Plan`], and the plan's text and JSON forms.
//!
//! This module owns every decision of a cycle: what to create, update,
//! delete or leave alone, per app and per component, and why; the order of
//! apply (namespaces, then databases, then services, deletions last); the
//! mass-prune guard; and which data volumes go. It does no I/O, so each
//! decision is covered by a golden test of (desired, observed) → plan text.

use crate::backend::{InstanceStatus, ObservedApp, ObservedState};
use crate::desired::{ComponentKind, DesiredApp, DesiredState, SkippedApp};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

/// The default of `--max-prune-percent`.
pub const DEFAULT_MAX_PRUNE_PERCENT: u32 = 50;

/// Options of the planner, from the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanOptions {
    /// Largest share of owned apps a plan may delete, in percent
    /// (`--max-prune-percent`).
    pub max_prune_percent: u32,
    /// Let a plan delete any share of the owned apps (`--allow-mass-prune`).
    pub allow_mass_prune: bool,
    /// Delete the data volumes of deleted apps and databases
    /// (`--prune-volumes`).
    pub prune_volumes: bool,
    /// The backend builds the images apps run from the config repo
    /// (Compose): a changed service that runs one is built first.
    pub build_images: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            max_prune_percent: DEFAULT_MAX_PRUNE_PERCENT,
            allow_mass_prune: false,
            prune_volumes: false,
            build_images: false,
        }
    }
}

/// What happens to an app or a component.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// It does not exist live: create it.
    Create,
    /// It exists but differs or drifted: update (or heal) it.
    Update,
    /// It is owned but no longer desired: delete it.
    Delete,
    /// Live matches desired.
    Unchanged,
    /// Its Heliosfile failed: leave it exactly as last applied.
    Held,
}

impl Action {
    /// The verb used in text output.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Unchanged => "unchanged",
            Self::Held => "held",
        }
    }

    /// The sign that starts a line of text output.
    const fn sign(self) -> char {
        match self {
            Self::Create => '+',
            Self::Update => '~',
            Self::Delete => '-',
            Self::Unchanged => '=',
            Self::Held => '!',
        }
    }
}

/// Why an action was chosen. In JSON: `"reason": "drifted", "drift": "exited"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// Desired but not live.
    Missing,
    /// Live, but created from another spec than the desired one.
    SpecChanged,
    /// Live with the desired spec, but a secret value it uses (a user
    /// secret, a database password) changed since: the component's
    /// [`ComponentPlan::secrets`] name which, never their values.
    SecretChanged,
    /// Live with the desired spec, but not in the desired state.
    Drifted {
        /// How it drifted.
        drift: Drift,
    },
    /// Owned and live, but no longer desired.
    Orphaned,
    /// Its Heliosfile failed to compile (or shares its name with another).
    CompileFailed,
    /// Not desired, but a Heliosfile whose app name cannot be read failed:
    /// it may be this app's, so the app is not deleted.
    Unattributed,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("missing"),
            Self::SpecChanged => f.write_str("spec changed"),
            Self::SecretChanged => f.write_str("secret changed"),
            Self::Drifted { drift } => write!(f, "drifted: {}", drift.as_str()),
            Self::Orphaned => f.write_str("orphaned"),
            Self::CompileFailed => f.write_str("compile failed"),
            Self::Unattributed => {
                f.write_str("not desired, but a Heliosfile without a readable name failed")
            }
        }
    }
}

/// How a component with the desired spec drifted, the worst first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Drift {
    /// An instance stopped or crashed.
    Exited,
    /// An instance fails its health check.
    Unhealthy,
    /// An instance (a replica) is gone.
    MissingInstance,
    /// More instances run than the desired replicas.
    ExtraInstance,
    /// Its object was changed by hand (Kubernetes: a field Helios applies).
    Edited,
    /// Another applier owns fields Helios applies: the apply reports the
    /// conflict, and takes the fields over only with `--force-conflicts`.
    Conflict,
}

impl Drift {
    /// The name used in text output.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Exited => "exited",
            Self::Unhealthy => "unhealthy",
            Self::MissingInstance => "missing instance",
            Self::ExtraInstance => "extra instance",
            Self::Edited => "edited",
            Self::Conflict => "conflict with another applier",
        }
    }
}

/// The plan for one component of an app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ComponentPlan {
    /// Its key (service or database name; Kubernetes `Kind/ns/name`).
    pub name: String,
    /// What it is.
    pub kind: ComponentKind,
    /// What happens to it.
    pub action: Action,
    /// Why (absent when unchanged).
    #[serde(flatten)]
    pub reason: Option<Reason>,
    /// With [`Reason::SecretChanged`]: the secrets whose values changed
    /// (`STRIPE_KEY`, `db.PASSWORD`), sorted; empty when the record of
    /// what was applied cannot tell which.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// With [`Reason::SpecChanged`]: a unified diff from the compiled YAML
    /// last applied to the desired one (references to secrets, never
    /// values); absent when there is no record of what was applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

impl ComponentPlan {
    /// Why, as in the plan's text: `spec changed`, `secret STRIPE_KEY
    /// changed`, `drifted: exited`.
    pub fn reason_text(&self) -> Option<String> {
        let reason = self.reason?;
        Some(match (reason, self.secrets.as_slice()) {
            (Reason::SecretChanged, []) => "secrets changed".to_string(),
            (Reason::SecretChanged, [one]) => format!("secret {one} changed"),
            (Reason::SecretChanged, many) => format!("secrets {} changed", many.join(", ")),
            (reason, _) => reason.to_string(),
        })
    }
}

/// What happens to a data volume that nothing desired uses any more.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeAction {
    /// Kept (the default: data outlives its app).
    Keep,
    /// Deleted (`--prune-volumes`).
    Delete,
}

/// A data volume that its app or database no longer uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VolumePlan {
    /// The volume's name.
    pub name: String,
    /// What happens to it.
    pub action: VolumeAction,
}

/// What a [`Phase::BuildImage`] step builds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepBuild {
    /// `<image>:<tag>`.
    pub image: String,
    /// The source tag.
    pub tag: String,
    /// The build context, a folder of the config repo (`.` for its root).
    pub context: String,
}

/// The plan for one app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AppPlan {
    /// The app's name.
    pub app: String,
    /// What happens to the app as a whole.
    pub action: Action,
    /// Why (absent when unchanged).
    #[serde(flatten)]
    pub reason: Option<Reason>,
    /// Its components, sorted by key; empty for held apps (nothing is
    /// looked at) and unchanged ones listed by count only in text.
    pub components: Vec<ComponentPlan>,
    /// Volumes no longer used (kept or deleted).
    pub volumes: Vec<VolumePlan>,
    /// For a held app: the Heliosfile's path and diagnostics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

/// Why an app is held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The Heliosfile's path.
    pub path: String,
    /// Its diagnostics, rendered plain.
    pub diagnostics: String,
}

/// One step of applying a plan. Steps run in the order given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// What the step does.
    pub phase: Phase,
    /// The app.
    pub app: String,
    /// The component keys concerned (empty for [`Phase::RemoveApp`]).
    pub components: Vec<String>,
    /// For [`Phase::BuildImage`]: the image and where its sources are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<StepBuild>,
    /// For deleting steps: the app's volumes no longer used, with what the
    /// plan decided for each; the backend deletes exactly those marked
    /// [`VolumeAction::Delete`] and keeps the others.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumePlan>,
}

/// The phases of applying, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Build the image the app's services run from the config repo (a
    /// backend that builds: Compose), before anything of the app changes:
    /// a failed build leaves the app running what it ran.
    BuildImage,
    /// Create or update Kubernetes Namespaces: everything else lives in them.
    ApplyNamespaces,
    /// Create or update databases: services depend on them.
    ApplyDatabases,
    /// Create or update services.
    ApplyServices,
    /// Delete orphaned components of apps that stay.
    DeleteComponents,
    /// Remove orphaned apps, last: a failure earlier leaves the old app
    /// running rather than nothing.
    RemoveApp,
}

/// Why a plan is refused by the mass-prune guard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// Owned apps the plan deletes.
    pub deleted: usize,
    /// Owned apps (observed, held included).
    pub owned: usize,
    /// The limit in force, in percent.
    pub max_prune_percent: u32,
    /// Whether the plan deletes every owned app.
    pub all: bool,
}

/// Counts of apps by action.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Apps created.
    pub created: usize,
    /// Apps updated.
    pub updated: usize,
    /// Apps deleted.
    pub deleted: usize,
    /// Apps unchanged.
    pub unchanged: usize,
    /// Apps held.
    pub held: usize,
}

impl Summary {
    /// `2 created, 1 updated`: the non-zero counts, or `no change`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = [
            (self.created, "created"),
            (self.updated, "updated"),
            (self.deleted, "deleted"),
            (self.unchanged, "unchanged"),
            (self.held, "held"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if parts.is_empty() {
            "no app".to_string()
        } else {
            parts.join(", ")
        }
    }
}

/// Everything a cycle would do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Per app, sorted by name.
    pub apps: Vec<AppPlan>,
    /// The steps, in the order to run them. Empty when refused.
    pub steps: Vec<Step>,
    /// Counts by action.
    pub summary: Summary,
    /// Set when the mass-prune guard refuses the plan: then nothing at all
    /// is applied, because applying only the creations of a renamed set of
    /// apps would run old and new side by side.
    pub refused: Option<Refusal>,
    /// Apps of the config repo whose `target:` is another backend's: not
    /// this reconciler's (an app live here that moved is deleted above).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedApp>,
}

impl Plan {
    /// Whether applying the plan changes anything (refused plans change
    /// nothing).
    pub fn has_changes(&self) -> bool {
        !self.steps.is_empty()
    }

    /// The plan of `app`, if it is in the plan.
    pub fn app(&self, app: &str) -> Option<&AppPlan> {
        self.apps.iter().find(|a| a.app == app)
    }
}

/// Plans the cycle. Pure: the same inputs always give the same plan.
pub fn plan(desired: &DesiredState, observed: &ObservedState, options: &PlanOptions) -> Plan {
    let mut names: BTreeSet<&str> = desired.apps.keys().map(String::as_str).collect();
    names.extend(observed.apps.keys().map(String::as_str));
    names.extend(desired.failed.iter().filter_map(|f| f.name.as_deref()));

    let mut apps = Vec::new();
    for name in names {
        let live = observed.apps.get(name);
        let app = if let Some(failure) = held_by(desired, name, live) {
            AppPlan {
                app: name.to_string(),
                action: Action::Held,
                reason: Some(Reason::CompileFailed),
                components: Vec::new(),
                volumes: Vec::new(),
                failure: Some(failure),
            }
        } else if let Some(wanted) = desired.apps.get(name) {
            plan_desired(wanted, live, options)
        } else if let Some(live) = live {
            let volumes_to_prune = options.prune_volumes && !live.volumes.is_empty();
            if live.components.is_empty() && !volumes_to_prune {
                // Only the kept volumes of an app removed earlier: nothing
                // to do, and planning its deletion again every cycle would
                // also count it against the guard.
                continue;
            }
            if desired.has_unattributed_failure() {
                AppPlan {
                    app: name.to_string(),
                    action: Action::Held,
                    reason: Some(Reason::Unattributed),
                    components: Vec::new(),
                    volumes: Vec::new(),
                    failure: None,
                }
            } else {
                plan_orphan(name, live, options)
            }
        } else {
            continue;
        };
        apps.push(app);
    }

    let mut summary = Summary::default();
    for app in &apps {
        let count = match app.action {
            Action::Create => &mut summary.created,
            Action::Update => &mut summary.updated,
            Action::Delete => &mut summary.deleted,
            Action::Unchanged => &mut summary.unchanged,
            Action::Held => &mut summary.held,
        };
        *count += 1;
    }
    // Apps that run something; kept volumes of removed apps do not count.
    let owned = observed
        .apps
        .values()
        .filter(|a| !a.components.is_empty())
        .count();
    let deleted = apps
        .iter()
        .filter(|a| a.action == Action::Delete && !a.components.is_empty())
        .count();
    let refused = guard(deleted, owned, options);
    let steps = if refused.is_some() {
        Vec::new()
    } else {
        let mut steps = steps(&apps);
        if options.build_images {
            steps.splice(0..0, build_steps(&apps, desired));
        }
        steps
    };
    Plan {
        apps,
        steps,
        summary,
        refused,
        skipped: desired.skipped.clone(),
    }
}

/// The failure that holds `name`: a failed file naming it, or a failed
/// file without a readable name at the path it was last applied from.
fn held_by(desired: &DesiredState, name: &str, live: Option<&ObservedApp>) -> Option<Failure> {
    let last_path = live.and_then(|l| l.source_path.as_deref());
    desired
        .failed
        .iter()
        .find(|f| {
            f.name.as_deref() == Some(name)
                || (f.name.is_none() && last_path == Some(f.path.as_str()))
        })
        .map(|f| Failure {
            path: f.path.clone(),
            diagnostics: f.diagnostics.clone(),
        })
}

fn plan_desired(wanted: &DesiredApp, live: Option<&ObservedApp>, options: &PlanOptions) -> AppPlan {
    let empty = ObservedApp::default();
    let live = live.unwrap_or(&empty);
    let mut components = Vec::new();
    for (key, component) in &wanted.components {
        let (action, reason) = match live.components.get(key) {
            None => (Action::Create, Some(Reason::Missing)),
            Some(observed) => {
                let stale = observed
                    .instances
                    .iter()
                    .any(|i| i.spec_hash.as_deref() != Some(component.spec_hash.as_str()));
                let rotated = observed
                    .instances
                    .iter()
                    .any(|i| i.secrets_digest != component.secrets_digest);
                if stale {
                    (Action::Update, Some(Reason::SpecChanged))
                } else if rotated {
                    (Action::Update, Some(Reason::SecretChanged))
                } else if let Some(drift) = drift(observed, component.replicas) {
                    (Action::Update, Some(Reason::Drifted { drift }))
                } else {
                    (Action::Unchanged, None)
                }
            }
        };
        let secrets = if reason == Some(Reason::SecretChanged) {
            changed_secrets(component, live.applied_secrets.get(key))
        } else {
            Vec::new()
        };
        let diff = if reason == Some(Reason::SpecChanged) {
            live.applied_specs
                .get(key)
                .filter(|applied| !component.spec.is_empty() && **applied != component.spec)
                .map(|applied| heliosc::diff::unified_diff(applied, &component.spec))
        } else {
            None
        };
        components.push(ComponentPlan {
            name: key.clone(),
            kind: component.kind,
            action,
            reason,
            secrets,
            diff,
        });
    }
    for (key, observed) in &live.components {
        if !wanted.components.contains_key(key) {
            components.push(ComponentPlan {
                name: key.clone(),
                kind: observed.kind,
                action: Action::Delete,
                reason: Some(Reason::Orphaned),
                secrets: Vec::new(),
                diff: None,
            });
        }
    }
    components.sort_by(|a, b| a.name.cmp(&b.name));

    let (action, reason) = if live.components.is_empty() {
        (Action::Create, Some(Reason::Missing))
    } else if components.iter().all(|c| c.action == Action::Unchanged) {
        (Action::Unchanged, None)
    } else if let Some(drift) = components
        .iter()
        .all(|c| matches!(c.reason, None | Some(Reason::Drifted { .. })))
        .then(|| {
            components
                .iter()
                .filter_map(|c| match c.reason {
                    Some(Reason::Drifted { drift }) => Some(drift),
                    _ => None,
                })
                .min()
        })
        .flatten()
    {
        // Only drift: nothing in git changed, the host did. The app's
        // reason is its worst drift.
        (Action::Update, Some(Reason::Drifted { drift }))
    } else if components.iter().all(|c| {
        matches!(
            c.reason,
            None | Some(Reason::SecretChanged | Reason::Drifted { .. })
        )
    }) {
        (Action::Update, Some(Reason::SecretChanged))
    } else {
        (Action::Update, Some(Reason::SpecChanged))
    };
    let volumes = live
        .volumes
        .iter()
        .filter(|v| !wanted.volumes.contains(*v))
        .map(|v| volume(v, options))
        .collect();
    AppPlan {
        app: wanted.name.clone(),
        action,
        reason,
        components,
        volumes,
        failure: None,
    }
}

/// The first drift of a component's instances, the worst first: a stopped
/// instance serves nothing, an unhealthy one may still serve some.
/// With `replicas`, the instances are also counted: fewer is a missing
/// instance, more an extra one.
fn drift(observed: &crate::backend::ObservedComponent, replicas: Option<u32>) -> Option<Drift> {
    let has = |status| observed.instances.iter().any(|i| i.status == status);
    let present = observed
        .instances
        .iter()
        .filter(|i| i.status != InstanceStatus::Missing)
        .count();
    let wanted = replicas.and_then(|r| usize::try_from(r).ok());
    if has(InstanceStatus::Exited) {
        Some(Drift::Exited)
    } else if has(InstanceStatus::Unhealthy) {
        Some(Drift::Unhealthy)
    } else if has(InstanceStatus::Missing) || wanted.is_some_and(|w| present < w) {
        Some(Drift::MissingInstance)
    } else if wanted.is_some_and(|w| present > w) {
        Some(Drift::ExtraInstance)
    } else if has(InstanceStatus::Conflict) {
        Some(Drift::Conflict)
    } else if has(InstanceStatus::Edited) {
        Some(Drift::Edited)
    } else {
        None
    }
}

/// The secrets of `component` whose keyed digests differ from the ones
/// recorded when it was last applied; every one it uses when there is no
/// record to compare with.
fn changed_secrets(
    component: &crate::desired::DesiredComponent,
    applied: Option<&BTreeMap<String, String>>,
) -> Vec<String> {
    match applied {
        Some(applied) => component
            .secret_digests
            .iter()
            .filter(|(name, digest)| applied.get(*name) != Some(*digest))
            .map(|(name, _)| name.clone())
            .chain(
                applied
                    .keys()
                    .filter(|name| !component.secret_digests.contains_key(*name))
                    .cloned(),
            )
            .collect::<BTreeSet<String>>()
            .into_iter()
            .collect(),
        None => Vec::new(),
    }
}

fn plan_orphan(name: &str, live: &ObservedApp, options: &PlanOptions) -> AppPlan {
    AppPlan {
        app: name.to_string(),
        action: Action::Delete,
        reason: Some(Reason::Orphaned),
        components: live
            .components
            .iter()
            .map(|(key, c)| ComponentPlan {
                name: key.clone(),
                kind: c.kind,
                action: Action::Delete,
                reason: Some(Reason::Orphaned),
                secrets: Vec::new(),
                diff: None,
            })
            .collect(),
        volumes: live.volumes.iter().map(|v| volume(v, options)).collect(),
        failure: None,
    }
}

fn volume(name: &str, options: &PlanOptions) -> VolumePlan {
    VolumePlan {
        name: name.to_string(),
        action: if options.prune_volumes {
            VolumeAction::Delete
        } else {
            VolumeAction::Keep
        },
    }
}

/// The mass-prune guard: an empty commit or a fetch that read nothing must
/// never wipe a host.
pub fn guard(deleted: usize, owned: usize, options: &PlanOptions) -> Option<Refusal> {
    if options.allow_mass_prune || deleted == 0 {
        return None;
    }
    let all = deleted == owned;
    // deleted / owned > max / 100, in integers.
    let too_many = deleted * 100 > owned * options.max_prune_percent as usize;
    (all || too_many).then_some(Refusal {
        deleted,
        owned,
        max_prune_percent: options.max_prune_percent,
        all,
    })
}

/// A build of each changing app's image, for the services that run it
/// and are created or updated.
fn build_steps(apps: &[AppPlan], desired: &DesiredState) -> Vec<Step> {
    let mut steps = Vec::new();
    for app in apps {
        if !matches!(app.action, Action::Create | Action::Update) {
            continue;
        }
        let Some(build) = desired.apps.get(&app.app).and_then(|a| a.build.as_ref()) else {
            continue;
        };
        let services: Vec<String> = app
            .components
            .iter()
            .filter(|c| {
                matches!(c.action, Action::Create | Action::Update)
                    && build.services.contains(&c.name)
            })
            .map(|c| c.name.clone())
            .collect();
        if services.is_empty() {
            continue;
        }
        let context = if build.inputs.context.is_empty() {
            ".".to_string()
        } else {
            build.inputs.context.clone()
        };
        steps.push(Step {
            phase: Phase::BuildImage,
            app: app.app.clone(),
            components: services,
            build: Some(StepBuild {
                image: build.image.clone(),
                tag: build.tag.clone(),
                context,
            }),
            volumes: Vec::new(),
        });
    }
    steps
}

fn steps(apps: &[AppPlan]) -> Vec<Step> {
    let mut steps = Vec::new();
    let applying = |kind: ComponentKind, phase: Phase, steps: &mut Vec<Step>| {
        for app in apps {
            if !matches!(app.action, Action::Create | Action::Update) {
                continue;
            }
            let components: Vec<String> = app
                .components
                .iter()
                .filter(|c| c.kind == kind && matches!(c.action, Action::Create | Action::Update))
                .map(|c| c.name.clone())
                .collect();
            if !components.is_empty() {
                steps.push(Step {
                    phase,
                    app: app.app.clone(),
                    components,
                    build: None,
                    volumes: Vec::new(),
                });
            }
        }
    };
    applying(ComponentKind::Namespace, Phase::ApplyNamespaces, &mut steps);
    applying(ComponentKind::Database, Phase::ApplyDatabases, &mut steps);
    applying(ComponentKind::Service, Phase::ApplyServices, &mut steps);
    for app in apps.iter().filter(|a| a.action == Action::Update) {
        // Services before the databases they used, namespaces last.
        let mut orphaned: Vec<&ComponentPlan> = app
            .components
            .iter()
            .filter(|c| c.action == Action::Delete)
            .collect();
        orphaned.sort_by(|a, b| (b.kind, &a.name).cmp(&(a.kind, &b.name)));
        if !orphaned.is_empty() {
            steps.push(Step {
                phase: Phase::DeleteComponents,
                app: app.app.clone(),
                components: orphaned.iter().map(|c| c.name.clone()).collect(),
                build: None,
                volumes: app.volumes.clone(),
            });
        }
    }
    for app in apps.iter().filter(|a| a.action == Action::Delete) {
        steps.push(Step {
            phase: Phase::RemoveApp,
            app: app.app.clone(),
            components: Vec::new(),
            build: None,
            volumes: app.volumes.clone(),
        });
    }
    steps
}

impl Plan {
    /// The plan for people: one line per app, then its components that
    /// change, its volumes, the guard's verdict and the order of steps.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "plan: {}", self.summary.describe());
        for app in &self.apps {
            let _ = write!(
                out,
                "{} {} app {}",
                app.action.sign(),
                app.action.as_str(),
                app.app
            );
            if let Some(reason) = app.reason {
                let _ = write!(out, " ({reason})");
            }
            out.push('\n');
            if let Some(failure) = &app.failure {
                let _ = writeln!(out, "    {}:", failure.path);
                for line in failure.diagnostics.lines() {
                    let _ = writeln!(out, "    | {line}");
                }
            }
            if app.action != Action::Unchanged {
                for component in &app.components {
                    // Compose keys are names (`shop/web`); Kubernetes keys
                    // are paths of their own (`shop: Deployment/shop/web`).
                    let separator = if component.name.contains('/') {
                        ": "
                    } else {
                        "/"
                    };
                    let _ = write!(
                        out,
                        "    {} {} {} {}{separator}{}",
                        component.action.sign(),
                        component.action.as_str(),
                        component.kind.as_str(),
                        app.app,
                        component.name
                    );
                    if let Some(reason) = component.reason_text() {
                        let _ = write!(out, " ({reason})");
                    }
                    out.push('\n');
                    for line in component.diff.iter().flat_map(|d| d.lines()) {
                        let _ = writeln!(out, "        {line}");
                    }
                }
            }
            for volume in &app.volumes {
                let what = match volume.action {
                    VolumeAction::Keep => "keep volume",
                    VolumeAction::Delete => "delete volume",
                };
                let sign = match volume.action {
                    VolumeAction::Keep => '=',
                    VolumeAction::Delete => '-',
                };
                let _ = writeln!(out, "    {sign} {what} {}/{}", app.app, volume.name);
            }
        }
        for skipped in &self.skipped {
            let _ = writeln!(
                out,
                "skipped app {}: target {} ({})",
                skipped.app, skipped.target, skipped.path
            );
        }
        if let Some(refusal) = &self.refused {
            let _ = writeln!(out, "{}", refusal.describe());
        } else if !self.steps.is_empty() {
            out.push_str("order:\n");
            for (index, step) in self.steps.iter().enumerate() {
                if let Some(build) = &step.build {
                    let _ = writeln!(
                        out,
                        "  {}. build {} ({}, context {})",
                        index + 1,
                        step.components.join(", "),
                        build.tag,
                        build.context
                    );
                    continue;
                }
                let _ = write!(out, "  {}. {} {}", index + 1, step.phase.as_str(), step.app);
                if !step.components.is_empty() {
                    let _ = write!(out, ": {}", step.components.join(", "));
                }
                out.push('\n');
            }
        }
        out
    }

    /// The plan as pretty JSON, with stable field names.
    pub fn to_json(&self) -> String {
        // Plain data with string keys always serializes.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

impl Phase {
    /// The name used in text output.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BuildImage => "build image of",
            Self::ApplyNamespaces => "apply namespaces of",
            Self::ApplyDatabases => "apply databases of",
            Self::ApplyServices => "apply services of",
            Self::DeleteComponents => "delete components of",
            Self::RemoveApp => "remove app",
        }
    }
}

impl Refusal {
    /// One line saying what was refused and how to override it.
    pub fn describe(&self) -> String {
        let what = if self.all {
            format!("every owned app ({} of {})", self.deleted, self.owned)
        } else {
            format!(
                "{} of {} owned apps, more than {}%",
                self.deleted, self.owned, self.max_prune_percent
            )
        };
        format!(
            "refused: the plan deletes {what}; nothing is applied (--allow-mass-prune overrides)"
        )
    }
}
