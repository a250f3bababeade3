//! The Kubernetes backend against kube's `tower-test` mock of the API
//! server: every request is recorded (method, path with query, content
//! type, body) and answered, where the answer matters, with what a real
//! API server answered (`fixtures/kube-recordings/`). The tests assert the
//! exact requests and their order.

use super::*;
use crate::backend::{HealthState, InstanceStatus};
use crate::desired::{DesiredOptions, desired_state};
use crate::plan::VolumeAction;
use crate::secrets::Secret;
use heliosc::ir::Target;
use heliosc::lower::labels;
use http::{Request, Response};
use kube::client::Body;
use serde_json::json;
use std::sync::Mutex as StdMutex;

/// One request the mock API server got.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub method: String,
    pub path: String,
    pub content_type: Option<String>,
    pub body: Value,
}

impl Recorded {
    fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

type Responder = Box<dyn Fn(&Recorded) -> (u16, Value) + Send>;

/// A backend on a mock API server answering with `respond`, and the log
/// of the requests it gets.
fn mock(
    options: KubernetesOptions,
    respond: Responder,
) -> (KubernetesBackend, Arc<StdMutex<Vec<Recorded>>>) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let log: Arc<StdMutex<Vec<Recorded>>> = Arc::default();
    let seen = Arc::clone(&log);
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let method = request.method().to_string();
            let path = request
                .uri()
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default();
            let content_type = request
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let bytes = request
                .into_body()
                .collect_bytes()
                .await
                .unwrap_or_default();
            let body = serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
            let recorded = Recorded {
                method,
                path,
                content_type,
                body,
            };
            let (status, answer) = respond(&recorded);
            seen.lock().expect("log").push(recorded);
            let response = Response::builder()
                .status(status)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Body::from(serde_json::to_vec(&answer).unwrap_or_default()))
                .expect("a response");
            send.send_response(response);
        }
    });
    let client = kube::Client::new(service, "default");
    (KubernetesBackend::new(client, options), log)
}

/// The response a real API server gave, from `fixtures/kube-recordings/`.
fn recorded(file: &str) -> (u16, Value) {
    let path = format!(
        "{}/../fixtures/kube-recordings/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("recording");
    let exchange: Value = serde_json::from_str(&text).expect("json");
    let status = exchange["response"]["status"].as_u64().unwrap_or(500);
    (
        u16::try_from(status).unwrap_or(500),
        exchange["response"]["body"].clone(),
    )
}

/// What an API server answers to an apply that creates the object: the
/// object itself, with server fields.
fn created(request: &Recorded) -> (u16, Value) {
    let mut object = request.body.clone();
    object["metadata"]["resourceVersion"] = json!("1");
    object["metadata"]["uid"] = json!("00000000-0000-0000-0000-000000000001");
    (201, object)
}

fn empty_list(request: &Recorded) -> (u16, Value) {
    let _ = request;
    (
        200,
        json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": []}),
    )
}

const SHOP: &str = "name: shop\nversion: 1\ntarget: kubernetes\nservices:\n  web:\n    image: nginx:1.27\n    http_port: 80\n    env:\n      STRIPE_KEY: ${secret.STRIPE_KEY}\n      DATABASE_URL: ${db.URL}\ndatabases:\n  db: { type: postgresql }\nsecrets: [STRIPE_KEY]\n";

fn shop() -> DesiredApp {
    let options = DesiredOptions {
        target: Target::Kubernetes,
        ..DesiredOptions::default()
    };
    let mut state = desired_state(
        &[("shop/Heliosfile".to_string(), SHOP.to_string())],
        &options,
    );
    assert!(state.failed.is_empty(), "{:?}", state.failed);
    state.apps.remove("shop").expect("shop")
}

fn secrets() -> AppSecrets {
    AppSecrets {
        database_passwords: BTreeMap::new(),
        user: BTreeMap::from([("STRIPE_KEY".to_string(), Secret::new("sk_live_it's $5"))]),
    }
}

fn keys(app: &DesiredApp, kind: ComponentKind) -> Vec<String> {
    app.components
        .iter()
        .filter(|(_, c)| c.kind == kind)
        .map(|(k, _)| k.clone())
        .collect()
}

fn lines(log: &Arc<StdMutex<Vec<Recorded>>>) -> Vec<String> {
    log.lock()
        .expect("log")
        .iter()
        .map(Recorded::line)
        .collect()
}

#[tokio::test]
async fn a_first_apply_creates_every_object_in_dependency_order_with_server_side_apply() {
    let app = shop();
    let (backend, log) = mock(
        KubernetesOptions::default(),
        Box::new(|r| match r.method.as_str() {
            "POST" => recorded("16-create-secret.json"),
            _ => created(r),
        }),
    );
    let secrets = secrets();
    for kind in [
        ComponentKind::Namespace,
        ComponentKind::Database,
        ComponentKind::Service,
    ] {
        backend
            .apply(&app, &keys(&app, kind), &secrets)
            .await
            .expect("applied");
    }
    assert_eq!(
        lines(&log),
        [
            "PATCH /api/v1/namespaces/shop?&fieldManager=helios",
            "POST /api/v1/namespaces/shop/secrets?&fieldManager=helios",
            "PATCH /apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/db?&fieldManager=helios",
            "PATCH /api/v1/namespaces/shop/services/db?&fieldManager=helios",
            "PATCH /apis/apps/v1/namespaces/shop/statefulsets/db?&fieldManager=helios",
            "PATCH /api/v1/namespaces/shop/secrets/shop-secrets?&force=true&fieldManager=helios",
            "PATCH /api/v1/namespaces/shop/services/web?&fieldManager=helios",
            "PATCH /apis/apps/v1/namespaces/shop/deployments/web?&fieldManager=helios",
            "PATCH /apis/networking.k8s.io/v1/namespaces/shop/ingresses/web?&fieldManager=helios",
        ]
    );
    let log = log.lock().expect("log").clone();
    for request in log.iter().filter(|r| r.method == "PATCH") {
        assert_eq!(
            request.content_type.as_deref(),
            Some("application/apply-patch+yaml"),
            "{}",
            request.line()
        );
        assert_eq!(request.body["metadata"]["labels"][labels::APP], "shop");
    }
    let deployment = &log[7].body;
    assert_eq!(deployment["kind"], "Deployment");
    assert_eq!(
        deployment["metadata"]["annotations"][labels::SPEC_HASH],
        app.components["Deployment/shop/web"].spec_hash.as_str()
    );
    assert_eq!(
        deployment["spec"]["template"]["metadata"]["labels"][labels::APP],
        "shop"
    );
    // The generated credentials: created (never applied), 43 URL-safe characters.
    let credentials = &log[1].body;
    assert_eq!(log[1].content_type.as_deref(), Some("application/json"));
    assert_eq!(credentials["metadata"]["name"], "db-credentials");
    let password = credentials["data"]["password"].as_str().expect("base64");
    assert_eq!(password.len(), 60, "base64 of 43 characters");
    // The user secret arrives byte-exact, base64 in `data`.
    assert_eq!(log[5].body["data"]["STRIPE_KEY"], "c2tfbGl2ZV9pdCdzICQ1");
}

#[tokio::test]
async fn existing_credentials_are_never_modified() {
    let app = shop();
    let (backend, log) = mock(
        KubernetesOptions::default(),
        Box::new(|r| match r.method.as_str() {
            "POST" => recorded("17-create-secret-exists.json"),
            _ => created(r),
        }),
    );
    backend
        .apply(&app, &keys(&app, ComponentKind::Database), &secrets())
        .await
        .expect("an existing Secret is fine");
    let log = log.lock().expect("log").clone();
    let touching: Vec<String> = log
        .iter()
        .filter(|r| r.path.contains("/secrets"))
        .map(Recorded::line)
        .collect();
    assert_eq!(
        touching,
        ["POST /api/v1/namespaces/shop/secrets?&fieldManager=helios"]
    );
}

#[tokio::test]
async fn another_appliers_field_is_a_conflict_reported_with_its_manager_and_not_forced() {
    let app = shop();
    let (backend, log) = mock(
        KubernetesOptions::default(),
        Box::new(|r| {
            if r.path.contains("/deployments/web") {
                recorded("10-ssa-helios-conflict.json")
            } else {
                created(r)
            }
        }),
    );
    let error = backend
        .apply(&app, &["Deployment/shop/web".to_string()], &secrets())
        .await
        .expect_err("a conflict");
    let message = error.to_string();
    assert!(
        message.contains("Deployment/shop/web: conflict: .spec.replicas managed by `tuner` (another applier); `--force-conflicts` takes them over"),
        "{message}"
    );
    assert!(
        lines(&log)
            .iter()
            .all(|l| !l.contains("force=true") || l.contains("shop-secrets")),
        "{:?}",
        lines(&log)
    );
}

#[tokio::test]
async fn force_conflicts_forces_every_apply() {
    let app = shop();
    let (backend, log) = mock(
        KubernetesOptions {
            force_conflicts: true,
            ..KubernetesOptions::default()
        },
        Box::new(created),
    );
    backend
        .apply(&app, &["Namespace/shop".to_string()], &secrets())
        .await
        .expect("applied");
    assert_eq!(
        lines(&log),
        ["PATCH /api/v1/namespaces/shop?&force=true&fieldManager=helios"]
    );
}

#[tokio::test]
async fn a_hand_edit_is_taken_back_with_force() {
    let app = shop();
    let (backend, log) = mock(
        KubernetesOptions::default(),
        Box::new(|r| {
            if r.path.contains("/deployments/web") && !r.path.contains("force=true") {
                recorded("07-ssa-after-drift-dry-run.json")
            } else if r.path.contains("/deployments/web") {
                recorded("11-ssa-helios-force.json")
            } else {
                created(r)
            }
        }),
    );
    backend
        .apply(&app, &["Deployment/shop/web".to_string()], &secrets())
        .await
        .expect("healed");
    let deployment: Vec<String> = lines(&log)
        .into_iter()
        .filter(|l| l.contains("deployments"))
        .collect();
    assert_eq!(
        deployment,
        [
            "PATCH /apis/apps/v1/namespaces/shop/deployments/web?&fieldManager=helios",
            "PATCH /apis/apps/v1/namespaces/shop/deployments/web?&force=true&fieldManager=helios",
        ]
    );
}

#[tokio::test]
async fn an_object_the_schema_refuses_fails_the_app_with_the_servers_reason() {
    let app = shop();
    let (backend, _log) = mock(
        KubernetesOptions::default(),
        Box::new(|r| {
            if r.path.contains("/services/web") {
                recorded("15-ssa-invalid.json")
            } else {
                created(r)
            }
        }),
    );
    let error = backend
        .apply(&app, &keys(&app, ComponentKind::Service), &secrets())
        .await
        .expect_err("refused");
    let message = error.to_string();
    assert!(
        message.contains("Service/shop/web: rejected: failed to create typed patch object"),
        "{message}"
    );
    assert!(!message.contains("sk_live"), "{message}");
}

/// A list answer with the given items, as the recorded list shows them.
fn list_of(items: Vec<Value>) -> (u16, Value) {
    (
        200,
        json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "5"}, "items": items}),
    )
}

fn live(kind: &str, namespace: Option<&str>, name: &str, app: Option<&str>, hash: &str) -> Value {
    let mut object =
        json!({"metadata": {"name": name, "annotations": {labels::SPEC_HASH: hash}, "labels": {}}});
    if let Some(namespace) = namespace {
        object["metadata"]["namespace"] = json!(namespace);
    }
    if let Some(app) = app {
        object["metadata"]["labels"][labels::APP] = json!(app);
        object["metadata"]["labels"][labels::COMPONENT] = json!(if kind == "Namespace" {
            "namespace"
        } else {
            "service"
        });
    }
    object
}

#[tokio::test]
async fn observe_lists_each_kind_once_by_label_and_reads_spec_hashes() {
    let (backend, log) = mock(
        KubernetesOptions::default(),
        Box::new(|r| {
            if r.path.starts_with("/apis/apps/v1/deployments") {
                list_of(vec![live(
                    "Deployment",
                    Some("shop"),
                    "web",
                    Some("shop"),
                    "h1",
                )])
            } else if r.path.starts_with("/api/v1/namespaces?") {
                list_of(vec![live("Namespace", None, "shop", Some("shop"), "h0")])
            } else if r.path.starts_with("/api/v1/persistentvolumeclaims") {
                list_of(vec![live(
                    "PersistentVolumeClaim",
                    Some("shop"),
                    "data-db-0",
                    Some("shop"),
                    "",
                )])
            } else {
                empty_list(r)
            }
        }),
    );
    let observed = backend.observe().await.expect("observed");
    let shop = &observed.apps["shop"];
    assert_eq!(
        shop.components.keys().collect::<Vec<_>>(),
        ["Deployment/shop/web", "Namespace/shop"]
    );
    assert_eq!(
        shop.components["Deployment/shop/web"].instances[0]
            .spec_hash
            .as_deref(),
        Some("h1")
    );
    assert_eq!(
        shop.components["Namespace/shop"].kind,
        ComponentKind::Namespace
    );
    assert!(shop.volumes.contains("data-db-0"));
    let lines = lines(&log);
    assert_eq!(lines.len(), 10, "{lines:?}");
    assert!(lines.iter().all(|l| l.starts_with("GET ")), "{lines:?}");
    assert!(
        lines.contains(&"GET /apis/apps/v1/deployments?&labelSelector=dev.helios.app".to_string()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"GET /api/v1/configmaps?&labelSelector=dev.helios.inventory".to_string()),
        "{lines:?}"
    );
}

/// A backend whose last observe saw shop's Namespace, its Deployment, a
/// claim of its database, and an object of the same name without the
/// ownership label.
async fn observed_shop(
    respond_after: Responder,
    options: KubernetesOptions,
) -> (KubernetesBackend, Arc<StdMutex<Vec<Recorded>>>) {
    let observing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = Arc::clone(&observing);
    let (backend, log) = mock(
        options,
        Box::new(move |r| {
            if flag.load(std::sync::atomic::Ordering::SeqCst) {
                if r.path.starts_with("/apis/apps/v1/deployments") {
                    list_of(vec![live(
                        "Deployment",
                        Some("shop"),
                        "web",
                        Some("shop"),
                        "h1",
                    )])
                } else if r.path.starts_with("/api/v1/namespaces?") {
                    list_of(vec![live("Namespace", None, "shop", Some("shop"), "h0")])
                } else if r.path.starts_with("/api/v1/persistentvolumeclaims") {
                    list_of(vec![live(
                        "PersistentVolumeClaim",
                        Some("shop"),
                        "data-db-0",
                        Some("shop"),
                        "",
                    )])
                } else {
                    empty_list(r)
                }
            } else {
                respond_after(r)
            }
        }),
    );
    backend.observe().await.expect("observed");
    observing.store(false, std::sync::atomic::Ordering::SeqCst);
    log.lock().expect("log").clear();
    (backend, log)
}

#[tokio::test]
async fn prune_deletes_only_observed_owned_objects_in_the_background() {
    let (backend, log) = observed_shop(
        Box::new(|_| recorded("19-delete-background.json")),
        KubernetesOptions::default(),
    )
    .await;
    backend
        .delete(
            "shop",
            &[
                "Deployment/shop/web".to_string(),
                "Service/shop/web".to_string(),
            ],
            &[VolumePlan {
                name: "data-db-0".to_string(),
                action: VolumeAction::Keep,
            }],
        )
        .await
        .expect("deleted");
    let log = log.lock().expect("log").clone();
    // The Service was never observed with the label: not deleted; the
    // kept claim: not deleted.
    assert_eq!(
        log.iter().map(Recorded::line).collect::<Vec<_>>(),
        ["DELETE /apis/apps/v1/namespaces/shop/deployments/web?"]
    );
    assert_eq!(log[0].body["propagationPolicy"], "Background");
}

/// The API server after shop was observed: its namespace holds a volume
/// claim; deletions answer as a real one did.
fn shop_holding_a_claim(r: &Recorded) -> (u16, Value) {
    if r.method == "DELETE" && r.path.starts_with("/api/v1/namespaces/shop?") {
        recorded("21-delete-namespace.json")
    } else if r.method == "DELETE" {
        recorded("19-delete-background.json")
    } else if r
        .path
        .starts_with("/api/v1/namespaces/shop/persistentvolumeclaims")
    {
        list_of(vec![live(
            "PersistentVolumeClaim",
            Some("shop"),
            "data-db-0",
            Some("shop"),
            "",
        )])
    } else {
        empty_list(r)
    }
}

#[tokio::test]
async fn a_removed_apps_namespace_with_claims_is_kept_unless_volumes_are_pruned() {
    let (backend, log) =
        observed_shop(Box::new(shop_holding_a_claim), KubernetesOptions::default()).await;
    let keep = [VolumePlan {
        name: "data-db-0".to_string(),
        action: VolumeAction::Keep,
    }];
    backend.remove("shop", &keep).await.expect("removed");
    let deletes: Vec<String> = lines(&log)
        .into_iter()
        .filter(|l| l.starts_with("DELETE"))
        .collect();
    assert_eq!(
        deletes,
        ["DELETE /apis/apps/v1/namespaces/shop/deployments/web?"]
    );
    assert_eq!(
        backend.take_notes("shop"),
        [
            "Namespace shop kept: it holds PersistentVolumeClaim data-db-0 (`--prune-volumes` deletes volume claims)"
        ]
    );

    let (backend, log) =
        observed_shop(Box::new(shop_holding_a_claim), KubernetesOptions::default()).await;
    let prune = [VolumePlan {
        name: "data-db-0".to_string(),
        action: VolumeAction::Delete,
    }];
    backend.remove("shop", &prune).await.expect("removed");
    let deletes: Vec<String> = lines(&log)
        .into_iter()
        .filter(|l| l.starts_with("DELETE"))
        .collect();
    assert_eq!(
        deletes,
        [
            "DELETE /apis/apps/v1/namespaces/shop/deployments/web?",
            "DELETE /api/v1/namespaces/shop/persistentvolumeclaims/data-db-0?",
            "DELETE /api/v1/namespaces/shop?",
        ]
    );
}

#[tokio::test]
async fn a_drift_check_is_a_dry_run_and_tells_hand_edits_from_other_appliers() {
    let app = shop();
    let (info, object) = desired_object(&app, "Deployment/shop/web").expect("desired");
    let (backend, log) = mock(
        KubernetesOptions::default(),
        Box::new(|r| {
            if r.path.contains("/deployments/web") {
                recorded("07-ssa-after-drift-dry-run.json")
            } else {
                recorded("10-ssa-helios-conflict.json")
            }
        }),
    );
    let edited = drift::check_object(&backend.client, info, &object, None)
        .await
        .expect("checked");
    assert_eq!(
        edited,
        Some(drift::ObjectDrift::Edited {
            fields: vec![".spec.replicas".to_string()],
            managers: vec!["kubectl-edit".to_string()],
        })
    );
    let (info, object) = desired_object(&app, "Service/shop/web").expect("desired");
    let conflict = drift::check_object(&backend.client, info, &object, None)
        .await
        .expect("checked");
    assert_eq!(
        conflict,
        Some(drift::ObjectDrift::Conflict {
            manager: "tuner".to_string(),
            fields: vec![".spec.replicas".to_string()],
        })
    );
    assert_eq!(
        lines(&log),
        [
            "PATCH /apis/apps/v1/namespaces/shop/deployments/web?&dryRun=All&fieldManager=helios",
            "PATCH /api/v1/namespaces/shop/services/web?&dryRun=All&fieldManager=helios",
        ]
    );
}

#[tokio::test]
async fn health_reads_rollouts_and_the_pods_reasons() {
    let (backend, log) = mock(
        KubernetesOptions::default(),
        Box::new(|r| {
            if r.path.starts_with("/apis/apps/v1/deployments") {
                let (_, deployment) = recorded("12-get-deployment.json");
                list_of(vec![deployment])
            } else {
                empty_list(r)
            }
        }),
    );
    let health = backend.health("shop").await.expect("health");
    // The recorded cluster has no scheduler: the pods stay Pending.
    assert_eq!(health.state, HealthState::Progressing, "{health:?}");
    assert_eq!(
        lines(&log),
        [
            "GET /apis/apps/v1/deployments?&labelSelector=dev.helios.app%3Dshop",
            "GET /apis/apps/v1/statefulsets?&labelSelector=dev.helios.app%3Dshop",
            "GET /api/v1/pods?&labelSelector=dev.helios.app%3Dshop",
        ]
    );
}

#[tokio::test]
async fn an_unchanged_inventory_is_not_written_and_a_lost_one_is() {
    let (backend, log) = observed_shop(Box::new(created), KubernetesOptions::default()).await;
    let entry = crate::state::InventoryApp {
        source_path: "shop/Heliosfile".to_string(),
        components: ["Namespace/shop", "Deployment/shop/web"]
            .into_iter()
            .map(String::from)
            .collect(),
        volumes: BTreeSet::new(),
    };
    // The cluster had none (the ConfigMap was deleted): written.
    backend
        .store_inventory("file:///config#main:", "shop", Some(&entry))
        .await
        .expect("stored");
    assert_eq!(
        lines(&log),
        [
            "PATCH /api/v1/namespaces/shop/configmaps/helios-inventory-shop?&force=true&fieldManager=helios"
        ]
    );
    // The same again: nothing.
    backend
        .store_inventory("file:///config#main:", "shop", Some(&entry))
        .await
        .expect("stored");
    assert_eq!(lines(&log).len(), 1);
}

#[tokio::test]
async fn a_due_drift_check_marks_hand_edited_objects_for_update_and_says_why() {
    let app = shop();
    let web_hash = app.components["Deployment/shop/web"].spec_hash.clone();
    let service_hash = app.components["Service/shop/web"].spec_hash.clone();
    let observing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = Arc::clone(&observing);
    let (backend, log) = mock(
        KubernetesOptions::default(),
        Box::new(move |r| {
            if flag.load(std::sync::atomic::Ordering::SeqCst) {
                if r.path.starts_with("/apis/apps/v1/deployments") {
                    list_of(vec![live(
                        "Deployment",
                        Some("shop"),
                        "web",
                        Some("shop"),
                        &web_hash,
                    )])
                } else if r.path.starts_with("/api/v1/services") {
                    list_of(vec![live(
                        "Service",
                        Some("shop"),
                        "web",
                        Some("shop"),
                        &service_hash,
                    )])
                } else {
                    empty_list(r)
                }
            } else if r.path.contains("/deployments/web") {
                // `kubectl edit` changed the replicas Helios applied.
                recorded("07-ssa-after-drift-dry-run.json")
            } else {
                // Another applier (`tuner`) owns a field.
                recorded("10-ssa-helios-conflict.json")
            }
        }),
    );
    let mut observed = backend.observe().await.expect("observed");
    observing.store(false, std::sync::atomic::Ordering::SeqCst);
    log.lock().expect("log").clear();
    let desired = DesiredState {
        apps: BTreeMap::from([("shop".to_string(), app)]),
        ..DesiredState::default()
    };
    backend
        .check_drift(&desired, &mut observed)
        .await
        .expect("checked");

    // Only the live objects with the desired spec were dry-run.
    let mut requests = lines(&log);
    requests.sort();
    assert_eq!(
        requests,
        [
            "PATCH /api/v1/namespaces/shop/services/web?&dryRun=All&fieldManager=helios",
            "PATCH /apis/apps/v1/namespaces/shop/deployments/web?&dryRun=All&fieldManager=helios",
        ]
    );
    let components = &observed.apps["shop"].components;
    // Both become updates: the hand edit is taken back, the conflict is
    // reported by the apply (or taken over with --force-conflicts).
    assert_eq!(
        components["Deployment/shop/web"].instances[0].status,
        InstanceStatus::Edited
    );
    assert_eq!(
        components["Service/shop/web"].instances[0].status,
        InstanceStatus::Conflict
    );
    let notes = backend.take_notes("shop");
    assert!(
        notes
            .iter()
            .any(|n| n == "Deployment/shop/web: edited by kubectl-edit (.spec.replicas)"),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n == "Service/shop/web: .spec.replicas managed by `tuner` (another applier)"),
        "{notes:?}"
    );
    assert!(backend.take_notes("shop").is_empty(), "drained");
}

const KUBECONFIG: &str = "apiVersion: v1
kind: Config
clusters:
- name: one
  cluster: { server: 'https://127.0.0.1:6443' }
- name: two
  cluster: { server: 'https://127.0.0.2:6443' }
users:
- name: admin
  user: { token: not-a-real-token }
contexts:
- name: staging
  context: { cluster: one, user: admin, namespace: staging-ns }
- name: prod
  context: { cluster: two, user: admin, namespace: prod-ns }
current-context: staging
";

#[tokio::test]
async fn connect_reads_the_given_kubeconfig_and_context() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("config");
    std::fs::write(&path, KUBECONFIG).expect("written");
    let connect = |context: Option<&str>| {
        KubernetesBackend::connect(KubernetesOptions {
            kubeconfig: Some(path.clone()),
            context: context.map(str::to_string),
            force_conflicts: false,
        })
    };
    let current = connect(None).await.expect("connected");
    assert_eq!(current.client.default_namespace(), "staging-ns");
    let prod = connect(Some("prod")).await.expect("connected");
    assert_eq!(prod.client.default_namespace(), "prod-ns");
    let Err(BackendError::Unavailable(message)) = connect(Some("nope")).await else {
        panic!("an unknown context must fail");
    };
    assert!(message.contains("nope"), "{message}");
    let missing = KubernetesBackend::connect(KubernetesOptions {
        kubeconfig: Some(dir.path().join("missing")),
        ..KubernetesOptions::default()
    })
    .await;
    let Err(BackendError::Unavailable(message)) = missing else {
        panic!("a missing kubeconfig must fail");
    };
    assert!(message.contains("missing"), "{message}");
}
