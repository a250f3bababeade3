//! The names of the labels Helios puts on what it runs: the one owner of
//! these strings. The reconciler finds, groups and compares containers and
//! volumes by them, so they never change once shipped.
//!
//! The Compose target sets them on every service and database container and
//! on every data volume; see `docs/targets.md`.

/// The app a container or volume belongs to (its `name:`).
pub const APP: &str = "dev.helios.app";

/// The service or database a container runs, by its name in the Heliosfile.
pub const SERVICE: &str = "dev.helios.service";

/// What a container or volume is for: `service` or `database`.
pub const COMPONENT: &str = "dev.helios.component";

/// A SHA-256 (hex) of a service's compiled definition without this label,
/// so that the reconciler can tell which services changed.
pub const SPEC_HASH: &str = "dev.helios.spec-hash";

/// A keyed digest of the secret values a service uses, set by the
/// reconciler ([`LowerOptions::secrets_digests`](super::LowerOptions::secrets_digests)),
/// never by `heliosc build`: a rotated value recreates exactly the services
/// that use it.
pub const SECRETS_DIGEST: &str = "dev.helios.secrets-digest";

/// On a data volume, the database whose data it holds.
pub const DATABASE: &str = "dev.helios.database";

/// A service's `strategy`, set when it is `recreate` (Compose cannot express
/// it, so the reconciler reads it from here).
pub const STRATEGY: &str = "dev.helios.strategy";

/// A database container's engine: `postgresql`, `mysql`, `redis`, `mongodb`.
pub const DATABASE_TYPE: &str = "dev.helios.database-type";

/// A database container's requested storage as a Kubernetes quantity
/// (`10Gi`): Compose has no notion of a volume size, so it is kept visible.
pub const STORAGE: &str = "dev.helios.storage";

/// The value of [`COMPONENT`] for a service.
pub const COMPONENT_SERVICE: &str = "service";

/// The value of [`COMPONENT`] for a database and its data volume.
pub const COMPONENT_DATABASE: &str = "database";
