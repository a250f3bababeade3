//! Lowering to Kubernetes: typed `k8s-openapi` objects in the design's
//! order, as one YAML stream or one file per object, plus
//! `secrets.required.yaml` naming the Secrets and keys the manifests use.
//!
//! No Secret with data is ever emitted. A secret is read with
//! `secretKeyRef`; inside a longer string it goes through a helper variable
//! and `$(VAR)` expansion, declared before its use because Kubernetes only
//! expands variables defined earlier in the list.

use super::{
    Body, Component, ComponentKind, KubeObject, LowerOptions, Lowered, OutputFile, ResolvedImage,
    database_password_variable, engines, render_env, user_secret_variable,
};
use crate::diagnostic::{Diagnostic, constructors as diag};
use crate::ir::{
    App, Database, EnvPart, EnvValue, Healthcheck, Probe, SecretRef, Service, Strategy,
};
use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::networking::v1 as networking;
use k8s_openapi::api::policy::v1 as policy;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Options only the Kubernetes target has.
#[derive(Clone, Debug, Default)]
pub struct KubernetesOptions {
    /// Put every object in this existing namespace and emit no Namespace
    /// (default: a Namespace named after the app).
    pub namespace: Option<String>,
    /// `spec.ingressClassName` of every Ingress (default: the cluster's default class).
    pub ingress_class: Option<String>,
    /// The cert-manager ClusterIssuer named on Ingresses with TLS
    /// (default `letsencrypt`).
    pub cluster_issuer: Option<String>,
    /// One file per object instead of one stream.
    pub split: bool,
}

/// The ClusterIssuer used when none is given.
pub const DEFAULT_CLUSTER_ISSUER: &str = "letsencrypt";
/// The file the single stream is written to.
pub const MANIFESTS_FILE: &str = "manifests.yaml";
/// The file that lists the Secrets and keys the manifests reference.
pub const SECRETS_FILE: &str = "secrets.required.yaml";

/// Longest StatefulSet name: its pods carry the label
/// `controller-revision-hash: <name>-<10 chars>`, and label values are at
/// most 63 characters.
const MAX_STATEFULSET_NAME: usize = 52;

/// Longest key of a Secret (as of a ConfigMap): 253 characters.
const MAX_SECRET_KEY: usize = 253;

/// One object of the output, serialized.
struct Object {
    /// Position of the kind in the design's order.
    kind_order: usize,
    kind: &'static str,
    api_version: &'static str,
    name: String,
    namespace: Option<String>,
    /// What it is made for, and for which service or database.
    component: ComponentKind,
    owner: String,
    yaml: String,
    json: serde_json::Value,
}

const KIND_ORDER: [&str; 8] = [
    "Namespace",
    "NetworkPolicy",
    "Service",
    "Deployment",
    "StatefulSet",
    "Ingress",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
];

/// An object made for `owner` (a service or database name, or the app's
/// name for its Namespace).
fn object<T>(component: ComponentKind, owner: &str, value: &T) -> Object
where
    T: Serialize + k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta>,
{
    let metadata = value.metadata();
    Object {
        kind_order: KIND_ORDER
            .iter()
            .position(|k| *k == T::KIND)
            .unwrap_or(KIND_ORDER.len()),
        kind: T::KIND,
        api_version: T::API_VERSION,
        name: metadata.name.clone().unwrap_or_default(),
        namespace: metadata.namespace.clone(),
        component,
        owner: owner.to_string(),
        yaml: super::to_yaml(value),
        // Serializing a typed object to a JSON value cannot fail.
        json: serde_json::to_value(value).unwrap_or_default(),
    }
}

impl Object {
    /// `Kind/namespace/name`, or `Kind/name` when cluster-scoped.
    fn key(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{}/{namespace}/{}", self.kind, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }

    fn into_component(self) -> Component {
        Component {
            key: self.key(),
            kind: self.component,
            owner: self.owner,
            spec_hash: super::output::sha256_hex(&self.yaml),
            replicas: None,
            volumes: Vec::new(),
            spec: self.yaml,
            body: Body::Kubernetes(Box::new(KubeObject {
                api_version: self.api_version.to_string(),
                kind: self.kind.to_string(),
                namespace: self.namespace,
                name: self.name,
                object: self.json,
            })),
        }
    }
}

/// Lowers a checked app: one [`Component`] per Kubernetes object, in the
/// manifests' order, and the files rendered from them (the manifests, as
/// one stream or one file per object, and `secrets.required.yaml`).
pub fn lower(app: &App, options: &LowerOptions) -> Result<Lowered, Vec<Diagnostic>> {
    let images = super::resolve_images(app, options)?;
    check_name_limits(app)?;
    let k8s = &options.kubernetes;
    let namespace = k8s.namespace.clone().unwrap_or_else(|| app.name.clone());
    let context = Context {
        app,
        namespace: &namespace,
    };

    let mut objects = Vec::new();
    if k8s.namespace.is_none() {
        let ns = core::Namespace {
            metadata: ObjectMeta {
                name: Some(namespace.clone()),
                labels: Some(BTreeMap::from([
                    ("app.kubernetes.io/part-of".to_string(), app.name.clone()),
                    (
                        "app.kubernetes.io/managed-by".to_string(),
                        "heliosc".to_string(),
                    ),
                ])),
                ..Default::default()
            },
            ..Default::default()
        };
        objects.push(object(ComponentKind::Namespace, &app.name, &ns));
    }
    for service in app.services.values() {
        let Some(image) = images.get(&service.name) else {
            continue;
        };
        let owner = service.name.as_str();
        objects.push(object(
            ComponentKind::Service,
            owner,
            &context.deployment(service, image),
        ));
        if service.all_ports().next().is_some() {
            objects.push(object(
                ComponentKind::Service,
                owner,
                &context.service(service),
            ));
        }
        if service.http_port.is_some() {
            objects.push(object(
                ComponentKind::Service,
                owner,
                &context.ingress(service, k8s),
            ));
        }
        if service.replicas >= 2 {
            objects.push(object(
                ComponentKind::Service,
                owner,
                &context.pod_disruption_budget(&service.name),
            ));
        }
    }
    for database in app.databases.values() {
        let owner = database.name.as_str();
        objects.push(object(
            ComponentKind::Database,
            owner,
            &context.stateful_set(database),
        ));
        objects.push(object(
            ComponentKind::Database,
            owner,
            &context.database_service(database),
        ));
        objects.push(object(
            ComponentKind::Database,
            owner,
            &context.network_policy(database),
        ));
    }
    objects.sort_by(|a, b| (a.kind_order, &a.name).cmp(&(b.kind_order, &b.name)));

    let header = format!(
        "# Generated by heliosc {} from the Heliosfile of app `{}`. Do not edit.\n",
        crate::VERSION,
        app.name
    );
    let mut files = Vec::new();
    if k8s.split {
        for (index, object) in objects.iter().enumerate() {
            files.push(OutputFile {
                path: format!(
                    "{:02}-{}-{}.yaml",
                    index + 1,
                    object.kind.to_ascii_lowercase(),
                    object.name
                ),
                contents: format!("{header}{}", object.yaml),
            });
        }
    } else {
        let stream = objects
            .iter()
            .map(|o| o.yaml.as_str())
            .collect::<Vec<_>>()
            .join("---\n");
        files.push(OutputFile {
            path: MANIFESTS_FILE.to_string(),
            contents: format!("{header}{stream}"),
        });
    }
    files.push(OutputFile {
        path: SECRETS_FILE.to_string(),
        contents: secrets_required(app, &namespace),
    });
    Ok(Lowered {
        components: objects.into_iter().map(Object::into_component).collect(),
        volumes: Vec::new(),
        files,
    })
}

/// Kubernetes limits that the Heliosfile's own rules do not already imply.
fn check_name_limits(app: &App) -> Result<(), Vec<Diagnostic>> {
    let mut problems = Vec::new();
    for database in app.databases.values() {
        if database.name.len() > MAX_STATEFULSET_NAME {
            problems.push(diag::kubernetes_name_too_long(
                &database.name,
                "database name",
                MAX_STATEFULSET_NAME,
                "a StatefulSet's pods are labelled `controller-revision-hash: <name>-<hash>`, and label values are at most 63 characters",
                database.name_span,
            ));
        }
    }
    for service in app.services.values() {
        if let Some(host) = service.hosts.first()
            && !crate::check::is_domain(host)
        {
            problems.push(diag::kubernetes_name_too_long(
                host,
                "default host",
                253,
                "Ingress hosts are DNS names: at most 253 characters, each label at most 63",
                service.name_span,
            ));
        }
    }
    // A user secret is a key of `<app>-secrets`; the first service that reads
    // it carries the diagnostic.
    let mut long_secrets = BTreeSet::new();
    for service in app.services.values() {
        for part in service.env.values().flat_map(|value| &value.parts) {
            if let EnvPart::Secret(SecretRef::User { name }) = part
                && name.len() > MAX_SECRET_KEY
                && long_secrets.insert(name)
            {
                problems.push(diag::kubernetes_name_too_long(
                    name,
                    "secret name",
                    MAX_SECRET_KEY,
                    "a user secret is a key of the Secret `<app>-secrets`, and Secret keys are at most 253 characters",
                    service.name_span,
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// A Secret and the keys of it that the manifests reference.
#[derive(Serialize)]
struct RequiredSecret {
    name: String,
    namespace: String,
    keys: Vec<String>,
}

/// The Secrets the manifests read: `<db>-credentials` for every database,
/// `<app>-secrets` with every user secret a value uses. Names and keys only.
pub fn required_secrets(app: &App) -> BTreeMap<String, BTreeSet<String>> {
    let mut secrets: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for database in app.databases.keys() {
        secrets.insert(
            credentials_secret(database),
            ["database", "password", "username"]
                .iter()
                .map(|k| k.to_string())
                .collect(),
        );
    }
    for service in app.services.values() {
        for value in service.env.values() {
            for part in &value.parts {
                if let EnvPart::Secret(SecretRef::User { name }) = part {
                    secrets
                        .entry(user_secrets_name(app))
                        .or_default()
                        .insert(name.clone());
                }
            }
        }
    }
    secrets
}

fn secrets_required(app: &App, namespace: &str) -> String {
    let list: Vec<RequiredSecret> = required_secrets(app)
        .into_iter()
        .map(|(name, keys)| RequiredSecret {
            name,
            namespace: namespace.to_string(),
            keys: keys.into_iter().collect(),
        })
        .collect();
    let body = if list.is_empty() {
        "[]\n".to_string()
    } else {
        super::to_yaml(&list)
    };
    format!(
        "# Secrets that the manifests of app `{}` reference, with the keys they read.\n\
         # heliosc writes no Secret: database credentials are generated once by the\n\
         # reconciler, user secrets come from outside git.\n{body}",
        app.name
    )
}

fn credentials_secret(database: &str) -> String {
    format!("{database}-credentials")
}

fn user_secrets_name(app: &App) -> String {
    format!("{}-secrets", app.name)
}

struct Context<'a> {
    app: &'a App,
    namespace: &'a str,
}

impl Context<'_> {
    fn labels(&self, name: &str, component: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app.kubernetes.io/name".to_string(), name.to_string()),
            (
                "app.kubernetes.io/instance".to_string(),
                self.app.name.clone(),
            ),
            (
                "app.kubernetes.io/part-of".to_string(),
                self.app.name.clone(),
            ),
            (
                "app.kubernetes.io/component".to_string(),
                component.to_string(),
            ),
            (
                "app.kubernetes.io/managed-by".to_string(),
                "heliosc".to_string(),
            ),
        ])
    }

    fn selector_labels(&self, name: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app.kubernetes.io/name".to_string(), name.to_string()),
            (
                "app.kubernetes.io/instance".to_string(),
                self.app.name.clone(),
            ),
        ])
    }

    fn selector(&self, name: &str) -> LabelSelector {
        LabelSelector {
            match_labels: Some(self.selector_labels(name)),
            ..Default::default()
        }
    }

    fn metadata(&self, name: &str, component: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(self.namespace.to_string()),
            labels: Some(self.labels(name, component)),
            ..Default::default()
        }
    }

    fn pod_spec(&self, container: core::Container) -> core::PodSpec {
        core::PodSpec {
            automount_service_account_token: Some(false),
            security_context: Some(core::PodSecurityContext {
                seccomp_profile: Some(core::SeccompProfile {
                    type_: "RuntimeDefault".to_string(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            containers: vec![container],
            ..Default::default()
        }
    }

    fn deployment(&self, service: &Service, image: &ResolvedImage) -> apps::Deployment {
        let resources = resources(service);
        let (readiness, liveness, startup) = probes(service.healthcheck.as_ref());
        let container = core::Container {
            name: service.name.clone(),
            image: Some(image.image.clone()),
            args: service
                .command
                .as_ref()
                .map(|words| words.iter().map(|w| escape(w)).collect()),
            ports: Some(container_ports(service)).filter(|p| !p.is_empty()),
            env: Some(self.env(service)).filter(|e| !e.is_empty()),
            resources,
            readiness_probe: readiness,
            liveness_probe: liveness,
            startup_probe: startup,
            security_context: Some(container_security()),
            ..Default::default()
        };
        let strategy = match service.strategy {
            Strategy::Rolling => apps::DeploymentStrategy {
                type_: Some("RollingUpdate".to_string()),
                rolling_update: Some(apps::RollingUpdateDeployment {
                    max_unavailable: Some(IntOrString::Int(0)),
                    max_surge: Some(IntOrString::Int(1)),
                }),
            },
            Strategy::Recreate => apps::DeploymentStrategy {
                type_: Some("Recreate".to_string()),
                rolling_update: None,
            },
        };
        apps::Deployment {
            metadata: self.metadata(&service.name, "service"),
            spec: apps::DeploymentSpec {
                replicas: Some(i32::try_from(service.replicas).unwrap_or(i32::MAX)),
                selector: self.selector(&service.name),
                strategy: Some(strategy),
                template: core::PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(self.labels(&service.name, "service")),
                        ..Default::default()
                    }),
                    spec: Some(self.pod_spec(container)),
                },
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// Helper variables for secrets used inside longer strings come first
    /// (Kubernetes expands `$(VAR)` only for variables defined earlier),
    /// then the service's own variables, each group sorted.
    fn env(&self, service: &Service) -> Vec<core::EnvVar> {
        let mut helpers: BTreeMap<String, core::EnvVar> = BTreeMap::new();
        let mut own = Vec::new();
        for (name, value) in &service.env {
            if let Some(source) = self.direct_secret(value) {
                own.push(core::EnvVar {
                    name: name.clone(),
                    value_from: Some(source),
                    ..Default::default()
                });
                continue;
            }
            for part in &value.parts {
                if let EnvPart::Secret(secret) = part {
                    let (variable, source) = self.helper(secret);
                    helpers.entry(variable.clone()).or_insert(core::EnvVar {
                        name: variable,
                        value_from: Some(source),
                        ..Default::default()
                    });
                }
            }
            let rendered = render_env(
                self.app,
                value,
                escape,
                |db| format!("$({})", database_password_variable(db)),
                |secret| format!("$({})", user_secret_variable(secret)),
            );
            own.push(core::EnvVar {
                name: name.clone(),
                value: Some(rendered),
                ..Default::default()
            });
        }
        helpers.into_values().chain(own).collect()
    }

    /// A value that is exactly one secret is read straight from its Secret.
    fn direct_secret(&self, value: &EnvValue) -> Option<core::EnvVarSource> {
        match value.parts.as_slice() {
            [
                EnvPart::Secret(
                    secret @ (SecretRef::DatabasePassword { .. } | SecretRef::User { .. }),
                ),
            ] => Some(self.helper(secret).1),
            _ => None,
        }
    }

    /// The helper variable (and its source) that carries a secret's value;
    /// a database URL needs its password.
    fn helper(&self, secret: &SecretRef) -> (String, core::EnvVarSource) {
        match secret {
            SecretRef::DatabasePassword { database } | SecretRef::DatabaseUrl { database } => (
                database_password_variable(database),
                secret_key(&credentials_secret(database), "password"),
            ),
            SecretRef::User { name } => (
                user_secret_variable(name),
                secret_key(&user_secrets_name(self.app), name),
            ),
        }
    }

    fn service(&self, service: &Service) -> core::Service {
        let ports = service
            .all_ports()
            .map(|port| core::ServicePort {
                name: Some(port_name(service, port)),
                port: i32::from(port),
                target_port: Some(IntOrString::String(port_name(service, port))),
                protocol: Some("TCP".to_string()),
                ..Default::default()
            })
            .collect();
        core::Service {
            metadata: self.metadata(&service.name, "service"),
            spec: Some(core::ServiceSpec {
                type_: Some("ClusterIP".to_string()),
                selector: Some(self.selector_labels(&service.name)),
                ports: Some(ports),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn ingress(&self, service: &Service, options: &KubernetesOptions) -> networking::Ingress {
        let backend = networking::IngressBackend {
            service: Some(networking::IngressServiceBackend {
                name: service.name.clone(),
                port: Some(networking::ServiceBackendPort {
                    name: Some("http".to_string()),
                    number: None,
                }),
            }),
            ..Default::default()
        };
        let rules = service
            .hosts
            .iter()
            .map(|host| networking::IngressRule {
                host: Some(host.clone()),
                http: Some(networking::HTTPIngressRuleValue {
                    paths: vec![networking::HTTPIngressPath {
                        path: Some("/".to_string()),
                        path_type: "Prefix".to_string(),
                        backend: backend.clone(),
                    }],
                }),
            })
            .collect();
        let mut metadata = self.metadata(&service.name, "service");
        let tls = service.tls.then(|| {
            let issuer = options
                .cluster_issuer
                .clone()
                .unwrap_or_else(|| DEFAULT_CLUSTER_ISSUER.to_string());
            metadata.annotations = Some(BTreeMap::from([(
                "cert-manager.io/cluster-issuer".to_string(),
                issuer,
            )]));
            vec![networking::IngressTLS {
                hosts: Some(service.hosts.clone()),
                secret_name: Some(format!("{}-tls", service.name)),
            }]
        });
        networking::Ingress {
            metadata,
            spec: Some(networking::IngressSpec {
                ingress_class_name: options.ingress_class.clone(),
                rules: Some(rules),
                tls,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pod_disruption_budget(&self, name: &str) -> policy::PodDisruptionBudget {
        policy::PodDisruptionBudget {
            metadata: self.metadata(name, "service"),
            spec: Some(policy::PodDisruptionBudgetSpec {
                max_unavailable: Some(IntOrString::Int(1)),
                selector: Some(self.selector(name)),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// The official image's data folder, port, environment and native
    /// check ([`engines`]); the database, user and password come from the
    /// keys of `<db>-credentials`.
    fn stateful_set(&self, database: &Database) -> apps::StatefulSet {
        let engine = engines::engine(database.kind);
        let secret = credentials_secret(&database.name);
        let secret_env = [
            (engine.database_env, "database"),
            (Some(engine.password_env), "password"),
            (engine.user_env, "username"),
        ];
        let mut env: Vec<core::EnvVar> = secret_env
            .into_iter()
            .filter_map(|(name, key)| name.map(|name| (name, key)))
            .map(|(name, key)| core::EnvVar {
                name: name.to_string(),
                value_from: Some(secret_key(&secret, key)),
                ..Default::default()
            })
            .collect();
        // A volume's root holds `lost+found`; some engines need an empty folder.
        let plain = engine.data_subfolder_env().into_iter().chain(
            engine
                .plain_env
                .iter()
                .map(|(name, value)| (*name, value.to_string())),
        );
        env.extend(plain.map(|(name, value)| core::EnvVar {
            name: name.to_string(),
            value: Some(value),
            ..Default::default()
        }));
        env.sort_by(|a, b| a.name.cmp(&b.name));
        let port_name = database.kind.as_str().to_string();
        let probe = core::Probe {
            exec: Some(core::ExecAction {
                command: Some(vec![
                    "sh".to_string(),
                    "-c".to_string(),
                    engine.health_command(&self.app.name, &self.app.name),
                ]),
            }),
            period_seconds: Some(10),
            timeout_seconds: Some(5),
            failure_threshold: Some(5),
            ..Default::default()
        };
        let container = core::Container {
            name: database.name.clone(),
            image: Some(database.effective_image()),
            // Kubernetes expands only `$(VAR)`: the engine's `$VAR` stays literal.
            args: engine
                .args
                .map(|args| args.iter().map(|a| a.to_string()).collect()),
            ports: Some(vec![core::ContainerPort {
                name: Some(port_name),
                container_port: i32::from(engine.port),
                protocol: Some("TCP".to_string()),
                ..Default::default()
            }]),
            env: Some(env),
            volume_mounts: Some(vec![core::VolumeMount {
                name: "data".to_string(),
                mount_path: engine.data_path.to_string(),
                ..Default::default()
            }]),
            readiness_probe: Some(probe.clone()),
            liveness_probe: Some(probe.clone()),
            startup_probe: Some(core::Probe {
                failure_threshold: Some(30),
                ..probe
            }),
            security_context: Some(container_security()),
            ..Default::default()
        };
        let claim = core::PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some("data".to_string()),
                labels: Some(self.labels(&database.name, "database")),
                ..Default::default()
            },
            spec: Some(core::PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOnce".to_string()]),
                resources: Some(core::VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([(
                        "storage".to_string(),
                        Quantity(super::bytes_as_quantity(database.storage_bytes)),
                    )])),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        apps::StatefulSet {
            metadata: self.metadata(&database.name, "database"),
            spec: apps::StatefulSetSpec {
                replicas: Some(1),
                service_name: Some(database.name.clone()),
                selector: self.selector(&database.name),
                template: core::PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(self.labels(&database.name, "database")),
                        ..Default::default()
                    }),
                    spec: Some(self.pod_spec(container)),
                },
                volume_claim_templates: Some(vec![claim]),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn database_service(&self, database: &Database) -> core::Service {
        let name = database.kind.as_str().to_string();
        core::Service {
            metadata: self.metadata(&database.name, "database"),
            spec: Some(core::ServiceSpec {
                type_: Some("ClusterIP".to_string()),
                selector: Some(self.selector_labels(&database.name)),
                ports: Some(vec![core::ServicePort {
                    name: Some(name.clone()),
                    port: i32::from(database.kind.port()),
                    target_port: Some(IntOrString::String(name)),
                    protocol: Some("TCP".to_string()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Only pods of the same app may reach a database.
    fn network_policy(&self, database: &Database) -> networking::NetworkPolicy {
        networking::NetworkPolicy {
            metadata: self.metadata(&database.name, "database"),
            spec: Some(networking::NetworkPolicySpec {
                pod_selector: Some(self.selector(&database.name)),
                policy_types: Some(vec!["Ingress".to_string()]),
                ingress: Some(vec![networking::NetworkPolicyIngressRule {
                    from: Some(vec![networking::NetworkPolicyPeer {
                        pod_selector: Some(LabelSelector {
                            match_labels: Some(BTreeMap::from([(
                                "app.kubernetes.io/part-of".to_string(),
                                self.app.name.clone(),
                            )])),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }]),
                    ports: Some(vec![networking::NetworkPolicyPort {
                        port: Some(IntOrString::Int(i32::from(database.kind.port()))),
                        protocol: Some("TCP".to_string()),
                        ..Default::default()
                    }]),
                }]),
                ..Default::default()
            }),
        }
    }
}

fn secret_key(secret: &str, key: &str) -> core::EnvVarSource {
    core::EnvVarSource {
        secret_key_ref: Some(core::SecretKeySelector {
            name: secret.to_string(),
            key: key.to_string(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Kubernetes expands `$(VAR)` in env values and args, and turns `$$` into
/// `$` wherever it appears; doubling every `$` keeps literal text literal
/// (`$(x)`, `$$`, `$$(x)` alike).
fn escape(text: &str) -> String {
    text.replace('$', "$$")
}

/// `http` for `http_port`, `port-<n>` for the others (at most 15 characters).
fn port_name(service: &Service, port: u16) -> String {
    if service.http_port == Some(port) {
        "http".to_string()
    } else {
        format!("port-{port}")
    }
}

fn container_ports(service: &Service) -> Vec<core::ContainerPort> {
    service
        .all_ports()
        .map(|port| core::ContainerPort {
            name: Some(port_name(service, port)),
            container_port: i32::from(port),
            protocol: Some("TCP".to_string()),
            ..Default::default()
        })
        .collect()
}

fn container_security() -> core::SecurityContext {
    core::SecurityContext {
        allow_privilege_escalation: Some(false),
        seccomp_profile: Some(core::SeccompProfile {
            type_: "RuntimeDefault".to_string(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Requests equal limits: the pod gets exactly what it asked for.
fn resources(service: &Service) -> Option<core::ResourceRequirements> {
    let mut amounts = BTreeMap::new();
    if let Some(millis) = service.cpu_millis {
        amounts.insert("cpu".to_string(), Quantity(format!("{millis}m")));
    }
    if let Some(bytes) = service.memory_bytes {
        amounts.insert(
            "memory".to_string(),
            Quantity(super::bytes_as_quantity(bytes)),
        );
    }
    (!amounts.is_empty()).then(|| core::ResourceRequirements {
        limits: Some(amounts.clone()),
        requests: Some(amounts),
        ..Default::default()
    })
}

fn seconds(duration: std::time::Duration) -> i32 {
    i32::try_from(duration.as_secs().max(1)).unwrap_or(i32::MAX)
}

/// Readiness and liveness from the health check; a startup probe covers
/// `start_period`, so that slow starts are not killed by liveness.
fn probes(
    check: Option<&Healthcheck>,
) -> (
    Option<core::Probe>,
    Option<core::Probe>,
    Option<core::Probe>,
) {
    let Some(check) = check else {
        return (None, None, None);
    };
    let mut probe = core::Probe {
        period_seconds: Some(seconds(check.interval)),
        timeout_seconds: Some(seconds(check.timeout)),
        failure_threshold: Some(i32::try_from(check.retries).unwrap_or(i32::MAX)),
        ..Default::default()
    };
    match &check.probe {
        Probe::Http { path, port } => {
            probe.http_get = Some(core::HTTPGetAction {
                path: Some(path.clone()),
                port: IntOrString::Int(i32::from(*port)),
                ..Default::default()
            });
        }
        Probe::Command { command } => {
            probe.exec = Some(core::ExecAction {
                command: Some(command.clone()),
            });
        }
        Probe::Tcp { port } => {
            probe.tcp_socket = Some(core::TCPSocketAction {
                port: IntOrString::Int(i32::from(*port)),
                ..Default::default()
            });
        }
    }
    let startup = check.start_period.map(|period| {
        let interval = check.interval.as_secs().max(1);
        // Failures during `start_period` do not count, then `retries` do.
        let attempts = period.as_secs().div_ceil(interval) + u64::from(check.retries);
        core::Probe {
            failure_threshold: Some(i32::try_from(attempts).unwrap_or(i32::MAX)),
            ..probe.clone()
        }
    });
    (Some(probe.clone()), Some(probe), startup)
}
