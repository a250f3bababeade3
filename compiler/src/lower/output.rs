//! The structured output of lowering: what the target should run, as data
//! ([`Lowered`]), from which the text files are rendered. An embedding
//! program (the reconciler) reads the components from here instead of
//! parsing the files back.

use super::OutputFile;
use sha2::{Digest, Sha256};

/// What a component is; it decides the order of apply.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ComponentKind {
    /// A Kubernetes Namespace: applied before anything that lives in it.
    Namespace,
    /// A database (the Compose service of a database, or a Kubernetes
    /// object made for a database): applied before the services that
    /// depend on it.
    Database,
    /// A service, or any other object of the app.
    Service,
}

impl ComponentKind {
    /// The name used in text output: `namespace`, `database`, `service`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Namespace => "namespace",
            Self::Database => "database",
            Self::Service => "service",
        }
    }
}

/// The structured output of lowering one app; the text files are rendered
/// from it.
#[derive(Clone, Debug, PartialEq)]
pub struct Lowered {
    /// Every component, in the order the target's file lists them
    /// (Compose: services and databases by name; Kubernetes: the
    /// manifests' order).
    pub components: Vec<Component>,
    /// Compose: the app's data volumes, unprefixed (`<db>-data`), sorted.
    /// Kubernetes: empty (a StatefulSet's claims belong to it).
    pub volumes: Vec<String>,
    /// The files written for the app, rendered from this data.
    pub files: Vec<OutputFile>,
}

impl Lowered {
    /// The component with `key`, if there is one.
    pub fn component(&self, key: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.key == key)
    }
}

/// One thing the target runs or creates: a Compose service (of a service
/// or a database) or a Kubernetes object.
#[derive(Clone, Debug, PartialEq)]
pub struct Component {
    /// Compose: the service's or database's name. Kubernetes:
    /// `Kind/namespace/name`, or `Kind/name` when cluster-scoped
    /// (a Namespace).
    pub key: String,
    /// What it is.
    pub kind: ComponentKind,
    /// The Heliosfile service or database it belongs to; the app's name
    /// for a Namespace.
    pub owner: String,
    /// Compose: the value of the [`labels::SPEC_HASH`](super::labels::SPEC_HASH)
    /// label the lowering sets on the service. Kubernetes: SHA-256 (hex)
    /// of [`spec`](Self::spec).
    pub spec_hash: String,
    /// Compose: how many containers run it (the service's `replicas`; 1
    /// for a database). Kubernetes: `None` (the objects say it).
    pub replicas: Option<u32>,
    /// Compose: the named volumes it mounts (`<db>-data`). Kubernetes:
    /// empty.
    pub volumes: Vec<String>,
    /// The YAML text of this component alone. Compose: the service's
    /// mapping; Kubernetes: the object exactly as in the manifests.
    pub spec: String,
    /// The typed value.
    pub body: Body,
}

/// The typed value of a [`Component`].
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    /// A service of `compose.yaml`.
    Compose(Box<docker_compose_types::Service>),
    /// A Kubernetes object.
    Kubernetes(Box<KubeObject>),
}

/// A Kubernetes object, ready to apply.
#[derive(Clone, Debug, PartialEq)]
pub struct KubeObject {
    /// Its `apiVersion`: `apps/v1`, `v1`.
    pub api_version: String,
    /// Its `kind`: `Deployment`, `Service`.
    pub kind: String,
    /// Its namespace; `None` when cluster-scoped.
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
    /// The whole object, as JSON: what gets applied.
    pub object: serde_json::Value,
}

/// SHA-256 of `text`, in lowercase hex.
pub(crate) fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Target;
    use crate::lower::{LowerOptions, compose, kubernetes, labels};
    use crate::{BuildOptions, diff};

    const SHOP: &str = include_str!("../../../fixtures/valid/shop.yml");

    fn options(target: Target, split: bool) -> BuildOptions {
        let mut lower = LowerOptions {
            tag: Some("1.0.0".to_string()),
            ..Default::default()
        };
        lower.kubernetes.split = split;
        BuildOptions {
            target: Some(target),
            lower,
            ..Default::default()
        }
    }

    fn lowered(target: Target, split: bool) -> (crate::Built, Lowered) {
        let built = crate::build("shop.yml", SHOP, &options(target, split));
        assert!(!built.has_errors(), "{}", built.render(SHOP));
        let lowered = built.lowered.clone().expect("lowered");
        (built, lowered)
    }

    fn summary(lowered: &Lowered) -> Vec<(&str, ComponentKind, &str)> {
        lowered
            .components
            .iter()
            .map(|c| (c.key.as_str(), c.kind, c.owner.as_str()))
            .collect()
    }

    #[test]
    fn compose_components_of_the_shop() {
        let (built, lowered) = lowered(Target::Compose, false);
        assert_eq!(
            summary(&lowered),
            [
                ("postgres", ComponentKind::Database, "postgres"),
                ("web", ComponentKind::Service, "web"),
                ("worker", ComponentKind::Service, "worker"),
            ]
        );
        assert_eq!(lowered.volumes, ["postgres-data"]);
        let replicas: Vec<Option<u32>> = lowered.components.iter().map(|c| c.replicas).collect();
        assert_eq!(replicas, [Some(1), Some(2), Some(1)]);
        let volumes: Vec<&[String]> = lowered
            .components
            .iter()
            .map(|c| c.volumes.as_slice())
            .collect();
        assert_eq!(volumes, [&["postgres-data".to_string()][..], &[], &[]]);
        // The files are the ones the build writes, and the lowering alone
        // gives the same.
        assert_eq!(built.files, lowered.files);
        let app = built.app.as_ref().expect("an app");
        let direct = compose::lower(app, &options(Target::Compose, false).lower).expect("lowers");
        assert_eq!(direct, lowered);
        let paths: Vec<&str> = lowered.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["compose.yaml", ".env.example"]);
        for component in &lowered.components {
            let Body::Compose(service) = &component.body else {
                panic!("{}: not a Compose service", component.key)
            };
            // The spec hash is the label the lowering sets.
            let docker_compose_types::Labels::Map(labels) = &service.labels else {
                panic!("labels are a map")
            };
            assert_eq!(component.spec_hash, labels[labels::SPEC_HASH]);
            assert_eq!(component.spec_hash.len(), 64);
            assert_eq!(component.spec, crate::lower::to_yaml(&**service));
            // The spec is the service's mapping as `compose.yaml` has it.
            let indented: String = component
                .spec
                .lines()
                .map(|line| format!("    {line}\n"))
                .collect();
            let entry = format!("  {}:\n{indented}", component.key);
            assert!(
                lowered.files[0].contents.contains(&entry),
                "{}",
                component.key
            );
        }
        // The same keys as the objects `heliosc diff` reads from the file.
        let services: Vec<String> = diff::objects(&lowered.files)
            .into_iter()
            .filter(|o| o.id.kind == "service")
            .map(|o| o.id.name)
            .collect();
        let keys: Vec<&str> = lowered.components.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(services, keys);
    }

    #[test]
    fn kubernetes_components_of_the_shop() {
        let (built, lowered) = lowered(Target::Kubernetes, false);
        assert_eq!(
            summary(&lowered),
            [
                ("Namespace/shop", ComponentKind::Namespace, "shop"),
                (
                    "NetworkPolicy/shop/postgres",
                    ComponentKind::Database,
                    "postgres"
                ),
                ("Service/shop/postgres", ComponentKind::Database, "postgres"),
                ("Service/shop/web", ComponentKind::Service, "web"),
                ("Deployment/shop/web", ComponentKind::Service, "web"),
                ("Deployment/shop/worker", ComponentKind::Service, "worker"),
                (
                    "StatefulSet/shop/postgres",
                    ComponentKind::Database,
                    "postgres"
                ),
                ("Ingress/shop/web", ComponentKind::Service, "web"),
                (
                    "PodDisruptionBudget/shop/web",
                    ComponentKind::Service,
                    "web"
                ),
            ]
        );
        assert!(lowered.volumes.is_empty());
        assert_eq!(built.files, lowered.files);
        let app = built.app.as_ref().expect("an app");
        let direct =
            kubernetes::lower(app, &options(Target::Kubernetes, false).lower).expect("lowers");
        assert_eq!(direct, lowered);
        let paths: Vec<&str> = lowered.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [kubernetes::MANIFESTS_FILE, kubernetes::SECRETS_FILE]
        );
        // Each spec is its document of the stream; its hash, the SHA-256
        // of it (what the reconciler computed from the stream).
        let objects = diff::objects(&lowered.files[..1]);
        assert_eq!(objects.len(), lowered.components.len());
        for (component, object) in lowered.components.iter().zip(&objects) {
            assert_eq!(component.key, object.id.to_string());
            assert_eq!(component.spec, object.text);
            assert_eq!(component.spec_hash, sha256_hex(&object.text));
            assert_eq!(component.replicas, None);
            assert!(component.volumes.is_empty());
            let Body::Kubernetes(kube) = &component.body else {
                panic!("{}: not a Kubernetes object", component.key)
            };
            assert_eq!(kube.kind, object.id.kind);
            assert_eq!(kube.namespace, object.id.namespace);
            assert_eq!(kube.name, object.id.name);
            assert_eq!(kube.object["kind"], kube.kind.as_str());
            assert_eq!(kube.object["apiVersion"], kube.api_version.as_str());
            assert_eq!(kube.object["metadata"]["name"], kube.name.as_str());
            // The object is the YAML text, as data.
            let parsed: serde_json::Value =
                serde_saphyr::from_str(&component.spec).expect("the spec reads back");
            assert_eq!(parsed, kube.object, "{}", component.key);
        }
        let api_versions: Vec<&str> = lowered
            .components
            .iter()
            .map(|c| match &c.body {
                Body::Kubernetes(kube) => kube.api_version.as_str(),
                Body::Compose(_) => "",
            })
            .collect();
        assert_eq!(
            api_versions,
            [
                "v1",
                "networking.k8s.io/v1",
                "v1",
                "v1",
                "apps/v1",
                "apps/v1",
                "apps/v1",
                "networking.k8s.io/v1",
                "policy/v1",
            ]
        );
    }

    #[test]
    fn split_kubernetes_files_have_the_same_components() {
        let (_, stream) = lowered(Target::Kubernetes, false);
        let (built, split) = lowered(Target::Kubernetes, true);
        assert_eq!(built.files, split.files);
        assert_eq!(split.components, stream.components);
        // One file per component, in order, then the Secrets file.
        assert_eq!(split.files.len(), split.components.len() + 1);
        for (file, component) in split.files.iter().zip(&split.components) {
            assert!(file.contents.ends_with(&component.spec), "{}", file.path);
        }
        assert_eq!(
            split.files.last().map(|f| f.path.as_str()),
            Some(kubernetes::SECRETS_FILE)
        );
    }

    #[test]
    fn a_given_namespace_has_no_namespace_component() {
        let mut options = options(Target::Kubernetes, false);
        options.lower.kubernetes.namespace = Some("prod".to_string());
        let built = crate::build("shop.yml", SHOP, &options);
        let lowered = built.lowered.expect("lowered");
        assert!(
            lowered
                .components
                .iter()
                .all(|c| c.kind != ComponentKind::Namespace && c.key.contains("/prod/"))
        );
        assert_eq!(
            lowered
                .component("Deployment/prod/web")
                .map(|c| c.owner.as_str()),
            Some("web")
        );
    }

    #[test]
    fn failed_lowering_has_no_structure() {
        // No image and no tag for `worker`.
        let built = crate::build("shop.yml", SHOP, &BuildOptions::default());
        assert!(built.has_errors());
        assert!(built.lowered.is_none());
        assert!(built.files.is_empty());
    }

    #[test]
    fn kinds_have_stable_names() {
        for (kind, name) in [
            (ComponentKind::Namespace, "namespace"),
            (ComponentKind::Database, "database"),
            (ComponentKind::Service, "service"),
        ] {
            assert_eq!(kind.as_str(), name);
            assert_eq!(
                serde_json::to_value(kind).expect("serializes"),
                serde_json::Value::String(name.to_string())
            );
        }
        assert!(ComponentKind::Namespace < ComponentKind::Database);
        assert!(ComponentKind::Database < ComponentKind::Service);
    }
}
