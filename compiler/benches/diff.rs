//! Benchmark of `heliosc diff` (in progress).

fn main() {}
