//! The implementations of [`crate::backend::Backend`], one module each.

pub mod compose;
