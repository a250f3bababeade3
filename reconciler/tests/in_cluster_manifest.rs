//! The in-cluster manifest of the reconciler,
//! `docs/examples/reconciler-in-cluster.yaml`: it passes the upstream
//! OpenAPI schemas in strict mode (`kubernetes-validate`), its ClusterRole
//! grants exactly what the Kubernetes backend needs and nothing more, and
//! its Deployment runs the Kubernetes backend with flags the binary has.
//!
//! A missing `kubernetes-validate` skips its test with a message, except
//! when `CI` is set: then it is a failure.

#![allow(clippy::panic)] // Test helpers fail loudly by design.

use helios_reconciler::backends::kubernetes::objects::{APPLY_ORDER, PERSISTENT_VOLUME_CLAIM, POD};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

/// The Kubernetes versions whose schemas the manifest must pass: the
/// newest `kubernetes-validate` ships and the oldest still supported (as
/// for `heliosc`'s output).
const KUBERNETES_VERSIONS: [&str; 2] = ["1.37.0", "1.35.0"];

/// The verbs the role may grant at all.
const ALLOWED_VERBS: [&str; 6] = ["get", "list", "watch", "create", "patch", "delete"];

/// What the reconciler does, as `(API group, resource, verbs)`: server-side
/// apply (`patch`, and `create` for a missing object), reads and prune on
/// what it applies; health reads pods; volume claims are listed and, with
/// `--prune-volumes`, deleted.
const REQUIRED: [(&str, &str, &[&str]); 12] = [
    ("", "namespaces", &ALLOWED_VERBS),
    ("", "services", &ALLOWED_VERBS),
    ("", "configmaps", &ALLOWED_VERBS),
    ("", "secrets", &ALLOWED_VERBS),
    ("networking.k8s.io", "networkpolicies", &ALLOWED_VERBS),
    ("networking.k8s.io", "ingresses", &ALLOWED_VERBS),
    ("apps", "deployments", &ALLOWED_VERBS),
    ("apps", "statefulsets", &ALLOWED_VERBS),
    ("policy", "poddisruptionbudgets", &ALLOWED_VERBS),
    ("", "pods", &["get", "list"]),
    ("", "persistentvolumeclaims", &["list", "delete"]),
    // Observe lists every kind the backend can apply (`APPLY_ORDER`),
    // HorizontalPodAutoscalers too, although heliosc emits none yet.
    ("autoscaling", "horizontalpodautoscalers", &["list"]),
];

fn manifest_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("docs/examples/reconciler-in-cluster.yaml")
}

/// Whether `program` runs. When it does not, the test is skipped with a
/// message, or fails when `CI` is set (CI installs it).
fn tool_available(program: &str, version_arg: &str) -> bool {
    let runs = Command::new(program)
        .arg(version_arg)
        .output()
        .is_ok_and(|o| o.status.success());
    if runs {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("`{program}` is required when CI is set, and it does not run");
    }
    eprintln!("skipped: `{program}` is not installed");
    false
}

/// The objects of the manifest, in order.
fn objects() -> Vec<Value> {
    let path = manifest_path();
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let objects: Vec<Value> = serde_saphyr::from_multiple(&text)
        .unwrap_or_else(|e| panic!("{} is not a YAML stream: {e}", path.display()));
    assert!(
        objects.iter().all(Value::is_object),
        "every document is an object"
    );
    objects
}

/// The one object of `kind` named `name`.
fn object<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "exactly one {kind} {name}");
    found[0]
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn the_manifest_passes_the_kubernetes_schemas_in_strict_mode() {
    if !tool_available("kubernetes-validate", "--version") {
        return;
    }
    let path = manifest_path();
    let documents = objects().len();
    for version in KUBERNETES_VERSIONS {
        let output = Command::new("kubernetes-validate")
            .args(["--strict", "-k", version])
            .arg(&path)
            .output()
            .expect("run kubernetes-validate");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "kubernetes-validate {version} rejects the manifest:\n{stdout}{stderr}"
        );
        let lines: Vec<&str> = stdout.lines().chain(stderr.lines()).collect();
        for line in &lines {
            let line_lower = line.to_ascii_lowercase();
            assert!(
                !line_lower.contains("failed") && !line_lower.contains("did not validate"),
                "kubernetes-validate {version}: {line}"
            );
        }
        let passed = lines.iter().filter(|l| l.contains(" passed ")).count();
        assert_eq!(
            passed, documents,
            "kubernetes-validate {version}: not every object was validated:\n{stdout}{stderr}"
        );
    }
}

#[test]
fn the_cluster_role_grants_what_the_backend_needs_and_nothing_more() {
    let objects = objects();
    let role = object(&objects, "ClusterRole", "helios-reconciler");
    assert!(
        role.get("aggregationRule").is_none(),
        "an aggregated role grants what other roles say"
    );
    let rules = role["rules"].as_array().expect("rules");
    let mut granted: BTreeSet<(String, String, String)> = BTreeSet::new();
    for rule in rules {
        assert!(
            rule.get("nonResourceURLs").is_none() && rule.get("resourceNames").is_none(),
            "only resource rules: {rule}"
        );
        let groups = strings(&rule["apiGroups"]);
        let resources = strings(&rule["resources"]);
        let verbs = strings(&rule["verbs"]);
        assert!(
            !groups.is_empty() && !resources.is_empty() && !verbs.is_empty(),
            "{rule}"
        );
        for verb in &verbs {
            assert!(*verb != "*", "a `*` verb: {rule}");
            assert!(
                ALLOWED_VERBS.contains(verb),
                "verb `{verb}` is not one the reconciler uses: {rule}"
            );
        }
        for resource in &resources {
            assert!(!resource.contains('*'), "a `*` resource: {rule}");
            assert!(!resource.contains('/'), "a subresource: {rule}");
        }
        for group in &groups {
            assert!(*group != "*", "a `*` API group: {rule}");
            for resource in &resources {
                for verb in &verbs {
                    granted.insert((group.to_string(), resource.to_string(), verb.to_string()));
                }
            }
        }
    }
    let required: BTreeSet<(String, String, String)> = REQUIRED
        .iter()
        .flat_map(|(group, resource, verbs)| {
            verbs
                .iter()
                .map(move |verb| (group.to_string(), resource.to_string(), verb.to_string()))
        })
        .collect();
    let missing: Vec<_> = required.difference(&granted).collect();
    assert!(missing.is_empty(), "not granted: {missing:?}");
    let extra: Vec<_> = granted.difference(&required).collect();
    assert!(extra.is_empty(), "granted beyond what is needed: {extra:?}");

    // Every kind the backend applies, lists or deletes (its own tables) is
    // at least listable: observe lists them all.
    for info in APPLY_ORDER.iter().chain([&PERSISTENT_VOLUME_CLAIM, &POD]) {
        let key = (
            info.group.to_string(),
            info.plural.to_string(),
            "list".to_string(),
        );
        assert!(
            granted.contains(&key),
            "the backend lists {} ({}), the role does not grant it",
            info.kind,
            info.plural
        );
    }

    let binding = object(&objects, "ClusterRoleBinding", "helios-reconciler");
    assert_eq!(binding["roleRef"]["kind"], "ClusterRole");
    assert_eq!(binding["roleRef"]["name"], "helios-reconciler");
    let subjects = binding["subjects"].as_array().expect("subjects");
    assert_eq!(subjects.len(), 1, "{binding}");
    assert_eq!(subjects[0]["kind"], "ServiceAccount");
    assert_eq!(subjects[0]["name"], "helios-reconciler");
    assert_eq!(subjects[0]["namespace"], "helios-system");
}

#[test]
fn the_deployment_runs_the_kubernetes_backend_in_cluster() {
    let objects = objects();
    let kinds: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "ServiceAccount",
            "Secret",
            "ClusterRole",
            "ClusterRoleBinding",
            "PersistentVolumeClaim",
            "Deployment"
        ],
        "the objects, in the order `kubectl apply` must create them"
    );
    object(&objects, "Namespace", "helios-system");
    for namespaced in &objects {
        let kind = namespaced["kind"].as_str().unwrap_or_default();
        if !matches!(kind, "Namespace" | "ClusterRole" | "ClusterRoleBinding") {
            assert_eq!(
                namespaced["metadata"]["namespace"], "helios-system",
                "{kind}"
            );
        }
    }

    let account = object(&objects, "ServiceAccount", "helios-reconciler");
    assert_eq!(account["automountServiceAccountToken"], false);
    let token = object(&objects, "Secret", "helios-reconciler-token");
    assert_eq!(token["type"], "kubernetes.io/service-account-token");
    assert_eq!(
        token["metadata"]["annotations"]["kubernetes.io/service-account.name"],
        "helios-reconciler"
    );
    assert!(
        token.get("data").is_none() && token.get("stringData").is_none(),
        "the token controller fills the token Secret in"
    );
    assert!(
        !objects
            .iter()
            .any(|o| o["kind"] == "Secret" && o["metadata"]["name"] == "helios-reconciler-git"),
        "the git credentials are made with kubectl, never written in the manifest"
    );

    let claim = object(&objects, "PersistentVolumeClaim", "helios-state");
    assert_eq!(strings(&claim["spec"]["accessModes"]), ["ReadWriteOnce"]);
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "1Gi");

    let deployment = object(&objects, "Deployment", "helios-reconciler");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "helios-reconciler");
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    assert_eq!(
        container["image"],
        "ghcr.io/helios-dev/helios-reconciler:0.1.0"
    );

    let args = strings(&container["args"]);
    assert_eq!(args.first(), Some(&"run"), "{args:?}");
    assert!(
        args.windows(2).any(|w| w == ["--backend", "kubernetes"]),
        "the Deployment runs `--backend kubernetes`: {args:?}"
    );
    let value_of = |flag: &str| {
        args.windows(2)
            .find(|w| w[0] == flag)
            .map(|w| w[1])
            .unwrap_or_else(|| panic!("no {flag} in {args:?}"))
    };
    assert_eq!(value_of("--state-dir"), "/var/lib/helios");
    assert_eq!(value_of("--listen"), "0.0.0.0:9090");
    // Every flag is one `helios-reconciler run` has.
    let help = Command::new(env!("CARGO_BIN_EXE_helios-reconciler"))
        .args(["run", "--help"])
        .output()
        .expect("run helios-reconciler run --help");
    assert!(help.status.success(), "run --help fails");
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        assert!(
            help.split(|c: char| c.is_whitespace() || c == ',')
                .any(|word| word == *flag),
            "`{flag}` is not a flag of `helios-reconciler run`:\n{help}"
        );
    }

    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(container[probe]["httpGet"]["path"], "/healthz", "{probe}");
        assert_eq!(container[probe]["httpGet"]["port"], 9090, "{probe}");
    }
    for side in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                container["resources"][side][resource].is_string(),
                "resources.{side}.{resource}"
            );
        }
    }
    let security = &container["securityContext"];
    assert_eq!(security["runAsNonRoot"], true);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(strings(&security["capabilities"]["drop"]), ["ALL"]);
    assert_eq!(security["seccompProfile"]["type"], "RuntimeDefault");

    // The volumes: the state claim at --state-dir, and the token Secret
    // where the in-cluster configuration reads it.
    let volumes = pod["volumes"].as_array().expect("volumes");
    let mount_of = |volume: &str| {
        container["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["name"] == volume)
            .and_then(|m| m["mountPath"].as_str())
            .unwrap_or_else(|| panic!("volume {volume} is not mounted"))
    };
    let volume_named = |source: &str, field: &str, name: &str| {
        volumes
            .iter()
            .find(|v| v[source][field] == name)
            .and_then(|v| v["name"].as_str())
            .unwrap_or_else(|| panic!("no volume of {source} {name}"))
    };
    let state = volume_named("persistentVolumeClaim", "claimName", "helios-state");
    assert_eq!(mount_of(state), "/var/lib/helios");
    let token = volume_named("secret", "secretName", "helios-reconciler-token");
    assert_eq!(
        mount_of(token),
        "/var/run/secrets/kubernetes.io/serviceaccount"
    );
    let git = volume_named("secret", "secretName", "helios-reconciler-git");
    assert_eq!(
        value_of("--token-file"),
        format!("{}/token", mount_of(git)),
        "--token-file reads the mounted git Secret"
    );
}
