//! The Helios reconciler: polls a config repo, compiles every Heliosfile with
//! the `heliosc` library, diffs desired against live state and applies the
//! changes. Its design is in `shared/design/reconciler.md`; the daemon itself
//! is built in a later issue, and this crate only reserves its place in the
//! workspace so that the compiler's public API is exercised as a dependency.

pub use heliosc::VERSION as COMPILER_VERSION;
