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
use std::path::{Path, PathBuf};
use std::time::SystemTime;

mod common;

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

/// Where criterion writes its results, as criterion itself would choose it
/// under `cargo bench`: `$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`,
/// else `criterion` in the target folder that holds this executable.
fn criterion_directory() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return Some(PathBuf::from(home));
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return Some(Path::new(&target).join("criterion"));
    }
    // <target>/<profile>/deps/check-<hash>
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.parent()?.join("criterion"))
}

/// Criterion's typical time in nanoseconds (the slope when it sampled
/// linearly, else the mean), if the file was written by this run.
fn estimate(path: &Path, started: SystemTime) -> Option<f64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    if modified < started {
        return None;
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    let point = |key: &str| json.get(key)?.get("point_estimate")?.as_f64();
    point("slope").or_else(|| point("mean"))
}

fn human(nanoseconds: f64) -> String {
    if nanoseconds >= 1e6 {
        format!("{:.3} ms", nanoseconds / 1e6)
    } else if nanoseconds >= 1e3 {
        format!("{:.3} µs", nanoseconds / 1e3)
    } else {
        format!("{nanoseconds:.1} ns")
    }
}
