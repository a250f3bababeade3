//! A stateful mock of the Kubernetes API server, for tests of the
//! Kubernetes backend: kube's `tower-test` mock service answered from an
//! in-memory store of objects, following the API server's semantics and
//! the answer shapes recorded from a real one (`fixtures/kube-recordings/`).
//!
//! - `PATCH` with `application/apply-patch+yaml` (server-side apply):
//!   creates (201) or replaces (200) the stored object; sets `uid`,
//!   `resourceVersion` (one counter for the whole store), `generation`
//!   (bumped when `spec` changes) and `creationTimestamp`; `dryRun=All`
//!   answers without storing. A namespaced object in a missing Namespace
//!   is 404, a body named unlike the URL 400, no `fieldManager` 422.
//!   Deployments and StatefulSets get a rolled-out `status`.
//! - `POST` (create): 201, or 409 `AlreadyExists`.
//! - `GET` of a collection, cluster-wide or in a namespace, filtered by
//!   `labelSelector` (`key`, `!key`, `key=value`, `key!=value`, comma
//!   separated); `GET` of an object: 200 or 404.
//! - `DELETE`: 200 (a `Status`; a Namespace answers itself, terminating,
//!   and everything in it goes), 404 when missing.
//! - [`KubeServer::hand_edit`] changes a field as `kubectl edit` would: the
//!   next apply of another value without `force` is a 409 naming
//!   `kubectl-edit`, as in `07-ssa-after-drift-dry-run.json`.
//!
//! Every request is recorded (method, path with query, content type,
//! body). Several clients (backends) may share one server, as several
//! reconciler processes share one cluster.

#![allow(dead_code, clippy::panic)] // Each test binary uses a part; helpers fail loudly.

use helios_reconciler::backends::kubernetes::{KubernetesBackend, KubernetesOptions};
use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One request the server got.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    /// `GET`, `PATCH`, ...
    pub(crate) method: String,
    /// Path with query, as sent (`/api/v1/namespaces/shop?&fieldManager=helios`).
    pub(crate) path: String,
    /// The `Content-Type` header.
    pub(crate) content_type: Option<String>,
    /// The body as JSON (`Null` when empty, a string when not JSON).
    pub(crate) body: Value,
}

impl Recorded {
    /// `METHOD path?query`.
    pub(crate) fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// Whether it is a dry run (`dryRun=All`).
    pub(crate) fn dry_run(&self) -> bool {
        query(&self.path)
            .iter()
            .any(|(k, v)| k == "dryRun" && v == "All")
    }

    /// Whether it changes (or would change, for a dry run) the store.
    pub(crate) fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "PATCH" | "POST" | "PUT" | "DELETE")
    }

    /// Whether it changes the store: a write that is not a dry run.
    pub(crate) fn is_real_write(&self) -> bool {
        self.is_write() && !self.dry_run()
    }
}

/// Where an object is stored: the API prefix (`/api/v1`,
/// `/apis/apps/v1`), the resource's plural, the namespace (empty for a
/// cluster-scoped object) and the name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ObjectKey {
    /// `/api/v1` or `/apis/<group>/<version>`.
    pub(crate) prefix: String,
    /// `deployments`.
    pub(crate) plural: String,
    /// Empty for a cluster-scoped object.
    pub(crate) namespace: String,
    /// The name.
    pub(crate) name: String,
}

impl ObjectKey {
    /// The key of a namespaced object.
    pub(crate) fn namespaced(prefix: &str, plural: &str, namespace: &str, name: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            plural: plural.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    /// The key of a Namespace.
    pub(crate) fn namespace_object(name: &str) -> Self {
        Self::namespaced("/api/v1", "namespaces", "", name)
    }

    /// The key of a Deployment.
    pub(crate) fn deployment(namespace: &str, name: &str) -> Self {
        Self::namespaced("/apis/apps/v1", "deployments", namespace, name)
    }

    /// The key of a StatefulSet.
    pub(crate) fn stateful_set(namespace: &str, name: &str) -> Self {
        Self::namespaced("/apis/apps/v1", "statefulsets", namespace, name)
    }

    /// The key of a Secret.
    pub(crate) fn secret(namespace: &str, name: &str) -> Self {
        Self::namespaced("/api/v1", "secrets", namespace, name)
    }

    /// The key of a ConfigMap.
    pub(crate) fn config_map(namespace: &str, name: &str) -> Self {
        Self::namespaced("/api/v1", "configmaps", namespace, name)
    }

    /// The key of a PersistentVolumeClaim.
    pub(crate) fn claim(namespace: &str, name: &str) -> Self {
        Self::namespaced("/api/v1", "persistentvolumeclaims", namespace, name)
    }

    /// The API group (`apps`; empty for the core group).
    fn group(&self) -> &str {
        self.prefix
            .strip_prefix("/apis/")
            .and_then(|p| p.split('/').next())
            .unwrap_or("")
    }

    /// How the API server names the resource in messages: `deployments.apps`.
    fn resource(&self) -> String {
        match self.group() {
            "" => self.plural.clone(),
            group => format!("{}.{group}", self.plural),
        }
    }
}

/// A field someone changed by hand: owned by an Update manager until
/// Helios forces it back.
#[derive(Clone, Debug)]
struct HandEdit {
    /// JSON pointer (`/spec/replicas`).
    pointer: String,
    /// The manager (`kubectl-edit`).
    manager: String,
}

#[derive(Debug, Default)]
struct Store {
    objects: BTreeMap<ObjectKey, Value>,
    version: u64,
    uids: u64,
    edits: BTreeMap<ObjectKey, Vec<HandEdit>>,
    log: Vec<Recorded>,
}

impl Store {
    fn next_version(&mut self) -> String {
        self.version += 1;
        self.version.to_string()
    }

    fn next_uid(&mut self) -> String {
        self.uids += 1;
        format!("00000000-0000-4000-8000-{:012}", self.uids)
    }
}

/// The server: a store shared by every client made from it.
#[derive(Clone, Debug, Default)]
pub(crate) struct KubeServer {
    store: Arc<Mutex<Store>>,
}

impl KubeServer {
    /// An empty cluster.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A client of this server; each call makes a new one (a new
    /// connection), all sharing the store. Needs a Tokio runtime.
    pub(crate) fn client(&self) -> kube::Client {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let store = Arc::clone(&self.store);
        tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let method = request.method().to_string();
                let path = request
                    .uri()
                    .path_and_query()
                    .map(ToString::to_string)
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
                let body = if bytes.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                        Value::String(String::from_utf8_lossy(&bytes).into_owned())
                    })
                };
                let recorded = Recorded {
                    method,
                    path,
                    content_type,
                    body,
                };
                let (status, answer) = {
                    let mut store = store.lock().expect("the store");
                    let answer = answer(&mut store, &recorded);
                    store.log.push(recorded);
                    answer
                };
                let response = Response::builder()
                    .status(status)
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(Body::from(serde_json::to_vec(&answer).unwrap_or_default()))
                    .expect("a response");
                send.send_response(response);
            }
        });
        kube::Client::new(service, "default")
    }

    /// A Kubernetes backend on a new client of this server.
    pub(crate) fn backend(&self, options: KubernetesOptions) -> KubernetesBackend {
        KubernetesBackend::new(self.client(), options)
    }

    /// Every request so far.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.store.lock().expect("the store").log.clone()
    }

    /// Every request so far, as `METHOD path?query` lines.
    pub(crate) fn lines(&self) -> Vec<String> {
        self.requests().iter().map(Recorded::line).collect()
    }

    /// Forgets the requests so far.
    pub(crate) fn clear_requests(&self) {
        self.store.lock().expect("the store").log.clear();
    }

    /// The requests that changed the store (no dry runs), as lines.
    pub(crate) fn real_writes(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter(|r| r.is_real_write())
            .map(Recorded::line)
            .collect()
    }

    /// The stored object, if any.
    pub(crate) fn get(&self, key: &ObjectKey) -> Option<Value> {
        self.store
            .lock()
            .expect("the store")
            .objects
            .get(key)
            .cloned()
    }

    /// Every stored key.
    pub(crate) fn keys(&self) -> Vec<ObjectKey> {
        self.store
            .lock()
            .expect("the store")
            .objects
            .keys()
            .cloned()
            .collect()
    }

    /// Every stored object.
    pub(crate) fn objects(&self) -> Vec<(ObjectKey, Value)> {
        self.store
            .lock()
            .expect("the store")
            .objects
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Stores `object` as another client (a controller, a user) would
    /// have made it, with the server's fields.
    pub(crate) fn insert(&self, key: ObjectKey, mut object: Value) {
        let mut store = self.store.lock().expect("the store");
        let version = store.next_version();
        let uid = store.next_uid();
        object["metadata"]["name"] = json!(key.name);
        if !key.namespace.is_empty() {
            object["metadata"]["namespace"] = json!(key.namespace);
        }
        object["metadata"]["resourceVersion"] = json!(version);
        object["metadata"]["uid"] = json!(uid);
        object["metadata"]["creationTimestamp"] = json!(CREATED);
        store.objects.insert(key, object);
    }

    /// Changes the field at `pointer` (`/spec/replicas`) of a stored
    /// object as `kubectl edit` does (an Update operation of manager
    /// `kubectl-edit`): Helios's next apply of another value without
    /// `force`, dry run included, is a 409 naming that manager.
    pub(crate) fn hand_edit(&self, key: &ObjectKey, pointer: &str, value: Value) {
        let mut store = self.store.lock().expect("the store");
        let version = store.next_version();
        let object = store.objects.get_mut(key).expect("a stored object");
        let old_spec = object.get("spec").cloned();
        *object.pointer_mut(pointer).expect("an existing field") = value;
        object["metadata"]["resourceVersion"] = json!(version);
        if object.get("spec").cloned() != old_spec {
            let generation = object["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
            object["metadata"]["generation"] = json!(generation);
            roll_out(object);
        }
        store.edits.entry(key.clone()).or_default().push(HandEdit {
            pointer: pointer.to_string(),
            manager: "kubectl-edit".to_string(),
        });
    }
}

/// The creation time of every object (the store has no clock).
const CREATED: &str = "2026-12-02T00:00:00Z";

/// The query's pairs, percent-decoded (`?&a=b&c=d`).
pub(crate) fn query(path: &str) -> Vec<(String, String)> {
    let Some((_, query)) = path.split_once('?') else {
        return Vec::new();
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `labels` match a selector (`a`, `!a`, `a=b`, `a==b`, `a!=b`,
/// comma separated).
pub(crate) fn selects(selector: &str, labels: &Value) -> bool {
    selector
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .all(|term| {
            if let Some((key, value)) = term.split_once("!=") {
                labels[key.trim()].as_str() != Some(value.trim())
            } else if let Some((key, value)) =
                term.split_once("==").or_else(|| term.split_once('='))
            {
                labels[key.trim()].as_str() == Some(value.trim())
            } else if let Some(key) = term.strip_prefix('!') {
                labels.get(key.trim()).is_none()
            } else {
                labels.get(term).is_some()
            }
        })
}

/// What a request addresses.
enum Target {
    /// A collection: every namespace (`namespace` `None`) or one.
    Collection {
        prefix: String,
        plural: String,
        namespace: Option<String>,
    },
    /// One object.
    Object(ObjectKey),
}

fn target(path: &str) -> Option<Target> {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let (prefix, rest) = if let Some(rest) = path.strip_prefix("/api/v1") {
        ("/api/v1".to_string(), rest)
    } else {
        let rest = path.strip_prefix("/apis/")?;
        let mut parts = rest.splitn(3, '/');
        let group = parts.next()?;
        let version = parts.next()?;
        (
            format!("/apis/{group}/{version}"),
            parts.next().map_or("", |r| r),
        )
    };
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    Some(match segments.as_slice() {
        [plural] => Target::Collection {
            prefix,
            plural: (*plural).to_string(),
            namespace: None,
        },
        [plural, name] => Target::Object(ObjectKey {
            prefix,
            plural: (*plural).to_string(),
            namespace: String::new(),
            name: (*name).to_string(),
        }),
        ["namespaces", namespace, plural] => Target::Collection {
            prefix,
            plural: (*plural).to_string(),
            namespace: Some((*namespace).to_string()),
        },
        ["namespaces", namespace, plural, name] => Target::Object(ObjectKey {
            prefix,
            plural: (*plural).to_string(),
            namespace: (*namespace).to_string(),
            name: (*name).to_string(),
        }),
        _ => return None,
    })
}

fn status(code: u16, reason: &str, message: String, details: Value) -> (u16, Value) {
    let mut body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    if !details.is_null() {
        body["details"] = details;
    }
    (code, body)
}

fn not_found(key: &ObjectKey) -> (u16, Value) {
    let mut details = json!({"name": key.name, "kind": key.plural});
    if !key.group().is_empty() {
        details["group"] = json!(key.group());
    }
    status(
        404,
        "NotFound",
        format!("{} \"{}\" not found", key.resource(), key.name),
        details,
    )
}

fn namespace_missing(namespace: &str) -> (u16, Value) {
    status(
        404,
        "NotFound",
        format!("namespaces \"{namespace}\" not found"),
        json!({"name": namespace, "kind": "namespaces"}),
    )
}

fn answer(store: &mut Store, request: &Recorded) -> (u16, Value) {
    let Some(target) = target(&request.path) else {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource".to_string(),
            Value::Null,
        );
    };
    match (request.method.as_str(), target) {
        (
            "GET",
            Target::Collection {
                prefix,
                plural,
                namespace,
            },
        ) => list(store, request, &prefix, &plural, namespace.as_deref()),
        ("GET", Target::Object(key)) => match store.objects.get(&key) {
            Some(object) => (200, object.clone()),
            None => not_found(&key),
        },
        ("PATCH", Target::Object(key)) => apply(store, request, &key),
        (
            "POST",
            Target::Collection {
                prefix,
                plural,
                namespace,
            },
        ) => create(store, request, &prefix, &plural, namespace.as_deref()),
        ("DELETE", Target::Object(key)) => delete(store, &key),
        _ => status(
            405,
            "MethodNotAllowed",
            format!("{} is not supported on {}", request.method, request.path),
            Value::Null,
        ),
    }
}

fn list(
    store: &Store,
    request: &Recorded,
    prefix: &str,
    plural: &str,
    namespace: Option<&str>,
) -> (u16, Value) {
    let selector = query(&request.path)
        .into_iter()
        .find(|(k, _)| k == "labelSelector")
        .map(|(_, v)| v);
    let items: Vec<Value> = store
        .objects
        .iter()
        .filter(|(key, _)| key.prefix == prefix && key.plural == plural)
        .filter(|(key, _)| namespace.is_none_or(|n| key.namespace == n))
        .filter(|(_, object)| {
            selector
                .as_deref()
                .is_none_or(|s| selects(s, &object["metadata"]["labels"]))
        })
        .map(|(_, object)| object.clone())
        .collect();
    (
        200,
        json!({
            "apiVersion": "v1",
            "kind": "List",
            "metadata": {"resourceVersion": store.version.to_string()},
            "items": items,
        }),
    )
}

/// A rolled-out `status` for a Deployment or StatefulSet (what the
/// controllers and kubelets of a healthy cluster would report).
fn roll_out(object: &mut Value) {
    let kind = object["kind"].as_str().unwrap_or_default();
    if !matches!(kind, "Deployment" | "StatefulSet") {
        return;
    }
    let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
    let generation = object["metadata"]["generation"].as_i64().unwrap_or(1);
    object["status"] = json!({
        "observedGeneration": generation,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "currentReplicas": replicas,
    });
}

fn apply(store: &mut Store, request: &Recorded, key: &ObjectKey) -> (u16, Value) {
    let params = query(&request.path);
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if request.content_type.as_deref() != Some("application/apply-patch+yaml") {
        return status(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format: {}",
                request.content_type.as_deref().unwrap_or("none")
            ),
            Value::Null,
        );
    }
    if param("fieldManager").is_none_or(str::is_empty) {
        return status(
            422,
            "Invalid",
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".to_string(),
            Value::Null,
        );
    }
    let force = param("force") == Some("true");
    let dry_run = param("dryRun") == Some("All");
    let mut object = request.body.clone();
    if !object.is_object() {
        return status(
            400,
            "BadRequest",
            "the body of an apply patch must be an object".to_string(),
            Value::Null,
        );
    }
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    if name != key.name {
        return status(
            400,
            "BadRequest",
            format!(
                "the name of the object ({name}) does not match the name on the URL ({})",
                key.name
            ),
            Value::Null,
        );
    }
    if !key.namespace.is_empty() {
        if object["metadata"]["namespace"]
            .as_str()
            .is_some_and(|n| n != key.namespace)
        {
            return status(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request".to_string(),
                Value::Null,
            );
        }
        if !store
            .objects
            .contains_key(&ObjectKey::namespace_object(&key.namespace))
        {
            return namespace_missing(&key.namespace);
        }
        object["metadata"]["namespace"] = json!(key.namespace);
    }
    let existing = store.objects.get(key).cloned();

    // Fields changed by hand: a conflict unless forced or left as they are.
    let edits = store.edits.get(key).cloned().unwrap_or_default();
    if let Some(live) = &existing {
        let contested: Vec<&HandEdit> = edits
            .iter()
            .filter(|e| {
                object
                    .pointer(&e.pointer)
                    .is_some_and(|wanted| live.pointer(&e.pointer) != Some(wanted))
            })
            .collect();
        if !contested.is_empty() && !force {
            let group_version = key
                .prefix
                .trim_start_matches("/apis/")
                .trim_start_matches("/api/");
            let causes: Vec<Value> = contested
                .iter()
                .map(|e| {
                    json!({
                        "reason": "FieldManagerConflict",
                        "message": format!("conflict with \"{}\" using {group_version}", e.manager),
                        "field": e.pointer.replace('/', "."),
                    })
                })
                .collect();
            let fields: Vec<String> = contested
                .iter()
                .map(|e| {
                    format!(
                        "conflict with \"{}\" using {group_version}: {}",
                        e.manager,
                        e.pointer.replace('/', ".")
                    )
                })
                .collect();
            return status(
                409,
                "Conflict",
                format!(
                    "Apply failed with {} conflict{}: {}",
                    contested.len(),
                    if contested.len() == 1 { "" } else { "s" },
                    fields.join(", ")
                ),
                json!({"causes": causes}),
            );
        }
    }

    // Helios owns every field it applies: the applied configuration
    // replaces its previous one; the server's fields stay.
    let created = existing.is_none();
    let uid = match &existing {
        Some(live) => live["metadata"]["uid"].clone(),
        None => json!(format!("00000000-0000-4000-8000-{:012}", store.uids + 1)),
    };
    object["metadata"]["uid"] = uid;
    object["metadata"]["creationTimestamp"] = existing.as_ref().map_or_else(
        || json!(CREATED),
        |live| live["metadata"]["creationTimestamp"].clone(),
    );
    if key.plural == "namespaces" && key.prefix == "/api/v1" {
        object["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(key.name);
    }
    if object.get("spec").is_some() {
        let generation = match &existing {
            None => 1,
            Some(live) => {
                let previous = live["metadata"]["generation"].as_i64().unwrap_or(1);
                if live.get("spec") == object.get("spec") {
                    previous
                } else {
                    previous + 1
                }
            }
        };
        object["metadata"]["generation"] = json!(generation);
    }
    if let Some(status) = existing.as_ref().and_then(|live| live.get("status")) {
        object["status"] = status.clone();
    }
    roll_out(&mut object);
    let unchanged = existing.as_ref().is_some_and(|live| {
        let mut a = live.clone();
        a["metadata"]["resourceVersion"] = Value::Null;
        let mut b = object.clone();
        b["metadata"]["resourceVersion"] = Value::Null;
        a == b
    });
    object["metadata"]["resourceVersion"] = match &existing {
        Some(live) if unchanged => live["metadata"]["resourceVersion"].clone(),
        _ if dry_run => existing.as_ref().map_or(Value::Null, |live| {
            live["metadata"]["resourceVersion"].clone()
        }),
        _ => json!(store.next_version()),
    };
    if !dry_run {
        if created {
            store.uids += 1;
        }
        if force {
            store.edits.remove(key);
        }
        store.objects.insert(key.clone(), object.clone());
    }
    (if created { 201 } else { 200 }, object)
}

fn create(
    store: &mut Store,
    request: &Recorded,
    prefix: &str,
    plural: &str,
    namespace: Option<&str>,
) -> (u16, Value) {
    let mut object = request.body.clone();
    let Some(name) = object["metadata"]["name"].as_str().map(str::to_string) else {
        return status(
            400,
            "BadRequest",
            "name or generateName is required".to_string(),
            Value::Null,
        );
    };
    let key = ObjectKey {
        prefix: prefix.to_string(),
        plural: plural.to_string(),
        namespace: namespace.unwrap_or_default().to_string(),
        name: name.clone(),
    };
    if let Some(namespace) = namespace {
        if !store
            .objects
            .contains_key(&ObjectKey::namespace_object(namespace))
        {
            return namespace_missing(namespace);
        }
        object["metadata"]["namespace"] = json!(namespace);
    }
    if store.objects.contains_key(&key) {
        return status(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", key.resource()),
            json!({"name": name, "kind": plural}),
        );
    }
    let dry_run = query(&request.path)
        .iter()
        .any(|(k, v)| k == "dryRun" && v == "All");
    object["metadata"]["uid"] = json!(store.next_uid());
    object["metadata"]["creationTimestamp"] = json!(CREATED);
    if object.get("spec").is_some() {
        object["metadata"]["generation"] = json!(1);
    }
    roll_out(&mut object);
    if !dry_run {
        object["metadata"]["resourceVersion"] = json!(store.next_version());
        store.objects.insert(key, object.clone());
    }
    (201, object)
}

fn delete(store: &mut Store, key: &ObjectKey) -> (u16, Value) {
    let Some(mut object) = store.objects.remove(key) else {
        return not_found(key);
    };
    store.edits.remove(key);
    let version = store.next_version();
    if key.prefix == "/api/v1" && key.plural == "namespaces" {
        // The namespace controller deletes everything inside it.
        store.objects.retain(|k, _| k.namespace != key.name);
        store.edits.retain(|k, _| k.namespace != key.name);
        object["metadata"]["resourceVersion"] = json!(version);
        object["metadata"]["deletionTimestamp"] = json!(CREATED);
        object["status"] = json!({"phase": "Terminating"});
        return (200, object);
    }
    let mut details = json!({
        "name": key.name,
        "kind": key.plural,
        "uid": object["metadata"]["uid"],
    });
    if !key.group().is_empty() {
        details["group"] = json!(key.group());
    }
    (
        200,
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }),
    )
}
