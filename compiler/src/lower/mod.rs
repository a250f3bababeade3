//! Lowering: the checked [`App`] to what a target runs, as data
//! ([`Lowered`]: its components) and as the files rendered from it. What
//! both targets share lives here (image resolution, secret variable names,
//! rendering env values with references, the engines' facts in
//! [`engines`]); each target has its own module.

pub mod compose;
pub mod engines;
pub mod kubernetes;
pub mod labels;
mod output;

pub use output::{Body, Component, ComponentKind, KubeObject, Lowered};

use crate::diagnostic::{Diagnostic, constructors as diag};
use crate::ir::{App, Build, Database, DatabaseKind, EnvPart, EnvValue, SecretRef, Service};
use std::collections::BTreeMap;

/// Options that come from the command line (or an embedding program), not
/// from the Heliosfile.
#[derive(Clone, Debug, Default)]
pub struct LowerOptions {
    /// Image per service, overriding the Heliosfile (`--image svc=REF`).
    pub images: BTreeMap<String, String>,
    /// Tag of the image built from this repo (`--tag TAG`): the built image
    /// is `<image>:<tag>`, `<image>` being the top-level `image:` repository.
    pub tag: Option<String>,
    /// The Heliosfile's folder as seen from the output folder, `/`-separated
    /// (e.g. `../apps/shop`), so that build contexts resolve from where the
    /// compiled file is written. `None` means the same folder.
    pub source_dir: Option<String>,
    /// Options of the Kubernetes target.
    pub kubernetes: kubernetes::KubernetesOptions,
    /// Compose target: per Compose service name (a service's or a
    /// database's name), a keyed digest of the secret values it uses, set
    /// as its [`labels::SECRETS_DIGEST`] label. The reconciler passes one
    /// per service that interpolates secrets ([`compose::service_variables`]),
    /// so that rotating a value changes the definition of exactly the
    /// services that use it (Compose recreates them) while their
    /// [`labels::SPEC_HASH`] stays: a rotated value is not a changed spec.
    /// An empty map (the default), a missing name or an empty digest add no
    /// label. The Kubernetes target ignores it.
    pub secrets_digests: BTreeMap<String, String>,
}

/// One file of compiled output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputFile {
    /// Path relative to the output folder, e.g. `compose.yaml`.
    pub path: String,
    /// The file's bytes (UTF-8 text).
    pub contents: String,
}

/// How a service gets its image.
pub(crate) struct ResolvedImage {
    /// The image reference to run.
    pub(crate) image: String,
    /// Whether it is the image built from this repo (so a `build:` step applies).
    pub(crate) built: bool,
}

/// The image each service runs: `--image` first, then the service's
/// `image:`, then the built image `<repository>:<tag>`. A service with none
/// is a diagnostic naming every way to give it one.
pub(crate) fn resolve_images(
    app: &App,
    options: &LowerOptions,
) -> Result<BTreeMap<String, ResolvedImage>, Vec<Diagnostic>> {
    let mut images = BTreeMap::new();
    let mut problems = Vec::new();
    for service in app.services.values() {
        match resolve_image(app, service, options) {
            Some(image) => {
                images.insert(service.name.clone(), image);
            }
            None => problems.push(diag::missing_image(
                &service.name,
                service.name_span,
                app.image_repository.is_some(),
            )),
        }
    }
    if problems.is_empty() {
        Ok(images)
    } else {
        Err(problems)
    }
}

fn resolve_image(app: &App, service: &Service, options: &LowerOptions) -> Option<ResolvedImage> {
    if let Some(image) = options.images.get(&service.name) {
        return Some(ResolvedImage {
            image: image.clone(),
            built: false,
        });
    }
    if let Some(image) = &service.image {
        return Some(ResolvedImage {
            image: image.clone(),
            built: false,
        });
    }
    let (repository, tag) = (app.image_repository.as_ref()?, options.tag.as_ref()?);
    Some(ResolvedImage {
        image: format!("{repository}:{tag}"),
        built: true,
    })
}

/// The Dockerfile build of the app, if it has one.
pub(crate) fn dockerfile_build(app: &App) -> Option<(&str, &str, &BTreeMap<String, String>)> {
    match &app.build {
        Build::Dockerfile {
            dockerfile,
            context,
            args,
        } => Some((dockerfile, context, args)),
        Build::Buildpacks { .. } => None,
    }
}

/// Joins a path relative to the Heliosfile's folder onto `source_dir`.
pub(crate) fn from_output_dir(options: &LowerOptions, path: &str) -> String {
    match options.source_dir.as_deref() {
        None | Some("" | ".") => path.to_string(),
        Some(dir) if path == "." => dir.to_string(),
        Some(dir) => format!("{}/{path}", dir.trim_end_matches('/')),
    }
}

/// The environment-variable-safe form of a name: `my-db` → `MY_DB`.
pub(crate) fn variable_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The variable holding a database's generated password, e.g.
/// `HELIOS_POSTGRES_PASSWORD`. The reconciler supplies it.
pub fn database_password_variable(database: &str) -> String {
    format!("HELIOS_{}_PASSWORD", variable_part(database))
}

/// The variable holding a user secret, e.g. `HELIOS_SECRET_STRIPE_KEY`.
pub fn user_secret_variable(name: &str) -> String {
    format!("HELIOS_SECRET_{name}")
}

/// A database's connection URL with `password` (a placeholder such as
/// `${VAR}` or `$(VAR)`, never a value) in the password's place.
pub(crate) fn database_url(app: &App, database: &Database, password: &str) -> String {
    let (name, host, port) = (&app.name, &database.name, database.kind.port());
    match database.kind {
        DatabaseKind::Postgresql => format!("postgres://{name}:{password}@{host}:{port}/{name}"),
        DatabaseKind::Mysql => format!("mysql://{name}:{password}@{host}:{port}/{name}"),
        DatabaseKind::Redis => format!("redis://:{password}@{host}:{port}/0"),
        DatabaseKind::Mongodb => {
            format!("mongodb://{name}:{password}@{host}:{port}/{name}?authSource=admin")
        }
    }
}

/// Renders an env value for a target: `escape` makes literal text safe from
/// the target's own interpolation, `secret` gives the placeholder for a
/// secret (a database URL is built around its password's placeholder).
pub(crate) fn render_env(
    app: &App,
    value: &EnvValue,
    escape: impl Fn(&str) -> String,
    password: impl Fn(&str) -> String,
    user_secret: impl Fn(&str) -> String,
) -> String {
    let mut out = String::new();
    for part in &value.parts {
        match part {
            EnvPart::Text(text) => out.push_str(&escape(text)),
            EnvPart::Plain { value, .. } => out.push_str(&escape(value)),
            EnvPart::Secret(SecretRef::DatabasePassword { database }) => {
                out.push_str(&password(database))
            }
            EnvPart::Secret(SecretRef::DatabaseUrl { database }) => {
                if let Some(db) = app.databases.get(database) {
                    out.push_str(&database_url(app, db, &password(database)));
                }
            }
            EnvPart::Secret(SecretRef::User { name }) => out.push_str(&user_secret(name)),
        }
    }
    out
}

/// Serializes compiled output as YAML, the same way for every target: plain
/// or quoted scalars only (no folded blocks, which some tools mangle), and
/// YAML 1.1 look-alikes such as `yes` or `0755` quoted, since Compose v1 and
/// many Kubernetes tools read YAML 1.1.
pub(crate) fn to_yaml<T: serde::Serialize>(value: &T) -> String {
    let options = serde_saphyr::ser_options! {
        prefer_block_scalars: false,
    };
    // Serializing plain data with string keys cannot fail; an empty
    // document would fail every validation downstream, never silently pass.
    serde_saphyr::to_string_with_options(value, options).unwrap_or_default()
}

/// Formats bytes as a Kubernetes quantity, exact: `10Gi`, `512Mi`, `1500`.
pub fn bytes_as_quantity(bytes: u64) -> String {
    for (suffix, size) in [
        ("Ti", 1u64 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ] {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{}{suffix}", bytes / size);
        }
    }
    bytes.to_string()
}

/// Formats millicores as cores: `500` → `0.5`, `2000` → `2`.
pub(crate) fn millis_as_cores(millis: u64) -> String {
    let whole = millis / 1000;
    let fraction = millis % 1000;
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = format!("{fraction:03}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_format_exactly() {
        assert_eq!(bytes_as_quantity(10 << 30), "10Gi");
        assert_eq!(bytes_as_quantity(1536 << 20), "1536Mi");
        assert_eq!(bytes_as_quantity(1_000_000_000), "1000000000");
        assert_eq!(millis_as_cores(500), "0.5");
        assert_eq!(millis_as_cores(2000), "2");
        assert_eq!(millis_as_cores(1250), "1.25");
        assert_eq!(millis_as_cores(1), "0.001");
        assert_eq!(variable_part("my-db"), "MY_DB");
    }
}
