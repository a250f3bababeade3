//! The `heliosc` command line: the I/O around the pure library (finding and
//! reading files, printing, exit codes).

mod args;

use args::{Cli, ColorChoice, Command, MessageFormat};
use clap::Parser;
use heliosc::diagnostic::{self, RenderOptions};
use heliosc::{CheckOptions, Code, Severity};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// File names recognised as Heliosfiles, in order of preference.
const HELIOSFILE_NAMES: [&str; 3] = ["Heliosfile.yml", "Heliosfile.yaml", "Heliosfile"];
/// Folders never searched.
const SKIPPED_FOLDERS: [&str; 3] = [".git", "target", "node_modules"];

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
    let render_options = RenderOptions {
        color: use_color(color),
        width: terminal_width(),
    };
    let (mut errors, mut warnings) = (0usize, 0usize);
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    for file in &files {
        let text = read_text(file)?;
        let display = file.display().to_string();
        let options = CheckOptions {
            folder_depth_in_repo: folder_depth_in_repo(file),
        };
        let checked = heliosc::check_with(&display, &text, &options);
        for d in &checked.diagnostics {
            match d.severity {
                Severity::Error => errors += 1,
                Severity::Warning => warnings += 1,
            }
            let written = match format {
                MessageFormat::Human => {
                    writeln!(stderr, "{}", diagnostic::render(d, &display, &text, render_options))
                }
                MessageFormat::Json => {
                    writeln!(stdout, "{}", diagnostic::to_json(d, &display, &text))
                }
            };
            written.map_err(|e| format!("cannot write diagnostics: {e}"))?;
        }
    }
    if format == MessageFormat::Human {
        let noun = if files.len() == 1 { "file" } else { "files" };
        let _ = writeln!(
            stderr,
            "checked {} {noun}: {errors} error(s), {warnings} warning(s)",
            files.len()
        );
    }
    Ok(if errors > 0 {
        ExitCode::from(EXIT_INPUT)
    } else {
        ExitCode::SUCCESS
    })
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
