//! The Kubernetes objects Helios applies: the kinds it knows (group,
//! version, plural, scope, dependency order), an object's identity
//! ([`ObjectRef`], the inventory's unit), and the ownership marks the
//! backend puts on every object before applying it.
//!
//! The order is the dependency order of the issue and of `kubectl apply`'s
//! own sorting: a Namespace before what lives in it, the Secrets Helios
//! creates before what reads them, a StatefulSet (a database) before the
//! Deployments that connect to it, an Ingress and a PodDisruptionBudget
//! after what they point at. Deletion runs it backwards.

use heliosc::lower::labels;
use kube::core::{ApiResource, GroupVersionKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The field manager of every request Helios makes.
pub const FIELD_MANAGER: &str = "helios";

/// The `app.kubernetes.io/managed-by` value of what the reconciler applied
/// (`heliosc build` output says `heliosc`).
pub const MANAGED_BY: &str = "helios";

/// A kind Helios applies or reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KindInfo {
    /// `Deployment`.
    pub kind: &'static str,
    /// `apps`; empty for the core group.
    pub group: &'static str,
    /// `v1`.
    pub version: &'static str,
    /// `deployments`.
    pub plural: &'static str,
    /// Whether objects of the kind live in a namespace.
    pub namespaced: bool,
}

/// Every kind Helios applies, in dependency order (see the module doc).
pub const APPLY_ORDER: [KindInfo; 10] = [
    kind("Namespace", "", "v1", "namespaces", false),
    kind("Secret", "", "v1", "secrets", true),
    kind("ConfigMap", "", "v1", "configmaps", true),
    kind(
        "NetworkPolicy",
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        true,
    ),
    kind("Service", "", "v1", "services", true),
    kind("StatefulSet", "apps", "v1", "statefulsets", true),
    kind("Deployment", "apps", "v1", "deployments", true),
    kind("Ingress", "networking.k8s.io", "v1", "ingresses", true),
    kind(
        "PodDisruptionBudget",
        "policy",
        "v1",
        "poddisruptionbudgets",
        true,
    ),
    kind(
        "HorizontalPodAutoscaler",
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        true,
    ),
];

/// The kinds that are components of an app (listed in observe): every
/// applied kind but the Secrets and ConfigMaps Helios keeps beside them.
pub fn component_kinds() -> impl Iterator<Item = &'static KindInfo> {
    APPLY_ORDER
        .iter()
        .filter(|k| !matches!(k.kind, "Secret" | "ConfigMap"))
}

/// PersistentVolumeClaims: made by StatefulSets, deleted only with
/// `--prune-volumes`.
pub const PERSISTENT_VOLUME_CLAIM: KindInfo = kind(
    "PersistentVolumeClaim",
    "",
    "v1",
    "persistentvolumeclaims",
    true,
);

/// Pods: read for the reasons of an unhealthy rollout.
pub const POD: KindInfo = kind("Pod", "", "v1", "pods", true);

const fn kind(
    kind: &'static str,
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    namespaced: bool,
) -> KindInfo {
    KindInfo {
        kind,
        group,
        version,
        plural,
        namespaced,
    }
}

impl KindInfo {
    /// The kind named `kind`, if Helios knows it.
    pub fn of(kind: &str) -> Option<&'static KindInfo> {
        APPLY_ORDER
            .iter()
            .chain([&PERSISTENT_VOLUME_CLAIM, &POD])
            .find(|k| k.kind == kind)
    }

    /// Its position in [`APPLY_ORDER`] (unknown kinds last).
    pub fn order(kind: &str) -> usize {
        APPLY_ORDER
            .iter()
            .position(|k| k.kind == kind)
            .unwrap_or(APPLY_ORDER.len())
    }

    /// kube's description of the resource, for a dynamic `Api`.
    pub fn api_resource(&self) -> ApiResource {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(self.group, self.version, self.kind),
            self.plural,
        )
    }
}

/// An object's identity: what an inventory lists.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    /// API group; empty for the core group.
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Namespace; `None` for a cluster-scoped object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl ObjectRef {
    /// The reference of a component key (`Kind/namespace/name`, or
    /// `Kind/name` for a cluster-scoped kind), if the kind is known.
    pub fn from_key(key: &str) -> Option<Self> {
        let mut parts = key.splitn(3, '/');
        let kind = parts.next()?;
        let info = KindInfo::of(kind)?;
        let (namespace, name) = match (parts.next()?, parts.next()) {
            (namespace, Some(name)) if info.namespaced => (Some(namespace.to_string()), name),
            (name, None) if !info.namespaced => (None, name),
            _ => return None,
        };
        Some(Self {
            group: info.group.to_string(),
            version: info.version.to_string(),
            kind: kind.to_string(),
            namespace,
            name: name.to_string(),
        })
    }

    /// The component key: `Kind/namespace/name` or `Kind/name`.
    pub fn key(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{}/{namespace}/{}", self.kind, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }

    /// The kind's facts, if Helios knows the kind.
    pub fn info(&self) -> Option<&'static KindInfo> {
        KindInfo::of(&self.kind)
    }
}

/// The object as Helios applies it: the compiled object plus the
/// ownership marks the reconciler alone sets.
///
/// - Labels `dev.helios.app`, `dev.helios.component` and
///   `app.kubernetes.io/managed-by: helios` on the object, so that it is
///   found by label and never confused with an object Helios does not own.
/// - Annotation `dev.helios.spec-hash`: the compiled spec's hash, so that
///   an unchanged commit needs no write at all; `dev.helios.secrets-digest`
///   when the component uses secret values.
/// - On a workload's pod template: `dev.helios.app` (pods are found for
///   health by it) and the secrets digest (a rotated value rolls the pods;
///   a Secret change alone would not restart them).
/// - On a StatefulSet's volume claim templates: `dev.helios.app`, so that
///   its claims are found and kept (or pruned) as the app's volumes.
pub fn owned_object(
    object: &Value,
    app: &str,
    component: &str,
    spec_hash: &str,
    secrets_digest: Option<&str>,
) -> Value {
    let mut object = object.clone();
    let set = |value: &mut Value, path: &[&str], key: &str, text: &str| {
        let mut at = value;
        for part in path {
            if !at.get(*part).is_some_and(Value::is_object) {
                at[*part] = Value::Object(serde_json::Map::new());
            }
            at = &mut at[*part];
        }
        at[key] = Value::String(text.to_string());
    };
    set(&mut object, &["metadata", "labels"], labels::APP, app);
    set(
        &mut object,
        &["metadata", "labels"],
        labels::COMPONENT,
        component,
    );
    set(
        &mut object,
        &["metadata", "labels"],
        "app.kubernetes.io/managed-by",
        MANAGED_BY,
    );
    set(
        &mut object,
        &["metadata", "annotations"],
        labels::SPEC_HASH,
        spec_hash,
    );
    if let Some(digest) = secrets_digest {
        set(
            &mut object,
            &["metadata", "annotations"],
            labels::SECRETS_DIGEST,
            digest,
        );
    }
    let kind = object["kind"].as_str().unwrap_or_default().to_string();
    if matches!(kind.as_str(), "Deployment" | "StatefulSet") {
        set(
            &mut object,
            &["spec", "template", "metadata", "labels"],
            labels::APP,
            app,
        );
        if let Some(digest) = secrets_digest {
            set(
                &mut object,
                &["spec", "template", "metadata", "annotations"],
                labels::SECRETS_DIGEST,
                digest,
            );
        }
    }
    if kind == "StatefulSet"
        && let Some(claims) = object["spec"]
            .get_mut("volumeClaimTemplates")
            .and_then(Value::as_array_mut)
    {
        for claim in claims {
            set(claim, &["metadata", "labels"], labels::APP, app);
        }
    }
    object
}

/// The label selector of every object of every app Helios owns.
pub fn owned_selector() -> String {
    labels::APP.to_string()
}

/// The label selector of the objects of one app.
pub fn app_selector(app: &str) -> String {
    format!("{}={app}", labels::APP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_refs_round_trip() {
        let deployment = ObjectRef::from_key("Deployment/shop/web").expect("known kind");
        assert_eq!(deployment.group, "apps");
        assert_eq!(deployment.namespace.as_deref(), Some("shop"));
        assert_eq!(deployment.key(), "Deployment/shop/web");
        let namespace = ObjectRef::from_key("Namespace/shop").expect("known kind");
        assert_eq!(namespace.namespace, None);
        assert_eq!(namespace.group, "");
        assert_eq!(ObjectRef::from_key("Namespace/shop/x"), None);
        assert_eq!(ObjectRef::from_key("Deployment/web"), None);
        assert_eq!(ObjectRef::from_key("Gadget/shop/web"), None);
    }

    #[test]
    fn dependency_order() {
        let order: Vec<usize> = [
            "Namespace",
            "Secret",
            "NetworkPolicy",
            "Service",
            "StatefulSet",
            "Deployment",
            "Ingress",
            "PodDisruptionBudget",
        ]
        .iter()
        .map(|k| KindInfo::order(k))
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    }

    #[test]
    fn ownership_marks_are_added_and_nothing_else_changes() {
        let object = serde_json::json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": "shop", "labels": {"app.kubernetes.io/managed-by": "heliosc"}},
            "spec": {"template": {"spec": {}}, "volumeClaimTemplates": [{"metadata": {"name": "data"}}]}
        });
        let owned = owned_object(&object, "shop", "database", "abc", Some("d1"));
        assert_eq!(owned["metadata"]["labels"][labels::APP], "shop");
        assert_eq!(
            owned["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "helios"
        );
        assert_eq!(owned["metadata"]["annotations"][labels::SPEC_HASH], "abc");
        assert_eq!(
            owned["spec"]["template"]["metadata"]["annotations"][labels::SECRETS_DIGEST],
            "d1"
        );
        assert_eq!(
            owned["spec"]["volumeClaimTemplates"][0]["metadata"]["labels"][labels::APP],
            "shop"
        );
        assert_eq!(owned["metadata"]["name"], "db");
    }
}
