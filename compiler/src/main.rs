//! The `heliosc` command line: the I/O around the pure library (finding and
//! reading files, printing, exit codes).

mod args;
mod diff_command;
mod git;
mod tag_command;

use args::{Cli, ColorChoice, Command, MessageFormat, TargetArg};
use clap::Parser;
use heliosc::diagnostic::{self, RenderOptions};
use heliosc::ir::Target;
use heliosc::lower::kubernetes::KubernetesOptions;
use heliosc::{CheckOptions, Code, HELIOSFILE_NAMES, LowerOptions, SKIPPED_FOLDERS, Severity};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit status for input errors.
const EXIT_INPUT: u8 = 1;
/// Exit status for usage, I/O or internal errors.
const EXIT_FAILURE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check {
            paths,
            message_format,
            color,
        } => check(&paths, message_format, color),
        Command::Build {
            path,
            target,
            out,
            images,
            tag,
            namespace,
            ingress_class,
            cluster_issuer,
            split,
            check,
            message_format,
            color,
        } => build(
            BuildRequest {
                path,
                target,
                out,
                images,
                tag,
                kubernetes: KubernetesOptions {
                    namespace,
                    ingress_class,
                    cluster_issuer,
                    split,
                },
                check,
            },
            message_format,
            color,
        ),
        Command::Diff(args) => diff_command::run(args),
        Command::Tag(args) => tag_command::run(&args),
        Command::Schema => print_stdout(&heliosc::schema::json_schema()),
        Command::Explain { code } => explain(code.as_deref()),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("heliosc: error: {message}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn print_stdout(text: &str) -> Result<ExitCode, String> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write to standard output: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

fn explain(code: Option<&str>) -> Result<ExitCode, String> {
    let Some(code) = code else {
        let list: String = Code::ALL
            .iter()
            .map(|c| {
                format!(
                    "{}  {:<8} {}\n",
                    c.as_str(),
                    c.severity().as_str(),
                    c.slug()
                )
            })
            .collect();
        return print_stdout(&list);
    };
    match Code::parse(code) {
        Some(code) => print_stdout(&code.explanation()),
        None => Err(format!(
            "unknown diagnostic code `{code}`; `heliosc explain` lists them"
        )),
    }
}

/// Prints diagnostics and counts them, in the chosen format.
struct Reporter {
    format: MessageFormat,
    render: RenderOptions,
    errors: usize,
    warnings: usize,
}

impl Reporter {
    fn new(format: MessageFormat, color: ColorChoice) -> Self {
        Self {
            format,
            render: RenderOptions {
                color: use_color(color),
                width: terminal_width(),
            },
            errors: 0,
            warnings: 0,
        }
    }

    fn report(
        &mut self,
        diagnostics: &[heliosc::Diagnostic],
        path: &str,
        text: &str,
    ) -> Result<(), String> {
        let mut stdout = std::io::stdout().lock();
        let mut stderr = std::io::stderr().lock();
        for d in diagnostics {
            match d.severity {
                Severity::Error => self.errors += 1,
                Severity::Warning => self.warnings += 1,
            }
            let written = match self.format {
                MessageFormat::Human => {
                    writeln!(stderr, "{}", diagnostic::render(d, path, text, self.render))
                }
                MessageFormat::Json => writeln!(stdout, "{}", diagnostic::to_json(d, path, text)),
                MessageFormat::Github => {
                    writeln!(stdout, "{}", diagnostic::to_github(d, path, text))
                }
            };
            written.map_err(|e| format!("cannot write diagnostics: {e}"))?;
        }
        Ok(())
    }

    /// The closing summary (human format only) and the exit status.
    fn finish(&self, verb: &str, files: usize) -> ExitCode {
        if self.format == MessageFormat::Human {
            let noun = if files == 1 { "file" } else { "files" };
            eprintln!(
                "{verb} {files} {noun}: {} error(s), {} warning(s)",
                self.errors, self.warnings
            );
        }
        if self.errors > 0 {
            ExitCode::from(EXIT_INPUT)
        } else {
            ExitCode::SUCCESS
        }
    }
}

fn check(paths: &[PathBuf], format: MessageFormat, color: ColorChoice) -> Result<ExitCode, String> {
    let roots = if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths.to_vec()
    };
    let mut files = Vec::new();
    for root in &roots {
        find_heliosfiles(root, &mut files)?;
    }
    let mut reporter = Reporter::new(format, color);
    for file in &files {
        let text = read_text(file)?;
        let display = file.display().to_string();
        let options = CheckOptions {
            folder_depth_in_repo: folder_depth_in_repo(file),
        };
        let checked = heliosc::check_with(&display, &text, &options);
        reporter.report(&checked.diagnostics, &display, &text)?;
    }
    Ok(reporter.finish("checked", files.len()))
}

/// `--tag from-source`: the source tag of the app of `file` at the HEAD
/// of the git repository holding it (committed content: what CI builds).
fn tag_from_source(file: &Path, build: &heliosc::ir::Build) -> Result<String, String> {
    let folder = file.parent().filter(|p| !p.as_os_str().is_empty());
    let repo = git::open(folder.unwrap_or(Path::new(".")))?;
    let heliosfile = git::path_in_repo(&repo, file)?;
    git::source_tag(&repo, "HEAD", &heliosfile, build)
        .map_err(|e| format!("--tag from-source: {e}"))
}

/// What `heliosc build` was asked to do.
struct BuildRequest {
    path: Option<PathBuf>,
    target: Option<TargetArg>,
    out: PathBuf,
    images: Vec<(String, String)>,
    tag: Option<String>,
    kubernetes: KubernetesOptions,
    /// Compare with DIR instead of writing.
    check: bool,
}

fn build(
    request: BuildRequest,
    format: MessageFormat,
    color: ColorChoice,
) -> Result<ExitCode, String> {
    let root = request.path.clone().unwrap_or_else(|| PathBuf::from("."));
    let is_folder = root.is_dir();
    let mut files = Vec::new();
    find_heliosfiles(&root, &mut files)?;
    let out_absolute =
        std::path::absolute(&request.out).map_err(|e| format!("bad --out path: {e}"))?;
    let images: BTreeMap<String, String> = request.images.iter().cloned().collect();
    let target = request.target.map(|t| match t {
        TargetArg::Compose => Target::Compose,
        TargetArg::Kubernetes => Target::Kubernetes,
    });

    let mut reporter = Reporter::new(format, color);
    // Every app is compiled before anything is written: all or nothing.
    let mut outputs: Vec<(PathBuf, Vec<heliosc::OutputFile>)> = Vec::new();
    let mut apps: BTreeMap<String, String> = BTreeMap::new();
    let mut known_services = BTreeSet::new();
    for file in &files {
        let text = read_text(file)?;
        let display = file.display().to_string();
        let source_folder = std::path::absolute(file)
            .map_err(|e| format!("bad path `{display}`: {e}"))?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let check = CheckOptions {
            folder_depth_in_repo: folder_depth_in_repo(file),
        };
        let checked = heliosc::check_with(&display, &text, &check);
        // The app's name (and so its output folder, which build contexts
        // are relative to) is known once the file is checked.
        let tag = match (&request.tag, &checked.app) {
            (Some(tag), Some(app)) if tag == heliosc::source_tag::FROM_SOURCE => {
                Some(tag_from_source(file, &app.build)?)
            }
            (tag, _) => tag.clone(),
        };
        let mut lower = LowerOptions {
            images: images.clone(),
            tag,
            source_dir: None,
            kubernetes: request.kubernetes.clone(),
            secrets_digests: Default::default(),
        };
        let mut app_out = None;
        if let Some(app) = &checked.app {
            known_services.extend(app.services.keys().cloned());
            let folder = if is_folder {
                out_absolute.join(&app.name)
            } else {
                out_absolute.clone()
            };
            if let Some(first) = apps.insert(app.name.clone(), display.clone()) {
                return Err(format!(
                    "`{first}` and `{display}` both define the app `{}`",
                    app.name
                ));
            }
            lower.source_dir = Some(relative_path(&folder, &source_folder));
            app_out = Some(folder);
        }
        let built = heliosc::lower_checked(checked, target, &lower);
        if let Some(folder) = app_out {
            outputs.push((folder, built.files.clone()));
        }
        reporter.report(&built.diagnostics, &display, &text)?;
    }
    if let Some((service, _)) = images
        .iter()
        .find(|(service, _)| !known_services.contains(*service))
    {
        return Err(format!(
            "--image names `{service}`, which is not a service of any app built"
        ));
    }
    if reporter.errors > 0 {
        return Ok(reporter.finish("built", files.len()));
    }
    if request.check {
        let stale = stale_outputs(&out_absolute, &request.out, is_folder, &outputs)?;
        let code = reporter.finish("checked output of", files.len());
        if stale.is_empty() {
            return Ok(code);
        }
        print_stdout(&stale.concat())?;
        eprintln!(
            "heliosc: `{}` is stale: {} file(s) differ; run the same `heliosc build` without --check and commit the result",
            request.out.display(),
            stale.len()
        );
        return Ok(ExitCode::from(EXIT_INPUT));
    }
    write_outputs(&out_absolute, &outputs)?;
    Ok(reporter.finish("built", files.len()))
}

/// File names `heliosc build` writes besides the generated-header files.
const OUTPUT_NAMES: [&str; 4] = [
    "compose.yaml",
    ".env.example",
    "manifests.yaml",
    "secrets.required.yaml",
];
/// The first line of every generated YAML file.
const GENERATED_HEADER: &str = "# Generated by heliosc";

/// One unified diff per output file that differs from what is in `out`:
/// changed, missing, or left over from an app or object that is gone.
fn stale_outputs(
    out: &Path,
    shown_out: &Path,
    is_folder: bool,
    outputs: &[(PathBuf, Vec<heliosc::OutputFile>)],
) -> Result<Vec<String>, String> {
    let mut stale = Vec::new();
    let mut expected: BTreeSet<PathBuf> = BTreeSet::new();
    // Diff headers name files as the user wrote --out, not as absolute paths.
    let shown = |path: &Path| shown_out.join(path.strip_prefix(out).unwrap_or(path));
    for (folder, files) in outputs {
        for file in files {
            let path = folder.join(&file.path);
            let current = match std::fs::read_to_string(&path) {
                Ok(text) => Some(text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(format!("cannot read `{}`: {e}", path.display())),
            };
            if current.as_deref() != Some(file.contents.as_str()) {
                stale.push(unified_diff(
                    &shown(&path),
                    current.as_deref().unwrap_or(""),
                    &file.contents,
                ));
            }
            expected.insert(path);
        }
    }
    // Generated files that the build would no longer write.
    let mut folders: BTreeSet<PathBuf> = outputs.iter().map(|(folder, _)| folder.clone()).collect();
    if is_folder && let Ok(entries) = std::fs::read_dir(out) {
        folders.extend(
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir()),
        );
    }
    for folder in folders {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            if expected.contains(&path) || !path.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if OUTPUT_NAMES.contains(&name) || text.starts_with(GENERATED_HEADER) {
                stale.push(unified_diff(&shown(&path), &text, ""));
            }
        }
    }
    Ok(stale)
}

fn unified_diff(path: &Path, old: &str, new: &str) -> String {
    let name = path.display().to_string();
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}

/// Writes every file into a staging folder first, then moves each into
/// place, so that a failure while writing leaves `out` as it was.
fn write_outputs(
    out: &Path,
    outputs: &[(PathBuf, Vec<heliosc::OutputFile>)],
) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create `{}`: {e}", out.display()))?;
    let staging = out.join(format!(".heliosc-staging-{}", std::process::id()));
    let result = stage_and_move(&staging, outputs);
    let _ = std::fs::remove_dir_all(&staging);
    result
}

fn stage_and_move(
    staging: &Path,
    outputs: &[(PathBuf, Vec<heliosc::OutputFile>)],
) -> Result<(), String> {
    let mut moves = Vec::new();
    for (index, (folder, files)) in outputs.iter().enumerate() {
        for (file_index, file) in files.iter().enumerate() {
            let staged = staging.join(format!("{index}-{file_index}"));
            std::fs::create_dir_all(staging)
                .map_err(|e| format!("cannot create `{}`: {e}", staging.display()))?;
            std::fs::write(&staged, &file.contents)
                .map_err(|e| format!("cannot write `{}`: {e}", staged.display()))?;
            moves.push((staged, folder.join(&file.path)));
        }
    }
    for (staged, target) in moves {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
        }
        std::fs::rename(&staged, &target)
            .map_err(|e| format!("cannot write `{}`: {e}", target.display()))?;
    }
    Ok(())
}

/// The path from folder `from` to folder `to`, `/`-separated, both absolute.
fn relative_path(from: &Path, to: &Path) -> String {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> =
        std::iter::repeat_n("..".to_string(), from.len() - common).collect();
    parts.extend(
        to[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

/// A file is taken as given; a folder is searched, in sorted order so that
/// output is the same on every machine.
fn find_heliosfiles(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let metadata =
        std::fs::metadata(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    if !metadata.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let before = out.len();
    search_folder(path, out)?;
    if out.len() == before {
        return Err(format!(
            "no Heliosfile found in `{}` (looked for {})",
            path.display(),
            HELIOSFILE_NAMES.join(", ")
        ));
    }
    Ok(())
}

fn search_folder(folder: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(folder)
        .map_err(|e| format!("cannot read folder `{}`: {e}", folder.display()))?;
    let mut children: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    children.sort();
    if let Some(file) = HELIOSFILE_NAMES
        .iter()
        .map(|name| folder.join(name))
        .find(|p| p.is_file())
    {
        out.push(file);
    }
    for child in children {
        let name = child
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if child.is_dir() && !SKIPPED_FOLDERS.contains(&name) && !child.is_symlink() {
            search_folder(&child, out)?;
        }
    }
    Ok(())
}

fn read_text(path: &Path) -> Result<String, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| format!("`{}` is not UTF-8 text", path.display()))
}

/// How far the file's folder is below the root of its git repository, so
/// that `build` paths may use `..` up to that root. Outside a repository the
/// file's own folder is the root.
fn folder_depth_in_repo(file: &Path) -> usize {
    let Ok(absolute) = std::path::absolute(file) else {
        return 0;
    };
    let mut depth = 0;
    let mut folder = absolute.parent();
    while let Some(current) = folder {
        if current.join(".git").exists() {
            return depth;
        }
        depth += 1;
        folder = current.parent();
    }
    0
}

fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stderr().is_terminal()
        }
    }
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|w| *w >= 40)
        .unwrap_or(100)
}
