//! The process's logs: one `tracing` subscriber writing to standard error,
//! as readable lines or JSON objects, at one level.
//!
//! The level is a plain level (`--log-level`, else `RUST_LOG` when it is
//! one): per-module directives would need tracing-subscriber's env-filter
//! and its regex engine, which a daemon with a handful of modules does not
//! need. Nothing here ever sees a secret value: every secret type of the
//! library prints as `***`.

use crate::args::{LogFormat, LogLevel};
use std::io::IsTerminal as _;
use tracing::level_filters::LevelFilter;

/// Installs the subscriber. Called once, first thing in `main`.
pub(crate) fn init(format: LogFormat, level: Option<LogLevel>) {
    let level = level
        .map(filter)
        .or_else(|| std::env::var("RUST_LOG").ok().and_then(|v| parse_level(&v)))
        .unwrap_or(LevelFilter::INFO);
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false);
    // A second subscriber can only come from a test harness: keep the
    // first, never fail over logging.
    let _ = match format {
        LogFormat::Human => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}

fn filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    }
}

/// `RUST_LOG` when it is a bare level (`debug`, `WARN`, `off`); a
/// directive list such as `helios=debug` is not understood and ignored.
fn parse_level(value: &str) -> Option<LevelFilter> {
    // tracing reads "" as `error`; an empty RUST_LOG means "not set".
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    value.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_is_read_only_as_a_plain_level() {
        assert_eq!(parse_level("debug"), Some(LevelFilter::DEBUG));
        assert_eq!(parse_level(" WARN "), Some(LevelFilter::WARN));
        assert_eq!(parse_level("off"), Some(LevelFilter::OFF));
        assert_eq!(parse_level("helios_reconciler=debug"), None);
        assert_eq!(parse_level(""), None);
    }
}
