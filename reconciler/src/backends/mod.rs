//! The implementations of [`crate::backend::Backend`], one module each:
//! [`compose`] (one Docker host), [`kubernetes`] (one cluster), and
//! [`fake`], the in-memory one that tests and benchmarks use.

pub mod compose;
pub mod fake;
pub mod kubernetes;
