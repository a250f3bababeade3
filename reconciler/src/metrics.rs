//! What the daemon reports about itself: the metrics it keeps, their
//! Prometheus text exposition, and the optional HTTP listener (`--listen`)
//! serving `GET /metrics` and `GET /healthz`.
//!
//! The exposition is written by hand: a handful of counters, gauges and one
//! histogram do not need a metrics crate. The listener is hyper 1's HTTP/1
//! server (hyper is already in the tree through bollard), one task per
//! connection, so a slow client never holds up the reconcile loop.

use helios_reconciler::cycle::{CycleReport, Outcome, result_str};
use helios_reconciler::state::AppResult;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;

/// Upper bounds of the cycle duration histogram's buckets, in seconds: an
/// idle cycle (one fetch) falls in the first ones, a cycle waiting for
/// health checks in the last ones.
const BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0];

/// Cycle outcomes, as the `outcome` label.
const OUTCOMES: [&str; 5] = ["skipped", "unchanged", "applied", "refused", "error"];

/// App results, as the `result` label (`pending`: in a refused plan,
/// nothing was tried).
const RESULTS: [&str; 6] = [
    "healthy", "degraded", "failed", "held", "removed", "pending",
];

/// How drifted components were healed, as the `reason` label.
const DRIFT_REASONS: [&str; 7] = [
    "missing",
    "exited",
    "unhealthy",
    "missing_instance",
    "extra_instance",
    "edited",
    "conflict",
];

/// The daemon's metrics, shared by the loop (which records) and the
/// listener (which renders).
#[derive(Debug)]
pub(crate) struct Metrics {
    inner: Mutex<Inner>,
    /// How long the loop may go without finishing a cycle, beyond the wait
    /// it announced, before `/healthz` says it is stuck.
    grace: Duration,
}

#[derive(Debug)]
struct Inner {
    cycles: BTreeMap<&'static str, u64>,
    /// Cumulative counts per bucket of [`BUCKETS`].
    buckets: [u64; BUCKETS.len()],
    duration_sum: f64,
    duration_count: u64,
    apps: BTreeMap<&'static str, u64>,
    drift_corrected: BTreeMap<&'static str, u64>,
    last_success: Option<SystemTime>,
    commit: Option<String>,
    /// When the loop next has to show a sign of life: the end of the wait
    /// it announced, or the start of the cycle in flight plus the grace.
    deadline: Instant,
}

impl Metrics {
    /// Metrics of a loop that starts now. `grace` bounds a cycle's length
    /// and the lateness of a wake-up before `/healthz` fails.
    pub(crate) fn new(grace: Duration) -> Self {
        Self {
            inner: Mutex::new(Inner {
                cycles: OUTCOMES.iter().map(|o| (*o, 0)).collect(),
                buckets: [0; BUCKETS.len()],
                duration_sum: 0.0,
                duration_count: 0,
                apps: BTreeMap::new(),
                drift_corrected: DRIFT_REASONS.iter().map(|r| (*r, 0)).collect(),
                last_success: None,
                commit: None,
                deadline: Instant::now() + grace,
            }),
            grace,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave counters half-updated
        // in a way worth refusing to serve: keep going.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A cycle starts.
    pub(crate) fn cycle_started(&self) {
        self.lock().deadline = Instant::now() + self.grace;
    }

    /// A cycle ended with `report`, after `took`; the next starts after
    /// `next` at the latest.
    pub(crate) fn cycle_finished(&self, report: &CycleReport, took: Duration, next: Duration) {
        let mut inner = self.lock();
        let outcome = match report.outcome {
            Outcome::Skipped => "skipped",
            Outcome::Unchanged => "unchanged",
            Outcome::Applied => "applied",
            Outcome::Refused(_) => "refused",
        };
        inner.count(outcome, took, next, self.grace);
        if report.outcome != Outcome::Skipped {
            let mut apps: BTreeMap<&'static str, u64> = BTreeMap::new();
            for app in &report.apps {
                let result = app.result.map_or("pending", result_str);
                *apps.entry(result).or_default() += 1;
            }
            // An app removed in an earlier cycle is no longer counted.
            apps.remove(result_str(AppResult::Removed));
            inner.apps = apps;
        }
        for healed in &report.drift_corrected {
            if let Some(count) = inner.drift_corrected.get_mut(healed.reason) {
                *count += 1;
            }
        }
        if report.converged {
            inner.last_success = Some(SystemTime::now());
        }
        inner.commit = Some(report.source_commit.clone());
    }

    /// A cycle failed as a whole after `took`; the next starts after
    /// `next`.
    pub(crate) fn cycle_failed(&self, took: Duration, next: Duration) {
        self.lock().count("error", took, next, self.grace);
    }

    /// Whether the loop is alive: in a cycle that has not run for longer
    /// than the grace, or waiting for one that is not overdue by more.
    pub(crate) fn healthy(&self) -> bool {
        Instant::now() <= self.lock().deadline
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric.
    pub(crate) fn render(&self) -> String {
        let inner = self.lock();
        let mut out = String::new();
        header(
            &mut out,
            "helios_cycles_total",
            "counter",
            "Reconcile cycles by outcome.",
        );
        for (outcome, count) in &inner.cycles {
            let _ = writeln!(out, "helios_cycles_total{{outcome=\"{outcome}\"}} {count}");
        }
        header(
            &mut out,
            "helios_cycle_duration_seconds",
            "histogram",
            "How long reconcile cycles took.",
        );
        for (bound, count) in BUCKETS.iter().zip(inner.buckets) {
            let _ = writeln!(
                out,
                "helios_cycle_duration_seconds_bucket{{le=\"{bound}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "helios_cycle_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            inner.duration_count
        );
        let _ = writeln!(
            out,
            "helios_cycle_duration_seconds_sum {}",
            inner.duration_sum
        );
        let _ = writeln!(
            out,
            "helios_cycle_duration_seconds_count {}",
            inner.duration_count
        );
        header(
            &mut out,
            "helios_apps",
            "gauge",
            "Apps by result of the last cycle that looked at them.",
        );
        for result in RESULTS {
            if result == "removed" {
                continue;
            }
            let count = inner.apps.get(result).copied().unwrap_or(0);
            let _ = writeln!(out, "helios_apps{{result=\"{result}\"}} {count}");
        }
        header(
            &mut out,
            "helios_drift_corrected_total",
            "counter",
            "Components healed because live state drifted from the applied spec.",
        );
        for (reason, count) in &inner.drift_corrected {
            let _ = writeln!(
                out,
                "helios_drift_corrected_total{{reason=\"{reason}\"}} {count}"
            );
        }
        if let Some(at) = inner.last_success {
            header(
                &mut out,
                "helios_last_success_timestamp_seconds",
                "gauge",
                "When a cycle last ended converged, in seconds since the Unix epoch.",
            );
            let seconds = at
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            let _ = writeln!(out, "helios_last_success_timestamp_seconds {seconds}");
        }
        if let Some(commit) = &inner.commit {
            header(
                &mut out,
                "helios_source_commit_info",
                "gauge",
                "The config repo commit of the last cycle.",
            );
            let _ = writeln!(
                out,
                "helios_source_commit_info{{commit=\"{}\"}} 1",
                escape(commit)
            );
        }
        out
    }
}

impl Inner {
    fn count(&mut self, outcome: &'static str, took: Duration, next: Duration, grace: Duration) {
        *self.cycles.entry(outcome).or_default() += 1;
        let seconds = took.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(self.buckets.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.duration_sum += seconds;
        self.duration_count += 1;
        self.deadline = Instant::now() + next + grace;
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value as the exposition format quotes it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Serves `/metrics` and `/healthz` on `listener` until the task is
/// dropped. An accept error (too many open files) is logged and retried.
pub(crate) async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!("metrics listener: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let response = respond(&metrics, &request);
                async move { Ok::<_, Infallible>(response) }
            });
            let served = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                // A client that never finishes its headers is dropped.
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!("metrics connection: {e}");
            }
        });
    }
}

fn respond<B>(metrics: &Metrics, request: &Request<B>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n".to_string());
    }
    match request.uri().path() {
        "/metrics" => {
            let mut response = text(StatusCode::OK, metrics.render());
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        "/healthz" if metrics.healthy() => text(StatusCode::OK, "ok\n".to_string()),
        "/healthz" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the reconcile loop is overdue\n".to_string(),
        ),
        _ => text(StatusCode::NOT_FOUND, "not found\n".to_string()),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use helios_reconciler::cycle::{AppReport, Counts, DriftCorrected, Next};
    use helios_reconciler::plan::Action;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    fn report(outcome: Outcome, results: &[Option<AppResult>]) -> CycleReport {
        CycleReport {
            source_commit: "0123abcd".to_string(),
            outcome,
            converged: results.iter().all(|r| *r == Some(AppResult::Healthy)),
            apps: results
                .iter()
                .enumerate()
                .map(|(i, result)| AppReport {
                    app: format!("app{i}"),
                    action: Action::Update,
                    result: *result,
                    diagnostics: Vec::new(),
                })
                .collect(),
            unattributed: Vec::new(),
            counts: Counts::default(),
            state_commit: None,
            drift_corrected: vec![DriftCorrected {
                app: "app0".to_string(),
                component: "web".to_string(),
                reason: "exited",
            }],
            next: Next::Requeue(Duration::from_secs(30)),
        }
    }

    #[test]
    fn the_exposition_counts_cycles_apps_and_drift() {
        let metrics = Metrics::new(Duration::from_secs(60));
        let fresh = metrics.render();
        assert!(fresh.contains("helios_cycles_total{outcome=\"applied\"} 0\n"));
        assert!(!fresh.contains("helios_last_success_timestamp_seconds"));

        let healthy = Some(AppResult::Healthy);
        metrics.cycle_finished(
            &report(Outcome::Applied, &[healthy, healthy, Some(AppResult::Held)]),
            Duration::from_millis(250),
            Duration::from_secs(30),
        );
        metrics.cycle_finished(
            &report(Outcome::Applied, &[healthy]),
            Duration::from_micros(62_500),
            Duration::from_secs(30),
        );
        metrics.cycle_failed(Duration::from_secs(20), Duration::from_secs(5));
        let text = metrics.render();
        for line in [
            "# TYPE helios_cycles_total counter\n",
            "helios_cycles_total{outcome=\"applied\"} 2\n",
            "helios_cycles_total{outcome=\"error\"} 1\n",
            "helios_cycles_total{outcome=\"skipped\"} 0\n",
            "# TYPE helios_cycle_duration_seconds histogram\n",
            "helios_cycle_duration_seconds_bucket{le=\"0.05\"} 0\n",
            "helios_cycle_duration_seconds_bucket{le=\"0.1\"} 1\n",
            "helios_cycle_duration_seconds_bucket{le=\"0.5\"} 2\n",
            "helios_cycle_duration_seconds_bucket{le=\"15\"} 2\n",
            "helios_cycle_duration_seconds_bucket{le=\"60\"} 3\n",
            "helios_cycle_duration_seconds_bucket{le=\"+Inf\"} 3\n",
            "helios_cycle_duration_seconds_sum 20.3125\n",
            "helios_cycle_duration_seconds_count 3\n",
            // The last cycle's apps, not a sum over cycles.
            "helios_apps{result=\"healthy\"} 1\n",
            "helios_apps{result=\"held\"} 0\n",
            "helios_drift_corrected_total{reason=\"exited\"} 2\n",
            "helios_drift_corrected_total{reason=\"missing\"} 0\n",
            "# TYPE helios_last_success_timestamp_seconds gauge\n",
            "helios_source_commit_info{commit=\"0123abcd\"} 1\n",
        ] {
            assert!(text.contains(line), "no {line:?} in\n{text}");
        }
        // Every sample line is `name{labels} value` or `name value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').expect("a sample");
            assert!(name.starts_with("helios_"), "{line}");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn healthz_fails_once_the_loop_is_overdue() {
        let metrics = Metrics::new(Duration::ZERO);
        std::thread::sleep(Duration::from_millis(5));
        assert!(!metrics.healthy());
        let alive = Metrics::new(Duration::from_secs(60));
        alive.cycle_failed(Duration::from_secs(1), Duration::from_secs(300));
        assert!(alive.healthy());
    }

    async fn get(address: std::net::SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("a request");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .await
            .expect("a response");
        response
    }

    #[tokio::test(flavor = "current_thread")]
    async fn http_round_trip() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("an address");
        let metrics = Arc::new(Metrics::new(Duration::from_secs(60)));
        metrics.cycle_finished(
            &report(Outcome::Applied, &[Some(AppResult::Healthy)]),
            Duration::from_millis(10),
            Duration::from_secs(30),
        );
        let server = tokio::spawn(serve(listener, Arc::clone(&metrics)));

        let health = get(address, "/healthz").await;
        assert!(health.starts_with("HTTP/1.1 200 OK\r\n"), "{health}");
        assert!(health.ends_with("\r\n\r\nok\n"), "{health}");

        let exposition = get(address, "/metrics").await;
        assert!(
            exposition.starts_with("HTTP/1.1 200 OK\r\n"),
            "{exposition}"
        );
        assert!(
            exposition.contains("content-type: text/plain; version=0.0.4"),
            "{exposition}"
        );
        assert!(
            exposition.contains("helios_cycles_total{outcome=\"applied\"} 1\n"),
            "{exposition}"
        );

        let missing = get(address, "/nothing").await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");

        let stuck = Arc::new(Metrics::new(Duration::ZERO));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let stuck_address = listener.local_addr().expect("an address");
        let stuck_server = tokio::spawn(serve(listener, stuck));
        tokio::time::sleep(Duration::from_millis(5)).await;
        let unhealthy = get(stuck_address, "/healthz").await;
        assert!(unhealthy.starts_with("HTTP/1.1 503"), "{unhealthy}");
        server.abort();
        stuck_server.abort();
    }
}
