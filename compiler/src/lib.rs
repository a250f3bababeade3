//! `heliosc`: the Heliosfile compiler as a library.
//!
//! A Heliosfile is one small YAML manifest per app. This crate parses it
//! keeping source spans, checks every rule of the language, and returns a
//! typed [`ir::App`], or [`Diagnostic`]s with stable codes, exact spans
//! and help. It does no I/O, keeps no global state and does not panic on any
//! input, so it can be embedded anywhere (the `helios-reconciler` does).
//!
//! Stages, one module each: [`parse`] (YAML to a spanned tree),
//! [`check`](crate::CheckOptions) (tree to [`ir`]), [`diagnostic`] (codes,
//! rendering) and [`schema`] (the JSON Schema of the format).
//!
//! ```
//! let text = "name: shop\nversion: 1\nservices:\n  web:\n    image: nginx:1.27\n    http_port: 80\n";
//! let checked = heliosc::check("shop/Heliosfile.yml", text);
//! assert!(!checked.has_errors());
//! let app = checked.app.expect("a valid app");
//! assert_eq!(app.services["web"].http_port, Some(80));
//! assert_eq!(app.services["web"].hosts, ["web.shop.localhost"]);
//! ```
//!
//! Errors come back all at once, each with a code and a span:
//!
//! ```
//! let text = "name: Shop\nversion: 2\nservices: {}\n";
//! let checked = heliosc::check("Heliosfile", text);
//! let codes: Vec<&str> = checked.diagnostics.iter().map(|d| d.code.as_str()).collect();
//! assert_eq!(codes, ["H0301", "H0204", "H0207"]);
//! let rendered = checked.render(text);
//! assert!(rendered.contains("H0204"));
//! ```

mod check;
pub mod diagnostic;
pub mod diff;
pub mod ir;
pub mod lower;
pub mod parse;
pub mod schema;
pub mod source_tag;
pub mod span;
mod suggest;

pub use check::CheckOptions;
pub use diagnostic::{Code, Diagnostic, Severity};
pub use lower::{LowerOptions, OutputFile};

/// File names recognised as a Heliosfile, in order of preference when a
/// folder has more than one.
pub const HELIOSFILE_NAMES: [&str; 3] = ["Heliosfile.yml", "Heliosfile.yaml", "Heliosfile"];

/// Folders never searched for Heliosfiles (by the CLI, `heliosc diff` and
/// the reconciler alike).
pub const SKIPPED_FOLDERS: [&str; 3] = [".git", "target", "node_modules"];

/// The compiler's version, as recorded in outputs.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The result of checking one Heliosfile.
#[derive(Clone, Debug)]
pub struct Checked {
    /// The file's path, as given (used in rendered diagnostics).
    pub path: String,
    /// The checked app, present exactly when there is no error.
    pub app: Option<ir::App>,
    /// Every error and warning, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// All diagnostics rendered for people, plain (no colour, 100 columns).
    /// `text` must be the text that was checked.
    pub fn render(&self, text: &str) -> String {
        render_all(&self.diagnostics, &self.path, text)
    }
}

/// Parses and checks one Heliosfile given as `(path, text)`, with default
/// options. `path` is only used to name the file in diagnostics.
pub fn check(path: &str, text: &str) -> Checked {
    check_with(path, text, &CheckOptions::default())
}

/// Parses and checks one Heliosfile with explicit [`CheckOptions`].
///
/// ```
/// use heliosc::CheckOptions;
/// let text = "name: api\nversion: 1\nbuild: { dockerfile: ../Dockerfile }\nservices: { api: { http_port: 8080 } }\n";
/// // At the repository root, `..` leaves the repository...
/// assert!(heliosc::check("Heliosfile", text).has_errors());
/// // ...one folder down, it does not.
/// let options = CheckOptions { folder_depth_in_repo: 1 };
/// assert!(!heliosc::check_with("apps/api/Heliosfile", text, &options).has_errors());
/// ```
pub fn check_with(path: &str, text: &str, options: &CheckOptions) -> Checked {
    let (root, mut diagnostics) = parse::parse(text);
    let mut app = None;
    if let Some(root) = root {
        let mut checker = check::Checker::new(text, options);
        app = check::check_document(&mut checker, &root);
        diagnostics.append(&mut checker.diagnostics);
        diagnostics.extend(check::check_bidi_controls(text, &root));
    }
    diagnostic::sort(&mut diagnostics);
    diagnostic::truncate(&mut diagnostics);
    if diagnostics.iter().any(Diagnostic::is_error) {
        app = None;
    }
    Checked {
        path: path.to_string(),
        app,
        diagnostics,
    }
}

/// Options for [`build`].
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// The target; `None` means the Heliosfile's `target:` (default compose).
    pub target: Option<ir::Target>,
    /// Options for checking.
    pub check: CheckOptions,
    /// Options for lowering.
    pub lower: LowerOptions,
}

/// The result of building one Heliosfile.
#[derive(Clone, Debug)]
pub struct Built {
    /// The file's path, as given.
    pub path: String,
    /// The checked app, when checking found no error.
    pub app: Option<ir::App>,
    /// The target built for, once known.
    pub target: Option<ir::Target>,
    /// The output files, present exactly when there is no error (the
    /// files of [`lowered`](Self::lowered)).
    pub files: Vec<OutputFile>,
    /// The structured output the files are rendered from: what the
    /// target runs, component by component. Present exactly when
    /// lowering succeeded.
    pub lowered: Option<lower::Lowered>,
    /// Every error and warning, from checking and lowering.
    pub diagnostics: Vec<Diagnostic>,
}

impl Built {
    /// Whether any diagnostic is an error (then `files` is empty).
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// All diagnostics rendered plain; `text` is the text that was built.
    pub fn render(&self, text: &str) -> String {
        render_all(&self.diagnostics, &self.path, text)
    }
}

/// Checks one Heliosfile and lowers it to its target's files.
///
/// ```
/// let text = "name: shop\nversion: 1\nservices:\n  web: { image: nginx:1.27, http_port: 80 }\n";
/// let built = heliosc::build("Heliosfile", text, &heliosc::BuildOptions::default());
/// assert!(!built.has_errors());
/// let compose = &built.files[0];
/// assert_eq!(compose.path, "compose.yaml");
/// assert!(compose.contents.contains("image: nginx:1.27"));
/// ```
pub fn build(path: &str, text: &str, options: &BuildOptions) -> Built {
    let checked = check_with(path, text, &options.check);
    lower_checked(checked, options.target, &options.lower)
}

/// Lowers a file that [`check_with`] already checked, to `target` (`None`:
/// the file's own). For callers that need the checked app, e.g. its name,
/// before they can choose the lowering options.
///
/// ```
/// let text = "name: shop\nversion: 1\nservices:\n  web: { image: nginx:1.27 }\n";
/// let checked = heliosc::check("Heliosfile", text);
/// let folder = checked.app.as_ref().map(|app| app.name.clone());
/// let built = heliosc::lower_checked(checked, None, &heliosc::LowerOptions::default());
/// assert_eq!(folder.as_deref(), Some("shop"));
/// assert_eq!(built.files.len(), 2);
/// ```
pub fn lower_checked(
    checked: Checked,
    target: Option<ir::Target>,
    options: &LowerOptions,
) -> Built {
    let target = checked.app.as_ref().map(|app| target.unwrap_or(app.target));
    let mut built = Built {
        path: checked.path,
        app: checked.app,
        target,
        files: Vec::new(),
        lowered: None,
        diagnostics: checked.diagnostics,
    };
    let (Some(app), Some(target)) = (&built.app, target) else {
        return built;
    };
    let lowered = match target {
        ir::Target::Compose => lower::compose::lower(app, options),
        ir::Target::Kubernetes => lower::kubernetes::lower(app, options),
    };
    match lowered {
        Ok(lowered) => {
            built.files = lowered.files.clone();
            built.lowered = Some(lowered);
        }
        Err(mut diagnostics) => {
            built.diagnostics.append(&mut diagnostics);
            diagnostic::sort(&mut built.diagnostics);
            diagnostic::truncate(&mut built.diagnostics);
        }
    }
    built
}

fn render_all(diagnostics: &[Diagnostic], path: &str, text: &str) -> String {
    diagnostics
        .iter()
        .map(|d| diagnostic::render(d, path, text, diagnostic::RenderOptions::default()))
        .collect::<Vec<_>>()
        .join("\n")
}
