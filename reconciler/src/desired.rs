//! Desired state: every Heliosfile under the watched path, compiled with the
//! `heliosc` library, app by app.
//!
//! This stage owns turning `(path, text)` pairs into what the planner
//! compares with live state: per app its compiled files, its components
//! (services, databases, Kubernetes objects) each with a hash of its
//! compiled spec, and the variables or Secrets it needs. The components
//! come from the compiler's structured output ([`heliosc::lower::Lowered`]),
//! never from parsing its files back. It is pure: no I/O, so the planner's
//! tests can build desired state from literal text.
//!
//! A file that fails to compile does not stop the others; it is listed in
//! [`DesiredState::failed`] with its diagnostics, and the planner holds the
//! app it names at its last applied state. Two files declaring the same app
//! name both fail: choosing one would silently deploy whichever sorts first.

use heliosc::ir::Target;
use heliosc::lower::{Component, Lowered};
use heliosc::{CheckOptions, LowerOptions, OutputFile};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// How to compile the apps.
#[derive(Clone, Debug)]
pub struct DesiredOptions {
    /// The backend's target: the apps whose `target:` (default `compose`)
    /// is this one are lowered to it; the others are skipped.
    pub target: Target,
    /// Options for lowering (image overrides, tag, Kubernetes options).
    pub lower: LowerOptions,
}

impl Default for DesiredOptions {
    fn default() -> Self {
        Self {
            target: Target::Compose,
            lower: LowerOptions::default(),
        }
    }
}

/// What a component of an app is: it decides the order of apply. The
/// compiler's, so that both sides name components alike.
pub use heliosc::lower::ComponentKind;

/// One component of a desired app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredComponent {
    /// What it is.
    pub kind: ComponentKind,
    /// Compose: the `dev.helios.spec-hash` label the compiler put on the
    /// service. Kubernetes: SHA-256 of the object's YAML text (the backend
    /// records it on the object as an annotation when it applies it).
    pub spec_hash: String,
    /// Compose: how many containers run it (`replicas`; 1 for a
    /// database), so that a missing or an extra one is drift. `None` where
    /// the backend counts for itself (Kubernetes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    /// A keyed digest of every secret value the component uses (user
    /// secrets, database passwords), carried by what runs it, so that a
    /// rotated value recreates exactly the components that use it. `None`
    /// when it uses none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets_digest: Option<String>,
    /// The keyed digest of each secret value it uses, by secret
    /// (`STRIPE_KEY`, `db.PASSWORD`): recorded when applied, so that a plan
    /// can say which one changed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secret_digests: BTreeMap<String, String>,
    /// The component's YAML text, as compiled (Compose: the service's
    /// mapping; Kubernetes: the object). It holds references to secrets,
    /// never values.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub spec: String,
    /// The Heliosfile service or database it belongs to; the app's name
    /// for a Namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub owner: String,
}

impl DesiredComponent {
    /// The desired state of a compiled component, with the digests of the
    /// secret values its owner uses.
    pub fn of(component: &Component, digests: &SecretDigests) -> Self {
        let secrets = digests.components.get(&component.owner);
        Self {
            kind: component.kind,
            spec_hash: component.spec_hash.clone(),
            replicas: component.replicas,
            secrets_digest: secrets.map(|s| s.digest.clone()),
            secret_digests: secrets.map(|s| s.by_secret.clone()).unwrap_or_default(),
            spec: component.spec.clone(),
            owner: component.owner.clone(),
        }
    }
}

/// One app that compiled.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredApp {
    /// The app's name.
    pub name: String,
    /// Its Heliosfile's path, as given.
    pub source_path: String,
    /// The compiled files (`compose.yaml`, `manifests.yaml`, ...): those
    /// of [`lowered`](Self::lowered). They hold references to secrets,
    /// never values.
    pub files: Vec<OutputFile>,
    /// The compiler's structured output: every component as data (the
    /// Compose service or the Kubernetes object to apply).
    pub lowered: Lowered,
    /// Components by key: the service or database name for Compose;
    /// `Kind/namespace/name` (or `Kind/name`) for Kubernetes.
    pub components: BTreeMap<String, DesiredComponent>,
    /// Data volumes the app uses (Compose: `<db>-data`, unprefixed; the
    /// compiler's [`Lowered::volumes`]).
    pub volumes: BTreeSet<String>,
    /// Database names, sorted.
    pub databases: Vec<String>,
    /// Compose: every variable the compose file interpolates (database
    /// passwords, user secrets), sorted.
    pub required_variables: Vec<String>,
    /// Kubernetes: every Secret the manifests read, with its keys.
    pub required_secrets: BTreeMap<String, BTreeSet<String>>,
    /// Names of the user secrets the app declares, sorted.
    pub user_secrets: Vec<String>,
    /// The image built from the config repo that some of its services run,
    /// when they do (and a source tag was given).
    pub build: Option<AppBuild>,
}

/// An app's image built from the config repo.
#[derive(Clone, Debug, PartialEq)]
pub struct AppBuild {
    /// `<image>:<tag>`: the Heliosfile's `image:` repository and the
    /// source tag ([`heliosc::source_tag`]).
    pub image: String,
    /// The source tag (`src-3f2a9c1b7d4e`).
    pub tag: String,
    /// How it is built (Dockerfile or buildpacks).
    pub build: heliosc::ir::Build,
    /// Its inputs, as paths of the config repo.
    pub inputs: heliosc::source_tag::BuildInputs,
    /// The services that run it, sorted.
    pub services: Vec<String>,
}

/// What the caller gives each app that checks clean, before it is lowered.
#[derive(Clone, Debug, Default)]
pub struct AppInputs {
    /// The digests of the secret values its components use.
    pub digests: SecretDigests,
    /// The source tag of its built image at the reconciled commit, when it
    /// runs one.
    pub source_tag: Option<String>,
}

/// A Heliosfile that did not give a desired app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FailedApp {
    /// Its path, as given.
    pub path: String,
    /// The app name it declares, when its `name:` could be read. The
    /// planner holds that app as last applied.
    pub name: Option<String>,
    /// Every diagnostic, rendered plain.
    pub diagnostics: String,
}

/// A Heliosfile whose `target:` is another backend's: not this
/// reconciler's app. It is neither applied nor held, and said so in plans
/// and statuses, so that a wrong `target:` is never silent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedApp {
    /// The app's name.
    pub app: String,
    /// The Heliosfile's path.
    pub path: String,
    /// Its `target:` (`compose`, `kubernetes`).
    pub target: String,
}

/// Every app under the watched path.
#[derive(Clone, Debug, Default)]
pub struct DesiredState {
    /// Apps that compiled, by name.
    pub apps: BTreeMap<String, DesiredApp>,
    /// Files that did not compile (or declared a name another file also
    /// declares), sorted by path.
    pub failed: Vec<FailedApp>,
    /// Apps for another backend (their `target:`), sorted by path.
    pub skipped: Vec<SkippedApp>,
}

impl DesiredState {
    /// Whether `name` is an app of a file that failed: the planner must
    /// neither change nor delete it.
    pub fn is_held(&self, name: &str) -> bool {
        self.failed.iter().any(|f| f.name.as_deref() == Some(name))
    }

    /// Whether some file failed without a readable name: it may be any
    /// app, so no app can safely be called orphaned.
    pub fn has_unattributed_failure(&self) -> bool {
        self.failed.iter().any(|f| f.name.is_none())
    }
}

/// The keyed digests of the secret values an app's components use, from
/// the cycle, which knows the values ([`crate::secrets`]); this stage sees
/// only digests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretDigests {
    /// Per Heliosfile service or database name: every component it owns
    /// ([`Component::owner`]) carries its digests, on either target.
    pub components: BTreeMap<String, ComponentSecrets>,
}

/// The keyed digests of the secret values one component uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ComponentSecrets {
    /// One digest over all of them, carried by what runs the component.
    pub digest: String,
    /// One per secret (`STRIPE_KEY`, `db.PASSWORD`).
    pub by_secret: BTreeMap<String, String>,
}

/// Compiles every `(path, text)` Heliosfile, each on its own, with no
/// secret values known (the planner's tests, `heliosc`-like use).
pub fn desired_state(files: &[(String, String)], options: &DesiredOptions) -> DesiredState {
    desired_state_with(files, options, &mut |_, _| Ok(AppInputs::default()))
}

/// Compiles every `(path, text)` Heliosfile, each on its own. `inputs`
/// is asked, for each app that checks clean (with its path), the digests
/// of the secret values its components use and its source tag; an error
/// (a declared secret without a value, a value that cannot be delivered, a
/// build context missing from the commit) holds the app with that message
/// as its diagnostic, so nothing of it is applied.
pub fn desired_state_with(
    files: &[(String, String)],
    options: &DesiredOptions,
    inputs: &mut dyn FnMut(&str, &heliosc::ir::App) -> Result<AppInputs, String>,
) -> DesiredState {
    let mut lower = options.lower.clone();
    // The reconciler reads the single manifest stream; split files would
    // each be one opaque object.
    lower.kubernetes.split = false;

    let mut skipped = Vec::new();
    let mut compiled: Vec<Result<DesiredApp, FailedApp>> = Vec::new();
    for (path, text) in files {
        match compile_one(path, text, options.target, &lower, inputs) {
            Ok(Compiled::App(app)) => compiled.push(Ok(*app)),
            Ok(Compiled::Skipped(app)) => skipped.push(app),
            Err(failed) => compiled.push(Err(failed)),
        }
    }

    // Duplicate names fail every file that declares them.
    let mut paths_by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for result in &compiled {
        let (name, path) = match result {
            Ok(app) => (Some(&app.name), &app.source_path),
            Err(failed) => (failed.name.as_ref(), &failed.path),
        };
        if let Some(name) = name {
            paths_by_name
                .entry(name.clone())
                .or_default()
                .push(path.clone());
        }
    }
    for result in &mut compiled {
        let (name, path) = match result {
            Ok(app) => (app.name.clone(), app.source_path.clone()),
            Err(failed) => match &failed.name {
                Some(name) => (name.clone(), failed.path.clone()),
                None => continue,
            },
        };
        let Some(paths) = paths_by_name.get(&name).filter(|p| p.len() > 1) else {
            continue;
        };
        let others: Vec<String> = paths
            .iter()
            .filter(|p| **p != path)
            .map(|p| format!("`{p}`"))
            .collect();
        let message = format!(
            "error: app name `{name}` is also declared by {}; every app needs its own name, so none of them is applied\n",
            others.join(", ")
        );
        match result {
            Ok(_) => {
                *result = Err(FailedApp {
                    path,
                    name: Some(name),
                    diagnostics: message,
                });
            }
            Err(failed) => failed.diagnostics.push_str(&message),
        }
    }

    let mut state = DesiredState::default();
    for result in compiled {
        match result {
            Ok(app) => {
                state.apps.insert(app.name.clone(), app);
            }
            Err(failed) => state.failed.push(failed),
        }
    }
    state.failed.sort_by(|a, b| a.path.cmp(&b.path));
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    state.skipped = skipped;
    state
}

/// What one Heliosfile gives when it does not fail.
enum Compiled {
    /// An app of this reconciler's backend.
    App(Box<DesiredApp>),
    /// An app for another backend.
    Skipped(SkippedApp),
}

fn compile_one(
    path: &str,
    text: &str,
    target: Target,
    lower: &LowerOptions,
    inputs: &mut dyn FnMut(&str, &heliosc::ir::App) -> Result<AppInputs, String>,
) -> Result<Compiled, FailedApp> {
    let check = CheckOptions {
        folder_depth_in_repo: folder_depth(path),
    };
    let checked = heliosc::check_with(path, text, &check);
    let fail = |diagnostics: String| FailedApp {
        path: path.to_string(),
        name: heliosc::parse::declared_name(text),
        diagnostics,
    };
    // Another backend's app: skipped before its secrets are looked at, so
    // that a value this host does not have holds nothing.
    if let Some(app) = &checked.app
        && app.target != target
    {
        return Ok(Compiled::Skipped(SkippedApp {
            app: app.name.clone(),
            path: path.to_string(),
            target: app.target.as_str().to_string(),
        }));
    }
    let AppInputs {
        digests,
        source_tag,
    } = match &checked.app {
        Some(app) => inputs(path, app).map_err(|message| fail(format!("error: {message}\n")))?,
        None => AppInputs::default(),
    };
    let build = match (&checked.app, &source_tag) {
        (Some(app), Some(tag)) => {
            app_build(path, app, tag).map_err(|e| fail(format!("error: {e}\n")))?
        }
        _ => None,
    };
    let mut lower = lower.clone();
    lower.secrets_digests = digests
        .components
        .iter()
        .map(|(name, c)| (name.clone(), c.digest.clone()))
        .collect();
    if let Some(build) = &build {
        lower.tag = Some(build.tag.clone());
    }
    let built = heliosc::lower_checked(checked, Some(target), &lower);
    if built.has_errors() {
        return Err(fail(built.render(text)));
    }
    let (Some(app), Some(lowered)) = (built.app, built.lowered) else {
        return Err(fail(
            "error: the compiler gave neither an error nor an output\n".to_string(),
        ));
    };
    let components = lowered
        .components
        .iter()
        .map(|component| {
            (
                component.key.clone(),
                DesiredComponent::of(component, &digests),
            )
        })
        .collect();
    let (required_variables, required_secrets) = match target {
        Target::Compose => (
            heliosc::lower::compose::required_variables(&app),
            BTreeMap::new(),
        ),
        Target::Kubernetes => (
            Vec::new(),
            heliosc::lower::kubernetes::required_secrets(&app),
        ),
    };
    Ok(Compiled::App(Box::new(DesiredApp {
        name: app.name,
        source_path: path.to_string(),
        files: lowered.files.clone(),
        components,
        volumes: lowered.volumes.iter().cloned().collect(),
        lowered,
        databases: app.databases.into_keys().collect(),
        required_variables,
        required_secrets,
        user_secrets: app.secrets,
        build,
    })))
}

/// The built image of `app` (Heliosfile at `path`) with `tag`, if some
/// service runs it.
fn app_build(path: &str, app: &heliosc::ir::App, tag: &str) -> Result<Option<AppBuild>, String> {
    let services: Vec<String> = app
        .services
        .values()
        .filter(|s| s.image.is_none())
        .map(|s| s.name.clone())
        .collect();
    let Some(repository) = &app.image_repository else {
        return Ok(None);
    };
    if services.is_empty() {
        return Ok(None);
    }
    Ok(Some(AppBuild {
        image: format!("{repository}:{tag}"),
        tag: tag.to_string(),
        build: app.build.clone(),
        inputs: heliosc::source_tag::build_inputs(path, &app.build)?,
        services,
    }))
}

/// How many folders deep the Heliosfile is in the repository, so that the
/// checker knows how far `..` may go.
fn folder_depth(path: &str) -> usize {
    path.split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .count()
        .saturating_sub(1)
}

/// SHA-256 of `text`, in lowercase hex.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect()
    }

    const SHOP: &str = "name: shop\nversion: 1\nservices:\n  web: { image: nginx:1.27, http_port: 80 }\ndatabases:\n  db: { type: postgresql }\n";

    #[test]
    fn compose_apps_have_services_databases_and_variables() {
        let state = desired_state(
            &files(&[("apps/shop/Heliosfile", SHOP)]),
            &DesiredOptions::default(),
        );
        assert!(state.failed.is_empty(), "{:?}", state.failed);
        let shop = &state.apps["shop"];
        assert_eq!(shop.source_path, "apps/shop/Heliosfile");
        assert_eq!(shop.components["web"].kind, ComponentKind::Service);
        assert_eq!(shop.components["db"].kind, ComponentKind::Database);
        assert_eq!(shop.components["web"].spec_hash.len(), 64);
        assert_eq!(shop.databases, ["db"]);
        assert_eq!(shop.required_variables, ["HELIOS_DB_PASSWORD"]);
        assert!(shop.volumes.contains("db-data"));
        assert!(shop.files.iter().any(|f| f.path == "compose.yaml"));
    }

    #[test]
    fn kubernetes_apps_have_one_component_per_object() {
        let options = DesiredOptions {
            target: Target::Kubernetes,
            ..Default::default()
        };
        let shop_on_kubernetes =
            SHOP.replacen("version: 1\n", "version: 1\ntarget: kubernetes\n", 1);
        let state = desired_state(
            &files(&[("shop/Heliosfile", &shop_on_kubernetes)]),
            &options,
        );
        assert!(state.failed.is_empty(), "{:?}", state.failed);
        let shop = &state.apps["shop"];
        let keys: Vec<&str> = shop.components.keys().map(String::as_str).collect();
        assert!(keys.contains(&"Namespace/shop"), "{keys:?}");
        assert!(keys.contains(&"Deployment/shop/web"), "{keys:?}");
        assert_eq!(
            shop.components["Namespace/shop"].kind,
            ComponentKind::Namespace
        );
        assert_eq!(
            shop.components["StatefulSet/shop/db"].kind,
            ComponentKind::Database
        );
        assert!(shop.required_secrets.contains_key("db-credentials"));
    }

    #[test]
    fn apps_for_another_backend_are_skipped_not_held() {
        let on_kubernetes = SHOP.replacen("version: 1\n", "version: 1\ntarget: kubernetes\n", 1);
        let blog = "name: blog\nversion: 1\nservices:\n  web: { image: ghost:5 }\n";
        let files = files(&[
            ("shop/Heliosfile", &on_kubernetes),
            ("blog/Heliosfile", blog),
        ]);
        // A Compose reconciler: shop is the cluster's.
        let compose = desired_state(&files, &DesiredOptions::default());
        assert_eq!(compose.apps.keys().collect::<Vec<_>>(), ["blog"]);
        assert!(compose.failed.is_empty(), "{:?}", compose.failed);
        assert_eq!(
            compose.skipped,
            [SkippedApp {
                app: "shop".to_string(),
                path: "shop/Heliosfile".to_string(),
                target: "kubernetes".to_string(),
            }]
        );
        // A Kubernetes reconciler: blog (target defaults to compose) is
        // the Docker host's.
        let kubernetes = desired_state(
            &files,
            &DesiredOptions {
                target: Target::Kubernetes,
                ..Default::default()
            },
        );
        assert_eq!(kubernetes.apps.keys().collect::<Vec<_>>(), ["shop"]);
        assert_eq!(kubernetes.skipped.len(), 1);
        assert_eq!(kubernetes.skipped[0].app, "blog");
        assert_eq!(kubernetes.skipped[0].target, "compose");
    }

    #[test]
    fn a_changed_service_changes_only_its_hash() {
        let before = desired_state(&files(&[("Heliosfile", SHOP)]), &DesiredOptions::default());
        let changed = SHOP.replace("nginx:1.27", "nginx:1.28");
        let after = desired_state(
            &files(&[("Heliosfile", &changed)]),
            &DesiredOptions::default(),
        );
        let (b, a) = (&before.apps["shop"], &after.apps["shop"]);
        assert_ne!(b.components["web"], a.components["web"]);
        assert_eq!(b.components["db"], a.components["db"]);
    }

    #[test]
    fn a_failing_app_does_not_stop_the_others_and_keeps_its_name() {
        let broken = "name: blog\nversion: 1\nservices:\n  web: { image: 12 }\n  x: {}\n";
        let state = desired_state(
            &files(&[("shop/Heliosfile", SHOP), ("blog/Heliosfile", broken)]),
            &DesiredOptions::default(),
        );
        assert!(state.apps.contains_key("shop"));
        assert_eq!(state.failed.len(), 1);
        assert_eq!(state.failed[0].name.as_deref(), Some("blog"));
        assert!(
            state.failed[0].diagnostics.contains("H0"),
            "{}",
            state.failed[0].diagnostics
        );
        assert!(state.is_held("blog"));
        assert!(!state.has_unattributed_failure());
    }

    #[test]
    fn unreadable_yaml_is_an_unattributed_failure() {
        let state = desired_state(
            &files(&[("x/Heliosfile", "name: [unclosed\n")]),
            &DesiredOptions::default(),
        );
        assert_eq!(state.failed[0].name, None);
        assert!(state.has_unattributed_failure());
    }

    #[test]
    fn duplicate_names_fail_both_files() {
        let state = desired_state(
            &files(&[("a/Heliosfile", SHOP), ("b/Heliosfile", SHOP)]),
            &DesiredOptions::default(),
        );
        assert!(state.apps.is_empty());
        assert_eq!(state.failed.len(), 2);
        assert!(state.failed[0].diagnostics.contains("`b/Heliosfile`"));
        assert!(state.failed[1].diagnostics.contains("`a/Heliosfile`"));
        assert!(state.is_held("shop"));
    }

    #[test]
    fn parent_folders_count_for_build_contexts() {
        assert_eq!(folder_depth("Heliosfile"), 0);
        assert_eq!(folder_depth("apps/api/Heliosfile"), 2);
        assert_eq!(folder_depth("./api/Heliosfile"), 1);
    }
}
