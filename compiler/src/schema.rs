//! The JSON Schema of the Heliosfile, generated with `schemars` from the
//! types below. They describe the document for editors and for the checked-in
//! `schema/heliosfile.schema.json`; the checker itself walks the spanned YAML
//! tree (so it can report every error), and a test keeps the two in step.

#![allow(dead_code)] // The types exist to be described, never constructed.

use schemars::JsonSchema;
use std::collections::BTreeMap;

/// A Heliosfile: one app, described once, lowered to Docker Compose or Kubernetes.
#[derive(JsonSchema)]
#[schemars(title = "Heliosfile", deny_unknown_fields)]
pub struct Heliosfile {
    /// The app's name: a DNS-1123 label (lowercase letters, digits and `-`, starting with a letter), at most 40 characters.
    #[schemars(
        length(min = 1, max = 40),
        regex(pattern = r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
    )]
    name: String,
    /// The Heliosfile language version. Only `1` exists.
    #[schemars(range(min = 1, max = 1))]
    version: u8,
    /// Where the app runs by default: `compose` (one Docker host) or `kubernetes` (a cluster). Default `compose`.
    target: Option<TargetName>,
    /// Base domain for default routes: a service with `http_port` is reachable at `<service>.<app>.<domain>`. Default `localhost`.
    domain: Option<String>,
    /// Repository for images built from this repo, e.g. `registry.example.com/shop`; the tag is given at build time.
    image: Option<String>,
    /// How images are built from this repo. Default: buildpacks.
    build: Option<BuildSection>,
    /// The app's services, by name. Names are DNS-1123 labels and are also the services' in-app hostnames.
    #[schemars(extend("propertyNames" = {"pattern": "^[a-z]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63}), length(min = 1))]
    services: BTreeMap<String, ServiceSection>,
    /// The app's databases, by name. Names share one namespace with services and are the databases' in-app hostnames.
    #[schemars(extend("propertyNames" = {"pattern": "^[a-z]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63}))]
    databases: Option<BTreeMap<String, DatabaseSection>>,
    /// Names of secrets provided outside git, used as `${secret.NAME}`.
    secrets: Option<Vec<SecretName>>,
}

/// A secret's name: letters, digits and `_`, not starting with a digit.
#[derive(JsonSchema)]
#[schemars(transparent)]
struct SecretName(#[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))] String);

/// A lowering target.
#[derive(JsonSchema)]
#[schemars(rename_all = "lowercase")]
enum TargetName {
    /// Docker Compose on one host.
    Compose,
    /// Kubernetes manifests for a cluster.
    Kubernetes,
}

/// How images are built: buildpacks (`builder`) or a Dockerfile (`dockerfile`, `context`, `args`); not both.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct BuildSection {
    /// Buildpacks builder image. Default `paketo-buildpacks/builder:base`. Excludes `dockerfile`.
    builder: Option<String>,
    /// Dockerfile path, relative to the Heliosfile's folder; may not be absolute or leave the repository. Excludes `builder`.
    dockerfile: Option<String>,
    /// Build context, relative to the Heliosfile's folder. Default `.`. Only with `dockerfile`.
    context: Option<String>,
    /// Build arguments. Only with `dockerfile`.
    args: Option<BTreeMap<String, ScalarText>>,
}

/// A string, number or boolean, used as text exactly as written.
#[derive(JsonSchema)]
#[schemars(untagged)]
enum ScalarText {
    /// Text.
    Text(String),
    /// A number, used as written.
    Number(f64),
    /// A boolean, used as written.
    Boolean(bool),
}

/// One service of the app.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct ServiceSection {
    /// The image to run, e.g. `registry.example.com/shop:1.4.2`. Default: the image built from this repo. Pin a tag: `latest` or no tag is a warning.
    image: Option<String>,
    /// Replaces the image's CMD (the entrypoint is kept): a string split like a shell would (never run by one), or a list of words.
    command: Option<Command>,
    /// The port the service serves public HTTP on; routed by the ingress or router.
    #[schemars(range(min = 1, max = 65535))]
    http_port: Option<u16>,
    /// Internal-only ports, reachable from the app's other services.
    ports: Option<Vec<Port>>,
    /// Number of instances. Default 1; 0 scales the service down.
    #[schemars(range(min = 0, max = 10000))]
    replicas: Option<u32>,
    /// CPU limit: cores as a number (`0.5`) or millicores as a string (`"500m"`).
    cpu: Option<Cpu>,
    /// Memory limit: a bare number is MiB (`512`); a string is a quantity (`"512Mi"`, `"1Gi"`, `"1G"`).
    memory: Option<Size>,
    /// How the service's health is checked: exactly one of `path` (HTTP), `command` or `tcp`.
    healthcheck: Option<HealthcheckSection>,
    /// Environment variables. Values may contain references such as `${postgres.URL}`, `${web.URL}`, `${secret.NAME}` or `${app.name}`; `$${` is a literal `${`.
    env: Option<BTreeMap<String, ScalarText>>,
    /// Extra public host names routed to `http_port` (needs `http_port`).
    domains: Option<Vec<String>>,
    /// Whether public routes use TLS. Default true, unless every host is under `localhost`.
    tls: Option<bool>,
    /// How new versions replace old ones: `rolling` (default) or `recreate`.
    strategy: Option<StrategyName>,
    /// Services or databases that must be up first. References add dependencies implicitly.
    depends_on: Option<Vec<String>>,
}

/// A port number.
#[derive(JsonSchema)]
#[schemars(transparent)]
struct Port(#[schemars(range(min = 1, max = 65535))] u16);

/// A command: a string split into words, or a list of words.
#[derive(JsonSchema)]
#[schemars(untagged)]
enum Command {
    /// Split like a POSIX shell would: `npm run start`.
    Line(String),
    /// The words: `["npm", "run", "start"]`.
    Words(Vec<String>),
}

/// Cores as a number, or a quantity string (`"500m"` for half a core).
#[derive(JsonSchema)]
#[schemars(untagged)]
enum Cpu {
    /// Cores, e.g. `0.5`.
    Cores(f64),
    /// A quantity, e.g. `"500m"` or `"2"`.
    Quantity(String),
}

/// A size: a bare number in the key's unit, or a Kubernetes quantity string.
#[derive(JsonSchema)]
#[schemars(untagged)]
enum Size {
    /// A number in the key's unit (MiB for memory, GiB for storage).
    Number(f64),
    /// A quantity: binary `Ki Mi Gi Ti` or decimal `k M G T`.
    Quantity(Quantity),
}

/// A Kubernetes quantity of bytes, e.g. `512Mi`, `10Gi`, `1G`.
#[derive(JsonSchema)]
#[schemars(transparent)]
struct Quantity(
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"))] String,
);

/// A rollout strategy.
#[derive(JsonSchema)]
#[schemars(rename_all = "lowercase")]
enum StrategyName {
    /// Start a new instance before stopping an old one.
    Rolling,
    /// Stop old instances, then start new ones.
    Recreate,
}

/// A health check: exactly one of `path`, `command` or `tcp`.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct HealthcheckSection {
    /// HTTP check: the path requested (starting with `/`); healthy on a 2xx or 3xx answer.
    path: Option<String>,
    /// Command check, run inside the container; healthy on exit status 0.
    command: Option<Command>,
    /// TCP check: the port to connect to (one of the service's ports).
    #[schemars(range(min = 1, max = 65535))]
    tcp: Option<u16>,
    /// Port for the HTTP check; one of the service's ports. Default: `http_port`.
    #[schemars(range(min = 1, max = 65535))]
    port: Option<u16>,
    /// Time between checks, e.g. `10s` (default), `1m30s`.
    interval: Option<Duration>,
    /// Time a check may take. Default `2s`.
    timeout: Option<Duration>,
    /// Consecutive failures before the service is unhealthy. Default 3.
    #[schemars(range(min = 1, max = 1000))]
    retries: Option<u32>,
    /// Grace period after start during which failures do not count.
    start_period: Option<Duration>,
}

/// A duration: number-unit pairs, largest unit first (`500ms`, `5s`, `1m30s`, `2h`).
#[derive(JsonSchema)]
#[schemars(transparent)]
struct Duration(
    #[schemars(regex(pattern = r"^([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$"))] String,
);

/// One database of the app.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct DatabaseSection {
    /// The engine.
    #[serde(rename = "type")]
    kind: DatabaseType,
    /// Engine version (the official image's tag). Default per type: postgresql 16, mysql 8.4, redis 7, mongodb 7.0.
    version: Option<ScalarText>,
    /// Requested storage: a bare number is GiB (`10`); a string is a quantity (`"10Gi"`). Default 1.
    storage: Option<Size>,
    /// An image replacing the official one (e.g. a local mirror).
    image: Option<String>,
}

/// A database engine.
#[derive(JsonSchema)]
#[schemars(rename_all = "lowercase")]
enum DatabaseType {
    /// PostgreSQL (`postgres` image).
    Postgresql,
    /// MySQL (`mysql` image).
    Mysql,
    /// Redis (`redis` image).
    Redis,
    /// MongoDB (`mongo` image).
    Mongodb,
}

/// The JSON Schema of the Heliosfile, pretty-printed with a final newline:
/// exactly the bytes of `schema/heliosfile.schema.json`.
pub fn json_schema() -> String {
    let mut schema = schemars::schema_for!(Heliosfile).to_value();
    // Optional keys may be left out but not set to null: the checker
    // rejects `key: ~`, so the schema must not allow it either.
    remove_null(&mut schema);
    if let Some(object) = schema.as_object_mut() {
        object.insert(
            "$id".into(),
            "https://helios.dev/schema/heliosfile.schema.json".into(),
        );
    }
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// Removes the `null` alternative schemars adds for `Option` fields.
fn remove_null(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(object) => {
            if let Some(Value::Array(types)) = object.get_mut("type") {
                types.retain(|t| t != "null");
                if let [single] = types.as_slice() {
                    let single = single.clone();
                    object.insert("type".into(), single);
                }
            }
            if let Some(Value::Array(alternatives)) = object.get_mut("anyOf") {
                alternatives.retain(|a| a.get("type").is_none_or(|t| t != "null"));
                if let [single] = alternatives.as_slice()
                    && let Some(inner) = single.as_object().cloned()
                {
                    object.remove("anyOf");
                    for (key, value) in inner {
                        object.entry(key).or_insert(value);
                    }
                }
            }
            object.values_mut().for_each(remove_null);
        }
        Value::Array(items) => items.iter_mut().for_each(remove_null),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use crate::check::document_keys;

    /// The keys the checker accepts are exactly the schema's properties.
    #[test]
    fn schema_and_checker_know_the_same_keys() {
        let schema: serde_json::Value =
            serde_json::from_str(&super::json_schema()).unwrap_or_default();
        let properties = |pointer: &str| -> Vec<String> {
            let mut keys: Vec<String> = schema
                .pointer(pointer)
                .and_then(|p| p.get("properties"))
                .and_then(|p| p.as_object())
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            keys.sort();
            keys
        };
        for (pointer, known) in [
            ("", document_keys::TOP),
            ("/$defs/BuildSection", document_keys::BUILD),
            ("/$defs/ServiceSection", document_keys::SERVICE),
            ("/$defs/HealthcheckSection", document_keys::HEALTHCHECK),
            ("/$defs/DatabaseSection", document_keys::DATABASE),
        ] {
            let mut known: Vec<String> = known.iter().map(|k| k.to_string()).collect();
            known.sort();
            assert_eq!(properties(pointer), known, "at {pointer:?}");
        }
    }
}
