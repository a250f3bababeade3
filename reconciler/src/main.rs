//! `helios-reconciler`, the binary: parses the command line, sets up logs
//! and the runtime, and hands over to the command's module. The reconcile
//! logic itself is the library's (`helios_reconciler`).
//!
//! Exit codes: 0 success (with `run --once`: converged), 1 a cycle that did
//! not converge or failed (`run --once`), 2 usage and setup errors (bad
//! flags, another instance holds the state directory, no Docker, an
//! unreadable state directory).

mod args;
mod daemon;
mod inspect;
mod logging;
mod metrics;
mod watch;

use args::{Cli, Command};
use clap::Parser as _;
use std::process::ExitCode;

/// Success.
pub(crate) const EXIT_SUCCESS: u8 = 0;
/// `run --once` did not converge.
pub(crate) const EXIT_FAILURE: u8 = 1;
/// Usage or setup error (clap uses 2 for bad flags too).
pub(crate) const EXIT_SETUP: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format, cli.log_level);
    if let Command::Status(args) = &cli.command {
        return inspect::status(args);
    }
    // Two threads: the loop may block one on a git fetch while the other
    // answers /healthz and signals.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    match cli.command {
        Command::Run(args) => runtime.block_on(daemon::run(args)),
        Command::Plan(args) => runtime.block_on(inspect::plan(args)),
        Command::Status(args) => inspect::status(&args),
    }
}
