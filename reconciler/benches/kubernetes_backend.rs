//! The Kubernetes backend at scale: planning 1,000 apps, and applying
//! ~900 objects to an API server that takes 5 ms per request, one app
//! after another against several apps at a time.
//!
//! - `plan_1000_apps`: the pure planner [`plan`] on 1,000 Kubernetes apps
//!   (8,000 objects: each app a web service with `http_port`, 2 replicas
//!   and env vars, and a PostgreSQL database). The desired state is
//!   compiled once with [`desired_state`] for [`Target::Kubernetes`]; the
//!   observed state is built as if every object were live with its
//!   desired spec hash, so the plan changes nothing (checked before any
//!   timing), and the object count printed.
//! - `apply_900_objects/sequential` and
//!   `apply_900_objects/concurrency_8`: [`KubernetesBackend::apply`] of
//!   every object of 110 such apps (880 objects) against kube's
//!   `tower-test` mock of the API server, which answers each request from
//!   its own task after 5 ms with a 201 echo of the request body (plus
//!   `resourceVersion` and `uid`); each database's credentials Secret is
//!   one more request (POST), so 990 requests in all, whose 5 ms sleeps
//!   tokio's millisecond timer rounds up. Sequential applies one app after the
//!   other; concurrent runs 8 apps at a time (`buffer_unordered(8)`, the
//!   reconciler's default `--apply-concurrency` on Kubernetes). Before
//!   criterion, a few whole runs of each are timed directly and printed as
//!   `apply N objects at 5 ms latency: sequential X s, concurrency 8 Y s,
//!   ratio Z`.
//!
//! Then one run of each at 20 ms a request, the pace of `kubectl apply
//! --server-side` against a real API server here (about 18 s for 900
//! objects), printed the same way.
//!
//! `cargo bench -p helios-reconciler --bench kubernetes_backend`
//!
//! (about 1.5 minutes once built, most of it the sequential applies).

use criterion::{Criterion, SamplingMode};
use futures_util::StreamExt;
use helios_reconciler::backend::{
    AppSecrets, Backend, Instance, InstanceStatus, ObservedApp, ObservedComponent, ObservedState,
};
use helios_reconciler::backends::kubernetes::{KubernetesBackend, KubernetesOptions};
use helios_reconciler::desired::{DesiredApp, DesiredOptions, DesiredState, desired_state};
use helios_reconciler::plan::{PlanOptions, plan};
use helios_reconciler::secrets::Secret;
use heliosc::ir::Target;
use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Apps the planner gets.
const PLAN_APPS: usize = 1_000;
/// Apps applied: ~8 objects each, ~900 in all.
const APPLY_APPS: usize = 110;
/// What the mock API server takes to answer each request.
const LATENCY: Duration = Duration::from_millis(5);
/// The pace of `kubectl apply --server-side` against a real API server on
/// this machine: about 18 s for 900 objects, one request after another.
const KUBECTL_LATENCY: Duration = Duration::from_millis(20);
/// The reconciler's default `--apply-concurrency` on Kubernetes.
const CONCURRENCY: usize = 8;
/// Whole runs of each mode timed directly for the printed line.
const RUNS: usize = 3;

/// A web service with a port, 2 replicas and env vars, and a PostgreSQL
/// database the service reads its URL from: 8 objects (Namespace,
/// Deployment, Service, Ingress and PodDisruptionBudget of the service;
/// StatefulSet, Service and NetworkPolicy of the database). With a
/// database in every other app only, it would be 6.5 objects an app.
fn heliosfile(n: usize) -> String {
    format!(
        "name: app{n:04}\n\
         version: 1\n\
         target: kubernetes\n\
         services:\n  \
           web:\n    \
             image: registry.example.com/app{n:04}:1.0.0\n    \
             http_port: 8080\n    \
             replicas: 2\n    \
             healthcheck: {{ path: /healthz }}\n    \
             env:\n      \
               LOG_LEVEL: info\n      \
               DATABASE_URL: ${{db.URL}}\n\
         databases:\n  \
           db: {{ type: postgresql }}\n"
    )
}

/// The desired state of `apps` apps, all compiled for Kubernetes.
fn desired(apps: usize) -> DesiredState {
    let files: Vec<(String, String)> = (0..apps)
        .map(|n| (format!("apps/app{n:04}/Heliosfile"), heliosfile(n)))
        .collect();
    let options = DesiredOptions {
        target: Target::Kubernetes,
        ..DesiredOptions::default()
    };
    let state = desired_state(&files, &options);
    assert!(state.failed.is_empty(), "{:?}", state.failed);
    assert_eq!(state.apps.len(), apps);
    state
}

/// Everything live with the desired spec: what an observe of a converged
/// cluster gives.
fn observed(desired: &DesiredState) -> ObservedState {
    let apps = desired
        .apps
        .values()
        .map(|app| {
            let components = app
                .components
                .iter()
                .map(|(key, wanted)| {
                    let instance = Instance {
                        spec_hash: Some(wanted.spec_hash.clone()),
                        secrets_digest: wanted.secrets_digest.clone(),
                        status: InstanceStatus::Running,
                    };
                    (
                        key.clone(),
                        ObservedComponent {
                            kind: wanted.kind,
                            instances: vec![instance],
                        },
                    )
                })
                .collect();
            let applied_secrets = app
                .components
                .iter()
                .filter(|(_, c)| !c.secret_digests.is_empty())
                .map(|(key, c)| (key.clone(), c.secret_digests.clone()))
                .collect();
            let live = ObservedApp {
                components,
                volumes: app.volumes.clone(),
                source_path: Some(app.source_path.clone()),
                applied_secrets,
                // The rest (the applied specs an update's diff is shown
                // from) matters only to a plan with changes.
                ..ObservedApp::default()
            };
            (app.name.clone(), live)
        })
        .collect();
    ObservedState { apps }
}

/// A backend on kube's mock API server, answering every request from its
/// own task after `latency` with a 201 echo of the request body.
fn mock_backend(latency: Duration) -> KubernetesBackend {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            tokio::spawn(async move {
                let bytes = request
                    .into_body()
                    .collect_bytes()
                    .await
                    .unwrap_or_default();
                let mut object: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                if object.is_object() {
                    object["metadata"]["resourceVersion"] = json!("1");
                    object["metadata"]["uid"] = json!("00000000-0000-0000-0000-000000000001");
                }
                tokio::time::sleep(latency).await;
                let response = Response::builder()
                    .status(201)
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(Body::from(serde_json::to_vec(&object).unwrap_or_default()))
                    .expect("a response");
                send.send_response(response);
            });
        }
    });
    let client = kube::Client::new(service, "default");
    KubernetesBackend::new(client, KubernetesOptions::default())
}

/// A password for each database of `app`; it declares no user secrets.
fn secrets(app: &DesiredApp) -> AppSecrets {
    AppSecrets {
        database_passwords: app
            .databases
            .iter()
            .map(|db| {
                (
                    db.clone(),
                    Secret::new(format!("{}-{db}-password", app.name)),
                )
            })
            .collect(),
        user: BTreeMap::new(),
    }
}

/// One app with every component key, as the reconciler would apply it.
struct Work<'a> {
    app: &'a DesiredApp,
    keys: Vec<String>,
    secrets: AppSecrets,
}

fn work(desired: &DesiredState) -> Vec<Work<'_>> {
    desired
        .apps
        .values()
        .map(|app| Work {
            app,
            keys: app.components.keys().cloned().collect(),
            secrets: secrets(app),
        })
        .collect()
}

/// Applies every app on a fresh mock, `concurrency` apps at a time (1:
/// one after the other), and returns the wall time.
async fn apply_all(work: &[Work<'_>], concurrency: usize, latency: Duration) -> Duration {
    let backend = mock_backend(latency);
    let start = Instant::now();
    if concurrency <= 1 {
        for w in work {
            backend
                .apply(w.app, &w.keys, &w.secrets)
                .await
                .expect("applied");
        }
    } else {
        let results: Vec<_> = futures_util::stream::iter(work)
            .map(|w| backend.apply(w.app, &w.keys, &w.secrets))
            .buffer_unordered(concurrency)
            .collect()
            .await;
        for result in results {
            result.expect("applied");
        }
    }
    start.elapsed()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();

    // Planning 1,000 apps that changed nothing.
    let started = Instant::now();
    let big = desired(PLAN_APPS);
    let compiled = started.elapsed();
    let live = observed(&big);
    let options = PlanOptions::default();
    let unchanged = plan(&big, &live, &options);
    assert!(!unchanged.has_changes(), "{}", unchanged.to_text());
    let objects: usize = big.apps.values().map(|a| a.components.len()).sum();
    println!(
        "plan: {PLAN_APPS} apps, {objects} objects (compiled in {:.2} s), no changes",
        compiled.as_secs_f64()
    );
    criterion.bench_function("plan_1000_apps", |b| {
        b.iter(|| plan(black_box(&big), black_box(&live), &options));
    });
    drop((big, live, unchanged));

    // Applying ~900 objects at 5 ms a request.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let small = desired(APPLY_APPS);
    let work = work(&small);
    let objects: usize = work.iter().map(|w| w.keys.len()).sum();
    let sequential = median(
        (0..RUNS)
            .map(|_| runtime.block_on(apply_all(&work, 1, LATENCY)))
            .collect(),
    );
    let concurrent = median(
        (0..RUNS)
            .map(|_| runtime.block_on(apply_all(&work, CONCURRENCY, LATENCY)))
            .collect(),
    );
    println!(
        "apply {objects} objects at {} ms latency: sequential {:.2} s, concurrency {CONCURRENCY} {:.2} s, ratio {:.1}",
        LATENCY.as_millis(),
        sequential.as_secs_f64(),
        concurrent.as_secs_f64(),
        sequential.as_secs_f64() / concurrent.as_secs_f64()
    );

    // At kubectl's pace, once each: what the first cycle of 100 apps gains
    // over `kubectl apply --server-side` of the same objects.
    let sequential = runtime.block_on(apply_all(&work, 1, KUBECTL_LATENCY));
    let concurrent = runtime.block_on(apply_all(&work, CONCURRENCY, KUBECTL_LATENCY));
    println!(
        "apply {objects} objects at {} ms latency: sequential {:.2} s, concurrency {CONCURRENCY} {:.2} s, ratio {:.1}",
        KUBECTL_LATENCY.as_millis(),
        sequential.as_secs_f64(),
        concurrent.as_secs_f64(),
        sequential.as_secs_f64() / concurrent.as_secs_f64()
    );

    let mut group = criterion.benchmark_group("apply_900_objects");
    // One iteration per sample: a sequential run takes seconds.
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_nanos(1))
        .measurement_time(Duration::from_nanos(1));
    for (name, concurrency) in [("sequential", 1), ("concurrency_8", CONCURRENCY)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                (0..iterations)
                    .map(|_| runtime.block_on(apply_all(&work, concurrency, LATENCY)))
                    .sum()
            });
        });
    }
    group.finish();
    criterion.final_summary();
}
