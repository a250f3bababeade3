//! The checked, typed intermediate representation of one app: what the
//! lowering stages consume. Everything here is valid: units are normalized
//! (cpu in millicores, sizes in bytes, durations), defaults are filled in,
//! references are resolved to typed values and implicit dependencies are
//! added. Spans are kept so later stages can still point at the Heliosfile.

use crate::span::Span;
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
use std::time::Duration;

/// A checked Heliosfile.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct App {
    /// The app's name (a DNS-1123 label of at most 40 characters).
    pub name: String,
    /// Which target `heliosc build` lowers to unless told otherwise.
    pub target: Target,
    /// Base domain for default routes (`<service>.<app>.<domain>`).
    pub domain: String,
    /// Repository for images built from this repo, e.g. `registry.example.com/shop`.
    pub image_repository: Option<String>,
    /// How images are built from this repo.
    pub build: Build,
    /// Services by name (sorted).
    pub services: BTreeMap<String, Service>,
    /// Databases by name (sorted).
    pub databases: BTreeMap<String, Database>,
    /// Names of user secrets provided outside git (sorted).
    pub secrets: Vec<String>,
}

/// A lowering target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// Docker Compose, one host.
    Compose,
    /// Kubernetes manifests, a cluster.
    Kubernetes,
}

impl Target {
    /// The name used in Heliosfiles and on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Compose => "compose",
            Self::Kubernetes => "kubernetes",
        }
    }
}

/// How images are built from the app's folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Build {
    /// Cloud Native Buildpacks with the given builder image.
    Buildpacks {
        /// The builder image.
        builder: String,
    },
    /// `docker build` with a Dockerfile.
    Dockerfile {
        /// The Dockerfile, relative to the Heliosfile's folder, normalized.
        dockerfile: String,
        /// The build context, relative to the Heliosfile's folder, normalized.
        context: String,
        /// Build arguments (sorted).
        args: BTreeMap<String, String>,
    },
}

/// The buildpacks builder used when `build:` names none.
pub const DEFAULT_BUILDER: &str = "paketo-buildpacks/builder:base";

/// One service of the app.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Service {
    /// The service's name; also its in-app hostname.
    pub name: String,
    /// Where the name is defined.
    #[serde(skip)]
    pub name_span: Span,
    /// The explicit image, if any; otherwise the built image is used.
    pub image: Option<String>,
    /// Replaces the image's CMD (the entrypoint is kept).
    pub command: Option<Vec<String>>,
    /// The public HTTP port, routed by the ingress or router.
    pub http_port: Option<u16>,
    /// Internal-only ports, in the order written.
    pub ports: Vec<u16>,
    /// Number of instances.
    pub replicas: u32,
    /// CPU limit in millicores.
    pub cpu_millis: Option<u64>,
    /// Memory limit in bytes.
    pub memory_bytes: Option<u64>,
    /// How the service's health is checked.
    pub healthcheck: Option<Healthcheck>,
    /// Environment variables (sorted by name).
    pub env: BTreeMap<String, EnvValue>,
    /// Every host routed to `http_port`: the default host first, then `domains`.
    pub hosts: Vec<String>,
    /// The custom domains as written (without the default host).
    pub domains: Vec<String>,
    /// Whether public routes use TLS.
    pub tls: bool,
    /// How new versions replace old ones.
    pub strategy: Strategy,
    /// Services and databases this one depends on, explicit and implied by
    /// references (sorted, without duplicates).
    pub depends_on: Vec<String>,
}

impl Service {
    /// The port `${svc.PORT}` resolves to: `http_port`, else the first port.
    pub fn primary_port(&self) -> Option<u16> {
        self.http_port.or_else(|| self.ports.first().copied())
    }

    /// Every port the service listens on: `http_port` first, then `ports`.
    pub fn all_ports(&self) -> impl Iterator<Item = u16> + '_ {
        self.http_port.into_iter().chain(self.ports.iter().copied())
    }
}

/// How a new version replaces the old one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Start the new instance before stopping an old one.
    Rolling,
    /// Stop all old instances, then start new ones.
    Recreate,
}

/// A health check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Healthcheck {
    /// What is probed.
    pub probe: Probe,
    /// Time between checks.
    #[serde(serialize_with = "serialize_duration")]
    pub interval: Duration,
    /// Time a check may take.
    #[serde(serialize_with = "serialize_duration")]
    pub timeout: Duration,
    /// Consecutive failures before the service is unhealthy.
    pub retries: u32,
    /// Grace period after start during which failures do not count.
    #[serde(serialize_with = "serialize_optional_duration")]
    pub start_period: Option<Duration>,
}

/// What a health check probes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Probe {
    /// HTTP GET on `path` at `port`; healthy on a 2xx or 3xx answer.
    Http {
        /// Request path, starting with `/`.
        path: String,
        /// Port probed.
        port: u16,
    },
    /// A command run inside the container; healthy on exit status 0.
    Command {
        /// The command's words.
        command: Vec<String>,
    },
    /// A TCP connection to `port`.
    Tcp {
        /// Port probed.
        port: u16,
    },
}

/// Default time between health checks.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// Default time a health check may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default consecutive failures before unhealthy.
pub const DEFAULT_RETRIES: u32 = 3;

/// A database of the app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Database {
    /// The database's name; also its in-app hostname.
    pub name: String,
    /// Where the name is defined.
    #[serde(skip)]
    pub name_span: Span,
    /// The engine.
    pub kind: DatabaseKind,
    /// Engine version (the image tag of the official image).
    pub version: String,
    /// An image replacing the official one, if given.
    pub image: Option<String>,
    /// Requested storage, in bytes.
    pub storage_bytes: u64,
}

impl Database {
    /// The image to run: the explicit one, else the official image.
    pub fn effective_image(&self) -> String {
        self.image
            .clone()
            .unwrap_or_else(|| format!("{}:{}", self.kind.official_image(), self.version))
    }
}

/// A database engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseKind {
    /// PostgreSQL.
    Postgresql,
    /// MySQL.
    Mysql,
    /// Redis.
    Redis,
    /// MongoDB.
    Mongodb,
}

impl DatabaseKind {
    /// Every kind, in the order the docs list them.
    pub const ALL: [DatabaseKind; 4] = [Self::Postgresql, Self::Mysql, Self::Redis, Self::Mongodb];

    /// The name used in Heliosfiles.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Postgresql => "postgresql",
            Self::Mysql => "mysql",
            Self::Redis => "redis",
            Self::Mongodb => "mongodb",
        }
    }

    /// The version used when none is given.
    pub const fn default_version(self) -> &'static str {
        match self {
            Self::Postgresql => "16",
            Self::Mysql => "8.4",
            Self::Redis => "7",
            Self::Mongodb => "7.0",
        }
    }

    /// The port the engine listens on ([`crate::lower::engines`]).
    pub const fn port(self) -> u16 {
        crate::lower::engines::engine(self).port
    }

    /// The official image's repository ([`crate::lower::engines`]).
    pub const fn official_image(self) -> &'static str {
        crate::lower::engines::engine(self).image
    }

    /// The URL scheme of `${db.URL}`.
    pub const fn url_scheme(self) -> &'static str {
        match self {
            Self::Postgresql => "postgres",
            Self::Mysql => "mysql",
            Self::Redis => "redis",
            Self::Mongodb => "mongodb",
        }
    }
}

/// Storage when a database names none: 1 GiB.
pub const DEFAULT_STORAGE_BYTES: u64 = 1 << 30;

/// The value of an environment variable: literal text and resolved
/// references, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EnvValue {
    /// The pieces, concatenated to form the value.
    pub parts: Vec<EnvPart>,
}

impl EnvValue {
    /// Whether any part is a secret, so the value must never be written out.
    pub fn is_secret(&self) -> bool {
        self.parts
            .iter()
            .any(|part| matches!(part, EnvPart::Secret(_)))
    }

    /// The value when it holds no secret: literals and plain references
    /// concatenated. `None` when a secret is part of it.
    pub fn plain_text(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                EnvPart::Text(text) => out.push_str(text),
                EnvPart::Plain { value, .. } => out.push_str(value),
                EnvPart::Secret(_) => return None,
            }
        }
        Some(out)
    }
}

/// One piece of an environment value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvPart {
    /// Literal text (with `$${` already turned into `${`).
    Text(String),
    /// A reference whose value is known at compile time and is not secret,
    /// e.g. `${postgres.HOST}` = `postgres`.
    Plain {
        /// The reference as written, e.g. `postgres.HOST`.
        reference: String,
        /// Its value.
        value: String,
    },
    /// A reference to a secret value, known only where the app runs.
    Secret(SecretRef),
}

/// A secret value that lowering must reference, never write.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum SecretRef {
    /// The generated password of a database.
    DatabasePassword {
        /// The database's name.
        database: String,
    },
    /// The connection URL of a database, which embeds its password.
    DatabaseUrl {
        /// The database's name.
        database: String,
    },
    /// A user secret listed under `secrets:`.
    User {
        /// The secret's name.
        name: String,
    },
}

fn serialize_duration<S: Serializer>(
    duration: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_duration(*duration))
}

fn serialize_optional_duration<S: Serializer>(
    duration: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match duration {
        Some(duration) => serialize_duration(duration, serializer),
        None => serializer.serialize_none(),
    }
}

/// Formats a duration canonically, largest unit first: `1m30s`, `500ms`.
pub fn format_duration(duration: Duration) -> String {
    let mut millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if millis >= size {
            out.push_str(&format!("{}{unit}", millis / size));
            millis %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_format_canonically() {
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s500ms");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
