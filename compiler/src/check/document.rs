//! The walk over the document's keys: top level, `build`, `services` (with
//! `healthcheck`), `databases` and `secrets`, then the rules that span more
//! than one service.

use super::dependencies::{Edge, check_dependencies};
use super::references::{Names, resolve_env};
use super::{Checker, Fields};
use crate::diagnostic::constructors as diag;
use crate::ir::{
    self, App, Build, Database, DatabaseKind, Healthcheck, Probe, Service, Strategy, Target,
};
use crate::parse::{Node, Value};
use crate::span::Span;
use crate::suggest::closest;
use std::collections::{BTreeMap, BTreeSet};

/// Keys of the top-level mapping.
pub(crate) const TOP_KEYS: &[&str] = &[
    "name",
    "version",
    "target",
    "domain",
    "image",
    "build",
    "services",
    "databases",
    "secrets",
];
/// Keys of `build`.
pub(crate) const BUILD_KEYS: &[&str] = &["builder", "dockerfile", "context", "args"];
/// Keys of a service.
pub(crate) const SERVICE_KEYS: &[&str] = &[
    "image",
    "command",
    "http_port",
    "ports",
    "replicas",
    "cpu",
    "memory",
    "healthcheck",
    "env",
    "domains",
    "tls",
    "strategy",
    "depends_on",
];
/// Keys of a service's `healthcheck`.
pub(crate) const HEALTHCHECK_KEYS: &[&str] = &[
    "path",
    "command",
    "tcp",
    "port",
    "interval",
    "timeout",
    "retries",
    "start_period",
];
/// Keys of a database.
pub(crate) const DATABASE_KEYS: &[&str] = &["type", "version", "storage", "image"];

const MAX_APP_NAME: usize = 40;
/// Environment variables the compiled output defines to carry secrets.
const RESERVED_ENV_PREFIX: &str = "HELIOS_";
const MAX_REPLICAS: i64 = 10_000;
const MAX_RETRIES: i64 = 1_000;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// A service between the two passes: its own keys are read, while its
/// environment and dependencies wait until every name is known.
struct ServiceDraft<'n> {
    service: Service,
    env: Vec<(String, Span, &'n Node)>,
    depends_on: Vec<(String, Span)>,
    domain_spans: Vec<Span>,
    /// Every port is valid (else `${svc.PORT}` cannot be judged).
    ports_valid: bool,
}

/// Checks a whole document. Returns the app only when there is no error.
pub(crate) fn check_document(ck: &mut Checker<'_>, root: &Node) -> Option<App> {
    let top = ck.fields(root, "the Heliosfile", TOP_KEYS, first_key_span(root))?;

    let name = ck
        .require(&top, "name", "the Heliosfile", "name: my-app")
        .and_then(|entry| {
            let name = ck.string(&entry.value, "`name`")?;
            ck.dns_label(&name, "app name", MAX_APP_NAME, entry.value.span)
                .then_some(name)
        });
    if let Some(entry) = ck.require(&top, "version", "the Heliosfile", "version: 1") {
        check_version(ck, &entry.value);
    }
    let target = top.get("target").map_or(Some(Target::Compose), |entry| {
        ck.one_of(
            &entry.value,
            "target",
            &[
                ("compose", Target::Compose),
                ("kubernetes", Target::Kubernetes),
            ],
        )
    });
    let domain = match top.get("domain") {
        Some(entry) => ck.domain(&entry.value, "`domain`"),
        None => Some("localhost".to_string()),
    };
    let image_repository = top.get("image").and_then(|entry| {
        let image = ck.string(&entry.value, "`image`")?;
        if image.is_empty() || image.chars().any(char::is_whitespace) {
            ck.report(diag::wrong_type(
                "`image`",
                "an image repository such as `registry.example.com/shop`",
                "text with spaces",
                entry.value.span,
            ));
            return None;
        }
        if let Some(bad) = super::values::invalid_image_char(&image) {
            ck.report(diag::invalid_image_reference(
                "`image`",
                &image,
                bad,
                entry.value.span,
            ));
            return None;
        }
        Some(image)
    });
    let build = match top.get("build") {
        Some(entry) => check_build(ck, &entry.value, entry.key_span),
        None => Some(Build::Buildpacks {
            builder: ir::DEFAULT_BUILDER.to_string(),
        }),
    };
    let secrets = match top.get("secrets") {
        Some(entry) => check_secrets(ck, &entry.value),
        None => Vec::new(),
    };

    let app_name = name.clone().unwrap_or_default();
    let base_domain = domain.clone().unwrap_or_else(|| "localhost".to_string());
    let mut drafts: Vec<ServiceDraft<'_>> = Vec::new();
    // Declared services and databases whose definition has an error (already
    // reported): references to them are not judged, so that one mistake is
    // not reported again as "unknown reference" or "unknown dependency".
    let mut unchecked: BTreeSet<&str> = BTreeSet::new();
    if let Some(entry) = ck.require(
        &top,
        "services",
        "the Heliosfile",
        "services: { web: { image: nginx:1.27 } }",
    ) && let Some(entries) = ck.mapping(&entry.value, "`services`")
    {
        if entries.is_empty() {
            ck.report(diag::empty_value(
                "`services`",
                entry.value.span,
                "an app needs at least one service",
            ));
        }
        for service in entries {
            if let Some(draft) = check_service(
                ck,
                &service.key,
                service.key_span,
                &service.value,
                &app_name,
                &base_domain,
            ) {
                if !draft.ports_valid {
                    unchecked.insert(&service.key);
                }
                drafts.push(draft);
            } else {
                unchecked.insert(&service.key);
            }
        }
    }
    let mut databases = BTreeMap::new();
    let mut database_names = Vec::new();
    if let Some(entry) = top.get("databases")
        && let Some(entries) = ck.mapping(&entry.value, "`databases`")
    {
        for database in entries {
            database_names.push((database.key.as_str(), database.key_span));
            if let Some(checked) =
                check_database(ck, &database.key, database.key_span, &database.value)
            {
                databases.insert(checked.name.clone(), checked);
            } else {
                unchecked.insert(&database.key);
            }
        }
    }

    check_shared_names(ck, &drafts, &database_names);
    check_domains(ck, &drafts);

    let service_ports: Vec<(String, Option<u16>)> = drafts
        .iter()
        .map(|d| (d.service.name.clone(), d.service.primary_port()))
        .collect();
    let names = Names {
        app: &app_name,
        services: service_ports
            .iter()
            .map(|(name, port)| (name.as_str(), *port))
            .collect(),
        databases: databases
            .values()
            .map(|db| (db.name.as_str(), db.kind))
            .collect(),
        secrets: secrets.iter().map(|(name, _)| name.as_str()).collect(),
        unchecked,
    };
    let mut used_secrets = BTreeSet::new();
    let mut edges = Vec::new();
    for draft in &mut drafts {
        for (key, _key_span, node) in &draft.env {
            let resolved = resolve_env(ck, &names, &draft.service.name, node, &mut used_secrets);
            if let Some((value, references)) = resolved {
                draft.service.env.insert(key.clone(), value);
                edges.extend(references.into_iter().map(|(to, span)| Edge {
                    from: draft.service.name.clone(),
                    to,
                    span,
                    explicit: false,
                }));
            }
        }
        edges.extend(draft.depends_on.iter().map(|(to, span)| Edge {
            from: draft.service.name.clone(),
            to: to.clone(),
            span: *span,
            explicit: true,
        }));
    }
    for (secret, span) in &secrets {
        if !used_secrets.contains(secret.as_str()) {
            ck.report(diag::unused_secret(secret, *span));
        }
    }
    let depends_on = check_dependencies(ck, &names, &edges);

    let mut services = BTreeMap::new();
    for draft in drafts {
        let mut service = draft.service;
        service.depends_on = depends_on.get(&service.name).cloned().unwrap_or_default();
        services.insert(service.name.clone(), service);
    }
    if ck.diagnostics.iter().any(|d| d.is_error()) {
        return None;
    }
    Some(App {
        name: name?,
        target: target?,
        domain: domain?,
        image_repository,
        build: build?,
        services,
        databases,
        secrets: secrets
            .into_iter()
            .map(|(name, _)| name)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    })
}

/// Where to point when a top-level key is missing: the first key, or the
/// start of the document.
fn first_key_span(root: &Node) -> Span {
    match &root.value {
        Value::Map(entries) => entries.first().map_or(root.span, |entry| entry.key_span),
        _ => root.span,
    }
}

fn check_version(ck: &mut Checker<'_>, node: &Node) {
    match (&node.value, node.scalar_text(ck.text)) {
        (Value::Int(1), _) => {}
        // `"1"`, `1.0` or nothing: saying "only version 1 exists" would
        // contradict what the author sees, so name the type instead.
        (Value::Str(_), Some("1"))
        | (Value::Float(_), Some("1.0"))
        | (Value::Null | Value::Seq(_) | Value::Map(_), _) => {
            ck.report(diag::wrong_type(
                "`version`",
                "the integer 1",
                node.value.type_name(),
                node.span,
            ));
        }
        (_, Some(text)) => ck.report(diag::unsupported_version(text, node.span)),
        (_, None) => {}
    }
}

fn check_build(ck: &mut Checker<'_>, node: &Node, key_span: Span) -> Option<Build> {
    let fields = ck.fields(node, "`build`", BUILD_KEYS, key_span)?;
    let builder = fields.get("builder");
    let dockerfile = fields.get("dockerfile");
    // Paths and args are checked even when the keys conflict, so that every
    // problem shows in one run.
    let dockerfile_path = dockerfile.map(|entry| ck.repo_path(&entry.value, "build.dockerfile"));
    let context = fields
        .get("context")
        .map(|entry| ck.repo_path(&entry.value, "build.context"));
    let args = fields
        .get("args")
        .map(|entry| check_string_map(ck, &entry.value, "`build.args`"));
    if let (Some(builder), Some(dockerfile)) = (builder, dockerfile) {
        ck.report(diag::conflicting_keys(
            "builder",
            "dockerfile",
            "`build`",
            dockerfile.key_span,
            builder.key_span,
        ));
        return None;
    }
    if let Some(dockerfile_path) = dockerfile_path {
        return Some(Build::Dockerfile {
            dockerfile: dockerfile_path?,
            context: context.unwrap_or_else(|| Some(".".to_string()))?,
            args: args.unwrap_or_default(),
        });
    }
    // `context` and `args` only make sense for a Dockerfile build.
    for key in ["context", "args"] {
        if let Some(entry) = fields.get(key) {
            let other = builder.map_or(entry.key_span, |b| b.key_span);
            if builder.is_some() {
                ck.report(diag::conflicting_keys(
                    "builder",
                    key,
                    "`build`",
                    entry.key_span,
                    other,
                ));
            } else {
                ck.report(diag::missing_key(
                    "dockerfile",
                    "`build`",
                    entry.key_span,
                    "dockerfile: ./Dockerfile",
                ));
            }
        }
    }
    let builder = match builder {
        Some(entry) => ck.image(&entry.value, "`build.builder`")?,
        None => ir::DEFAULT_BUILDER.to_string(),
    };
    Some(Build::Buildpacks { builder })
}

/// A mapping of variable names to scalar values (build args).
fn check_string_map(ck: &mut Checker<'_>, node: &Node, what: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for entry in ck.mapping(node, what).unwrap_or_default() {
        if !super::values::is_variable_name(&entry.key) {
            ck.report(diag::invalid_name(
                "variable name",
                &entry.key,
                "a variable name is letters, digits and `_`, not starting with a digit",
                entry.key_span,
                None,
            ));
        }
        if let Some(value) = ck.text(&entry.value, &format!("`{}`", entry.key)) {
            out.insert(entry.key.clone(), value);
        }
    }
    out
}

fn check_secrets(ck: &mut Checker<'_>, node: &Node) -> Vec<(String, Span)> {
    let mut secrets: Vec<(String, Span)> = Vec::new();
    for (name, span) in ck.string_list(node, "`secrets`") {
        if !super::values::is_variable_name(&name) {
            ck.report(diag::invalid_name("secret name", &name, "a secret name is letters, digits and `_`, not starting with a digit (e.g. `STRIPE_KEY`)", span, None));
            continue;
        }
        if let Some((_, first)) = secrets.iter().find(|(other, _)| *other == name) {
            ck.report(diag::duplicate_secret(&name, span, *first));
            continue;
        }
        secrets.push((name, span));
    }
    secrets
}

fn check_service<'n>(
    ck: &mut Checker<'_>,
    name: &str,
    name_span: Span,
    node: &'n Node,
    app: &str,
    base_domain: &str,
) -> Option<ServiceDraft<'n>> {
    ck.component_name(name, "service name", name_span);
    let what = format!("service `{name}`");
    let fields = ck.fields(node, &what, SERVICE_KEYS, name_span)?;
    let image = fields
        .get("image")
        .and_then(|e| ck.image(&e.value, "`image`"));
    let command = fields
        .get("command")
        .and_then(|e| ck.command(&e.value, "`command`"));
    let http_port = fields
        .get("http_port")
        .and_then(|e| ck.port(&e.value, "http_port"));
    let (ports, ports_valid) = check_ports(ck, &fields, http_port);
    let replicas = fields.get("replicas").map_or(Some(1), |entry| {
        let value = ck.integer(&entry.value, "`replicas`")?;
        if !(0..=MAX_REPLICAS).contains(&value) {
            ck.report(diag::value_out_of_range(
                "replicas",
                &value.to_string(),
                "0..=10000",
                entry.value.span,
            ));
            return None;
        }
        u32::try_from(value).ok()
    });
    let cpu_millis = fields.get("cpu").and_then(|e| ck.cpu(&e.value));
    let memory_bytes = fields
        .get("memory")
        .and_then(|e| ck.size(&e.value, "memory", "MiB", MIB));
    let all_ports: Vec<u16> = http_port.into_iter().chain(ports.iter().copied()).collect();
    // With a port already reported invalid, the probe's port cannot be
    // judged: checking it would only repeat that error in other words.
    let ports_valid = ports_valid && (http_port.is_some() || fields.get("http_port").is_none());
    let declared_ports = ports_valid.then_some(all_ports.as_slice());
    let healthcheck = fields
        .get("healthcheck")
        .and_then(|e| check_healthcheck(ck, name, &e.value, e.key_span, http_port, declared_ports));

    let mut env = Vec::new();
    if let Some(entry) = fields.get("env") {
        for variable in ck.mapping(&entry.value, "`env`").unwrap_or_default() {
            if !super::values::is_variable_name(&variable.key) {
                ck.report(diag::invalid_name(
                    "environment variable name",
                    &variable.key,
                    "a variable name is letters, digits and `_`, not starting with a digit",
                    variable.key_span,
                    None,
                ));
                continue;
            }
            if variable.key.starts_with(RESERVED_ENV_PREFIX) {
                ck.report(diag::invalid_name(
                    "environment variable name",
                    &variable.key,
                    "names starting with `HELIOS_` are reserved for the variables that carry secrets (e.g. `HELIOS_POSTGRES_PASSWORD`); a variable of yours with such a name could shadow one",
                    variable.key_span,
                    variable.key.strip_prefix(RESERVED_ENV_PREFIX).map(str::to_string),
                ));
                continue;
            }
            env.push((variable.key.clone(), variable.key_span, &variable.value));
        }
    }

    let mut domains = Vec::new();
    let mut domain_spans = Vec::new();
    if let Some(entry) = fields.get("domains") {
        if fields.get("http_port").is_none() {
            ck.report(diag::domains_without_http_port(name, entry.key_span));
        }
        for item in ck.list(&entry.value, "`domains`").unwrap_or_default() {
            if let Some(domain) = ck.domain(item, "each entry of `domains`") {
                domains.push(domain);
                domain_spans.push(item.span);
            }
        }
    }
    let default_host = format!("{name}.{app}.{base_domain}");
    let hosts: Vec<String> = if http_port.is_some() {
        std::iter::once(default_host)
            .chain(domains.iter().cloned())
            .collect()
    } else {
        Vec::new()
    };
    let all_local = hosts
        .iter()
        .all(|h| h == "localhost" || h.ends_with(".localhost"));
    let tls = fields
        .get("tls")
        .map_or(Some(!all_local), |e| ck.boolean(&e.value, "`tls`"));
    let strategy = fields.get("strategy").map_or(Some(Strategy::Rolling), |e| {
        ck.one_of(
            &e.value,
            "strategy",
            &[
                ("rolling", Strategy::Rolling),
                ("recreate", Strategy::Recreate),
            ],
        )
    });
    let depends_on = fields
        .get("depends_on")
        .map(|e| ck.string_list(&e.value, "`depends_on`"))
        .unwrap_or_default();

    Some(ServiceDraft {
        service: Service {
            name: name.to_string(),
            name_span,
            image,
            command,
            http_port,
            ports,
            replicas: replicas.unwrap_or(1),
            cpu_millis,
            memory_bytes,
            healthcheck,
            env: BTreeMap::new(),
            hosts,
            domains,
            tls: tls.unwrap_or(true),
            strategy: strategy.unwrap_or(Strategy::Rolling),
            depends_on: Vec::new(),
        },
        env,
        depends_on,
        domain_spans,
        ports_valid,
    })
}

/// `ports`, with duplicates (also of `http_port`) reported, and whether
/// every entry is a valid port.
fn check_ports(
    ck: &mut Checker<'_>,
    fields: &Fields<'_>,
    http_port: Option<u16>,
) -> (Vec<u16>, bool) {
    let mut seen: Vec<(u16, Span)> = Vec::new();
    if let (Some(port), Some(entry)) = (http_port, fields.get("http_port")) {
        seen.push((port, entry.value.span));
    }
    let mut ports = Vec::new();
    let mut valid = true;
    if let Some(entry) = fields.get("ports") {
        let Some(items) = ck.list(&entry.value, "`ports`") else {
            return (ports, false);
        };
        for item in items {
            let Some(port) = ck.port(item, "ports") else {
                valid = false;
                continue;
            };
            if let Some((_, first)) = seen.iter().find(|(p, _)| *p == port) {
                let of_http_port = http_port == Some(port);
                ck.report(diag::duplicate_port(port, item.span, *first, of_http_port));
                continue;
            }
            seen.push((port, item.span));
            ports.push(port);
        }
    }
    (ports, valid)
}

/// A service's `healthcheck`. `all_ports` is `None` when one of the
/// service's ports is invalid (already reported).
fn check_healthcheck(
    ck: &mut Checker<'_>,
    service: &str,
    node: &Node,
    key_span: Span,
    http_port: Option<u16>,
    all_ports: Option<&[u16]>,
) -> Option<Healthcheck> {
    let fields = ck.fields(
        node,
        &format!("the healthcheck of service `{service}`"),
        HEALTHCHECK_KEYS,
        key_span,
    )?;
    // The probe and the timing keys are checked independently, so that a
    // wrong probe does not hide a wrong duration.
    let probe = check_probe(ck, service, &fields, key_span, http_port, all_ports);
    let duration =
        |ck: &mut Checker<'_>, key: &str, default: Option<std::time::Duration>| match fields
            .get(key)
        {
            Some(entry) => ck
                .duration(&entry.value, &format!("healthcheck.{key}"))
                .map(Some),
            None => Some(default),
        };
    let interval = duration(ck, "interval", Some(ir::DEFAULT_INTERVAL));
    let timeout = duration(ck, "timeout", Some(ir::DEFAULT_TIMEOUT));
    let start_period = duration(ck, "start_period", None);
    let retries = fields
        .get("retries")
        .map_or(Some(ir::DEFAULT_RETRIES), |entry| {
            let value = ck.integer(&entry.value, "`healthcheck.retries`")?;
            if !(1..=MAX_RETRIES).contains(&value) {
                ck.report(diag::value_out_of_range(
                    "healthcheck.retries",
                    &value.to_string(),
                    "1..=1000",
                    entry.value.span,
                ));
                return None;
            }
            u32::try_from(value).ok()
        });
    Some(Healthcheck {
        probe: probe?,
        interval: interval.flatten()?,
        timeout: timeout.flatten()?,
        retries: retries?,
        start_period: start_period?,
    })
}

/// The probe of a healthcheck: exactly one of `path`, `command` or `tcp`.
fn check_probe(
    ck: &mut Checker<'_>,
    service: &str,
    fields: &Fields<'_>,
    key_span: Span,
    http_port: Option<u16>,
    all_ports: Option<&[u16]>,
) -> Option<Probe> {
    let kinds: Vec<_> = ["path", "command", "tcp"]
        .into_iter()
        .filter_map(|key| fields.get(key))
        .collect();
    if kinds.is_empty() {
        ck.report(diag::empty_value(
            "the healthcheck",
            key_span,
            "set one of `path` (HTTP), `command` or `tcp`",
        ));
        return None;
    }
    if let [first, second, ..] = kinds.as_slice() {
        ck.report(diag::conflicting_keys(
            &first.key,
            &second.key,
            "a healthcheck",
            second.key_span,
            first.key_span,
        ));
        return None;
    }
    let kind = kinds[0];
    let port_entry = fields.get("port");
    let explicit_port = port_entry.and_then(|e| ck.port(&e.value, "healthcheck.port"));
    let check_declared = |ck: &mut Checker<'_>, port: u16, span: Span| {
        if let Some(all_ports) = all_ports
            && !all_ports.contains(&port)
        {
            ck.report(diag::healthcheck_port_not_declared(
                port, service, all_ports, span,
            ));
        }
    };
    match kind.key.as_str() {
        "path" => {
            let path = ck.string(&kind.value, "`healthcheck.path`").filter(|path| {
                let absolute = path.starts_with('/');
                if !absolute {
                    ck.report(diag::wrong_type(
                        "`healthcheck.path`",
                        "a path starting with `/`",
                        "a relative path",
                        kind.value.span,
                    ));
                }
                absolute
            });
            let port = match (explicit_port, port_entry) {
                (Some(port), Some(entry)) => {
                    check_declared(ck, port, entry.value.span);
                    Some(port)
                }
                (None, Some(_)) => None,
                (_, None) => {
                    if http_port.is_none() && all_ports.is_some() {
                        ck.report(diag::healthcheck_port_missing(service, kind.value.span));
                    }
                    http_port
                }
            };
            Some(Probe::Http {
                path: path?,
                port: port?,
            })
        }
        "command" => {
            if let Some(entry) = port_entry {
                ck.report(diag::conflicting_keys(
                    "command",
                    "port",
                    "a healthcheck",
                    entry.key_span,
                    kind.key_span,
                ));
            }
            Some(Probe::Command {
                command: ck.command(&kind.value, "`healthcheck.command`")?,
            })
        }
        _ => {
            if let Some(entry) = port_entry {
                ck.report(diag::conflicting_keys(
                    "tcp",
                    "port",
                    "a healthcheck",
                    entry.key_span,
                    kind.key_span,
                ));
            }
            let port = ck.port(&kind.value, "healthcheck.tcp")?;
            check_declared(ck, port, kind.value.span);
            Some(Probe::Tcp { port })
        }
    }
}

/// Common names people use for a database type, to suggest the real one.
const DATABASE_ALIASES: &[(&str, &str)] = &[
    ("postgres", "postgresql"),
    ("pg", "postgresql"),
    ("psql", "postgresql"),
    ("mongo", "mongodb"),
    ("mariadb", "mysql"),
    ("valkey", "redis"),
];

fn check_database(
    ck: &mut Checker<'_>,
    name: &str,
    name_span: Span,
    node: &Node,
) -> Option<Database> {
    let name_ok = ck.component_name(name, "database name", name_span);
    let what = format!("database `{name}`");
    let fields = ck.fields(node, &what, DATABASE_KEYS, name_span)?;
    let kind = ck
        .require(&fields, "type", &what, "type: postgresql")
        .and_then(|entry| {
            let word = ck.string(&entry.value, "`type`")?;
            if let Some(kind) = DatabaseKind::ALL.into_iter().find(|k| k.as_str() == word) {
                return Some(kind);
            }
            let names: Vec<&str> = DatabaseKind::ALL.iter().map(|k| k.as_str()).collect();
            let lowered = word.to_ascii_lowercase();
            let suggestion = DATABASE_ALIASES
                .iter()
                .find(|(alias, _)| *alias == lowered)
                .map(|(_, real)| *real)
                .or_else(|| closest(&word, names.iter().copied()));
            ck.report(diag::unknown_value(
                "database type",
                &word,
                &names,
                entry.value.span,
                suggestion,
            ));
            None
        });
    let version = fields.get("version").map(|entry| {
        let version = ck.text(&entry.value, "`version`")?;
        if version.is_empty()
            || !version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            ck.report(diag::wrong_type(
                "database `version`",
                "a version such as `16` or `8.4`",
                "text that is not a tag",
                entry.value.span,
            ));
            return None;
        }
        Some(version)
    });
    let storage_bytes = fields
        .get("storage")
        .map_or(Some(ir::DEFAULT_STORAGE_BYTES), |e| {
            ck.size(&e.value, "storage", "GiB", GIB)
        });
    let image = fields
        .get("image")
        .and_then(|e| ck.image(&e.value, "`image`"));
    let kind = kind?;
    if !name_ok {
        return None;
    }
    Some(Database {
        name: name.to_string(),
        name_span,
        kind,
        version: match version {
            Some(version) => version?,
            None => kind.default_version().to_string(),
        },
        image,
        storage_bytes: storage_bytes?,
    })
}

/// Services and databases share one namespace.
fn check_shared_names(
    ck: &mut Checker<'_>,
    drafts: &[ServiceDraft<'_>],
    databases: &[(&str, Span)],
) {
    // Service names are unique (a duplicate key was dropped by the parser).
    let services: BTreeMap<&str, Span> = drafts
        .iter()
        .map(|d| (d.service.name.as_str(), d.service.name_span))
        .collect();
    for (database, span) in databases {
        if let Some(service_span) = services.get(database) {
            ck.report(diag::duplicate_name(
                database,
                "database",
                *span,
                *service_span,
                "service",
            ));
        }
    }
}

/// No host routed to two services (custom domains and default hosts).
fn check_domains(ck: &mut Checker<'_>, drafts: &[ServiceDraft<'_>]) {
    // Host → (service, where, whether it is that service's default host).
    let mut seen: BTreeMap<&str, (&str, Span, bool)> = BTreeMap::new();
    for draft in drafts {
        if let Some(default_host) = draft.service.hosts.first() {
            seen.entry(default_host).or_insert((
                &draft.service.name,
                draft.service.name_span,
                true,
            ));
        }
    }
    for draft in drafts {
        for (domain, span) in draft.service.domains.iter().zip(&draft.domain_spans) {
            match seen.get(domain.as_str()) {
                Some((first_service, first_span, default_host)) => {
                    ck.report(diag::duplicate_domain(
                        domain,
                        &draft.service.name,
                        *span,
                        first_service,
                        *first_span,
                        *default_host,
                    ));
                }
                None => {
                    seen.insert(domain, (&draft.service.name, *span, false));
                }
            }
        }
    }
}
