//! Structured input: a small model of a Heliosfile (`heliosc_fuzz::model`,
//! derived with `arbitrary`), valid by construction in almost every run,
//! written out as YAML text, checked, then lowered to Compose AND
//! Kubernetes with arbitrary lowering options. The outputs must meet the
//! invariants of `heliosc_fuzz` (YAML, deterministic, no unrendered
//! reference, env values read back exactly, every Compose interpolation
//! declared, Kubernetes helper variables defined before use, no Secret
//! object; a split Kubernetes output holds the stream's objects).
//!
//! The share of runs that checked clean (reached lowering) is printed to
//! stderr at 1k, 10k and every 100k runs.
#![no_main]

use heliosc_fuzz::Counters;
use heliosc_fuzz::model::Model;
use libfuzzer_sys::fuzz_target;

static COUNTERS: Counters = Counters::new("lower");

fuzz_target!(|model: Model| {
    let (clean, lowered) = heliosc_fuzz::lower(&model);
    COUNTERS.record(clean, lowered);
});
