//! The commands that look without changing anything: `plan` (what the next
//! cycle would do) and `status` (what the last cycles did, from the state
//! repository).
//!
//! Neither takes the state directory's lock, so both work beside a running
//! daemon: `plan` fetches into a temporary directory of its own and only
//! reads the state directory's inventory; `status` only reads files and
//! the state repository's history.

use crate::args::{BackendArg, OutputFormat, PlanArgs, StatusArgs};
use crate::daemon::{kubernetes_options, open_source, plan_options, read_secrets};
use crate::{EXIT_SETUP, EXIT_SUCCESS};
use helios_reconciler::backends::compose::ComposeBackend;
use helios_reconciler::backends::kubernetes::KubernetesBackend;
use helios_reconciler::cycle::{CycleOptions, Reconciler, result_str};
use helios_reconciler::state::{AppStatus, StateDir};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// How far back `status` looks for when each record was written.
const HISTORY_LIMIT: usize = 10_000;

/// `plan`: prints the plan; 0, or 2 on any error.
pub(crate) async fn plan(args: PlanArgs) -> ExitCode {
    match plan_text(&args).await {
        Ok(text) => {
            print!("{text}");
            ExitCode::from(EXIT_SUCCESS)
        }
        Err(message) => {
            tracing::error!("{message}");
            ExitCode::from(EXIT_SETUP)
        }
    }
}

async fn plan_text(args: &PlanArgs) -> Result<String, String> {
    let target = &args.target;
    // Read for its errors only: a plan applies nothing.
    read_secrets(target)?;
    let scratch = Scratch::new()?;
    let source = open_source(&args.source, scratch.path())?;
    // The daemon's inventory, read where it is; without a state directory
    // yet, an empty one.
    let state = if target.state_dir.exists() {
        StateDir::open(&target.state_dir)
    } else {
        StateDir::open_or_init(&scratch.path().join("state"))
    }
    .map_err(|e| format!("state directory `{}`: {e}", target.state_dir.display()))?;
    let options = CycleOptions {
        plan: plan_options(target),
        secrets_file: target.secrets_file.clone(),
        ..CycleOptions::default()
    };
    let (commit, plan) = match target.backend {
        BackendArg::Compose => {
            let backend = ComposeBackend::connect(&target.state_dir)
                .await
                .map_err(|e| e.to_string())?;
            let mut reconciler = Reconciler::new(source, state, backend, options);
            reconciler.plan_only().await
        }
        BackendArg::Kubernetes => {
            let backend = KubernetesBackend::connect(kubernetes_options(target))
                .await
                .map_err(|e| e.to_string())?;
            let mut reconciler = Reconciler::new(source, state, backend, options);
            reconciler.plan_only().await
        }
    }
    .map_err(|e| e.to_string())?;
    Ok(match args.format {
        OutputFormat::Text => format!("commit {commit}\n{}", plan.to_text()),
        OutputFormat::Json => {
            let mut json = plan.to_json();
            if !json.ends_with('\n') {
                json.push('\n');
            }
            json
        }
    })
}

/// A directory of this process's, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self, String> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path =
            std::env::temp_dir().join(format!("helios-plan-{}-{nanos:08x}", std::process::id()));
        std::fs::create_dir_all(&path)
            .map_err(|e| format!("cannot create `{}`: {e}", path.display()))?;
        Ok(Self(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `status`: prints the last record of every app; 0, or 2 when the state
/// directory cannot be read.
pub(crate) fn status(args: &StatusArgs) -> ExitCode {
    match status_text(args) {
        Ok(text) => {
            print!("{text}");
            ExitCode::from(EXIT_SUCCESS)
        }
        Err(message) => {
            tracing::error!("{message}");
            ExitCode::from(EXIT_SETUP)
        }
    }
}

/// One app in `status --format json`.
#[derive(Serialize)]
struct StatusEntry<'a> {
    #[serde(flatten)]
    status: &'a AppStatus,
    /// When the record was last written, seconds since the Unix epoch
    /// (absent when older than the history read).
    updated_at: Option<i64>,
}

fn status_text(args: &StatusArgs) -> Result<String, String> {
    let dir = &args.state_dir;
    let error = |e: helios_reconciler::state::StateError| {
        format!("cannot read the state directory `{}`: {e}", dir.display())
    };
    if !dir.is_dir() {
        return Err(format!(
            "no state directory at `{}` (has the reconciler run here? see --state-dir)",
            dir.display()
        ));
    }
    let state = StateDir::open(dir).map_err(error)?;
    let statuses = state.read_statuses().map_err(error)?;
    let times = state.status_times(HISTORY_LIMIT).map_err(error)?;
    let skipped = state.read_skipped().map_err(error)?;
    Ok(match args.format {
        OutputFormat::Json => {
            let entries: Vec<StatusEntry<'_>> = statuses
                .values()
                .map(|status| StatusEntry {
                    status,
                    updated_at: times.get(&status.app).copied(),
                })
                .collect();
            let mut json = serde_json::to_string_pretty(&entries)
                .map_err(|e| format!("cannot print the status: {e}"))?;
            json.push('\n');
            json
        }
        OutputFormat::Text => {
            let mut text = table(&statuses, &times);
            // A wrong `target:` is never silent.
            for (app, target, path) in &skipped {
                let _ = writeln!(text, "skipped app {app}: target {target} ({path})");
            }
            text
        }
    })
}

fn table(statuses: &BTreeMap<String, AppStatus>, times: &BTreeMap<String, i64>) -> String {
    if statuses.is_empty() {
        return "no app recorded yet\n".to_string();
    }
    let header = [
        "APP",
        "RESULT",
        "COMMIT",
        "ACTION",
        "UPDATED (UTC)",
        "DURATION",
        "DIAGNOSTICS",
    ];
    let mut rows: Vec<[String; 7]> = vec![header.map(str::to_string)];
    for status in statuses.values() {
        rows.push([
            status.app.clone(),
            result_str(status.result).to_string(),
            status.source_commit.chars().take(7).collect(),
            status.plan.action.clone(),
            times
                .get(&status.app)
                .map_or_else(|| "-".to_string(), |t| utc(*t)),
            seconds(status.durations.total_ms),
            status.diagnostics.len().to_string(),
        ]);
    }
    let mut widths = [0usize; 7];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn seconds(ms: u64) -> String {
    format!("{}.{}s", ms / 1000, (ms % 1000) / 100)
}

/// `2026-05-01 12:00:00` for seconds since the Unix epoch (proleptic
/// Gregorian calendar, UTC).
fn utc(timestamp: i64) -> String {
    let days = timestamp.div_euclid(86_400);
    let second_of_day = timestamp.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc(1_777_636_800), "2026-05-01 12:00:00");
        assert_eq!(utc(-1), "1969-12-31 23:59:59");
    }

    #[test]
    fn durations_in_tenths() {
        assert_eq!(seconds(0), "0.0s");
        assert_eq!(seconds(3_250), "3.2s");
        assert_eq!(seconds(61_999), "61.9s");
    }
}
