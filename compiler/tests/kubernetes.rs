//! Every valid fixture lowered to Kubernetes: the output is snapshotted
//! under `snapshots/kubernetes`, is the same bytes on every build, passes
//! the upstream OpenAPI schemas in strict mode (`kubernetes-validate`) for
//! the newest and the oldest supported Kubernetes, decodes into the typed
//! `k8s-openapi` objects without losing a field, and holds together: the
//! selectors, ports, `$(VAR)` expansions and Secret references point at
//! things that exist. The same app lowered to Compose has the same hostnames,
//! ports and environment.
//!
//! A missing external tool skips its test with a message, except when `CI`
//! is set: then it is a failure.

#![allow(clippy::panic)] // Test helpers fail loudly by design.

mod common;

use common::{fixtures, name_of, read, repo_root, snapshot_settings, tool_available};

use heliosc::ir::{App, Target};
use heliosc::lower::kubernetes::KubernetesOptions;
use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::networking::v1 as networking;
use k8s_openapi::api::policy::v1 as policy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// The kinds heliosc emits, in the design's order.
const ORDER: [&str; 7] = [
    "Namespace",
    "NetworkPolicy",
    "Service",
    "Deployment",
    "StatefulSet",
    "Ingress",
    "PodDisruptionBudget",
];

/// The Kubernetes versions whose schemas every manifest must pass: the
/// newest `kubernetes-validate` ships and the oldest still supported.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.37.0", "1.35.0"];

/// Every valid fixture as `(file name, text)`.
fn fixture_inputs() -> Vec<(String, String)> {
    fixtures("valid")
        .iter()
        .map(|path| (name_of(path), read(path)))
        .collect()
}

/// Apps at Kubernetes' edges that pass `heliosc check`: the longest names
/// and default host that fit, one database of each type with the longest
/// StatefulSet name, and `$` everywhere Kubernetes or Compose could expand it.
fn edge_inputs() -> Vec<(String, String)> {
    let app = format!("l{}g", "o".repeat(38)); // 40: the longest app name
    let service = format!("s{}e", "v".repeat(61)); // 63: the longest label
    // Default host `<service>.<app>.<domain>`: 63 + 1 + 40 + 1 + 139 = 244.
    let domain = format!("{}.{}.example.com", "d".repeat(63), "e".repeat(63));
    let database = |kind: &str| format!("{kind}-{}", "x".repeat(51 - kind.len())); // 52
    let long_domain = format!("{}.example.org", "w".repeat(63));
    let long_names = format!(
        "name: {app}\nversion: 1\ndomain: {domain}\nservices:\n  {service}:\n    image: nginx:1.27\n    http_port: 8080\n    ports: [65535]\n    replicas: 2\n    healthcheck: {{ tcp: 65535 }}\n    env:\n      PG: ${{{pg}.URL}}\n      MY: ${{{my}.URL}}\n      RE: ${{{re}.URL}}\n      MO: ${{{mo}.URL}}\n    domains: [{long_domain}]\ndatabases:\n  {pg}: {{ type: postgresql, storage: 1.5 }}\n  {my}: {{ type: mysql, storage: \"1500Mi\" }}\n  {re}: {{ type: redis, storage: \"2G\" }}\n  {mo}: {{ type: mongodb, storage: 100 }}\n",
        pg = database("pg"),
        my = database("my"),
        re = database("re"),
        mo = database("mo"),
    );
    let dollars = r#"name: dollars
version: 1
secrets: [TOKEN]
services:
  web:
    image: busybox:1.36
    command: ["sh", "-c", "echo $$ $(date) $HOME $$(id) $${x}"]
    http_port: 8080
    env:
      PRICE: "cost $5, pa$$word, $$$ and $"
      SUBSHELL: "$(hostname) and $$(id) and $(HELIOS_DB_PASSWORD)"
      BRACES: "$${HOME} and ${app.name}"
      URL: "${db.URL}?note=$(literal)&x=$$"
      MIXED: "$$(${secret.TOKEN})$"
databases:
  db: { type: postgresql }
"#;
    vec![
        ("edge-long-names.yml".to_string(), long_names),
        ("edge-dollars.yml".to_string(), dollars.to_string()),
    ]
}

fn all_inputs() -> Vec<(String, String)> {
    fixture_inputs().into_iter().chain(edge_inputs()).collect()
}

fn build_options(target: Target, kubernetes: KubernetesOptions) -> heliosc::BuildOptions {
    heliosc::BuildOptions {
        target: Some(target),
        lower: heliosc::LowerOptions {
            tag: Some("1.0.0".to_string()),
            kubernetes,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Builds `text` for `target`; fails on any error.
fn build_for(
    name: &str,
    text: &str,
    target: Target,
    kubernetes: KubernetesOptions,
) -> heliosc::Built {
    let built = heliosc::build(
        &format!("fixtures/valid/{name}"),
        text,
        &build_options(target, kubernetes),
    );
    assert!(
        !built.has_errors(),
        "{name} has errors for {}:\n{}",
        target.as_str(),
        built.render(text)
    );
    assert!(!built.files.is_empty(), "{name}: no output");
    built
}

fn build(name: &str, text: &str, kubernetes: KubernetesOptions) -> heliosc::Built {
    build_for(name, text, Target::Kubernetes, kubernetes)
}

/// One emitted object, decoded into its `k8s-openapi` type.
#[derive(Debug)]
enum Object {
    Namespace(core::Namespace),
    NetworkPolicy(networking::NetworkPolicy),
    Service(core::Service),
    Deployment(apps::Deployment),
    StatefulSet(apps::StatefulSet),
    Ingress(networking::Ingress),
    PodDisruptionBudget(policy::PodDisruptionBudget),
}

impl Object {
    fn kind(&self) -> &'static str {
        match self {
            Object::Namespace(_) => "Namespace",
            Object::NetworkPolicy(_) => "NetworkPolicy",
            Object::Service(_) => "Service",
            Object::Deployment(_) => "Deployment",
            Object::StatefulSet(_) => "StatefulSet",
            Object::Ingress(_) => "Ingress",
            Object::PodDisruptionBudget(_) => "PodDisruptionBudget",
        }
    }

    fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::Namespace(o) => &o.metadata,
            Object::NetworkPolicy(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::Deployment(o) => &o.metadata,
            Object::StatefulSet(o) => &o.metadata,
            Object::Ingress(o) => &o.metadata,
            Object::PodDisruptionBudget(o) => &o.metadata,
        }
    }

    fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }
}

/// Decodes into `T` and checks that encoding `T` again gives the same
/// document: no field unknown to the typed API, none of the wrong type.
fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(value: &Value, what: &str) -> T {
    let object: T = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("{what} does not decode into its type: {e}\n{value:#}"));
    let again = serde_json::to_value(&object).expect("a typed object encodes");
    assert_eq!(
        &again, value,
        "{what}: decoding into the typed object drops or changes fields"
    );
    object
}

fn decode(document: &str, what: &str) -> Object {
    let value: Value = serde_saphyr::from_str(document)
        .unwrap_or_else(|e| panic!("{what} is not YAML: {e}\n{document}"));
    let kind = value["kind"].as_str().unwrap_or_default().to_string();
    let what = format!("{what} ({kind})");
    match kind.as_str() {
        "Namespace" => Object::Namespace(typed(&value, &what)),
        "NetworkPolicy" => Object::NetworkPolicy(typed(&value, &what)),
        "Service" => Object::Service(typed(&value, &what)),
        "Deployment" => Object::Deployment(typed(&value, &what)),
        "StatefulSet" => Object::StatefulSet(typed(&value, &what)),
        "Ingress" => Object::Ingress(typed(&value, &what)),
        "PodDisruptionBudget" => Object::PodDisruptionBudget(typed(&value, &what)),
        other => panic!("{what}: heliosc emits no `{other}` (a Secret least of all)"),
    }
}

/// One entry of `secrets.required.yaml`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RequiredSecret {
    name: String,
    namespace: String,
    keys: Vec<String>,
}

/// The Kubernetes output of one app, decoded.
struct Output {
    name: String,
    app: App,
    files: Vec<heliosc::OutputFile>,
    objects: Vec<Object>,
    secrets: Vec<RequiredSecret>,
    /// The namespace every object is in.
    namespace: String,
    options: KubernetesOptions,
}

impl Output {
    fn deployments(&self) -> impl Iterator<Item = &apps::Deployment> {
        self.objects.iter().filter_map(|o| match o {
            Object::Deployment(d) => Some(d),
            _ => None,
        })
    }

    fn stateful_sets(&self) -> impl Iterator<Item = &apps::StatefulSet> {
        self.objects.iter().filter_map(|o| match o {
            Object::StatefulSet(s) => Some(s),
            _ => None,
        })
    }

    fn services(&self) -> impl Iterator<Item = &core::Service> {
        self.objects.iter().filter_map(|o| match o {
            Object::Service(s) => Some(s),
            _ => None,
        })
    }

    fn ingresses(&self) -> impl Iterator<Item = &networking::Ingress> {
        self.objects.iter().filter_map(|o| match o {
            Object::Ingress(i) => Some(i),
            _ => None,
        })
    }

    fn find(&self, kind: &str, name: &str) -> Option<&Object> {
        self.objects
            .iter()
            .find(|o| o.kind() == kind && o.name() == name)
    }

    /// Every workload's pod: (workload kind, name, pod labels, pod spec).
    fn pods(
        &self,
    ) -> Vec<(
        &'static str,
        &str,
        &BTreeMap<String, String>,
        &core::PodSpec,
    )> {
        let mut pods = Vec::new();
        for object in &self.objects {
            let (template, kind) = match object {
                Object::Deployment(d) => (&d.spec.template, "Deployment"),
                Object::StatefulSet(s) => (&s.spec.template, "StatefulSet"),
                _ => continue,
            };
            let labels = template
                .metadata
                .as_ref()
                .and_then(|m| m.labels.as_ref())
                .unwrap_or_else(|| panic!("{}: {kind} without pod labels", self.name));
            let spec = template.spec.as_ref().expect("a pod spec");
            pods.push((kind, object.name(), labels, spec));
        }
        pods
    }
}

/// The YAML documents of one output file (a stream or a single object).
fn documents(contents: &str) -> Vec<&str> {
    contents
        .split("\n---\n")
        .filter(|d| !d.trim().is_empty())
        .collect()
}

fn decode_output(name: &str, built: heliosc::Built, options: KubernetesOptions) -> Output {
    let app = built.app.clone().expect("an app");
    let mut objects = Vec::new();
    let mut secrets = None;
    for file in &built.files {
        assert!(
            file.contents.ends_with('\n'),
            "{name}: {} does not end with a newline",
            file.path
        );
        if file.path == "secrets.required.yaml" {
            let list: Vec<RequiredSecret> = serde_saphyr::from_str(&file.contents)
                .unwrap_or_else(|e| panic!("{name}: secrets.required.yaml: {e}"));
            secrets = Some(list);
            continue;
        }
        assert!(
            file.contents.starts_with("# "),
            "{name}: {} has no header comment",
            file.path
        );
        let docs = documents(&file.contents);
        if options.split {
            assert_eq!(docs.len(), 1, "{name}: {} holds one object", file.path);
        } else {
            assert_eq!(file.path, "manifests.yaml", "{name}: unexpected file");
        }
        for (index, doc) in docs.iter().enumerate() {
            let object = decode(
                doc,
                &format!("{name}: {} document {}", file.path, index + 1),
            );
            if options.split {
                let expected = format!(
                    "{:02}-{}-{}.yaml",
                    objects.len() + 1,
                    object.kind().to_ascii_lowercase(),
                    object.name()
                );
                assert_eq!(file.path, expected, "{name}: split file name");
            }
            objects.push(object);
        }
    }
    let namespace = options
        .namespace
        .clone()
        .unwrap_or_else(|| app.name.clone());
    Output {
        name: name.to_string(),
        app,
        files: built.files,
        objects,
        secrets: secrets.unwrap_or_else(|| panic!("{name}: no secrets.required.yaml")),
        namespace,
        options,
    }
}

fn lower(name: &str, text: &str, options: KubernetesOptions) -> Output {
    let built = build(name, text, options.clone());
    decode_output(name, built, options)
}

/// All files of an output, each after a `# <path>` line.
fn concatenated(files: &[heliosc::OutputFile]) -> String {
    files
        .iter()
        .map(|f| format!("# {}\n{}", f.path, f.contents))
        .collect::<Vec<_>>()
        .join("\n")
}

fn split_options() -> KubernetesOptions {
    KubernetesOptions {
        namespace: Some("apps".to_string()),
        ingress_class: Some("nginx".to_string()),
        cluster_issuer: Some("letsencrypt-staging".to_string()),
        split: true,
    }
}

#[test]
fn valid_fixtures_lower_to_kubernetes() {
    for (name, text) in fixture_inputs() {
        let built = build(&name, &text, KubernetesOptions::default());
        let paths: Vec<&str> = built.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["manifests.yaml", "secrets.required.yaml"], "{name}");
        let snapshot = concatenated(&built.files);
        snapshot_settings("kubernetes").bind(|| insta::assert_snapshot!(name.clone(), snapshot));
    }
}

#[test]
fn split_output_in_an_existing_namespace() {
    let path = repo_root().join("fixtures/valid/shop.yml");
    let out = lower("shop.yml", &read(&path), split_options());
    let paths: Vec<&str> = out.files.iter().map(|f| f.path.as_str()).collect();
    let ingress = out
        .files
        .iter()
        .find(|f| f.path.ends_with("-ingress-web.yaml"))
        .expect("the Ingress of web");
    let snapshot = format!(
        "{}\n\n# {}\n{}",
        paths.join("\n"),
        ingress.path,
        ingress.contents
    );
    snapshot_settings("kubernetes").bind(|| insta::assert_snapshot!("shop.yml-split", snapshot));

    assert!(
        out.objects.iter().all(|o| o.kind() != "Namespace"),
        "a Namespace is emitted although the namespace exists"
    );
    for object in &out.objects {
        assert_eq!(
            object.metadata().namespace.as_deref(),
            Some("apps"),
            "{} {}",
            object.kind(),
            object.name()
        );
    }
    assert!(out.secrets.iter().all(|s| s.namespace == "apps"));
    let mut ingresses = 0;
    for ingress in out.ingresses() {
        ingresses += 1;
        let spec = ingress.spec.as_ref().expect("a spec");
        assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"));
        let annotations = ingress.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(
            annotations
                .get("cert-manager.io/cluster-issuer")
                .map(String::as_str),
            Some("letsencrypt-staging")
        );
    }
    assert_eq!(ingresses, 1);
    check_invariants(&out);
}

/// Split output is the stream cut at its `---`: the same objects in the
/// same order, byte for byte.
#[test]
fn split_output_is_the_stream_cut_into_files() {
    for (name, text) in all_inputs() {
        let stream = build(&name, &text, KubernetesOptions::default());
        let split = build(
            &name,
            &text,
            KubernetesOptions {
                split: true,
                ..Default::default()
            },
        );
        let body = |contents: &str| {
            contents
                .split_once('\n')
                .map(|(_, rest)| rest.to_string())
                .unwrap_or_default()
        };
        let from_stream: Vec<String> = documents(&body(&stream.files[0].contents))
            .iter()
            .map(|d| d.trim_end().to_string())
            .collect();
        let from_split: Vec<String> = split
            .files
            .iter()
            .filter(|f| f.path != "secrets.required.yaml")
            .map(|f| body(&f.contents).trim_end().to_string())
            .collect();
        assert_eq!(from_stream, from_split, "{name}");
        assert_eq!(stream.files.last(), split.files.last(), "{name}: secrets");
    }
}

#[test]
fn lowering_is_deterministic() {
    for options in [KubernetesOptions::default(), split_options()] {
        for (name, text) in all_inputs() {
            let first = build(&name, &text, options.clone());
            let second = build(&name, &text, options.clone());
            assert_eq!(first.files, second.files, "{name}: two builds differ");
            assert_eq!(first.diagnostics, second.diagnostics, "{name}");
        }
    }
}

#[test]
fn manifests_pass_the_kubernetes_schemas_in_strict_mode() {
    if !tool_available("kubernetes-validate", "--version") {
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kubernetes-validate");
    let _ = std::fs::remove_dir_all(&dir);
    let mut paths = Vec::new();
    let mut objects = 0;
    for (variant, options) in [
        ("stream", KubernetesOptions::default()),
        ("split", split_options()),
    ] {
        for (name, text) in all_inputs() {
            let out = lower(&name, &text, options.clone());
            objects += out.objects.len();
            let folder = dir.join(variant).join(&name);
            std::fs::create_dir_all(&folder).expect("create folder");
            for file in out
                .files
                .iter()
                .filter(|f| f.path != "secrets.required.yaml")
            {
                let path = folder.join(&file.path);
                std::fs::write(&path, &file.contents).expect("write a manifest");
                paths.push(path);
            }
        }
    }
    for version in KUBERNETES_VERSIONS {
        let output = Command::new("kubernetes-validate")
            .args(["--strict", "-k", version])
            .args(&paths)
            .output()
            .expect("run kubernetes-validate");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "kubernetes-validate {version} rejects compiled manifests:\n{stdout}{stderr}"
        );
        let lines: Vec<&str> = stdout.lines().chain(stderr.lines()).collect();
        for line in &lines {
            assert!(
                !line.to_ascii_lowercase().contains("failed")
                    && !line.to_ascii_lowercase().contains("did not validate"),
                "kubernetes-validate {version}: {line}"
            );
        }
        let passed = lines.iter().filter(|l| l.contains(" passed ")).count();
        assert_eq!(
            passed, objects,
            "kubernetes-validate {version}: not every object was validated:\n{stdout}{stderr}"
        );
    }
}

/// Kubernetes' own `$(VAR)` expansion of env values and container args:
/// `$$` is `$`, `$(NAME)` is NAME's value when `defined` has it (else it
/// stays as written), any other `$` is literal. Also returns the names
/// referenced.
fn kube_expand(input: &str, defined: &BTreeMap<String, String>) -> (String, Vec<String>) {
    let bytes = input.as_bytes();
    let mut out = String::new();
    let mut names = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && i + 1 < bytes.len() {
            match bytes[i + 1] {
                b'$' => {
                    out.push('$');
                    i += 2;
                }
                b'(' => match input[i + 2..].find(')') {
                    Some(close) => {
                        let name = &input[i + 2..i + 2 + close];
                        names.push(name.to_string());
                        match defined.get(name) {
                            Some(value) => out.push_str(value),
                            None => out.push_str(&format!("$({name})")),
                        }
                        i += 2 + close + 1;
                    }
                    None => {
                        out.push_str("$(");
                        i += 2;
                    }
                },
                _ => {
                    out.push('$');
                    i += 1;
                }
            }
        } else {
            let c = input[i..].chars().next().expect("a character");
            out.push(c);
            i += c.len_utf8();
        }
    }
    (out, names)
}

/// What a secret stands for in compared values: the same text whichever
/// target reads it.
fn secret_placeholder(secret: &str, key: &str) -> String {
    format!("<secret {secret}/{key}>")
}

/// The environment a container sees, in Kubernetes' order of expansion:
/// each value expanded with the variables defined before it, a
/// `secretKeyRef` as its placeholder. Checks that every `$(VAR)` is
/// defined earlier and that every Secret key is listed as required.
fn container_env(out: &Output, container: &core::Container) -> BTreeMap<String, String> {
    let what = format!("{}: container {}", out.name, container.name);
    let mut defined = BTreeMap::new();
    for var in container.env.iter().flatten() {
        let resolved = match (&var.value, &var.value_from) {
            (value, None) => {
                let (resolved, names) = kube_expand(value.as_deref().unwrap_or_default(), &defined);
                for name in names {
                    assert!(
                        defined.contains_key(&name),
                        "{what}: {} uses $({name}), which is not defined before it",
                        var.name
                    );
                }
                resolved
            }
            (None, Some(source)) => {
                let selector = source.secret_key_ref.as_ref().unwrap_or_else(|| {
                    panic!("{what}: {} has a source other than a Secret", var.name)
                });
                assert!(
                    out.secrets.iter().any(|s| s.name == selector.name
                        && s.namespace == out.namespace
                        && s.keys.contains(&selector.key)),
                    "{what}: {}/{} is not listed in secrets.required.yaml",
                    selector.name,
                    selector.key
                );
                assert_ne!(selector.optional, Some(true), "{what}: optional secret");
                secret_placeholder(&selector.name, &selector.key)
            }
            (Some(_), Some(_)) => panic!("{what}: {} has a value and a source", var.name),
        };
        assert!(
            defined.insert(var.name.clone(), resolved).is_none(),
            "{what}: {} is defined twice",
            var.name
        );
    }
    defined
}

fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn match_labels(selector: &LabelSelector) -> &BTreeMap<String, String> {
    assert!(selector.match_expressions.is_none());
    selector.match_labels.as_ref().expect("matchLabels")
}

/// Whether `port` names or numbers a port of `container`.
fn container_has_port(container: &core::Container, port: &IntOrString) -> bool {
    container.ports.iter().flatten().any(|p| match port {
        IntOrString::Int(n) => p.container_port == *n,
        IntOrString::String(name) => p.name.as_deref() == Some(name.as_str()),
    })
}

/// Bytes of a Kubernetes quantity of the forms heliosc writes.
fn quantity_bytes(quantity: &str) -> u64 {
    for (suffix, size) in [
        ("Ki", 1u64 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ] {
        if let Some(number) = quantity.strip_suffix(suffix) {
            return number.parse::<u64>().expect("a whole number") * size;
        }
    }
    quantity.parse().expect("a whole number of bytes")
}

fn check_invariants(out: &Output) {
    let name = &out.name;
    let app = &out.app;

    // Order: kinds in the design's order, names sorted within a kind, no duplicates.
    let mut previous: Option<(usize, String)> = None;
    for object in &out.objects {
        let position = ORDER
            .iter()
            .position(|k| *k == object.kind())
            .expect("a known kind");
        let key = (position, object.name().to_string());
        if let Some(previous) = &previous {
            assert!(
                *previous < key,
                "{name}: {} {} comes after {} {}",
                object.kind(),
                object.name(),
                ORDER[previous.0],
                previous.1
            );
        }
        previous = Some(key);
        let meta = object.metadata();
        let labels = meta.labels.clone().unwrap_or_default();
        assert_eq!(
            labels
                .get("app.kubernetes.io/managed-by")
                .map(String::as_str),
            Some("heliosc"),
            "{name}: {} {}",
            object.kind(),
            object.name()
        );
        assert_eq!(
            labels.get("app.kubernetes.io/part-of"),
            Some(&app.name),
            "{name}: {} {}",
            object.kind(),
            object.name()
        );
        for value in labels.values() {
            assert!(value.len() <= 63, "{name}: label value {value} is too long");
        }
        if let Object::Namespace(_) = object {
            assert_eq!(object.name(), out.namespace, "{name}: Namespace");
            assert!(meta.namespace.is_none());
        } else {
            assert_eq!(
                meta.namespace.as_deref(),
                Some(out.namespace.as_str()),
                "{name}: {} {} namespace",
                object.kind(),
                object.name()
            );
        }
    }
    let namespaces = out
        .objects
        .iter()
        .filter(|o| o.kind() == "Namespace")
        .count();
    assert_eq!(
        namespaces,
        usize::from(out.options.namespace.is_none()),
        "{name}: Namespace objects"
    );

    // Pods: one container named after the workload, hardened, whose probe
    // ports exist, whose `$(VAR)`s are defined earlier, whose Secret keys
    // are listed.
    let pods = out.pods();
    for (kind, workload, labels, spec) in &pods {
        let what = format!("{name}: {kind} {workload}");
        assert_eq!(spec.containers.len(), 1, "{what}");
        let container = &spec.containers[0];
        assert_eq!(container.name, *workload, "{what}: container name");
        assert_eq!(spec.automount_service_account_token, Some(false), "{what}");
        let security = container
            .security_context
            .as_ref()
            .expect("a security context");
        assert_eq!(security.allow_privilege_escalation, Some(false), "{what}");
        let seccomp = |s: Option<&core::SeccompProfile>| s.map(|p| p.type_.clone());
        assert_eq!(
            seccomp(security.seccomp_profile.as_ref()).as_deref(),
            Some("RuntimeDefault"),
            "{what}"
        );
        assert_eq!(
            seccomp(
                spec.security_context
                    .as_ref()
                    .and_then(|s| s.seccomp_profile.as_ref())
            )
            .as_deref(),
            Some("RuntimeDefault"),
            "{what}"
        );
        let mut port_names = BTreeSet::new();
        for port in container.ports.iter().flatten() {
            let port_name = port.name.as_deref().expect("named container ports");
            assert!(
                port_name.len() <= 15 && port_name.chars().any(|c| c.is_ascii_lowercase()),
                "{what}: port name {port_name}"
            );
            assert!(
                port_names.insert(port_name),
                "{what}: port {port_name} twice"
            );
        }
        for (probe_kind, probe) in [
            ("readiness", &container.readiness_probe),
            ("liveness", &container.liveness_probe),
            ("startup", &container.startup_probe),
        ] {
            let Some(probe) = probe else { continue };
            let port = probe
                .http_get
                .as_ref()
                .map(|h| &h.port)
                .or(probe.tcp_socket.as_ref().map(|t| &t.port));
            if let Some(port) = port {
                assert!(
                    container_has_port(container, port),
                    "{what}: the {probe_kind} probe's port {port:?} is not a container port"
                );
            }
        }
        let env = container_env(out, container);
        for arg in container.args.iter().flatten() {
            for used in kube_expand(arg, &env).1 {
                assert!(env.contains_key(&used), "{what}: args use $({used})");
            }
        }
        let selector = match out.find(kind, workload).expect("the workload") {
            Object::Deployment(d) => &d.spec.selector,
            Object::StatefulSet(s) => &s.spec.selector,
            _ => unreachable!(),
        };
        assert!(
            selects(match_labels(selector), labels),
            "{what}: its selector does not match its pods"
        );
    }

    // Services select exactly the pods of the workload of the same name, and
    // their target ports exist on its container.
    for service in out.services() {
        let service_name = service.metadata.name.as_deref().expect("a name");
        let what = format!("{name}: Service {service_name}");
        let spec = service.spec.as_ref().expect("a spec");
        assert_eq!(spec.type_.as_deref(), Some("ClusterIP"), "{what}");
        let selector = spec.selector.as_ref().expect("a selector");
        let selected: Vec<_> = pods
            .iter()
            .filter(|(_, _, labels, _)| selects(selector, labels))
            .collect();
        assert_eq!(
            selected.len(),
            1,
            "{what} selects {} workloads",
            selected.len()
        );
        let (_, workload, _, pod) = selected[0];
        assert_eq!(*workload, service_name, "{what} selects {workload}");
        let mut names = BTreeSet::new();
        for port in spec.ports.iter().flatten() {
            let target = port
                .target_port
                .clone()
                .unwrap_or(IntOrString::Int(port.port));
            assert!(
                container_has_port(&pod.containers[0], &target),
                "{what}: target port {target:?} is not a container port"
            );
            assert!(
                names.insert(port.name.clone().expect("named")),
                "{what}: a port name twice"
            );
        }
    }

    // Ingresses: hosts as checked, backends that exist, TLS as asked.
    for ingress in out.ingresses() {
        let ingress_name = ingress.metadata.name.as_deref().expect("a name");
        let what = format!("{name}: Ingress {ingress_name}");
        let service = &app.services[ingress_name];
        let spec = ingress.spec.as_ref().expect("a spec");
        assert_eq!(spec.ingress_class_name, out.options.ingress_class, "{what}");
        let mut hosts = Vec::new();
        for rule in spec.rules.iter().flatten() {
            let host = rule.host.clone().expect("a host");
            assert!(
                host.len() <= 253 && host.split('.').all(|l| !l.is_empty() && l.len() <= 63),
                "{what}: host {host}"
            );
            hosts.push(host);
            for path in &rule.http.as_ref().expect("http").paths {
                assert_eq!(path.path.as_deref(), Some("/"), "{what}");
                assert_eq!(path.path_type, "Prefix", "{what}");
                let backend = path.backend.service.as_ref().expect("a service backend");
                let Some(Object::Service(target)) = out.find("Service", &backend.name) else {
                    panic!("{what}: no Service {}", backend.name);
                };
                let port = backend.port.as_ref().expect("a port");
                let exists = target
                    .spec
                    .iter()
                    .flat_map(|s| s.ports.iter().flatten())
                    .any(|p| match (&port.name, port.number) {
                        (Some(wanted), None) => p.name.as_deref() == Some(wanted.as_str()),
                        (None, Some(number)) => p.port == number,
                        _ => false,
                    });
                assert!(
                    exists,
                    "{what}: backend port {port:?} is not on Service {}",
                    backend.name
                );
            }
        }
        assert_eq!(hosts, service.hosts, "{what}: hosts");
        let annotations = ingress.metadata.annotations.clone().unwrap_or_default();
        let issuer = annotations.get("cert-manager.io/cluster-issuer");
        if service.tls {
            let tls = spec.tls.as_ref().expect("a tls block");
            assert_eq!(tls.len(), 1, "{what}");
            assert_eq!(tls[0].hosts.as_ref(), Some(&hosts), "{what}: tls hosts");
            assert_eq!(
                tls[0].secret_name.as_deref(),
                Some(format!("{ingress_name}-tls").as_str()),
                "{what}"
            );
            let expected = out
                .options
                .cluster_issuer
                .as_deref()
                .unwrap_or("letsencrypt");
            assert_eq!(issuer.map(String::as_str), Some(expected), "{what}");
        } else {
            assert!(
                spec.tls.is_none() && issuer.is_none(),
                "{what}: TLS although off"
            );
        }
    }

    // Every service: a Deployment; a Service iff it has a port; an Ingress
    // iff it has http_port; a PodDisruptionBudget iff replicas >= 2.
    for service in app.services.values() {
        let what = format!("{name}: service {}", service.name);
        let Some(Object::Deployment(deployment)) = out.find("Deployment", &service.name) else {
            panic!("{what}: no Deployment");
        };
        let spec = &deployment.spec;
        assert_eq!(
            spec.replicas,
            Some(i32::try_from(service.replicas).expect("small")),
            "{what}"
        );
        assert_eq!(
            out.find("Service", &service.name).is_some(),
            service.all_ports().next().is_some(),
            "{what}: Service"
        );
        assert_eq!(
            out.find("Ingress", &service.name).is_some(),
            service.http_port.is_some(),
            "{what}: Ingress"
        );
        let pdb = out.find("PodDisruptionBudget", &service.name);
        assert_eq!(
            pdb.is_some(),
            service.replicas >= 2,
            "{what}: PodDisruptionBudget"
        );
        if let Some(Object::PodDisruptionBudget(pdb)) = pdb {
            let pdb_spec = pdb.spec.as_ref().expect("a spec");
            assert_eq!(
                pdb_spec.max_unavailable,
                Some(IntOrString::Int(1)),
                "{what}"
            );
            assert_eq!(pdb_spec.selector.as_ref(), Some(&spec.selector), "{what}");
        }
    }
    let deployments: BTreeSet<&str> = out
        .deployments()
        .map(|d| d.metadata.name.as_deref().expect("a name"))
        .collect();
    let services: BTreeSet<&str> = app.services.keys().map(String::as_str).collect();
    assert_eq!(deployments, services, "{name}: one Deployment per service");
    for object in &out.objects {
        if let Object::PodDisruptionBudget(_) = object {
            assert!(
                deployments.contains(object.name()),
                "{name}: PDB without Deployment"
            );
        }
    }

    // Every database: StatefulSet + Service + NetworkPolicy, storage as asked.
    for database in app.databases.values() {
        let what = format!("{name}: database {}", database.name);
        let Some(Object::StatefulSet(stateful_set)) = out.find("StatefulSet", &database.name)
        else {
            panic!("{what}: no StatefulSet");
        };
        assert!(
            out.find("Service", &database.name).is_some(),
            "{what}: Service"
        );
        let Some(Object::NetworkPolicy(policy)) = out.find("NetworkPolicy", &database.name) else {
            panic!("{what}: no NetworkPolicy");
        };
        let spec = &stateful_set.spec;
        assert_eq!(spec.replicas, Some(1), "{what}");
        assert_eq!(
            spec.service_name.as_deref(),
            Some(database.name.as_str()),
            "{what}"
        );
        let claims = spec.volume_claim_templates.as_ref().expect("a claim");
        assert_eq!(claims.len(), 1, "{what}");
        let storage = claims[0]
            .spec
            .as_ref()
            .and_then(|s| s.resources.as_ref())
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage"))
            .expect("a storage request");
        assert_eq!(
            quantity_bytes(&storage.0),
            database.storage_bytes,
            "{what}: storage"
        );
        let mounts = spec.template.spec.as_ref().expect("a pod").containers[0]
            .volume_mounts
            .clone()
            .unwrap_or_default();
        assert_eq!(
            mounts.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
            [claims[0].metadata.name.as_deref().expect("a claim name")],
            "{what}: the claim is mounted"
        );
        let policy_spec = policy.spec.as_ref().expect("a spec");
        let target = policy_spec.pod_selector.as_ref().expect("a pod selector");
        assert_eq!(
            target, &spec.selector,
            "{what}: NetworkPolicy selects the database"
        );
        let from: Vec<_> = policy_spec
            .ingress
            .iter()
            .flatten()
            .flat_map(|rule| rule.from.iter().flatten())
            .collect();
        assert!(!from.is_empty(), "{what}: NetworkPolicy admits no one");
        for peer in from {
            assert!(
                peer.namespace_selector.is_none() && peer.ip_block.is_none(),
                "{what}"
            );
            let peers = match_labels(peer.pod_selector.as_ref().expect("pods"));
            assert_eq!(
                peers,
                &BTreeMap::from([("app.kubernetes.io/part-of".to_string(), app.name.clone())]),
                "{what}: only pods of the same app"
            );
        }
    }
    let stateful_sets: BTreeSet<&str> = out
        .stateful_sets()
        .map(|s| s.metadata.name.as_deref().expect("a name"))
        .collect();
    let databases: BTreeSet<&str> = app.databases.keys().map(String::as_str).collect();
    assert_eq!(
        stateful_sets, databases,
        "{name}: one StatefulSet per database"
    );

    // secrets.required.yaml: sorted, in the namespace, each Secret read.
    let names: Vec<&str> = out.secrets.iter().map(|s| s.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(names, sorted, "{name}: secrets.required.yaml order");
    for secret in &out.secrets {
        assert_eq!(secret.namespace, out.namespace, "{name}: {}", secret.name);
        let read = pods.iter().any(|(_, _, _, pod)| {
            pod.containers[0].env.iter().flatten().any(|v| {
                v.value_from
                    .as_ref()
                    .and_then(|s| s.secret_key_ref.as_ref())
                    .is_some_and(|r| r.name == secret.name)
            })
        });
        assert!(
            read,
            "{name}: Secret {} is listed but never read",
            secret.name
        );
    }
}

#[test]
fn objects_decode_and_reference_each_other() {
    for options in [KubernetesOptions::default(), split_options()] {
        for (name, text) in all_inputs() {
            let out = lower(&name, &text, options.clone());
            check_invariants(&out);
        }
    }
}

/// Compose interpolation: `$$` is `$`, `${NAME}` and `$NAME` are `NAME`'s
/// value (here a placeholder), any other `$` is literal.
fn compose_interpolate(input: &str, placeholders: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(braced) = after.strip_prefix('{') {
            let end = braced.find('}').expect("a closing brace");
            let variable = &braced[..end];
            out.push_str(
                placeholders
                    .get(variable)
                    .unwrap_or_else(|| panic!("compose interpolates unknown ${{{variable}}}")),
            );
            rest = &braced[end + 1..];
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            assert!(end == 0, "compose interpolates ${}", &after[..end]);
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The same app on both targets: the same in-app hostnames, the same ports
/// per host, and the same environment per service (names, and values once
/// both targets' expansion has run with each secret as a placeholder).
#[test]
fn kubernetes_and_compose_agree() {
    for (name, text) in all_inputs() {
        let out = lower(&name, &text, KubernetesOptions::default());
        let compose_built = build_for(&name, &text, Target::Compose, KubernetesOptions::default());
        let compose_file = compose_built
            .files
            .iter()
            .find(|f| f.path == "compose.yaml")
            .expect("compose.yaml");
        let compose: Value = serde_saphyr::from_str(&compose_file.contents)
            .unwrap_or_else(|e| panic!("{name}: compose.yaml: {e}"));
        let compose_services = compose["services"].as_object().expect("services");
        let app = &out.app;

        // Hostnames: every Compose service is a workload; those with ports
        // are reachable, under the same name, as Kubernetes Services.
        let workloads: BTreeSet<&str> = out
            .deployments()
            .filter_map(|d| d.metadata.name.as_deref())
            .chain(
                out.stateful_sets()
                    .filter_map(|s| s.metadata.name.as_deref()),
            )
            .collect();
        let compose_names: BTreeSet<&str> = compose_services.keys().map(String::as_str).collect();
        assert_eq!(workloads, compose_names, "{name}: workloads");
        let exposed: BTreeMap<&str, BTreeSet<String>> = compose_services
            .iter()
            .filter_map(|(service, spec)| {
                let ports: BTreeSet<String> = spec["expose"]
                    .as_array()
                    .map(|ports| ports.iter().map(scalar).collect())
                    .unwrap_or_default();
                (!ports.is_empty()).then_some((service.as_str(), ports))
            })
            .collect();
        let service_ports: BTreeMap<&str, BTreeSet<String>> = out
            .services()
            .map(|s| {
                let ports = s
                    .spec
                    .iter()
                    .flat_map(|spec| spec.ports.iter().flatten())
                    .map(|p| p.port.to_string())
                    .collect();
                (s.metadata.name.as_deref().expect("a name"), ports)
            })
            .collect();
        assert_eq!(exposed, service_ports, "{name}: hostnames and ports");

        // Environment: secrets as the same placeholder on both sides.
        let mut placeholders = BTreeMap::new();
        for database in app.databases.keys() {
            placeholders.insert(
                heliosc::lower::database_password_variable(database),
                secret_placeholder(&format!("{database}-credentials"), "password"),
            );
        }
        for secret in &app.secrets {
            placeholders.insert(
                heliosc::lower::user_secret_variable(secret),
                secret_placeholder(&format!("{}-secrets", app.name), secret),
            );
        }
        for service in app.services.values() {
            let what = format!("{name}: service {}", service.name);
            let Some(Object::Deployment(deployment)) = out.find("Deployment", &service.name) else {
                panic!("{what}: no Deployment");
            };
            let pod = deployment.spec.template.spec.as_ref();
            let container = &pod.expect("a pod").containers[0];
            let kubernetes: BTreeMap<String, String> = container_env(&out, container)
                .into_iter()
                .filter(|(variable, _)| !variable.starts_with("HELIOS_"))
                .collect();
            let compose_env: BTreeMap<String, String> =
                compose_services[&service.name]["environment"]
                    .as_object()
                    .map(|env| {
                        env.iter()
                            .map(|(k, v)| {
                                (k.clone(), compose_interpolate(&scalar(v), &placeholders))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
            assert_eq!(
                kubernetes.keys().collect::<Vec<_>>(),
                compose_env.keys().collect::<Vec<_>>(),
                "{what}: env names"
            );
            assert_eq!(kubernetes, compose_env, "{what}: env values");
            for (variable, value) in &service.env {
                if let Some(plain) = value.plain_text() {
                    assert_eq!(kubernetes[variable], plain, "{what}: {variable}");
                }
            }
            // The command survives Kubernetes' expansion of args.
            let args: Option<Vec<String>> = container.args.as_ref().map(|args| {
                let env = container_env(&out, container);
                args.iter().map(|a| kube_expand(a, &env).0).collect()
            });
            assert_eq!(args, service.command, "{what}: args");
        }
    }
}

/// Secrets are referenced, never written: a direct secret is a
/// `secretKeyRef`, a secret inside a longer string a `$(HELIOS_...)` of a
/// helper variable that is itself a `secretKeyRef`.
#[test]
fn secrets_are_references_only() {
    let text = r#"name: vault
version: 1
secrets: [API_KEY]
services:
  web:
    image: nginx:1.27
    http_port: 80
    env:
      PGPASSWORD: ${postgres.PASSWORD}
      DATABASE_URL: ${postgres.URL}
      JDBC: "jdbc:postgresql://${postgres.HOST}/${postgres.NAME}?password=${postgres.PASSWORD}&ssl=true"
      CONNECTION: "url=${postgres.URL};timeout=5"
      API_KEY: ${secret.API_KEY}
      AUTHORIZATION: "Bearer ${secret.API_KEY}"
      PLAIN: hello
databases:
  postgres: { type: postgresql }
"#;
    let out = lower("vault.yml", text, KubernetesOptions::default());
    check_invariants(&out);
    let service = &out.app.services["web"];
    let Some(Object::Deployment(deployment)) = out.find("Deployment", "web") else {
        panic!("no Deployment web");
    };
    let container = &deployment
        .spec
        .template
        .spec
        .as_ref()
        .expect("a pod")
        .containers[0];
    let env = container.env.clone().unwrap_or_default();
    let by_name: BTreeMap<&str, &core::EnvVar> = env.iter().map(|v| (v.name.as_str(), v)).collect();
    let secret_ref = |variable: &str| {
        by_name[variable]
            .value_from
            .as_ref()
            .and_then(|s| s.secret_key_ref.as_ref())
            .map(|r| (r.name.clone(), r.key.clone()))
    };
    for (variable, value) in &service.env {
        let var = by_name[variable.as_str()];
        if !value.is_secret() {
            assert!(var.value_from.is_none(), "{variable}");
            continue;
        }
        match &var.value {
            // A secret alone: read straight from its Secret.
            None => assert!(
                secret_ref(variable).is_some(),
                "{variable}: no secretKeyRef"
            ),
            // Inside a longer string: only helper variables carry it.
            Some(value) => {
                assert!(value.contains("$(HELIOS_"), "{variable} = {value}");
                for used in kube_expand(value, &BTreeMap::new()).1 {
                    assert!(used.starts_with("HELIOS_"), "{variable} uses $({used})");
                    assert!(secret_ref(&used).is_some(), "{used} is not a secretKeyRef");
                }
            }
        }
    }
    assert_eq!(
        secret_ref("PGPASSWORD"),
        Some(("postgres-credentials".into(), "password".into()))
    );
    assert_eq!(
        secret_ref("API_KEY"),
        Some(("vault-secrets".into(), "API_KEY".into()))
    );
    assert_eq!(
        secret_ref("HELIOS_POSTGRES_PASSWORD"),
        Some(("postgres-credentials".into(), "password".into()))
    );
    assert_eq!(
        secret_ref("HELIOS_SECRET_API_KEY"),
        Some(("vault-secrets".into(), "API_KEY".into()))
    );
    // What the container sees, each secret standing in as a placeholder.
    let seen = container_env(&out, container);
    let password = secret_placeholder("postgres-credentials", "password");
    let api_key = secret_placeholder("vault-secrets", "API_KEY");
    assert_eq!(
        seen["DATABASE_URL"],
        format!("postgres://vault:{password}@postgres:5432/vault")
    );
    assert_eq!(
        seen["JDBC"],
        format!("jdbc:postgresql://postgres/vault?password={password}&ssl=true")
    );
    assert_eq!(
        seen["CONNECTION"],
        format!("url=postgres://vault:{password}@postgres:5432/vault;timeout=5")
    );
    assert_eq!(seen["AUTHORIZATION"], format!("Bearer {api_key}"));
    assert_eq!(seen["PLAIN"], "hello");
    // No literal in any value sits where a password goes: the password of
    // `scheme://user:<password>@host` and of `password=<password>`.
    for var in &env {
        let Some(value) = &var.value else { continue };
        let mut passwords = Vec::new();
        for (at, _) in value.match_indices("://") {
            let rest = &value[at + 3..];
            let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
            if let Some((userinfo, _)) = authority.rsplit_once('@') {
                passwords.push(userinfo.split_once(':').map_or("", |(_, p)| p));
            }
        }
        for (at, _) in value.match_indices("password=") {
            let rest = &value[at + "password=".len()..];
            passwords.push(&rest[..rest.find('&').unwrap_or(rest.len())]);
        }
        for password in passwords {
            assert!(
                password.starts_with("$(HELIOS_")
                    && password.ends_with(')')
                    && kube_expand(password, &BTreeMap::new()).1.len() == 1,
                "{}: `{value}` has `{password}` where a password goes",
                var.name
            );
        }
    }
    let required: BTreeMap<&str, &Vec<String>> = out
        .secrets
        .iter()
        .map(|s| (s.name.as_str(), &s.keys))
        .collect();
    assert_eq!(
        required,
        BTreeMap::from([
            (
                "postgres-credentials",
                &vec!["database".to_string(), "password".into(), "username".into()]
            ),
            ("vault-secrets", &vec!["API_KEY".to_string()]),
        ])
    );
}

/// Builds `text` for `target` and returns the codes of its errors.
fn error_codes(text: &str, target: Target) -> Vec<String> {
    let built = heliosc::build(
        "limits.yml",
        text,
        &build_options(target, KubernetesOptions::default()),
    );
    assert!(built.app.is_some(), "the input passes `heliosc check`");
    let codes: Vec<String> = built
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.code.as_str().to_string())
        .collect();
    assert_eq!(
        built.files.is_empty(),
        !codes.is_empty(),
        "output iff no error"
    );
    codes
}

#[test]
fn a_database_name_of_53_characters_is_too_long_for_kubernetes_only() {
    let app = |database: &str| {
        format!(
            "name: orders\nversion: 1\nservices:\n  api:\n    image: nginx:1.27\n    env: {{ DB: \"${{{database}.URL}}\" }}\ndatabases:\n  {database}: {{ type: postgresql }}\n"
        )
    };
    let long = format!("d{}", "b".repeat(52));
    assert_eq!(long.len(), 53);
    assert_eq!(error_codes(&app(&long), Target::Kubernetes), ["H0604"]);
    assert!(error_codes(&app(&long), Target::Compose).is_empty());
    let longest = &long[..52];
    assert!(error_codes(&app(longest), Target::Kubernetes).is_empty());
}

#[test]
fn a_default_host_longer_than_253_characters_is_too_long_for_kubernetes_only() {
    // `<service>.<app>.<domain>`: each part valid, 63 + 1 + 40 + 1 + 190 = 295.
    let domain = format!(
        "{}.{}.{}.example.com",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(50)
    );
    let text = format!(
        "name: {app}\nversion: 1\ndomain: {domain}\nservices:\n  {service}:\n    image: nginx:1.27\n    http_port: 80\n",
        app = "p".repeat(40),
        service = "s".repeat(63),
    );
    assert_eq!(error_codes(&text, Target::Kubernetes), ["H0604"]);
    assert!(error_codes(&text, Target::Compose).is_empty());
}

#[test]
fn a_secret_name_over_253_characters_is_too_long_for_kubernetes_only() {
    let app = |secret: &str| {
        format!(
            "name: keys\nversion: 1\nsecrets: [{secret}]\nservices:\n  api:\n    image: nginx:1.27\n    env: {{ KEY: \"${{secret.{secret}}}\" }}\n"
        )
    };
    let long = format!("K{}", "_".repeat(253));
    assert_eq!(error_codes(&app(&long), Target::Kubernetes), ["H0604"]);
    assert!(error_codes(&app(&long), Target::Compose).is_empty());
    assert!(error_codes(&app(&long[..253]), Target::Kubernetes).is_empty());
}

/// Kubernetes turns `$$` into `$` and expands `$(VAR)` in env values and
/// args: literal dollars in the Heliosfile reach the container unchanged,
/// and a secret next to them is still expanded.
#[test]
fn literal_dollars_survive_kubernetes_expansion() {
    let (name, text) = edge_inputs()
        .into_iter()
        .find(|(name, _)| name == "edge-dollars.yml")
        .expect("the dollars app");
    let out = lower(&name, &text, KubernetesOptions::default());
    let Some(Object::Deployment(deployment)) = out.find("Deployment", "web") else {
        panic!("no Deployment web");
    };
    let container = &deployment
        .spec
        .template
        .spec
        .as_ref()
        .expect("a pod")
        .containers[0];
    let env = container_env(&out, container);
    let token = secret_placeholder("dollars-secrets", "TOKEN");
    assert_eq!(env["PRICE"], "cost $5, pa$$word, $$$ and $");
    assert_eq!(
        env["SUBSHELL"],
        "$(hostname) and $$(id) and $(HELIOS_DB_PASSWORD)"
    );
    assert_eq!(env["BRACES"], "${HOME} and dollars");
    assert_eq!(env["MIXED"], format!("$$({token})$"));
    let args: Vec<String> = container
        .args
        .iter()
        .flatten()
        .map(|a| kube_expand(a, &env).0)
        .collect();
    assert_eq!(args[2], "echo $$ $(date) $HOME $$(id) $${x}");
}
