//! Arbitrary bytes (made UTF-8 lossily) checked as a Heliosfile: no panic,
//! sound diagnostics; a clean file is lowered to Compose and Kubernetes
//! and its outputs meet the invariants of `heliosc_fuzz`.
#![no_main]

use heliosc_fuzz::Counters;
use libfuzzer_sys::fuzz_target;

static COUNTERS: Counters = Counters::new("parse_check");

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (clean, lowered) = heliosc_fuzz::parse_check(&text);
    COUNTERS.record(clean, lowered);
});
