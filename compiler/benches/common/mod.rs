//! Generated inputs shared by the benchmark (`benches/check.rs`) and the
//! property tests (`tests/fuzz.rs`, which includes this file by `#[path]`).
//! Everything is deterministic: the same arguments give the same text.
//! Also how the benchmarks read criterion's estimates back to print ratios.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The four database types with their usual version and a storage size.
const DATABASE_TYPES: [(&str, &str); 4] = [
    ("postgresql", "\"16\""),
    ("mysql", "\"8.4\""),
    ("redis", "\"7\""),
    ("mongodb", "\"7.0\""),
];

/// Fields a reference to a database may use.
const DATABASE_FIELDS: [&str; 6] = ["HOST", "PORT", "USER", "NAME", "PASSWORD", "URL"];

/// How many user secrets the generated app declares (each one is used).
const SECRETS: usize = 10;

/// A valid Heliosfile with `services` services (`svc0`, `svc1`, ...) and
/// `databases` databases (`db0`, ...; at least one), as a platform team might
/// write it: tagged images, HTTP and internal ports, replicas, cpu, memory,
/// healthchecks of every kind, env with literals and references to databases,
/// earlier services and secrets, custom domains, and `depends_on` on earlier
/// services only, so that there is no cycle.
pub(crate) fn large_heliosfile(services: usize, databases: usize) -> String {
    let databases = databases.max(1);
    let mut out = String::with_capacity(services * 900 + databases * 80 + 512);
    let _ = write!(
        out,
        "# Generated: {services} services, {databases} databases.\n\
         name: bench\n\
         version: 1\n\
         target: compose\n\
         domain: bench.example.com\n\
         image: registry.example.com/bench\n\
         build:\n  builder: paketo-buildpacks/builder:base\n\
         secrets: ["
    );
    for s in 0..SECRETS {
        let separator = if s == 0 { "" } else { ", " };
        let _ = write!(out, "{separator}SECRET_{s}");
    }
    out.push_str("]\n\nservices:\n");
    for i in 0..services {
        service(&mut out, i, databases);
    }
    out.push_str("\ndatabases:\n");
    for k in 0..databases {
        let (kind, version) = DATABASE_TYPES[k % DATABASE_TYPES.len()];
        let storage = if k.is_multiple_of(2) {
            format!("{}", 1 + k % 50)
        } else {
            format!("\"{}Gi\"", 5 + k % 20)
        };
        let _ = write!(
            out,
            "  db{k}:\n    type: {kind}\n    version: {version}\n    storage: {storage}\n"
        );
    }
    out
}

fn service(out: &mut String, i: usize, databases: usize) {
    let db = i % databases;
    let other_db = (i * 7 + 3) % databases;
    // Kinds of service, in turn: public HTTP with an internal metrics port,
    // public HTTP only, internal only (ports, no http_port).
    let kind = i % 3;
    let http_port = 3000 + i % 1000;
    let internal_port = 9000 + i % 500;
    let _ = write!(
        out,
        "  svc{i}:\n    image: registry.example.com/team{}/svc{i}:1.{}.{}\n",
        i % 7,
        i % 20,
        i % 9
    );
    if i % 4 == 1 {
        let _ = writeln!(
            out,
            "    command: [\"/app/bin/server\", \"--shard\", \"{i}\"]"
        );
    } else if i % 4 == 3 {
        let _ = writeln!(out, "    command: \"node dist/main.js --worker {i}\"");
    }
    match kind {
        0 => {
            let _ = write!(
                out,
                "    http_port: {http_port}\n    ports: [{internal_port}, {}]\n",
                internal_port + 500
            );
        }
        1 => {
            let _ = writeln!(out, "    http_port: {http_port}");
        }
        _ => {
            let _ = writeln!(out, "    ports: [{internal_port}]");
        }
    }
    let _ = writeln!(out, "    replicas: {}", 1 + i % 3);
    let cpu = match i % 3 {
        0 => "0.5",
        1 => "\"250m\"",
        _ => "2",
    };
    let memory = match i % 3 {
        0 => "512",
        1 => "\"1Gi\"",
        _ => "\"768Mi\"",
    };
    let _ = write!(out, "    cpu: {cpu}\n    memory: {memory}\n");
    out.push_str("    healthcheck:\n");
    match (kind, i % 2) {
        (2, 0) => {
            let _ = writeln!(out, "      tcp: {internal_port}");
        }
        (2, _) => {
            let _ = write!(out, "      path: /ready\n      port: {internal_port}\n");
        }
        (_, 0) => out.push_str("      path: /healthz\n"),
        _ => {
            out.push_str("      command: [\"/app/bin/healthcheck\", \"--quick\"]\n");
        }
    }
    out.push_str("      interval: 10s\n      timeout: 2s\n      retries: 3\n");
    if i.is_multiple_of(5) {
        out.push_str("      start_period: 1m30s\n");
    }
    let _ = write!(
        out,
        "    env:\n      LOG_LEVEL: info\n      SERVICE_INDEX: \"{i}\"\n      FEATURE_FLAGS: no\n      \
         DATABASE_URL: ${{db{db}.URL}}\n      \
         REPORTING_DSN: \"db://${{db{other_db}.USER}}:${{db{other_db}.PASSWORD}}@${{db{other_db}.HOST}}:${{db{other_db}.PORT}}/${{db{other_db}.NAME}}\"\n      \
         API_KEY: ${{secret.SECRET_{}}}\n      APP: ${{app.name}}\n      TEMPLATE: \"$${{NOT_A_REFERENCE}}\"\n",
        i % SECRETS
    );
    let _ = writeln!(
        out,
        "      FIELD: ${{db{db}.{}}}",
        DATABASE_FIELDS[i % DATABASE_FIELDS.len()]
    );
    if i > 0 {
        let upstream = (i * 31 + 17) % i;
        let _ = write!(
            out,
            "      UPSTREAM_URL: ${{svc{upstream}.URL}}\n      UPSTREAM: ${{svc{upstream}.HOST}}:${{svc{upstream}.PORT}}\n"
        );
    }
    if i >= 2 {
        let _ = writeln!(out, "    depends_on: [svc{}, svc{}]", i - 1, i / 2);
    }
    if kind != 2 && i.is_multiple_of(5) {
        let _ = writeln!(
            out,
            "    domains: [svc{i}.example.org, www.svc{i}.example.org]"
        );
    }
    if i.is_multiple_of(10) {
        out.push_str("    strategy: recreate\n");
    }
    if i.is_multiple_of(50) {
        out.push_str("    tls: false\n");
    }
}

/// A document over the 50 MB mark: a valid head, then services until the
/// size is reached.
pub(crate) fn fifty_megabytes() -> String {
    const SIZE: usize = 50 * 1024 * 1024;
    let mut out = String::with_capacity(SIZE + 1024);
    out.push_str("name: huge\nversion: 1\nservices:\n");
    let mut i = 0;
    while out.len() <= SIZE {
        let _ = writeln!(out, "  svc{i}: {{ image: nginx:1.27, http_port: 80 }}");
        i += 1;
    }
    out
}

/// The classic "billion laughs": ten levels of nine aliases each, 10^9
/// strings once expanded.
pub(crate) fn billion_laughs() -> String {
    let mut out = String::from(
        "name: lol\nversion: 1\nlol0: &lol0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n",
    );
    for level in 1..10 {
        let previous = level - 1;
        let aliases = vec![format!("*lol{previous}"); 9].join(", ");
        let _ = writeln!(out, "lol{level}: &lol{level} [{aliases}]");
    }
    out.push_str("services: { web: { image: nginx:1.27, http_port: 80, env: { X: \"1\" } } }\n");
    out
}

/// Where criterion writes its results, as criterion itself would choose it
/// under `cargo bench`: `$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`,
/// else `criterion` in the target folder that holds this executable.
pub(crate) fn criterion_directory() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return Some(PathBuf::from(home));
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return Some(Path::new(&target).join("criterion"));
    }
    // <target>/<profile>/deps/<bench>-<hash>
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.parent()?.join("criterion"))
}

/// Criterion's typical time in nanoseconds (the slope when it sampled
/// linearly, else the mean), if the file was written by this run.
pub(crate) fn estimate(path: &Path, started: SystemTime) -> Option<f64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    if modified < started {
        return None;
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    let point = |key: &str| json.get(key)?.get("point_estimate")?.as_f64();
    point("slope").or_else(|| point("mean"))
}

/// A duration in nanoseconds, in the unit that reads best.
pub(crate) fn human(nanoseconds: f64) -> String {
    if nanoseconds >= 1e9 {
        format!("{:.3} s", nanoseconds / 1e9)
    } else if nanoseconds >= 1e6 {
        format!("{:.3} ms", nanoseconds / 1e6)
    } else if nanoseconds >= 1e3 {
        format!("{:.3} µs", nanoseconds / 1e3)
    } else {
        format!("{nanoseconds:.1} ns")
    }
}
