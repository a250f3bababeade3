//! End-to-end scenarios of the reconciler on its Kubernetes backend: whole
//! cycles (`Reconciler::reconcile`) from a config repo (a git repository
//! in a temp dir, fetched by path) and a real state directory, against a
//! *stateful* mock of the Kubernetes API server (`common/kube_server.rs`:
//! kube's `tower-test` mock service answered from an in-memory store, with
//! the API server's semantics and recorded answer shapes).
//!
//! What is tested: a first deploy of two apps (objects, labels, generated
//! credentials, inventory ConfigMaps); a changed env value and a changed
//! replica count re-apply only the Deployment concerned; a removed app is
//! pruned (only its objects; volume claims and the Namespace holding them
//! kept without `--prune-volumes`); a Heliosfile that does not compile
//! holds its app while the others go on; the mass-prune guard; a restart
//! and a lost state directory on the same cluster; one instance per state
//! directory; unchanged commits and idle cycles write nothing; a hand edit
//! is taken back when a drift check is due.

mod common;
#[path = "common/kube_server.rs"]
mod kube_server;

use helios_reconciler::backends::kubernetes::{KubernetesBackend, KubernetesOptions};
use helios_reconciler::cycle::{CycleOptions, CycleReport, Outcome, Reconciler};
use helios_reconciler::desired::DesiredOptions;
use helios_reconciler::lock::{LockError, StateLock};
use helios_reconciler::plan::PlanOptions;
use helios_reconciler::source::{GitSource, SourceConfig};
use helios_reconciler::state::{AppResult, StateDir};
use kube_server::{KubeServer, ObjectKey};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

const SHOP: &str = "name: shop
version: 1
target: kubernetes
services:
  web:
    image: nginx:1.27
    http_port: 80
    env:
      GREETING: hello
      DATABASE_URL: ${db.URL}
databases:
  db: { type: postgresql }
";

const BLOG: &str = "name: blog
version: 1
target: kubernetes
services:
  web:
    image: ghost:5
    http_port: 2368
";

/// The labels every owned object carries.
const APP_LABEL: &str = "dev.helios.app";
const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// A config repo, a state directory and a cluster.
struct World {
    dir: tempfile::TempDir,
    repo: git2::Repository,
    server: KubeServer,
}

impl World {
    /// A config repo with `files` committed, and an empty cluster.
    fn new(files: &[(&str, Option<&str>)]) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let repo = common::config_repo(&dir.path().join("config"));
        let world = Self {
            dir,
            repo,
            server: KubeServer::new(),
        };
        world.commit(files);
        world
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Writes (`Some`) or deletes (`None`) files, then commits them all.
    fn commit(&self, files: &[(&str, Option<&str>)]) {
        common::commit_all(&self.repo, files);
    }

    /// A reconciler on `state_dir`, with a new backend (a new client) on
    /// the cluster.
    fn reconciler_on(&self, state_dir: &Path) -> Reconciler<KubernetesBackend> {
        let url = self
            .repo
            .workdir()
            .expect("a work tree")
            .to_string_lossy()
            .into_owned();
        let state = StateDir::open_or_init(state_dir).expect("the state dir");
        let source =
            GitSource::open(SourceConfig::new(url, "main"), state_dir).expect("the source");
        let backend = self.server.backend(KubernetesOptions::default());
        Reconciler::new(source, state, backend, options())
    }

    fn reconciler(&self) -> Reconciler<KubernetesBackend> {
        self.reconciler_on(&self.state_dir())
    }
}

fn options() -> CycleOptions {
    CycleOptions {
        desired: DesiredOptions {
            target: heliosc::ir::Target::Kubernetes,
            ..DesiredOptions::default()
        },
        plan: PlanOptions {
            prune_volumes: false,
            ..PlanOptions::default()
        },
        drift_interval: Duration::from_secs(3600),
        health_timeout: Duration::from_millis(300),
        health_poll: Duration::from_millis(10),
        ..CycleOptions::default()
    }
}

async fn cycle(reconciler: &mut Reconciler<KubernetesBackend>) -> CycleReport {
    reconciler.reconcile().await.expect("a cycle")
}

fn result_of(report: &CycleReport, app: &str) -> Option<AppResult> {
    report
        .apps
        .iter()
        .find(|a| a.app == app)
        .and_then(|a| a.result)
}

/// Whether a request path addresses namespace `namespace` or something in it.
fn in_namespace(line: &str, namespace: &str) -> bool {
    line.contains(&format!("/namespaces/{namespace}/"))
        || line.contains(&format!("/namespaces/{namespace}?"))
        || line.ends_with(&format!("/namespaces/{namespace}"))
}

/// Shop and blog deployed, the requests forgotten.
async fn deployed() -> (World, Reconciler<KubernetesBackend>) {
    let world = World::new(&[
        ("shop/Heliosfile", Some(SHOP)),
        ("blog/Heliosfile", Some(BLOG)),
    ]);
    let mut reconciler = world.reconciler();
    let report = cycle(&mut reconciler).await;
    assert!(report.converged, "{report:#?}");
    world.server.clear_requests();
    (world, reconciler)
}

#[tokio::test]
async fn a_first_deploy_creates_every_object_labelled_with_credentials_and_inventories() {
    let world = World::new(&[
        ("shop/Heliosfile", Some(SHOP)),
        ("blog/Heliosfile", Some(BLOG)),
    ]);
    let mut reconciler = world.reconciler();
    let report = cycle(&mut reconciler).await;
    assert!(report.converged, "{report:#?}");
    assert_eq!(report.outcome, Outcome::Applied);
    assert_eq!(report.counts.created, 2, "{report:#?}");
    assert_eq!(result_of(&report, "shop"), Some(AppResult::Healthy));
    assert_eq!(result_of(&report, "blog"), Some(AppResult::Healthy));

    let server = &world.server;
    // Every request went through the API server's checks: nothing refused.
    let writes = server.real_writes();
    assert!(
        writes
            .iter()
            .any(|l| l.starts_with("PATCH /api/v1/namespaces/shop?")),
        "{writes:#?}"
    );
    for app in ["shop", "blog"] {
        let namespace = server
            .get(&ObjectKey::namespace_object(app))
            .unwrap_or_else(|| panic!("Namespace {app}: {:#?}", server.keys()));
        assert_eq!(namespace["metadata"]["labels"][APP_LABEL], app);
        let web = server
            .get(&ObjectKey::deployment(app, "web"))
            .unwrap_or_else(|| panic!("Deployment {app}/web: {:#?}", server.keys()));
        assert_eq!(web["metadata"]["generation"], 1);
        assert_eq!(web["status"]["readyReplicas"], 1);
        let inventory = server
            .get(&ObjectKey::config_map(
                app,
                &format!("helios-inventory-{app}"),
            ))
            .unwrap_or_else(|| panic!("inventory of {app}: {:#?}", server.keys()));
        assert_eq!(inventory["metadata"]["labels"]["dev.helios.inventory"], app);
        let text = inventory["data"]["inventory.yaml"].as_str().expect("data");
        assert!(text.contains("Deployment"), "{text}");
        assert!(text.contains(&format!("{app}/Heliosfile")), "{text}");
    }
    // Every object Helios applied carries the ownership labels (the
    // inventory ConfigMaps their own label).
    let objects = server.objects();
    assert!(objects.len() >= 10, "{:#?}", server.keys());
    for (key, object) in &objects {
        let labels = &object["metadata"]["labels"];
        assert_eq!(labels[MANAGED_BY_LABEL], "helios", "{key:?}");
        if key.name.starts_with("helios-inventory-") {
            continue;
        }
        let app = labels[APP_LABEL].as_str().unwrap_or_default();
        assert!(app == "shop" || app == "blog", "{key:?}: {labels}");
        let namespace = if key.namespace.is_empty() {
            &key.name
        } else {
            &key.namespace
        };
        assert_eq!(namespace, app, "{key:?}");
    }
    let deployment = server
        .get(&ObjectKey::deployment("shop", "web"))
        .expect("shop's web");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "nginx:1.27");
    let env = container["env"].as_array().expect("env");
    assert!(
        env.iter()
            .any(|e| e["name"] == "GREETING" && e["value"] == "hello"),
        "{env:#?}"
    );
    assert_eq!(
        deployment["spec"]["template"]["metadata"]["labels"][APP_LABEL],
        "shop"
    );
    assert!(
        server.get(&ObjectKey::stateful_set("shop", "db")).is_some(),
        "{:#?}",
        server.keys()
    );
    // The generated credentials, created (never applied).
    let credentials = server
        .get(&ObjectKey::secret("shop", "db-credentials"))
        .unwrap_or_else(|| panic!("the credentials: {:#?}", server.keys()));
    assert_eq!(credentials["metadata"]["labels"][APP_LABEL], "shop");
    assert_eq!(
        credentials["data"]["password"].as_str().map(str::len),
        Some(60),
        "base64 of 43 characters"
    );
    assert_eq!(
        writes
            .iter()
            .filter(|l| l.starts_with("POST "))
            .cloned()
            .collect::<Vec<_>>(),
        ["POST /api/v1/namespaces/shop/secrets?&fieldManager=helios"]
    );
    let inventory = reconciler.state().read_inventory().expect("the inventory");
    assert_eq!(inventory.apps.keys().collect::<Vec<_>>(), ["blog", "shop"]);
}

#[tokio::test]
async fn a_changed_env_value_reapplies_only_that_apps_deployment() {
    let (world, mut reconciler) = deployed().await;
    let before = world
        .server
        .get(&ObjectKey::deployment("shop", "web"))
        .expect("shop's web");
    world.commit(&[(
        "shop/Heliosfile",
        Some(&SHOP.replace("GREETING: hello", "GREETING: bonjour")),
    )]);
    let report = cycle(&mut reconciler).await;
    assert!(report.converged, "{report:#?}");
    assert_eq!(report.outcome, Outcome::Applied);
    assert_eq!(report.counts.updated, 1, "{report:#?}");
    assert_eq!(report.counts.unchanged, 1, "{report:#?}");
    let patches: Vec<String> = world
        .server
        .real_writes()
        .into_iter()
        .filter(|l| l.starts_with("PATCH"))
        .collect();
    assert_eq!(
        patches,
        ["PATCH /apis/apps/v1/namespaces/shop/deployments/web?&fieldManager=helios"]
    );
    assert_eq!(world.server.real_writes(), patches, "nothing else written");
    let after = world
        .server
        .get(&ObjectKey::deployment("shop", "web"))
        .expect("shop's web");
    assert_eq!(after["metadata"]["generation"], 2);
    assert_eq!(after["metadata"]["uid"], before["metadata"]["uid"]);
    let env = after["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env")
        .clone();
    assert!(
        env.iter()
            .any(|e| e["name"] == "GREETING" && e["value"] == "bonjour"),
        "{env:#?}"
    );
}

#[tokio::test]
async fn a_changed_replica_count_is_stored_on_the_deployment() {
    let (world, mut reconciler) = deployed().await;
    world.commit(&[(
        "blog/Heliosfile",
        Some(&BLOG.replace(
            "    http_port: 2368\n",
            "    http_port: 2368\n    replicas: 3\n",
        )),
    )]);
    let report = cycle(&mut reconciler).await;
    assert!(report.converged, "{report:#?}");
    assert_eq!(result_of(&report, "blog"), Some(AppResult::Healthy));
    let web = world
        .server
        .get(&ObjectKey::deployment("blog", "web"))
        .expect("blog's web");
    assert_eq!(web["spec"]["replicas"], 3);
    assert_eq!(web["status"]["readyReplicas"], 3);
    let writes = world.server.real_writes();
    assert!(
        writes.iter().all(|l| in_namespace(l, "blog")),
        "shop untouched: {writes:#?}"
    );
    assert!(
        writes.contains(
            &"PATCH /apis/apps/v1/namespaces/blog/deployments/web?&fieldManager=helios".to_string()
        ),
        "{writes:#?}"
    );
}

#[tokio::test]
async fn a_removed_app_is_pruned_keeping_its_claims_and_their_namespace() {
    let (world, mut reconciler) = deployed().await;
    // The claim the database's StatefulSet made.
    world.server.insert(
        ObjectKey::claim("shop", "data-db-0"),
        json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"labels": {APP_LABEL: "shop"}},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        }),
    );
    let blog_before: Vec<(ObjectKey, Value)> = world
        .server
        .objects()
        .into_iter()
        .filter(|(k, _)| k.namespace == "blog" || k.name == "blog")
        .collect();
    world.commit(&[("shop/Heliosfile", None)]);
    let report = cycle(&mut reconciler).await;
    assert!(report.converged, "{report:#?}");
    assert_eq!(result_of(&report, "shop"), Some(AppResult::Removed));
    assert_eq!(report.counts.deleted, 1, "{report:#?}");

    let requests = world.server.requests();
    let deletes: Vec<String> = requests
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(kube_server::Recorded::line)
        .collect();
    assert!(!deletes.is_empty(), "{:#?}", world.server.lines());
    assert!(
        deletes.iter().all(|l| in_namespace(l, "shop")),
        "only shop's objects: {deletes:#?}"
    );
    assert!(
        deletes
            .iter()
            .all(|l| !l.contains("persistentvolumeclaims")),
        "no claim without --prune-volumes: {deletes:#?}"
    );
    assert!(
        !deletes
            .iter()
            .any(|l| l.starts_with("DELETE /api/v1/namespaces/shop?")),
        "the Namespace holds a claim: {deletes:#?}"
    );
    for line in [
        "DELETE /apis/apps/v1/namespaces/shop/deployments/web?",
        "DELETE /apis/apps/v1/namespaces/shop/statefulsets/db?",
    ] {
        assert!(deletes.contains(&line.to_string()), "{deletes:#?}");
    }
    // Nothing of the app's workloads is left; its claim and Namespace are.
    let server = &world.server;
    assert!(server.get(&ObjectKey::deployment("shop", "web")).is_none());
    assert!(server.get(&ObjectKey::stateful_set("shop", "db")).is_none());
    assert!(server.get(&ObjectKey::claim("shop", "data-db-0")).is_some());
    assert!(server.get(&ObjectKey::namespace_object("shop")).is_some());
    let left: Vec<ObjectKey> = server
        .keys()
        .into_iter()
        .filter(|k| k.namespace == "shop")
        .filter(|k| {
            !matches!(
                k.plural.as_str(),
                "secrets" | "configmaps" | "persistentvolumeclaims"
            )
        })
        .collect();
    assert!(left.is_empty(), "{left:#?}");
    let shop = report.apps.iter().find(|a| a.app == "shop").expect("shop");
    assert!(
        shop.diagnostics
            .iter()
            .any(|d| d.contains("Namespace shop kept") && d.contains("data-db-0")),
        "{shop:#?}"
    );
    // Blog: not a write, not a change.
    assert!(
        requests
            .iter()
            .filter(|r| r.is_real_write())
            .all(|r| !in_namespace(&r.line(), "blog")),
        "{:#?}",
        world.server.lines()
    );
    let blog_after: Vec<(ObjectKey, Value)> = world
        .server
        .objects()
        .into_iter()
        .filter(|(k, _)| k.namespace == "blog" || k.name == "blog")
        .collect();
    assert_eq!(blog_after, blog_before);
    // The kept claim stays in the inventory: the app is still owned.
    let inventory = reconciler.state().read_inventory().expect("the inventory");
    assert!(
        inventory
            .apps
            .get("shop")
            .is_some_and(|a| a.components.is_empty() && a.volumes.contains("data-db-0")),
        "{inventory:#?}"
    );

    // The next commit: nothing left to delete, nothing written.
    world.server.clear_requests();
    world.commit(&[("README.md", Some("# config\n"))]);
    let report = cycle(&mut reconciler).await;
    assert!(report.converged, "{report:#?}");
    // The kept Namespace is not a component to delete again.
    assert_eq!(report.outcome, Outcome::Unchanged, "{report:#?}");
    assert!(
        world.server.real_writes().is_empty(),
        "{:#?}",
        world.server.lines()
    );
    assert!(
        world
            .server
            .get(&ObjectKey::claim("shop", "data-db-0"))
            .is_some()
    );
}

#[tokio::test]
async fn a_heliosfile_that_does_not_compile_holds_its_app_and_the_others_go_on() {
    let (world, mut reconciler) = deployed().await;
    world.commit(&[
        (
            "shop/Heliosfile",
            Some(&SHOP.replace(
                "    http_port: 80\n",
                "    http_port: 80\n    replicas: lots\n",
            )),
        ),
        (
            "blog/Heliosfile",
            Some(&BLOG.replace("ghost:5", "ghost:5.1")),
        ),
    ]);
    let report = cycle(&mut reconciler).await;
    assert!(!report.converged, "{report:#?}");
    assert_eq!(
        result_of(&report, "shop"),
        Some(AppResult::Held),
        "{report:#?}"
    );
    assert_eq!(result_of(&report, "blog"), Some(AppResult::Healthy));
    let shop = report.apps.iter().find(|a| a.app == "shop").expect("shop");
    assert!(
        shop.diagnostics.iter().any(|d| d.contains("replicas")),
        "{shop:#?}"
    );
    let writes: Vec<String> = world
        .server
        .requests()
        .iter()
        .filter(|r| r.is_write())
        .map(kube_server::Recorded::line)
        .collect();
    assert!(
        writes.iter().all(|l| !in_namespace(l, "shop")),
        "nothing of shop written: {writes:#?}"
    );
    assert!(
        writes.contains(
            &"PATCH /apis/apps/v1/namespaces/blog/deployments/web?&fieldManager=helios".to_string()
        ),
        "{writes:#?}"
    );
    let blog = world
        .server
        .get(&ObjectKey::deployment("blog", "web"))
        .expect("blog's web");
    assert_eq!(
        blog["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghost:5.1"
    );
    // Shop is still there as it was.
    assert!(
        world
            .server
            .get(&ObjectKey::deployment("shop", "web"))
            .is_some()
    );
}

#[tokio::test]
async fn deleting_every_heliosfile_is_refused_by_the_guard() {
    let (world, mut reconciler) = deployed().await;
    let before = world.server.objects();
    world.commit(&[
        ("shop/Heliosfile", None),
        ("blog/Heliosfile", None),
        ("README.md", Some("nothing here\n")),
    ]);
    let report = cycle(&mut reconciler).await;
    assert!(matches!(report.outcome, Outcome::Refused(_)), "{report:#?}");
    assert!(!report.converged);
    let lines = world.server.lines();
    assert!(lines.iter().all(|l| !l.starts_with("DELETE")), "{lines:#?}");
    assert!(world.server.real_writes().is_empty(), "{lines:#?}");
    assert_eq!(world.server.objects(), before);
}

#[tokio::test]
async fn a_restarted_reconciler_writes_nothing_on_an_unchanged_commit() {
    let (world, reconciler) = deployed().await;
    drop(reconciler);
    // A new process: a new backend on a new connection, the same state
    // directory and cluster.
    let mut restarted = world.reconciler();
    let report = cycle(&mut restarted).await;
    assert!(report.converged, "{report:#?}");
    assert_eq!(report.outcome, Outcome::Unchanged, "{report:#?}");
    assert_eq!(report.counts.unchanged, 2, "{report:#?}");
    assert!(report.drift_corrected.is_empty(), "{report:#?}");
    assert!(
        world.server.real_writes().is_empty(),
        "{:#?}",
        world.server.lines()
    );
}

#[tokio::test]
async fn a_lost_state_directory_is_rebuilt_from_the_clusters_inventories() {
    let (world, reconciler) = deployed().await;
    drop(reconciler);
    let fresh = world.dir.path().join("state-2");
    let mut reconciler = world.reconciler_on(&fresh);
    let report = cycle(&mut reconciler).await;
    assert!(report.converged, "{report:#?}");
    let inventory = reconciler.state().read_inventory().expect("the inventory");
    assert_eq!(
        inventory.apps.keys().collect::<Vec<_>>(),
        ["blog", "shop"],
        "{inventory:#?}"
    );
    assert!(
        inventory.apps["shop"]
            .components
            .contains("Deployment/shop/web"),
        "{inventory:#?}"
    );

    // An app removed afterwards is pruned: the new state directory owns it.
    world.server.clear_requests();
    world.commit(&[("blog/Heliosfile", None)]);
    let report = cycle(&mut reconciler).await;
    assert!(report.converged, "{report:#?}");
    assert_eq!(result_of(&report, "blog"), Some(AppResult::Removed));
    let deletes: Vec<String> = world
        .server
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("DELETE"))
        .collect();
    assert!(
        deletes.contains(&"DELETE /apis/apps/v1/namespaces/blog/deployments/web?".to_string()),
        "{deletes:#?}"
    );
    assert!(
        deletes.iter().all(|l| in_namespace(l, "blog")),
        "{deletes:#?}"
    );
    assert!(
        world
            .server
            .get(&ObjectKey::deployment("blog", "web"))
            .is_none()
    );
    // Nothing but Helios's objects was in it: the Namespace went too, and
    // with it everything inside.
    assert!(
        world
            .server
            .get(&ObjectKey::namespace_object("blog"))
            .is_none(),
        "{:#?}",
        world.server.keys()
    );
    assert!(world.server.keys().iter().all(|k| k.namespace != "blog"));
    assert!(
        world
            .server
            .get(&ObjectKey::deployment("shop", "web"))
            .is_some()
    );
}

#[tokio::test]
async fn a_second_instance_cannot_take_the_state_directory() {
    let world = World::new(&[("blog/Heliosfile", Some(BLOG))]);
    let state_dir = world.state_dir();
    let held = StateLock::acquire(&state_dir).expect("the first instance locks");
    match StateLock::acquire(&state_dir) {
        Err(LockError::Held { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
        other => panic!("a second instance must fail: {other:?}"),
    }
    drop(held);
    StateLock::acquire(&state_dir).expect("free again once released");
}

#[tokio::test]
async fn an_unchanged_commit_writes_nothing_and_an_idle_cycle_makes_no_request() {
    let (world, mut reconciler) = deployed().await;
    world.commit(&[("README.md", Some("# config\n"))]);
    let report = cycle(&mut reconciler).await;
    assert!(report.converged, "{report:#?}");
    assert_eq!(report.outcome, Outcome::Unchanged, "{report:#?}");
    assert!(
        world.server.real_writes().is_empty(),
        "{:#?}",
        world.server.lines()
    );
    // Drift is not due: not even a dry run.
    assert!(
        world.server.requests().iter().all(|r| !r.is_write()),
        "{:#?}",
        world.server.lines()
    );

    world.server.clear_requests();
    let report = cycle(&mut reconciler).await;
    assert_eq!(report.outcome, Outcome::Skipped, "{report:#?}");
    assert!(report.converged);
    assert!(
        world.server.lines().is_empty(),
        "{:#?}",
        world.server.lines()
    );
}

#[tokio::test]
async fn a_hand_edit_is_taken_back_when_a_drift_check_is_due() {
    let (world, mut reconciler) = deployed().await;
    let key = ObjectKey::deployment("blog", "web");
    world.server.hand_edit(&key, "/spec/replicas", json!(5));
    reconciler.request_drift_check();
    let report = cycle(&mut reconciler).await;
    assert!(report.converged, "{report:#?}");
    let deployment_requests: Vec<String> = world
        .server
        .lines()
        .into_iter()
        .filter(|l| l.contains("/deployments/web") && l.starts_with("PATCH"))
        .collect();
    assert!(
        deployment_requests.contains(
            &"PATCH /apis/apps/v1/namespaces/blog/deployments/web?&dryRun=All&fieldManager=helios"
                .to_string()
        ),
        "{deployment_requests:#?}"
    );
    assert!(
        deployment_requests.contains(
            &"PATCH /apis/apps/v1/namespaces/blog/deployments/web?&force=true&fieldManager=helios"
                .to_string()
        ),
        "{deployment_requests:#?}"
    );
    let web = world.server.get(&key).expect("blog's web");
    assert_eq!(web["spec"]["replicas"], 1, "{web:#}");
    let blog = report.apps.iter().find(|a| a.app == "blog").expect("blog");
    assert!(
        blog.diagnostics
            .iter()
            .any(|d| d.contains("edited by kubectl-edit (.spec.replicas)")),
        "{blog:#?}"
    );
    // Shop was not touched (its objects are as Helios applied them).
    assert!(
        world
            .server
            .real_writes()
            .iter()
            .all(|l| !in_namespace(l, "shop")),
        "{:#?}",
        world.server.lines()
    );
}
