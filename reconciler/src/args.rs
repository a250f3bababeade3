//! Every command-line argument of `helios-reconciler`, in one place.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The Helios GitOps reconciler: applies the Heliosfiles of a git branch to
/// this host and keeps them applied.
#[derive(Debug, Parser)]
#[command(name = "helios-reconciler", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    /// How logs are written to standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, display_order = 900)]
    pub(crate) log_format: LogFormat,
    /// The least severe log level written; without it, `RUST_LOG` if it is
    /// a plain level, else `info`.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "LEVEL",
        display_order = 901
    )]
    pub(crate) log_level: Option<LogLevel>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Reconcile continuously: fetch, compile, plan, apply, record, wait.
    ///
    /// A new commit of a local config repo, or an owned container that
    /// dies, stops or turns unhealthy, starts a cycle at once. SIGINT or
    /// SIGTERM lets the step in flight finish, records the cycle and exits
    /// 0; the remaining steps are left to the next start.
    ///
    /// Exit status with --once: 0 when the host converged, 1 when it did
    /// not (an app held, failed or degraded, a refused plan, a failed
    /// cycle), 2 on usage or setup errors (another instance holds the
    /// state directory, the backend is unavailable).
    Run(RunArgs),
    /// Print what the next cycle would do; apply and record nothing.
    ///
    /// The branch is fetched into a temporary directory, so this works
    /// beside a running reconciler. Exit status: 0, or 2 on errors.
    Plan(PlanArgs),
    /// Print the last recorded cycle of every app, from the state directory.
    Status(StatusArgs),
}

/// Where the Heliosfiles come from.
#[derive(Debug, Args)]
pub(crate) struct SourceArgs {
    /// The config repo: an https or ssh URL, or a local path.
    #[arg(long, value_name = "URL|PATH")]
    pub(crate) repo: String,
    /// The branch to follow.
    #[arg(long, value_name = "NAME", default_value = "main")]
    pub(crate) branch: String,
    /// Only Heliosfiles under this folder of the repo (one folder per host).
    #[arg(long, value_name = "DIR", default_value = "")]
    pub(crate) path: String,
    /// https: read the token from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with_all = ["token_file", "ssh_key"])]
    pub(crate) token_env: Option<String>,
    /// https: read the token from this file (a mounted secret).
    #[arg(long, value_name = "PATH", conflicts_with = "ssh_key")]
    pub(crate) token_file: Option<PathBuf>,
    /// ssh: the private key file.
    #[arg(long, value_name = "PATH")]
    pub(crate) ssh_key: Option<PathBuf>,
}

/// What is reconciled and how far it may go.
#[derive(Debug, Args)]
pub(crate) struct TargetArgs {
    /// The reconciler's own git repository of what it applied, and the
    /// secrets' env files.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/helios")]
    pub(crate) state_dir: PathBuf,
    /// What runs the apps (one Docker host unless told otherwise).
    #[arg(long, value_enum, default_value_t = BackendArg::Compose)]
    pub(crate) backend: BackendArg,
    /// Refuse a plan deleting more than this share of the owned apps.
    #[arg(long, value_name = "PERCENT", default_value_t = helios_reconciler::plan::DEFAULT_MAX_PRUNE_PERCENT, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub(crate) max_prune_percent: u32,
    /// Allow a plan to delete any share of the owned apps, all of them too.
    #[arg(long)]
    pub(crate) allow_mass_prune: bool,
    /// Delete the data volumes of removed apps and databases (kept otherwise).
    #[arg(long)]
    pub(crate) prune_volumes: bool,
    /// User secrets: a file of `NAME=value` lines (mode 0600). Each app
    /// gets the ones its Heliosfile declares; values are never logged.
    #[arg(long, value_name = "PATH")]
    pub(crate) secrets_file: Option<PathBuf>,
    /// Kubernetes: the kubeconfig file (default: `KUBECONFIG`, then
    /// `~/.kube/config`, then the in-cluster service account).
    #[arg(long, value_name = "PATH")]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// Kubernetes: the kubeconfig context (default: its current context).
    #[arg(long, value_name = "NAME")]
    pub(crate) context: Option<String>,
    /// Kubernetes: take over fields another applier owns (a conflict is
    /// reported and the object left alone otherwise).
    #[arg(long)]
    pub(crate) force_conflicts: bool,
    /// How many apps are applied at once (the objects of one app always in
    /// their dependency order). Default: 8 on Kubernetes, 1 on Compose.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub(crate) apply_concurrency: Option<u32>,
    /// Compose: the memory an image build may use (`512m`, `2g`).
    #[arg(long, value_name = "SIZE", default_value = "2g", value_parser = parse_size)]
    pub(crate) build_memory: u64,
    /// Compose: how many images are built at once (default 1: a build
    /// takes the cores of a small host).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub(crate) build_jobs: u32,
    /// Compose: how long an image build may take.
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_duration)]
    pub(crate) build_timeout: Duration,
}

/// The arguments of `run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) source: SourceArgs,
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    /// The wait between cycles: `30s`, `5m`, `1h`, `500ms`.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub(crate) interval: Duration,
    /// Compare live state with the desired one at least this often, even
    /// when the branch did not move, to heal drift.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub(crate) drift_interval: Duration,
    /// How long an applied app may take to become healthy.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub(crate) health_timeout: Duration,
    /// Run one cycle, then exit: 0 when converged, 1 when not.
    #[arg(long)]
    pub(crate) once: bool,
    /// Do not watch a local config repo for new commits; poll it at
    /// `--interval` like a remote one (for file systems without inotify,
    /// such as some network mounts).
    #[arg(long)]
    pub(crate) no_watch: bool,
    /// Serve `GET /healthz` and `GET /metrics` (Prometheus) on this
    /// address, e.g. `127.0.0.1:9090`.
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: Option<SocketAddr>,
}

/// The arguments of `plan`.
#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    #[command(flatten)]
    pub(crate) source: SourceArgs,
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    /// How the plan is printed.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) format: OutputFormat,
}

/// The arguments of `status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// The state directory of the reconciler.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/helios")]
    pub(crate) state_dir: PathBuf,
    /// How the status is printed.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) format: OutputFormat,
}

/// The backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum BackendArg {
    /// One Docker host, through the Docker Engine API and Compose.
    Compose,
    /// One Kubernetes cluster, through its API server (server-side apply).
    Kubernetes,
}

/// How logs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// One readable line per event, coloured on a terminal.
    Human,
    /// One JSON object per line, for a log collector.
    Json,
}

/// Log levels, the most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogLevel {
    /// Failures only.
    Error,
    /// Failures and what needs an operator's eye.
    Warn,
    /// One line per cycle and per app that changed.
    Info,
    /// Also unchanged apps and idle cycles' details.
    Debug,
    /// Everything.
    Trace,
}

/// How `plan` and `status` print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// For people.
    Text,
    /// Pretty JSON with stable field names.
    Json,
}

/// `30s`, `5m`, `1h`, `500ms`, or a number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let error = || format!("expected a duration such as 30s, 5m, 1h or 500ms, got `{text}`");
    let number: u64 = number.parse().map_err(|_| error())?;
    let seconds = |factor: u64| number.checked_mul(factor).map(Duration::from_secs);
    match unit {
        "" | "s" => Some(Duration::from_secs(number)),
        "ms" => Some(Duration::from_millis(number)),
        "m" => seconds(60),
        "h" => seconds(3600),
        _ => None,
    }
    .ok_or_else(error)
}

/// `512m`, `2g`, `1048576`: a size in bytes (binary units).
fn parse_size(text: &str) -> Result<u64, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let error = || format!("expected a size such as 512m or 2g, got `{text}`");
    let number: u64 = number.parse().map_err(|_| error())?;
    let factor: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(error()),
    };
    match number.checked_mul(factor) {
        Some(bytes) if bytes >= 6 << 20 => Ok(bytes),
        // The Docker Engine refuses less than 6 MiB.
        Some(_) => Err(format!("a build needs at least 6m of memory, got `{text}`")),
        None => Err(error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert!(parse_size("1k").is_err());
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("5 m").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1d").is_err());
        assert!(parse_duration("99999999999999999999h").is_err());
    }

    #[test]
    fn token_sources_exclude_each_other() {
        let parse = |extra: &[&str]| {
            let mut args = vec![
                "helios-reconciler",
                "run",
                "--repo",
                "r",
                "--backend",
                "compose",
            ];
            args.extend_from_slice(extra);
            Cli::try_parse_from(args)
        };
        assert!(parse(&[]).is_ok());
        assert!(parse(&["--token-env", "T", "--token-file", "f"]).is_err());
        assert!(parse(&["--token-file", "f", "--ssh-key", "k"]).is_err());
        assert!(parse(&["--max-prune-percent", "101"]).is_err());
    }
}
