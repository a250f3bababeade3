//! `heliosc tag`: the tag of each app's built image, from git objects
//! (the repository's HEAD, or `--rev`), by the contract of
//! [`heliosc::source_tag`], so that CI pushes exactly the tag the
//! reconciler deploys.

use crate::args::TagArgs;
use crate::{EXIT_INPUT, git, print_stdout};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Prints `<app> <image>:<tag>` for each app under PATH that runs its
/// built image. Exit status: 0, 1 when a Heliosfile has errors, 2 on usage
/// or repository errors.
pub(crate) fn run(args: &TagArgs) -> Result<ExitCode, String> {
    let path = args.path.clone().unwrap_or_else(|| PathBuf::from("."));
    let repo = git::open(&path)?;
    let under = git::path_in_repo(&repo, &path)?;
    let (revision, sources) = git::read_revision(&repo, &args.rev, &under)?;
    if sources.is_empty() {
        return Err(format!(
            "no Heliosfile under `{}` at `{}`",
            path.display(),
            args.rev
        ));
    }
    let mut out = String::new();
    let mut failed = false;
    for source in &sources {
        let options = heliosc::CheckOptions {
            folder_depth_in_repo: source.path.matches('/').count(),
        };
        let checked = heliosc::check_with(&source.path, &source.text, &options);
        let Some(app) = checked.app else {
            eprint!("{}", checked.render(&source.text));
            failed = true;
            continue;
        };
        let uses_built_image = app.services.values().any(|s| s.image.is_none());
        let (Some(image), true) = (&app.image_repository, uses_built_image) else {
            continue;
        };
        let tag = git::source_tag(&repo, &revision.commit, &source.path, &app.build)?;
        let _ = writeln!(out, "{} {image}:{tag}", app.name);
    }
    print_stdout(&out)?;
    Ok(if failed {
        ExitCode::from(EXIT_INPUT)
    } else {
        ExitCode::SUCCESS
    })
}
