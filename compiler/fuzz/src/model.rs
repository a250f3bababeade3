//! The structured input of the `lower` target: a small model of a
//! Heliosfile (derived with `arbitrary`), valid by construction in almost
//! every run, and how it is written out as YAML text plus the lowering
//! options it picks.
//!
//! The model only names what it declares: references point at declared
//! databases, declared secrets and earlier services (or the service
//! itself: no cycle), health checks at declared ports, domains only on
//! services with `http_port`, each domain on one service. Literal env text
//! is drawn from YAML, shell, Compose and Kubernetes specials (`$`, `$$`,
//! `$(VAR)`, `$${...}`, quotes, `#`, line breaks, non-ASCII), so every
//! escaping path is taken.

use arbitrary::Arbitrary;
use heliosc::LowerOptions;
use heliosc::lower::kubernetes::KubernetesOptions;
use std::collections::BTreeSet;
use std::fmt::Write as _;

const APP_NAMES: &[&str] = &["shop", "a", "my-app-2", "blog", "x1", "market-place"];
const SERVICE_NAMES: &[&str] = &["web", "api", "worker", "jobs"];
const DATABASE_NAMES: &[&str] = &["postgres", "catalog", "cache", "events", "db", "store"];
const DATABASE_TYPES: &[(&str, &str, u16)] = &[
    ("postgresql", "16", 5432),
    ("mysql", "8.4", 3306),
    ("redis", "7", 6379),
    ("mongodb", "7.0", 27017),
];
const DATABASE_FIELDS: &[&str] = &["HOST", "PORT", "USER", "NAME", "PASSWORD", "URL"];
const SECRET_NAMES: &[&str] = &["STRIPE_KEY", "TOKEN", "SMTP_PASSWORD", "_X1"];
const DOMAINS: &[&str] = &[
    "shop.example.com",
    "localhost",
    "example.org",
    "apps.internal",
];
const REPOSITORIES: &[&str] = &[
    "registry.example.com/shop",
    "ghcr.io/acme/app",
    "localhost:5000/app",
];
const TAGS: &[&str] = &["1.0.0", "fuzz", "sha-0123abc", "v2_rc.1"];
const IMAGES: &[&str] = &[
    "nginx:1.27",
    "registry.example.com/shop:1.4.2",
    "ghcr.io/acme/api:2.0.0",
    "caddy:2.8.4",
    "nginx",
    "python:latest",
    "ghcr.io/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "localhost:5000/team/app:3",
];
const COMMANDS: &[&str] = &[
    "\"npm start\"",
    "[\"npm\", \"run\", \"worker\"]",
    "\"node dist/main.js --port 3000\"",
    "\"sh -c 'echo $HOME; echo ${USER}'\"",
    "[python, -m, worker]",
    "\"echo $(date) 100%\"",
    "[\"a b\", \"c'd\", \"e\\\"f\"]",
];
const CPUS: &[&str] = &["0.5", "\"500m\"", "1", "2", "0.25", "\"1500m\""];
const MEMORIES: &[&str] = &["512", "\"1Gi\"", "\"256Mi\"", "\"1G\"", "64", "\"1500k\""];
const STORAGES: &[&str] = &["10", "\"20Gi\"", "1", "\"500Mi\"", "\"2T\""];
const INTERVALS: &[&str] = &["10s", "1m30s", "500ms", "2h", "5s"];
const TIMEOUTS: &[&str] = &["2s", "500ms", "1s", "30s"];
const START_PERIODS: &[&str] = &["30s", "1m", "1m30s"];
const PATHS: &[&str] = &["/healthz", "/", "/ready?full=1", "/a b", "/%41"];
const ENV_KEYS: &[&str] = &[
    "NODE_ENV",
    "DATABASE_URL",
    "API_URL",
    "TOKEN",
    "GREETING",
    "X",
    "LOG_LEVEL",
    "_PRIVATE",
    "lower_case",
    "A1",
];
/// Literal pieces of env values: YAML, shell, Compose and Kubernetes
/// specials, so that every escaping path is taken.
const LITERALS: &[&str] = &[
    "production",
    "$5",
    "100%",
    "a b",
    " lead",
    "trail ",
    "#not-a-comment",
    "quote\"d",
    "it's",
    "é日本",
    "http://x:80/",
    "$(HOME)",
    "$$",
    "",
    "true",
    "0",
    "back\\slash",
    "tab\there",
    "{}",
    "[x]",
    "cost: 5",
    "multi\nline",
    "$",
    "}",
    "*alias",
    "&anchor",
    "- item",
    "?",
    "~",
    "$(HELIOS_POSTGRES_PASSWORD)",
    "$(HELIOS_SECRET_TOKEN)",
    "$(DATABASE_URL)",
    "$HELIOS_SECRET_TOKEN",
];
/// `$${` is a literal `${`; roots here are never declared names.
const ESCAPED: &[&str] = &[
    "$${user}",
    "$${NOT_A_REFERENCE}",
    "$${1}",
    "$${}",
    "$${HOME:-x}",
    "$${HELIOS_SECRET_TOKEN}",
    "$${HELIOS_POSTGRES_PASSWORD}",
];

#[derive(Arbitrary, Debug)]
enum Piece {
    Literal(u8),
    Database(u8, u8),
    Service(u8, u8),
    Secret(u8),
    AppName,
    Escaped(u8),
}

#[derive(Arbitrary, Debug)]
struct EnvModel {
    key: u8,
    pieces: Vec<Piece>,
}

#[derive(Arbitrary, Debug)]
struct HealthModel {
    /// 0 path, 1 tcp, 2 command (falling back when ports are missing).
    kind: u8,
    port: Option<u8>,
    path: u8,
    interval: Option<u8>,
    timeout: Option<u8>,
    retries: Option<u8>,
    start_period: Option<u8>,
}

#[derive(Arbitrary, Debug)]
struct ServiceModel {
    /// An index in IMAGES; past its end: no `image:` (the built image).
    image: u8,
    command: Option<u8>,
    http_port: Option<u16>,
    ports: Vec<u16>,
    replicas: Option<u8>,
    cpu: Option<u8>,
    memory: Option<u8>,
    healthcheck: Option<HealthModel>,
    env: Vec<EnvModel>,
    depends_on: Vec<u8>,
    domains: u8,
    tls: Option<bool>,
    strategy: Option<bool>,
}

#[derive(Arbitrary, Debug)]
struct DatabaseModel {
    name: u8,
    kind: u8,
    version: bool,
    storage: Option<u8>,
    /// Rarely an explicit image (when < 16).
    image: u8,
}

#[derive(Arbitrary, Debug)]
struct BuildModel {
    dockerfile: bool,
    context: bool,
    args: bool,
}

#[derive(Arbitrary, Debug)]
struct KubernetesModel {
    namespace: Option<bool>,
    ingress_class: Option<bool>,
    cluster_issuer: Option<bool>,
    split: bool,
}

/// One Heliosfile and the lowering options.
#[derive(Arbitrary, Debug)]
pub struct Model {
    name: u8,
    target: Option<bool>,
    domain: Option<u8>,
    repository: u8,
    /// `--tag`: none only when 0 (then services without `image:` cannot
    /// be lowered: a lowering error, rare on purpose).
    tag: u8,
    build: Option<BuildModel>,
    service_count: u8,
    services: [ServiceModel; 4],
    databases: Vec<DatabaseModel>,
    secrets: u8,
    /// `--image svc=REF` overrides.
    images: Vec<(u8, u8)>,
    source_dir: Option<bool>,
    kubernetes: KubernetesModel,
    flow: bool,
    indent: u8,
    /// Leave the comment line out (a header comment is what people write).
    comment: bool,
}

fn pick<'a>(list: &[&'a str], at: u8) -> &'a str {
    list[usize::from(at) % list.len()]
}

/// A double-quoted YAML scalar (JSON's escapes are YAML's).
fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes")
}

/// A service as the rest of the model sees it.
struct Declared {
    name: &'static str,
    /// Its http_port, else its first port.
    has_port: bool,
}

/// A YAML mapping being written, block or flow.
struct Writer {
    out: String,
    flow: bool,
    indent: usize,
}

impl Writer {
    /// `key: value` at `depth`, value already YAML.
    fn scalar(&mut self, depth: usize, key: &str, value: &str) {
        let _ = writeln!(
            self.out,
            "{}{key}: {value}",
            " ".repeat(depth * self.indent)
        );
    }

    /// `key:` then the entries, in block style, or `key: {a: b, ...}` in
    /// flow style when `self.flow` and `flowable`.
    fn mapping(&mut self, depth: usize, key: &str, entries: &[(String, String)], flowable: bool) {
        let pad = " ".repeat(depth * self.indent);
        if entries.is_empty() {
            let _ = writeln!(self.out, "{pad}{key}: {{}}");
        } else if self.flow && flowable {
            let inner: Vec<String> = entries.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            let _ = writeln!(self.out, "{pad}{key}: {{{}}}", inner.join(", "));
        } else {
            let _ = writeln!(self.out, "{pad}{key}:");
            for (k, v) in entries {
                self.scalar(depth + 1, k, v);
            }
        }
    }
}

/// Renders the model; also returns the lowering options it chose.
pub fn render(model: &Model) -> (String, LowerOptions) {
    let app = pick(APP_NAMES, model.name);
    let count = 1 + usize::from(model.service_count) % SERVICE_NAMES.len();
    let mut databases: Vec<(&str, usize, &DatabaseModel)> = Vec::new();
    for db in model.databases.iter().take(4) {
        let name = pick(DATABASE_NAMES, db.name);
        if databases.iter().all(|(n, _, _)| *n != name) {
            databases.push((name, usize::from(db.kind) % DATABASE_TYPES.len(), db));
        }
    }
    let secrets = &SECRET_NAMES[..usize::from(model.secrets) % (SECRET_NAMES.len() + 1)];
    let mut w = Writer {
        out: String::new(),
        flow: model.flow,
        indent: 2 + usize::from(model.indent % 3),
    };
    if model.comment {
        w.out
            .push_str("# yaml-language-server: $schema=../../schema/heliosfile.schema.json\n");
    }
    w.scalar(0, "name", app);
    w.scalar(0, "version", "1");
    if let Some(kubernetes) = model.target {
        w.scalar(
            0,
            "target",
            if kubernetes { "kubernetes" } else { "compose" },
        );
    }
    let domain = model.domain.map(|d| pick(DOMAINS, d));
    if let Some(domain) = domain {
        w.scalar(0, "domain", domain);
    }
    w.scalar(0, "image", pick(REPOSITORIES, model.repository));
    if let Some(build) = &model.build {
        let mut entries = Vec::new();
        if build.dockerfile {
            entries.push(("dockerfile".to_string(), "./Dockerfile".to_string()));
            if build.context {
                entries.push(("context".to_string(), quoted(".")));
            }
            if build.args {
                entries.push((
                    "args".to_string(),
                    "{NODE_ENV: production, A_1: \"x y\"}".to_string(),
                ));
            }
        } else {
            entries.push((
                "builder".to_string(),
                "paketo-buildpacks/builder:base".to_string(),
            ));
        }
        w.mapping(0, "build", &entries, false);
    }

    // Services.
    let mut declared: Vec<Declared> = Vec::new();
    let mut used_domains: BTreeSet<String> = BTreeSet::new();
    w.out.push_str("services:\n");
    for (i, service) in model.services.iter().take(count).enumerate() {
        let name = SERVICE_NAMES[i];
        let http_port = service.http_port.map(|p| 1 + p % 65535);
        let mut ports: Vec<u16> = Vec::new();
        for p in service.ports.iter().take(3) {
            let p = 1 + p % 65535;
            if Some(p) != http_port && !ports.contains(&p) {
                ports.push(p);
            }
        }
        declared.push(Declared {
            name,
            has_port: http_port.is_some() || !ports.is_empty(),
        });
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut field = |k: &str, v: String| fields.push((k.to_string(), v));
        if usize::from(service.image) < IMAGES.len() {
            field("image", quoted(IMAGES[usize::from(service.image)]));
        }
        if let Some(command) = service.command {
            field("command", pick(COMMANDS, command).to_string());
        }
        if let Some(port) = http_port {
            field("http_port", port.to_string());
        }
        if !ports.is_empty() {
            let list: Vec<String> = ports.iter().map(u16::to_string).collect();
            field("ports", format!("[{}]", list.join(", ")));
        }
        if let Some(replicas) = service.replicas {
            field("replicas", (replicas % 4).to_string());
        }
        if let Some(cpu) = service.cpu {
            field("cpu", pick(CPUS, cpu).to_string());
        }
        if let Some(memory) = service.memory {
            field("memory", pick(MEMORIES, memory).to_string());
        }
        if let Some(h) = &service.healthcheck {
            let all_ports: Vec<u16> = http_port.into_iter().chain(ports.iter().copied()).collect();
            let mut check: Vec<String> = Vec::new();
            match h.kind % 3 {
                0 if !all_ports.is_empty() => {
                    check.push(format!("path: {}", quoted(pick(PATHS, h.path))));
                    match h.port {
                        Some(p) => check.push(format!(
                            "port: {}",
                            all_ports[usize::from(p) % all_ports.len()]
                        )),
                        None if http_port.is_none() => {
                            check.push(format!("port: {}", all_ports[0]));
                        }
                        None => {}
                    }
                }
                1 if !all_ports.is_empty() => {
                    let p = all_ports[usize::from(h.port.unwrap_or(0)) % all_ports.len()];
                    check.push(format!("tcp: {p}"));
                }
                _ => {
                    check.push(if h.path % 2 == 0 {
                        "command: [\"curl\", \"-f\", \"http://localhost/\"]".to_string()
                    } else {
                        "command: \"pgrep -f 'node $APP'\"".to_string()
                    });
                }
            }
            if let Some(i) = h.interval {
                check.push(format!("interval: {}", pick(INTERVALS, i)));
            }
            if let Some(t) = h.timeout {
                check.push(format!("timeout: {}", pick(TIMEOUTS, t)));
            }
            if let Some(r) = h.retries {
                check.push(format!("retries: {}", 1 + r % 10));
            }
            if let Some(s) = h.start_period {
                check.push(format!("start_period: {}", pick(START_PERIODS, s)));
            }
            field("healthcheck", format!("{{{}}}", check.join(", ")));
        }
        let mut env: Vec<(String, String)> = Vec::new();
        for variable in service.env.iter().take(6) {
            let key = pick(ENV_KEYS, variable.key);
            if env.iter().any(|(k, _)| k == key) {
                continue;
            }
            let mut value = String::new();
            for piece in variable.pieces.iter().take(5) {
                match *piece {
                    Piece::Database(d, f) if !databases.is_empty() => {
                        let (db, _, _) = databases[usize::from(d) % databases.len()];
                        let _ = write!(value, "${{{db}.{}}}", pick(DATABASE_FIELDS, f));
                    }
                    Piece::Service(s, f) => {
                        // Earlier services or itself: no dependency cycle.
                        let target = &declared[usize::from(s) % declared.len()];
                        let field = if target.has_port {
                            pick(&["HOST", "PORT", "URL"], f)
                        } else {
                            "HOST"
                        };
                        let _ = write!(value, "${{{}.{field}}}", target.name);
                    }
                    Piece::Secret(s) if !secrets.is_empty() => {
                        let _ = write!(value, "${{secret.{}}}", pick(secrets, s));
                    }
                    Piece::AppName => value.push_str("${app.name}"),
                    Piece::Escaped(e) => value.push_str(pick(ESCAPED, e)),
                    Piece::Literal(l) => value.push_str(pick(LITERALS, l)),
                    _ => value.push_str("plain"),
                }
            }
            env.push((key.to_string(), quoted(&value)));
        }
        if !env.is_empty() {
            let entries: Vec<String> = env.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            field("env", format!("{{{}}}", entries.join(", ")));
        }
        let mut depends: Vec<&str> = Vec::new();
        for d in service.depends_on.iter().take(3) {
            let d = usize::from(*d);
            let name = if d % 2 == 0 && i > 0 {
                SERVICE_NAMES[(d / 2) % i]
            } else if !databases.is_empty() {
                databases[(d / 2) % databases.len()].0
            } else {
                continue;
            };
            if !depends.contains(&name) {
                depends.push(name);
            }
        }
        if !depends.is_empty() {
            field("depends_on", format!("[{}]", depends.join(", ")));
        }
        if http_port.is_some() && service.domains % 3 != 0 {
            let mut list = Vec::new();
            for k in 0..service.domains % 3 {
                let host = format!("{name}{k}.{}", domain.unwrap_or("example.com"));
                if used_domains.insert(host.clone()) {
                    list.push(host);
                }
            }
            if !list.is_empty() {
                field("domains", format!("[{}]", list.join(", ")));
            }
        }
        if let Some(tls) = service.tls {
            field("tls", tls.to_string());
        }
        if let Some(recreate) = service.strategy {
            field(
                "strategy",
                if recreate { "recreate" } else { "rolling" }.to_string(),
            );
        }
        w.mapping(1, name, &fields, true);
    }

    if !databases.is_empty() {
        w.out.push_str("databases:\n");
        for (name, kind, db) in &databases {
            let (type_name, version, _) = DATABASE_TYPES[*kind];
            let mut fields = vec![("type".to_string(), type_name.to_string())];
            if db.version {
                fields.push(("version".to_string(), quoted(version)));
            }
            if let Some(storage) = db.storage {
                fields.push(("storage".to_string(), pick(STORAGES, storage).to_string()));
            }
            if db.image < 16 {
                let image = match type_name {
                    "postgresql" => "postgres:16-alpine",
                    "mysql" => "mysql:8.4",
                    "redis" => "redis:7-alpine",
                    _ => "mongo:7.0",
                };
                fields.push(("image".to_string(), image.to_string()));
            }
            w.mapping(1, name, &fields, true);
        }
    }
    if !secrets.is_empty() {
        let _ = writeln!(w.out, "secrets: [{}]", secrets.join(", "));
    }

    let mut options = LowerOptions {
        tag: (model.tag != 0).then(|| pick(TAGS, model.tag).to_string()),
        source_dir: model
            .source_dir
            .map(|deep| if deep { "../apps/shop" } else { "." }.to_string()),
        kubernetes: KubernetesOptions {
            namespace: model
                .kubernetes
                .namespace
                .map(|other| if other { "apps" } else { app }.to_string()),
            ingress_class: model
                .kubernetes
                .ingress_class
                .map(|b| if b { "nginx" } else { "traefik" }.to_string()),
            cluster_issuer: model.kubernetes.cluster_issuer.map(|b| {
                if b {
                    "letsencrypt-staging"
                } else {
                    "internal-ca"
                }
                .to_string()
            }),
            split: model.kubernetes.split,
        },
        ..LowerOptions::default()
    };
    for (s, image) in model.images.iter().take(2) {
        let service = SERVICE_NAMES[usize::from(*s) % count];
        options
            .images
            .insert(service.to_string(), pick(IMAGES, *image).to_string());
    }
    (w.out, options)
}
