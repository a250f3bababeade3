//! `heliosc diff`: the compiled-output difference between two git revisions.
//! The Heliosfiles are read from git objects ([`crate::git`]); comparing and
//! rendering is the library's ([`heliosc::diff`]).

use crate::args::{ColorChoice, DiffArgs, DiffFormat, TargetArg};
use crate::{EXIT_INPUT, git, print_stdout, terminal_width};
use heliosc::ir::Target;
use heliosc::{BuildOptions, LowerOptions};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit status when the output changes.
const EXIT_CHANGES: u8 = 3;

/// Runs `heliosc diff`. Exit status: 0 no change, 3 changes, 1 an app does
/// not compile on either side (or two files define one app), 2 usage or I/O.
pub(crate) fn run(args: DiffArgs) -> Result<ExitCode, String> {
    let repo_dir = args.repo.clone().unwrap_or_else(|| PathBuf::from("."));
    let repo = git::open(&repo_dir)?;
    let under = normalize(args.path.as_deref().unwrap_or_default());
    let (base_revision, base) = git::read_revision(&repo, &args.base, &under)?;
    let (head_revision, head) = git::read_revision(&repo, &args.head, &under)?;
    if base.is_empty() && head.is_empty() {
        let place = if under.is_empty() {
            "the repository"
        } else {
            &under
        };
        return Err(format!(
            "no Heliosfile in {place} at `{}` or `{}`",
            args.base, args.head
        ));
    }
    let options = BuildOptions {
        target: args.target.map(|t| match t {
            TargetArg::Compose => Target::Compose,
            TargetArg::Kubernetes => Target::Kubernetes,
        }),
        check: heliosc::CheckOptions::default(),
        lower: LowerOptions {
            images: args.images.iter().cloned().collect(),
            tag: Some(args.tag.clone()),
            source_dir: None,
            kubernetes: Default::default(),
            secrets_digests: Default::default(),
        },
    };
    let mut diff = match heliosc::diff::compare(&base, &head, &options) {
        Ok(diff) => diff,
        // Two files defining one app is an input error.
        Err(e) => {
            eprintln!("heliosc: error: {e}");
            return Ok(ExitCode::from(EXIT_INPUT));
        }
    };
    diff.base = base_revision;
    diff.head = head_revision;
    let text = match args.format {
        DiffFormat::Text => diff.to_text(use_color(args.color), terminal_width()),
        DiffFormat::Markdown => diff.to_markdown(heliosc::diff::GITHUB_COMMENT_LIMIT),
        DiffFormat::Json => diff.to_json(),
    };
    print_stdout(&text)?;
    Ok(if diff.has_failures() {
        ExitCode::from(EXIT_INPUT)
    } else if diff.has_changes() {
        ExitCode::from(EXIT_CHANGES)
    } else {
        ExitCode::SUCCESS
    })
}

/// `--path` as a path in the repository: `/`-separated, without `./` or a
/// trailing `/`; `""` for the root.
fn normalize(path: &str) -> String {
    path.replace('\\', "/")
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// Colour on a terminal (standard output, where the diff goes) unless `NO_COLOR` is set.
fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}
