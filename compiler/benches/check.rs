//! Benchmarks of `heliosc::check`.
//!
//! - `check`: the whole check of a generated Heliosfile with 1,000 services
//!   and 100 databases;
//! - `parse`: heliosc's own spanned parse of the same text (the first stage
//!   of `check`);
//! - `bare_parse`: `serde-saphyr` into a plain `serde_json::Value`, the
//!   floor any YAML-based checker pays;
//! - `reject_50mb` and `reject_billion_laughs`: how fast hostile input is
//!   refused (H0104, H0105).
//!
//! After the run the ratio `check / bare_parse` is printed from criterion's
//! own estimates; the bar is 3x.
//!
//! `cargo bench -p heliosc --bench check -- --warm-up-time 1 --measurement-time 5`

use criterion::Criterion;
use std::hint::black_box;
use std::path::Path;
use std::time::SystemTime;

mod common;

use common::{criterion_directory, estimate, human};

const SERVICES: usize = 1_000;
const DATABASES: usize = 100;
/// The acceptance bar: checking costs at most this many bare parses.
const MAX_RATIO: f64 = 3.0;

fn benches(c: &mut Criterion) {
    let text = common::large_heliosfile(SERVICES, DATABASES);
    let checked = heliosc::check("Heliosfile", &text);
    assert!(
        !checked.has_errors(),
        "the generated Heliosfile must be valid:\n{}",
        checked.render(&text)
    );
    c.bench_function("check", |b| {
        b.iter(|| heliosc::check("Heliosfile", black_box(&text)))
    });
    c.bench_function("parse", |b| {
        b.iter(|| heliosc::parse::parse(black_box(&text)))
    });
    c.bench_function("bare_parse", |b| {
        b.iter(|| {
            serde_saphyr::from_str::<serde_json::Value>(black_box(&text))
                .expect("the generated Heliosfile is valid YAML")
        })
    });

    let huge = common::fifty_megabytes();
    assert_eq!(first_code(&huge), Some("H0104"));
    c.bench_function("reject_50mb", |b| {
        b.iter(|| heliosc::check("Heliosfile", black_box(&huge)))
    });
    drop(huge);

    let laughs = common::billion_laughs();
    assert_eq!(first_code(&laughs), Some("H0105"));
    c.bench_function("reject_billion_laughs", |b| {
        b.iter(|| heliosc::check("Heliosfile", black_box(&laughs)))
    });
}

fn first_code(text: &str) -> Option<&'static str> {
    heliosc::check("Heliosfile", text)
        .diagnostics
        .first()
        .map(|d| d.code.as_str())
}

fn main() {
    let started = SystemTime::now();
    let directory = criterion_directory();
    let mut criterion = Criterion::default();
    if let Some(directory) = &directory {
        // Pinned so that the ratios below read what this run wrote.
        criterion = criterion.output_directory(directory);
    }
    let mut criterion = criterion.configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
    if let Some(directory) = &directory {
        report_ratios(directory, started);
    }
}

/// Prints `check / bare_parse` (and `parse / bare_parse`) from the estimates
/// criterion saved during this run; prints nothing when a benchmark did not
/// run (filtered out, or `--test` / `--list` mode).
fn report_ratios(dir: &Path, started: SystemTime) {
    let time = |name: &str| estimate(&dir.join(name).join("new").join("estimates.json"), started);
    let (Some(bare), Some(check)) = (time("bare_parse"), time("check")) else {
        return;
    };
    println!(
        "\n{SERVICES} services, {DATABASES} databases: check {}, bare parse {}",
        human(check),
        human(bare)
    );
    if let Some(parse) = time("parse") {
        println!(
            "ratio parse / bare_parse = {:.2}x (heliosc's spanned parse, {})",
            parse / bare,
            human(parse)
        );
    }
    let ratio = check / bare;
    let verdict = if ratio <= MAX_RATIO { "within" } else { "OVER" };
    println!("ratio check / bare_parse = {ratio:.2}x ({verdict} the {MAX_RATIO}x bar)");
}
