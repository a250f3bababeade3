//! Benchmarks of lowering: `heliosc::build` to each target, against the cost
//! of serializing its output alone, and the binary end to end.
//!
//! - `compose_build`: `heliosc::build` of a generated Heliosfile with 1,000
//!   services and 100 databases to Compose (parse, check, lower, serialize);
//! - `compose_lower`: `heliosc::lower::compose::lower` of the already
//!   checked app (building the model and serializing it);
//! - `compose_serialize_only`: serializing the same `compose.yaml` from a
//!   prebuilt `docker_compose_types::Compose` value (parsed back from the
//!   build's output before timing), with the options heliosc uses;
//! - `kubernetes_build`, `kubernetes_lower` and `kubernetes_serialize_only`:
//!   the same for Kubernetes, the prebuilt values being every document of
//!   `manifests.yaml` decoded into its typed k8s-openapi struct by `kind`;
//! - `build_1000_apps_cli`: `heliosc build apps --out <dir> --tag 1` run as
//!   a child process (a cold process each time) on a folder of 1,000 small
//!   apps written once before timing, each run writing over the last one's
//!   output.
//!
//! After the run the ratios `build / serialize_only` (and
//! `lower / serialize_only`) are printed from criterion's own estimates.
//!
//! `cargo bench -p heliosc --bench lower -- --warm-up-time 1 --measurement-time 5`

use criterion::Criterion;
use heliosc::ir::Target;
use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::networking::v1 as networking;
use k8s_openapi::api::policy::v1 as policy;
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

#[allow(dead_code, reason = "this benchmark uses only `large_heliosfile`")]
mod common;

use common::{criterion_directory, estimate, human};

const SERVICES: usize = 1_000;
const DATABASES: usize = 100;
/// How many apps the command-line benchmark builds.
const APPS: usize = 1_000;

/// `heliosc build`'s options for `target`, with `--tag 1.0.0`.
fn options(target: Target) -> heliosc::BuildOptions {
    heliosc::BuildOptions {
        target: Some(target),
        lower: heliosc::LowerOptions {
            tag: Some("1.0.0".into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The options heliosc serializes its output with.
fn to_yaml<T: serde::Serialize>(value: &T) -> String {
    let options = serde_saphyr::ser_options! {
        prefer_block_scalars: false,
    };
    serde_saphyr::to_string_with_options(value, options).expect("plain data serializes")
}

/// Builds `text` for `target`, panicking on any error.
fn build(text: &str, target: Target) -> heliosc::Built {
    let built = heliosc::build("Heliosfile", text, &options(target));
    assert!(
        !built.has_errors(),
        "the generated Heliosfile must build:\n{}",
        built.render(text)
    );
    built
}

/// The contents of the output file `path`, without its `#` header line.
fn body<'a>(built: &'a heliosc::Built, path: &str) -> &'a str {
    let file = built
        .files
        .iter()
        .find(|f| f.path == path)
        .expect("the build writes the file");
    let (header, body) = file
        .contents
        .split_once('\n')
        .expect("a header line, then the document");
    assert!(header.starts_with('#'), "`{path}` starts with a comment");
    body
}

/// One Kubernetes object of `manifests.yaml`, typed.
enum Object {
    Namespace(core::Namespace),
    NetworkPolicy(networking::NetworkPolicy),
    Service(core::Service),
    Deployment(apps::Deployment),
    StatefulSet(apps::StatefulSet),
    Ingress(networking::Ingress),
    PodDisruptionBudget(policy::PodDisruptionBudget),
}

impl Object {
    /// The document decoded by its `kind`; `None` for a kind heliosc does
    /// not emit.
    fn decode(document: &str) -> Option<Self> {
        fn typed<T: serde::de::DeserializeOwned>(document: &str) -> T {
            serde_saphyr::from_str(document).expect("every document decodes into its type")
        }
        let value: serde_json::Value =
            serde_saphyr::from_str(document).expect("every document is YAML");
        Some(match value["kind"].as_str().unwrap_or_default() {
            "Namespace" => Self::Namespace(typed(document)),
            "NetworkPolicy" => Self::NetworkPolicy(typed(document)),
            "Service" => Self::Service(typed(document)),
            "Deployment" => Self::Deployment(typed(document)),
            "StatefulSet" => Self::StatefulSet(typed(document)),
            "Ingress" => Self::Ingress(typed(document)),
            "PodDisruptionBudget" => Self::PodDisruptionBudget(typed(document)),
            _ => return None,
        })
    }

    fn to_yaml(&self) -> String {
        match self {
            Self::Namespace(o) => to_yaml(o),
            Self::NetworkPolicy(o) => to_yaml(o),
            Self::Service(o) => to_yaml(o),
            Self::Deployment(o) => to_yaml(o),
            Self::StatefulSet(o) => to_yaml(o),
            Self::Ingress(o) => to_yaml(o),
            Self::PodDisruptionBudget(o) => to_yaml(o),
        }
    }
}

/// The `manifests.yaml` stream of `objects`, as heliosc joins it.
fn manifests(objects: &[Object]) -> String {
    objects
        .iter()
        .map(Object::to_yaml)
        .collect::<Vec<_>>()
        .join("---\n")
}

/// The size in bytes of the serialized output of each target.
struct Sizes {
    compose: usize,
    kubernetes: usize,
}

fn lower_benches(c: &mut Criterion) -> Sizes {
    let text = common::large_heliosfile(SERVICES, DATABASES);
    let checked = heliosc::check("Heliosfile", &text);
    let app = checked.app.expect("the generated Heliosfile is valid");
    let lower_options = options(Target::Compose).lower;

    let compose_built = build(&text, Target::Compose);
    let compose_yaml = body(&compose_built, "compose.yaml");
    let compose: docker_compose_types::Compose =
        serde_saphyr::from_str(compose_yaml).expect("compose.yaml decodes into the model");
    assert_eq!(
        to_yaml(&compose),
        compose_yaml,
        "serializing the decoded model gives the build's compose.yaml"
    );
    c.bench_function("compose_build", |b| {
        b.iter(|| heliosc::build("Heliosfile", black_box(&text), &options(Target::Compose)))
    });
    c.bench_function("compose_lower", |b| {
        b.iter(|| heliosc::lower::compose::lower(black_box(&app), &lower_options))
    });
    c.bench_function("compose_serialize_only", |b| {
        b.iter(|| to_yaml(black_box(&compose)))
    });
    drop(compose);

    let kubernetes_built = build(&text, Target::Kubernetes);
    let stream = body(&kubernetes_built, "manifests.yaml");
    let objects: Vec<Object> = stream
        .split("\n---\n")
        .map(|document| Object::decode(document).expect("a kind heliosc emits"))
        .collect();
    assert_eq!(
        manifests(&objects),
        stream,
        "serializing the decoded objects gives the build's manifests.yaml"
    );
    c.bench_function("kubernetes_build", |b| {
        b.iter(|| heliosc::build("Heliosfile", black_box(&text), &options(Target::Kubernetes)))
    });
    c.bench_function("kubernetes_lower", |b| {
        b.iter(|| heliosc::lower::kubernetes::lower(black_box(&app), &lower_options))
    });
    c.bench_function("kubernetes_serialize_only", |b| {
        b.iter(|| manifests(black_box(&objects)))
    });
    Sizes {
        compose: compose_yaml.len(),
        kubernetes: stream.len(),
    }
}

/// A small app: 1 to 3 services (`web` from the image built from the repo,
/// `worker` with its own image, `api` internal only) and, for every other
/// app, a database the services refer to.
fn small_heliosfile(n: usize) -> String {
    const DATABASE_TYPES: [&str; 4] = ["postgresql", "mysql", "redis", "mongodb"];
    let mut out = format!(
        "name: app-{n}\nversion: 1\nimage: registry.example.com/app-{n}\nservices:\n  web:\n    http_port: {}\n    replicas: {}\n",
        3000 + n % 100,
        1 + n % 2
    );
    let database = n.is_multiple_of(2);
    if database {
        out.push_str("    env:\n      DATABASE_URL: ${db.URL}\n    depends_on: [db]\n");
    }
    if n % 3 >= 1 {
        let _ = write!(
            out,
            "  worker:\n    image: registry.example.com/app-{n}/worker:1.{}\n    command: [\"worker\", \"--queue\", \"q{n}\"]\n    env:\n      WEB: ${{web.URL}}\n",
            n % 10
        );
    }
    if n % 3 == 2 {
        out.push_str(
            "  api:\n    ports: [8000]\n    healthcheck:\n      tcp: 8000\n    cpu: 0.5\n    memory: 256\n",
        );
    }
    if database {
        let _ = write!(
            out,
            "databases:\n  db:\n    type: {}\n",
            DATABASE_TYPES[(n / 2) % DATABASE_TYPES.len()]
        );
    }
    out
}

fn cli_benches(c: &mut Criterion) {
    // Cargo builds the binary for benchmarks too, and says where it is.
    let heliosc = env!("CARGO_BIN_EXE_heliosc");
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-lower-cli");
    let _ = std::fs::remove_dir_all(&scratch);
    for n in 0..APPS {
        let folder = scratch.join("apps").join(format!("app-{n}"));
        std::fs::create_dir_all(&folder).expect("create an app folder");
        std::fs::write(folder.join("Heliosfile.yml"), small_heliosfile(n))
            .expect("write a Heliosfile");
    }
    let out = scratch.join("out");
    let run = || {
        Command::new(heliosc)
            .args(["build", "apps", "--out", "out", "--tag", "1"])
            .current_dir(&scratch)
            .output()
            .expect("run heliosc")
    };
    let output = run();
    assert!(
        output.status.success(),
        "heliosc build failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let written = (0..APPS)
        .filter(|n| out.join(format!("app-{n}")).join("compose.yaml").is_file())
        .count();
    assert_eq!(written, APPS, "one compose.yaml per app");
    // Each run rebuilds over the previous one's output, as a CI job or the
    // reconciler does. Emptying the folder before each run is not free either:
    // on ext4 the next run then pays for allocating inodes next to thousands
    // just freed, which tripled the time measured here.
    c.bench_function("build_1000_apps_cli", |b| b.iter(run));
    let _ = std::fs::remove_dir_all(&scratch);
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
    let sizes = lower_benches(&mut criterion);
    let mut criterion = criterion.sample_size(10);
    cli_benches(&mut criterion);
    criterion.final_summary();
    if let Some(directory) = &directory {
        report_ratios(directory, started, &sizes);
    }
}

/// Prints `build / serialize_only` and `lower / serialize_only` for each
/// target from the estimates criterion saved during this run; prints nothing
/// for a target whose benchmarks did not run.
fn report_ratios(dir: &Path, started: SystemTime, sizes: &Sizes) {
    let time = |name: &str| estimate(&dir.join(name).join("new").join("estimates.json"), started);
    for (target, size) in [("compose", sizes.compose), ("kubernetes", sizes.kubernetes)] {
        let (Some(build), Some(serialize)) = (
            time(&format!("{target}_build")),
            time(&format!("{target}_serialize_only")),
        ) else {
            continue;
        };
        println!(
            "\n{SERVICES} services, {DATABASES} databases, {target}: build {}, serialize only {} ({:.1} MB of YAML, {:.0} MB/s)",
            human(build),
            human(serialize),
            size as f64 / 1e6,
            size as f64 / 1e6 / (serialize / 1e9)
        );
        println!(
            "ratio {target}_build / {target}_serialize_only = {:.2}x",
            build / serialize
        );
        if let Some(lower) = time(&format!("{target}_lower")) {
            println!(
                "ratio {target}_lower / {target}_serialize_only = {:.2}x (lowering the checked app, {})",
                lower / serialize,
                human(lower)
            );
        }
    }
    if let Some(cli) = time("build_1000_apps_cli") {
        println!(
            "\n`heliosc build` of {APPS} apps: {} ({} per app)",
            human(cli),
            human(cli / APPS as f64)
        );
    }
}
