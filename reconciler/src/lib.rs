//! The Helios reconciler: polls a config repo, compiles every Heliosfile with
//! the `heliosc` library, diffs desired against live state and applies the
//! changes. Its design is in `shared/design/reconciler.md`.
//!
//! Stages, one module each: [`source`] (the config repo: fetch one branch,
//! read Heliosfiles from a commit's tree, backoff), [`desired`]
//! (Heliosfiles to compiled apps), [`plan`] (desired and observed state to a plan, the mass-prune guard),
//! [`backend`] (the trait Compose and Kubernetes implement, observed
//! state), [`backends`] (its implementations: [`backends::compose`]) and
//! [`state`] (the state directory as a git repository, the stored
//! database passwords); [`secrets`] owns secret values (their type, the
//! secrets file, the Compose env file and its quoting, redaction, keyed
//! digests). [`cycle`] runs one reconcile cycle through them all;
//! [`lock`] keeps a state directory to one instance.

pub mod backend;
pub mod backends;
pub mod build;
pub mod cycle;
pub mod desired;
pub mod lock;
pub mod plan;
pub mod secrets;
pub mod source;
pub mod state;

pub use heliosc::VERSION as COMPILER_VERSION;
