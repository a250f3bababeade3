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
    /// Check Heliosfiles and write what runs them, all or nothing.
    ///
    /// PATH is a Heliosfile (its output goes to DIR) or a folder searched for
    /// Heliosfiles (each app's output goes to DIR/<app>/). Nothing is written
    /// unless every app builds. Exit status as for `check`.
    Build {
        /// A Heliosfile or a folder of apps (default: the current folder).
        #[arg(value_name = "PATH")]
        path: Option<PathBuf>,
        /// The target; default: each Heliosfile's `target:` (else compose).
        #[arg(long, value_enum)]
        target: Option<TargetArg>,
        /// Where to write the output.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The image of one service, overriding the Heliosfile: `--image web=registry.example.com/shop:1.4.2`.
        #[arg(long = "image", value_name = "SERVICE=REF", value_parser = parse_image)]
        images: Vec<(String, String)>,
        /// Tag of the image built from this repo: services without `image:`
        /// run `<image>:<TAG>`, `<image>` being the top-level repository.
        /// `from-source`: each app's source tag at the repository's HEAD
        /// (as `heliosc tag` prints it).
        #[arg(long, value_name = "TAG")]
        tag: Option<String>,
        /// Kubernetes: put every object in this existing namespace and emit
        /// no Namespace (default: a Namespace named after the app).
        #[arg(long, value_name = "NAME")]
        namespace: Option<String>,
        /// Kubernetes: the `ingressClassName` of every Ingress.
        #[arg(long, value_name = "CLASS")]
        ingress_class: Option<String>,
        /// Kubernetes: the cert-manager ClusterIssuer for TLS (default `letsencrypt`).
        #[arg(long, value_name = "NAME")]
        cluster_issuer: Option<String>,
        /// Kubernetes: one file per object instead of `manifests.yaml`.
        #[arg(long)]
        split: bool,
        /// Write nothing; exit 1 with a diff when the output already in DIR
        /// is stale, 0 when it is current (for repos that commit rendered output).
        #[arg(long)]
        check: bool,
        /// How diagnostics are printed.
        #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
        message_format: MessageFormat,
        /// When to use colour in human output (`NO_COLOR` is honoured).
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
        color: ColorChoice,
    },
    /// Show what changes in the compiled output between two git revisions.
    ///
    /// Every Heliosfile under --path is read at both revisions straight from
    /// git objects (nothing is checked out; the work tree is not read or
    /// touched), both sides are compiled with the same options, and each
    /// app's added, removed and changed objects are shown with a unified
    /// diff. Exit status: 0 no change, 3 changes, 1 an app does not compile
    /// on either side, 2 usage or I/O errors.
    Diff(DiffArgs),
    /// Print the tag of each app's built image, from git objects.
    ///
    /// The tag is `src-` and the first 12 hex digits of the git tree id of
    /// the app's build context (with a Dockerfile outside the context, of
    /// a digest of both ids): it changes exactly when the build inputs do.
    /// One line per app under PATH that runs its built image: `<app>
    /// <image>:<tag>`. `heliosc build --tag from-source` and the reconciler
    /// use the same tag. Exit status: 0, 1 when a Heliosfile has errors, 2
    /// on usage or repository errors.
    Tag(TagArgs),
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
    /// GitHub Actions workflow commands on standard output
    /// (`::error file=...,line=...,col=...::message`), shown inline on pull requests.
    Github,
}

/// The arguments of `heliosc diff`.
#[derive(Debug, clap::Args)]
pub(crate) struct DiffArgs {
    /// The revision to compare from: a branch, tag or commit (`origin/main`).
    #[arg(long, value_name = "REV")]
    pub(crate) base: String,
    /// The revision to compare to.
    #[arg(long, value_name = "REV", default_value = "HEAD")]
    pub(crate) head: String,
    /// The git repository (default: the one containing the current folder).
    #[arg(long, value_name = "DIR")]
    pub(crate) repo: Option<PathBuf>,
    /// Only Heliosfiles under this folder of the repository, relative to its
    /// root (default: the whole repository).
    #[arg(long, value_name = "DIR")]
    pub(crate) path: Option<String>,
    /// The target; default: each Heliosfile's `target:` (else compose).
    #[arg(long, value_enum)]
    pub(crate) target: Option<TargetArg>,
    /// The image of one service, as for `build`.
    #[arg(long = "image", value_name = "SERVICE=REF", value_parser = parse_image)]
    pub(crate) images: Vec<(String, String)>,
    /// Tag of the image built from this repo, as for `build`; the default
    /// is a placeholder so that apps relying on `--tag` still compile.
    #[arg(long, value_name = "TAG", default_value = "diff")]
    pub(crate) tag: String,
    /// How the diff is printed.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub(crate) format: DiffFormat,
    /// When to use colour in text output (`NO_COLOR` is honoured).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub(crate) color: ColorChoice,
}

/// How `heliosc diff` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum DiffFormat {
    /// For a terminal or a log, coloured on a terminal.
    Text,
    /// A pull-request comment: a table and one collapsible block per app,
    /// under GitHub's 65,536-character limit.
    Markdown,
    /// Machine-readable, with stable field names.
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

/// A lowering target, as named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum TargetArg {
    /// Docker Compose: `compose.yaml` and `.env.example`.
    Compose,
    /// Kubernetes manifests.
    Kubernetes,
}

fn parse_image(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((service, image))
            if !service.is_empty() && !image.is_empty() && !image.contains(char::is_whitespace) =>
        {
            Ok((service.to_string(), image.to_string()))
        }
        _ => Err(format!(
            "expected SERVICE=IMAGE, e.g. web=registry.example.com/shop:1.4.2, got `{text}`"
        )),
    }
}

/// The arguments of `heliosc tag`.
#[derive(Debug, clap::Args)]
pub(crate) struct TagArgs {
    /// A Heliosfile or a folder of apps in a git repository (default: the
    /// current folder).
    #[arg(value_name = "PATH")]
    pub(crate) path: Option<PathBuf>,
    /// The revision whose sources are tagged: a branch, tag or commit.
    #[arg(long, value_name = "REV", default_value = "HEAD")]
    pub(crate) rev: String,
}
