//! Every command-line argument of `heliosc`, in one place.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// The Heliosfile compiler.
#[derive(Debug, Parser)]
#[command(name = "heliosc", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Parse and check Heliosfiles; print diagnostics only.
    ///
    /// Each PATH is a Heliosfile, or a folder searched (recursively) for files
    /// named `Heliosfile`, `Heliosfile.yml` or `Heliosfile.yaml`. Without a
    /// PATH, the current folder is searched. Exit status: 0 when there is no
    /// error (warnings allowed), 1 when an input has errors, 2 on usage or
    /// I/O errors.
    Check {
        /// Files or folders to check.
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// How diagnostics are printed.
        #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
        message_format: MessageFormat,
        /// When to use colour in human output (`NO_COLOR` is honoured).
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
        color: ColorChoice,
    },
    /// Print the JSON Schema of the Heliosfile.
    Schema,
    /// Print the long explanation of a diagnostic code, e.g. `heliosc explain H0201`.
    Explain {
        /// A code (`H0201`) or its name (`unknown-key`). Without one, list every code.
        code: Option<String>,
    },
}

/// How diagnostics are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum MessageFormat {
    /// Rich reports with the source and carets, on standard error.
    Human,
    /// One JSON object per line on standard output: file, line, column,
    /// byte span, code, severity, message, help.
    Json,
}

/// When to colour human output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}
