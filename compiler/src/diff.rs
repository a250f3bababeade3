//! What changes in the compiled output between two versions of a set of
//! Heliosfiles, per app and per compiled object: the pure part of
//! `heliosc diff` (the command reads both versions from git).
//!
//! Each side is a list of [`Source`]s. Both sides are compiled with the same
//! [`BuildOptions`]; each app's output is split into objects ([`objects`]):
//! for Compose one per service, network and volume of `compose.yaml`, for
//! Kubernetes one per document of `manifests.yaml` (keyed `Kind/namespace/name`),
//! and each other file (`.env.example`, `secrets.required.yaml`) as one
//! object. Apps are matched by name, objects by id, and each changed object
//! gets a unified diff. A file whose blob id and path are the same on both
//! sides is not compiled at all: the same text with the same options gives
//! the same output.
//!
//! The compiled output holds no secret value (only references such as
//! `${HELIOS_SECRET_STRIPE_KEY}` or a `secretKeyRef`), so neither does a diff.
//!
//! ```
//! use heliosc::diff::{Source, compare};
//! let source = |id: &str, text: &str| Source {
//!     path: "shop/Heliosfile.yml".into(),
//!     id: id.into(),
//!     text: text.into(),
//!     folder_depth_in_repo: 1,
//! };
//! let base = [source("1", "name: shop\nversion: 1\nservices:\n  web: { image: nginx:1.27, http_port: 80 }\n")];
//! let head = [source("2", "name: shop\nversion: 1\nservices:\n  web: { image: nginx:1.28, http_port: 80 }\n")];
//! let diff = compare(&base, &head, &heliosc::BuildOptions::default()).expect("no duplicate app");
//! assert_eq!(diff.summary().changed, 1);
//! assert_eq!(diff.apps[0].objects[0].id.to_string(), "service/web");
//! assert!(diff.to_text(false, 100).contains("+  image: nginx:1.28"));
//! ```

use crate::diagnostic::{self, Diagnostic, RenderOptions};
use crate::lower::OutputFile;
use crate::{BuildOptions, CheckOptions};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};

/// GitHub's limit on the length of a pull-request comment, in characters.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;

/// One Heliosfile at one revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The file's path in the repository, `/`-separated (shown in the output).
    pub path: String,
    /// An id of the file's content, such as its git blob id: a file with the
    /// same path and id on both sides is taken as unchanged, without compiling it.
    pub id: String,
    /// The file's text.
    pub text: String,
    /// How far the file's folder is below the repository root.
    pub folder_depth_in_repo: usize,
}

/// A revision as asked for and the commit it resolved to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Revision {
    /// As given, e.g. `origin/main`.
    pub rev: String,
    /// The full commit id.
    pub commit: String,
}

impl Revision {
    /// `main (1a2b3c4)`, or the short id alone when the revision was given
    /// as a commit id; in inline code for markdown.
    fn label(&self, markdown: bool) -> String {
        let short = short(&self.commit);
        let quote = |text: &str| {
            if markdown {
                code(text)
            } else {
                text.to_string()
            }
        };
        if self.rev.len() >= short.len() && self.commit.starts_with(&self.rev) {
            quote(short)
        } else {
            format!("{} ({})", quote(&self.rev), quote(short))
        }
    }
}

/// Which side of the comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The revision compared from.
    Base,
    /// The revision compared to.
    Head,
}

impl Side {
    /// `base` or `head`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Base => "base",
            Side::Head => "head",
        }
    }
}

/// What a compiled object is: `service/web`, `Deployment/shop/web`,
/// `file/.env.example`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId {
    /// Compose: `service`, `network`, `volume`; Kubernetes: the object's
    /// `kind`; a whole output file: `file`.
    pub kind: String,
    /// The Kubernetes namespace, for namespaced objects.
    pub namespace: Option<String>,
    /// The object's name, or the file's path for kind `file`.
    pub name: String,
}

impl ObjectId {
    fn new(kind: &str, namespace: Option<String>, name: &str) -> Self {
        Self {
            kind: kind.to_string(),
            namespace,
            name: name.to_string(),
        }
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{}/{namespace}/{}", self.kind, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// One compiled object and its text (stable: the same object always has
/// the same text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// What it is.
    pub id: ObjectId,
    /// Its YAML (or, for a file, the file without its leading comments).
    pub text: String,
}

/// How an object or an app differs between the two sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Only on the head side.
    Added,
    /// Only on the base side.
    Removed,
    /// On both sides, different.
    Changed,
    /// An app that does not compile on at least one side.
    Failed,
}

impl Status {
    /// `added`, `removed`, `changed` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Added => "added",
            Status::Removed => "removed",
            Status::Changed => "changed",
            Status::Failed => "failed",
        }
    }

    fn sign(self) -> char {
        match self {
            Status::Added => '+',
            Status::Removed => '-',
            Status::Changed => '~',
            Status::Failed => '!',
        }
    }
}

/// One object that differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectDiff {
    /// The object.
    pub id: ObjectId,
    /// Added, removed or changed.
    pub status: Status,
    /// The unified diff (hunks only, three lines of context); `None` for the
    /// objects of an app added or removed whole, which are listed by id.
    pub diff: Option<String>,
}

/// An app that does not compile on one side, with its diagnostics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Where it fails.
    pub side: Side,
    /// The Heliosfile's path.
    pub path: String,
    /// The Heliosfile's text on that side (for rendering the diagnostics).
    pub text: String,
    /// Every error and warning.
    pub diagnostics: Vec<Diagnostic>,
}

/// One app that differs (or fails to compile).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppDiff {
    /// The app's name (for an app that does not compile and names no app,
    /// its Heliosfile's path).
    pub name: String,
    /// Added, removed, changed, or failed.
    pub status: Status,
    /// The Heliosfile's path at the base revision, if the app is there.
    pub base_path: Option<String>,
    /// The Heliosfile's path at the head revision, if the app is there.
    pub head_path: Option<String>,
    /// The objects that differ, head's order first, then removed ones.
    pub objects: Vec<ObjectDiff>,
    /// Why the app does not compile, per side (status `failed` only).
    pub failures: Vec<Failure>,
}

impl AppDiff {
    /// The head path if there is one, else the base path.
    pub fn path(&self) -> &str {
        self.head_path
            .as_deref()
            .or(self.base_path.as_deref())
            .unwrap_or_default()
    }

    fn count(&self, status: Status) -> usize {
        self.objects.iter().filter(|o| o.status == status).count()
    }

    /// A one-line account: `1 changed, 2 added`, `3 objects`, `fails on head`.
    fn account(&self) -> String {
        match self.status {
            Status::Failed => {
                let sides: Vec<&str> = self.failures.iter().map(|f| f.side.as_str()).collect();
                format!("fails to compile on {}", sides.join(" and "))
            }
            Status::Added | Status::Removed => plural(self.objects.len(), "object"),
            Status::Changed => {
                let parts: Vec<String> = [Status::Changed, Status::Added, Status::Removed]
                    .into_iter()
                    .map(|s| (s, self.count(s)))
                    .filter(|(_, n)| *n > 0)
                    .map(|(s, n)| format!("{n} {}", s.as_str()))
                    .collect();
                parts.join(", ")
            }
        }
    }
}

/// How many apps are in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Apps whose output changed.
    pub changed: usize,
    /// Apps only at the head revision.
    pub added: usize,
    /// Apps only at the base revision.
    pub removed: usize,
    /// Apps that do not compile on at least one side.
    pub failed: usize,
    /// Apps whose output is the same (not listed).
    pub unchanged: usize,
}

/// The whole comparison.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    /// The revision compared from (set by the caller; empty by default).
    pub base: Revision,
    /// The revision compared to.
    pub head: Revision,
    /// Every app that differs or fails, sorted by name.
    pub apps: Vec<AppDiff>,
    /// How many apps have the same output on both sides.
    pub unchanged: usize,
}

/// Why two sides cannot be compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiffError {
    /// Two Heliosfiles on one side define the same app.
    DuplicateApp {
        /// The side.
        side: Side,
        /// The app's name.
        name: String,
        /// One file.
        first: String,
        /// The other file.
        second: String,
    },
}

impl fmt::Display for DiffError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiffError::DuplicateApp {
                side,
                name,
                first,
                second,
            } => write!(
                f,
                "at the {} revision, `{first}` and `{second}` both define the app `{name}`",
                side.as_str()
            ),
        }
    }
}

impl std::error::Error for DiffError {}

/// One side's app after compiling.
struct Compiled<'a> {
    source: &'a Source,
    name: String,
    result: Result<Vec<Object>, Failure>,
}

/// Compiles both sides with the same options and compares them app by app.
/// `options.check` is replaced per file by its [`Source::folder_depth_in_repo`].
pub fn compare(
    base: &[Source],
    head: &[Source],
    options: &BuildOptions,
) -> Result<Diff, DiffError> {
    let base_by_path: HashMap<&str, &Source> = base.iter().map(|s| (s.path.as_str(), s)).collect();
    let head_by_path: HashMap<&str, &Source> = head.iter().map(|s| (s.path.as_str(), s)).collect();
    let same = |source: &Source, other: &HashMap<&str, &Source>| {
        other
            .get(source.path.as_str())
            .is_some_and(|o| o.id == source.id)
    };
    let mut diff = Diff::default();
    // Names per side, to find two files defining one app.
    let mut names: [BTreeMap<String, &str>; 2] = [BTreeMap::new(), BTreeMap::new()];
    let mut compiled: [Vec<Compiled<'_>>; 2] = [Vec::new(), Vec::new()];
    for (index, (side, sources, other)) in [
        (Side::Base, base, &head_by_path),
        (Side::Head, head, &base_by_path),
    ]
    .into_iter()
    .enumerate()
    {
        for source in sources.iter().filter(|s| !same(s, other)) {
            let app = compile(source, side, options, other);
            add_name(&mut names[index], side, app.name.clone(), &source.path)?;
            compiled[index].push(app);
        }
    }
    // A file that is the same on both sides is not compiled. Its name is
    // read (once for both sides) only to find another file defining the
    // same app, so not at all when no file changed.
    let any_compiled = compiled.iter().any(|c| !c.is_empty());
    for source in head.iter().filter(|s| same(s, &base_by_path)) {
        diff.unchanged += 1;
        if !any_compiled {
            continue;
        }
        if let Some(name) = crate::parse::declared_name(&source.text) {
            add_name(&mut names[0], Side::Base, name.clone(), &source.path)?;
            add_name(&mut names[1], Side::Head, name, &source.path)?;
        }
    }
    let [base_compiled, head_compiled] = compiled;
    let mut pairs: BTreeMap<String, (Option<Compiled<'_>>, Option<Compiled<'_>>)> = BTreeMap::new();
    for app in base_compiled {
        let name = app.name.clone();
        pairs.entry(name).or_default().0 = Some(app);
    }
    for app in head_compiled {
        let name = app.name.clone();
        pairs.entry(name).or_default().1 = Some(app);
    }
    for (name, (base, head)) in pairs {
        let base_path = base.as_ref().map(|a| a.source.path.clone());
        let head_path = head.as_ref().map(|a| a.source.path.clone());
        let mut app = AppDiff {
            name,
            status: Status::Changed,
            base_path,
            head_path,
            objects: Vec::new(),
            failures: Vec::new(),
        };
        let base = base.map(|a| a.result);
        let head = head.map(|a| a.result);
        match (base, head) {
            (Some(Ok(base)), Some(Ok(head))) => {
                app.objects = compare_objects(&base, &head);
                if app.objects.is_empty() {
                    diff.unchanged += 1;
                    continue;
                }
            }
            (None, Some(Ok(head))) => {
                app.status = Status::Added;
                app.objects = whole(&head, Status::Added);
            }
            (Some(Ok(base)), None) => {
                app.status = Status::Removed;
                app.objects = whole(&base, Status::Removed);
            }
            (base, head) => {
                app.status = Status::Failed;
                app.failures = [base, head]
                    .into_iter()
                    .flatten()
                    .filter_map(Result::err)
                    .collect();
            }
        }
        diff.apps.push(app);
    }
    Ok(diff)
}

/// Records that `path` defines the app `name` on one side; an error if
/// another file already does.
fn add_name<'a>(
    names: &mut BTreeMap<String, &'a str>,
    side: Side,
    name: String,
    path: &'a str,
) -> Result<(), DiffError> {
    match names.insert(name.clone(), path) {
        Some(other) if other != path => Err(DiffError::DuplicateApp {
            side,
            name,
            first: other.min(path).to_string(),
            second: other.max(path).to_string(),
        }),
        _ => Ok(()),
    }
}

/// Compiles one file. An app that names itself nowhere (its file does not
/// parse) takes the name declared by the file at the same path on the
/// `other` side, else its path.
fn compile<'a>(
    source: &'a Source,
    side: Side,
    options: &BuildOptions,
    other: &HashMap<&str, &Source>,
) -> Compiled<'a> {
    let options = BuildOptions {
        check: CheckOptions {
            folder_depth_in_repo: source.folder_depth_in_repo,
        },
        ..options.clone()
    };
    let built = crate::build(&source.path, &source.text, &options);
    let name = built
        .app
        .as_ref()
        .map(|app| app.name.clone())
        .or_else(|| crate::parse::declared_name(&source.text))
        .or_else(|| {
            other
                .get(source.path.as_str())
                .and_then(|o| crate::parse::declared_name(&o.text))
        })
        .unwrap_or_else(|| source.path.clone());
    let result = if built.has_errors() {
        Err(Failure {
            side,
            path: source.path.clone(),
            text: source.text.clone(),
            diagnostics: built.diagnostics,
        })
    } else {
        Ok(objects(&built.files))
    };
    Compiled {
        source,
        name,
        result,
    }
}

/// The objects of one app's compiled files, in output order.
///
/// `compose.yaml` gives one object per entry of its top-level mappings
/// (`services`, `networks`, `volumes`), `manifests.yaml` one per document;
/// any other file is one object of kind `file` (without its leading
/// comments, which name the compiler's version). A file that does not parse
/// as expected is one `file` object too.
pub fn objects(files: &[OutputFile]) -> Vec<Object> {
    let mut objects = Vec::new();
    for file in files {
        let split = match file.path.as_str() {
            "compose.yaml" => compose_objects(&file.contents),
            "manifests.yaml" => kubernetes_objects(&file.contents),
            _ => None,
        };
        match split {
            Some(mut split) => objects.append(&mut split),
            None => objects.push(Object {
                id: ObjectId::new("file", None, &file.path),
                text: strip_leading_comments(&file.contents).to_string(),
            }),
        }
    }
    objects
}

/// Any YAML value, keeping the order of mapping keys (`serde_json::Value`
/// would sort them).
#[derive(Deserialize, Serialize)]
#[serde(untagged)]
enum Yaml {
    Map(IndexMap<String, Yaml>),
    Seq(Vec<Yaml>),
    Scalar(serde_json::Value),
}

fn compose_objects(text: &str) -> Option<Vec<Object>> {
    let top: IndexMap<String, Yaml> = serde_saphyr::from_str(text).ok()?;
    let mut objects = Vec::new();
    for (key, value) in top {
        let kind = match key.as_str() {
            "services" => "service",
            "networks" => "network",
            "volumes" => "volume",
            "secrets" => "secret",
            "configs" => "config",
            _ => {
                // Any other top-level key is one object, named after itself.
                let text = crate::lower::to_yaml(&IndexMap::from([(key.as_str(), value)]));
                objects.push(Object {
                    id: ObjectId::new("compose", None, &key),
                    text,
                });
                continue;
            }
        };
        let Yaml::Map(entries) = value else {
            // `services: {}` or `volumes: null`: no object.
            continue;
        };
        for (name, value) in entries {
            let text = crate::lower::to_yaml(&IndexMap::from([(name.as_str(), value)]));
            objects.push(Object {
                id: ObjectId::new(kind, None, &name),
                text,
            });
        }
    }
    Some(objects)
}

/// The identifying part of a Kubernetes object.
#[derive(Deserialize)]
struct Head {
    kind: String,
    metadata: Metadata,
}

#[derive(Deserialize)]
struct Metadata {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
}

fn kubernetes_objects(text: &str) -> Option<Vec<Object>> {
    let mut objects = Vec::new();
    for document in split_documents(text) {
        let document = strip_leading_comments(&document);
        if document.trim().is_empty() {
            continue;
        }
        let head: Head = serde_saphyr::from_str(document).ok()?;
        objects.push(Object {
            id: ObjectId::new(&head.kind, head.metadata.namespace, &head.metadata.name),
            text: document.to_string(),
        });
    }
    Some(objects)
}

/// The documents of a YAML stream, split at `---` lines.
fn split_documents(text: &str) -> Vec<String> {
    let mut documents = vec![String::new()];
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" {
            documents.push(String::new());
        } else if let Some(last) = documents.last_mut() {
            last.push_str(line);
        }
    }
    documents
}

fn strip_leading_comments(text: &str) -> &str {
    let mut rest = text;
    while rest.starts_with('#') {
        rest = rest.split_once('\n').map_or("", |(_, after)| after);
    }
    rest
}

/// The objects that differ, head's order first, then those only in base.
fn compare_objects(base: &[Object], head: &[Object]) -> Vec<ObjectDiff> {
    let base_by_id: HashMap<&ObjectId, &str> =
        base.iter().map(|o| (&o.id, o.text.as_str())).collect();
    let head_by_id: HashMap<&ObjectId, &str> =
        head.iter().map(|o| (&o.id, o.text.as_str())).collect();
    let mut diffs = Vec::new();
    for object in head {
        let (status, old) = match base_by_id.get(&object.id) {
            Some(old) if *old == object.text => continue,
            Some(old) => (Status::Changed, *old),
            None => (Status::Added, ""),
        };
        diffs.push(ObjectDiff {
            id: object.id.clone(),
            status,
            diff: Some(unified_diff(old, &object.text)),
        });
    }
    for object in base {
        if !head_by_id.contains_key(&object.id) {
            diffs.push(ObjectDiff {
                id: object.id.clone(),
                status: Status::Removed,
                diff: Some(unified_diff(&object.text, "")),
            });
        }
    }
    diffs
}

fn whole(objects: &[Object], status: Status) -> Vec<ObjectDiff> {
    objects
        .iter()
        .map(|o| ObjectDiff {
            id: o.id.clone(),
            status,
            diff: None,
        })
        .collect()
}

/// A unified diff of two texts, hunks only, three lines of context.
pub fn unified_diff(old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .to_string()
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

impl Diff {
    /// How many apps are in each state.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary {
            unchanged: self.unchanged,
            ..Summary::default()
        };
        for app in &self.apps {
            match app.status {
                Status::Changed => summary.changed += 1,
                Status::Added => summary.added += 1,
                Status::Removed => summary.removed += 1,
                Status::Failed => summary.failed += 1,
            }
        }
        summary
    }

    /// Whether any app fails to compile on either side.
    pub fn has_failures(&self) -> bool {
        self.apps.iter().any(|a| a.status == Status::Failed)
    }

    /// Whether any app's output differs.
    pub fn has_changes(&self) -> bool {
        self.apps.iter().any(|a| a.status != Status::Failed)
    }

    fn revisions(&self) -> String {
        format!(
            "base {}, head {}",
            self.base.label(false),
            self.head.label(false)
        )
    }

    fn summary_line(&self) -> String {
        let s = self.summary();
        if self.apps.is_empty() {
            return format!("no change ({} unchanged)", plural(s.unchanged, "app"));
        }
        format!(
            "{} changed, {} added, {} removed, {} failed; {} unchanged",
            s.changed, s.added, s.removed, s.failed, s.unchanged
        )
    }

    /// For a terminal or a log: a summary, then each app with its objects
    /// and their diffs, in ANSI colours when `color`. Diagnostics of apps
    /// that fail are wrapped at `width` columns.
    pub fn to_text(&self, color: bool, width: usize) -> String {
        let paint = Paint(color);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}",
            paint.bold(&format!("heliosc diff: {}", self.revisions()))
        );
        let _ = writeln!(out, "{}", self.summary_line());
        for app in &self.apps {
            out.push('\n');
            let title = if app.name == app.path() {
                format!(
                    "{} {}: {}",
                    app.status.sign(),
                    app.name,
                    app.status.as_str()
                )
            } else {
                format!(
                    "{} app {} ({}): {}",
                    app.status.sign(),
                    app.name,
                    app.path(),
                    app.status.as_str()
                )
            };
            let _ = writeln!(out, "{}", paint.status(app.status, &paint.bold(&title)));
            if app.base_path.is_some() && app.head_path.is_some() && app.base_path != app.head_path
            {
                let _ = writeln!(
                    out,
                    "  moved from {}",
                    app.base_path.as_deref().unwrap_or_default()
                );
            }
            for object in &app.objects {
                let line = format!("  {} {}", object.status.sign(), object.id);
                let _ = writeln!(out, "{}", paint.status(object.status, &line));
                for diff_line in object.diff.as_deref().unwrap_or_default().lines() {
                    let _ = writeln!(out, "    {}", paint.diff_line(diff_line));
                }
            }
            for failure in &app.failures {
                if failure.path == app.path() {
                    let _ = writeln!(out, "  fails to compile on {}:", failure.side.as_str());
                } else {
                    let _ = writeln!(
                        out,
                        "  fails to compile on {} ({}):",
                        failure.side.as_str(),
                        failure.path
                    );
                }
                let options = RenderOptions { color, width };
                for d in &failure.diagnostics {
                    out.push_str(&diagnostic::render(
                        d,
                        &failure.path,
                        &failure.text,
                        options,
                    ));
                }
            }
        }
        out
    }

    /// Machine-readable, pretty-printed, with stable field names:
    /// `base` and `head` (`rev`, `commit`), `summary` (`changed`, `added`,
    /// `removed`, `failed`, `unchanged`), and `apps`, each with `name`,
    /// `status`, `base_path`, `head_path`, `objects` (`id`, `kind`,
    /// `namespace`, `name`, `status`, `diff`) and `failures` (`side`, `path`,
    /// `diagnostics` as `heliosc check --message-format json` prints them).
    pub fn to_json(&self) -> String {
        let apps = self
            .apps
            .iter()
            .map(|app| JsonApp {
                name: &app.name,
                status: app.status,
                base_path: app.base_path.as_deref(),
                head_path: app.head_path.as_deref(),
                objects: app
                    .objects
                    .iter()
                    .map(|o| JsonObject {
                        id: o.id.to_string(),
                        kind: &o.id.kind,
                        namespace: o.id.namespace.as_deref(),
                        name: &o.id.name,
                        status: o.status,
                        diff: o.diff.as_deref(),
                    })
                    .collect(),
                failures: app
                    .failures
                    .iter()
                    .map(|f| JsonFailure {
                        side: f.side,
                        path: &f.path,
                        diagnostics: f
                            .diagnostics
                            .iter()
                            .map(|d| diagnostic::to_json(d, &f.path, &f.text))
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
        let json = JsonDiff {
            base: &self.base,
            head: &self.head,
            summary: self.summary(),
            apps,
        };
        let mut text = serde_json::to_string_pretty(&json).unwrap_or_default();
        text.push('\n');
        text
    }

    /// For a pull-request comment: a summary table, then one collapsible
    /// `<details>` block per app. At most `limit` bytes (so also characters;
    /// use [`GITHUB_COMMENT_LIMIT`]): past it, the rest is cut and a note
    /// says what is missing.
    pub fn to_markdown(&self, limit: usize) -> String {
        let mut out = String::from("## heliosc diff\n\n");
        let _ = writeln!(
            out,
            "Base {}, head {}: {}.\n",
            self.base.label(true),
            self.head.label(true),
            self.summary_line()
        );
        if self.apps.is_empty() {
            return out;
        }
        // The table takes at most a quarter of the room; the rest is counted.
        let table_budget = limit / 4;
        let mut table = String::from("| app | status | objects |\n| --- | --- | --- |\n");
        for (index, app) in self.apps.iter().enumerate() {
            let row = format!(
                "| {} | {} | {} |\n",
                code(&app.name),
                app.status.as_str(),
                app.account()
            );
            if table.len() + row.len() + 64 > table_budget {
                let _ = writeln!(
                    table,
                    "| ... | {} more | |",
                    plural(self.apps.len() - index, "app")
                );
                break;
            }
            table.push_str(&row);
        }
        table.push('\n');
        out.push_str(&table);

        let note = |shown: usize, partial: Option<&str>| {
            let missing = self.apps.len() - shown;
            let what = match (partial, missing) {
                (Some(name), 0) => format!("the rest of {} is not shown", code(name)),
                (Some(name), _) => format!(
                    "the rest of {} and the details of {missing} more {} are not shown",
                    code(name),
                    if missing == 1 { "app" } else { "apps" }
                ),
                (None, 1) => "the details of 1 app are not shown".to_string(),
                (None, _) => format!("the details of {missing} apps are not shown"),
            };
            format!(
                "> [!WARNING]\n> Truncated to stay under GitHub's 65,536-character comment limit: {what}. Run `heliosc diff` with `--format text` for the whole diff.\n"
            )
        };
        // Room kept for the note, whatever it says.
        const NOTE_ROOM: usize = 400;
        for (index, app) in self.apps.iter().enumerate() {
            let block = markdown_block(app, usize::MAX);
            if out.len() + block.len() + NOTE_ROOM <= limit {
                out.push_str(&block);
                continue;
            }
            let room = limit.saturating_sub(out.len() + NOTE_ROOM);
            let partial = markdown_block(app, room);
            if partial.is_empty() {
                out.push_str(&note(index, None));
            } else {
                out.push_str(&partial);
                out.push_str(&note(index + 1, Some(&app.name)));
            }
            break;
        }
        out
    }
}

/// `heliosc diff --format json`, fields in this order.
#[derive(Serialize)]
struct JsonDiff<'a> {
    base: &'a Revision,
    head: &'a Revision,
    summary: Summary,
    apps: Vec<JsonApp<'a>>,
}

#[derive(Serialize)]
struct JsonApp<'a> {
    name: &'a str,
    status: Status,
    base_path: Option<&'a str>,
    head_path: Option<&'a str>,
    objects: Vec<JsonObject<'a>>,
    failures: Vec<JsonFailure<'a>>,
}

#[derive(Serialize)]
struct JsonObject<'a> {
    id: String,
    kind: &'a str,
    namespace: Option<&'a str>,
    name: &'a str,
    status: Status,
    diff: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonFailure<'a> {
    side: Side,
    path: &'a str,
    diagnostics: Vec<serde_json::Value>,
}

/// One app's `<details>` block, at most `room` bytes: objects that do not
/// fit are cut at a line, then left out; empty when not even the start fits.
fn markdown_block(app: &AppDiff, room: usize) -> String {
    let mut out = String::new();
    let open = if app.status == Status::Failed {
        "<details open>"
    } else {
        "<details>"
    };
    let _ = write!(
        out,
        "{open}\n<summary><code>{}</code> {}: {}</summary>\n\n{}",
        html(&app.name),
        app.status.as_str(),
        html(&app.account()),
        code(app.path())
    );
    if app.base_path.is_some() && app.head_path.is_some() && app.base_path != app.head_path {
        let _ = write!(
            out,
            " (moved from {})",
            code(app.base_path.as_deref().unwrap_or_default())
        );
    }
    out.push_str("\n\n");
    let close = "</details>\n\n";
    let cut = "\n*(cut)*\n\n";
    if out.len() + close.len() + cut.len() > room {
        return String::new();
    }
    let mut sections: Vec<String> = Vec::new();
    for object in &app.objects {
        let title = format!(
            "{} {}",
            object.status.as_str(),
            code(&object.id.to_string())
        );
        match &object.diff {
            None => sections.push(format!("- {title}\n")),
            Some(diff) => sections.push(fenced(&title, diff, "diff")),
        }
    }
    for failure in &app.failures {
        let rendered: String = failure
            .diagnostics
            .iter()
            .map(|d| diagnostic::render(d, &failure.path, &failure.text, RenderOptions::default()))
            .collect();
        let title = if failure.path == app.path() {
            format!("Fails to compile on {}:", failure.side.as_str())
        } else {
            format!(
                "Fails to compile on {} ({}):",
                failure.side.as_str(),
                code(&failure.path)
            )
        };
        sections.push(fenced(&title, &rendered, "text"));
    }
    let last = sections.len();
    for (index, section) in sections.into_iter().enumerate() {
        // A list of ids needs no blank line between items.
        let separator = if section.starts_with("- ") && index + 1 < last {
            ""
        } else {
            "\n"
        };
        if out.len() + section.len() + separator.len() + close.len() <= room {
            out.push_str(&section);
            out.push_str(separator);
            continue;
        }
        // Cut this section at a line so that it fits, keeping its fence closed.
        let budget = room.saturating_sub(out.len() + close.len() + cut.len() + 8);
        out.push_str(&cut_section(&section, budget));
        out.push_str(cut);
        out.push_str(close);
        return out;
    }
    if out.ends_with("\n\n") {
        out.pop();
    }
    out.push('\n');
    out.push_str(close);
    out
}

/// A title, then `body` in a code block whose fence is longer than any run
/// of backticks in it.
fn fenced(title: &str, body: &str, language: &str) -> String {
    let longest = body
        .split(|c| c != '`')
        .map(str::len)
        .max()
        .unwrap_or_default();
    let fence = "`".repeat(longest.max(2) + 1);
    let body = if body.ends_with('\n') || body.is_empty() {
        body.to_string()
    } else {
        format!("{body}\n")
    };
    format!("{title}\n\n{fence}{language}\n{body}{fence}\n")
}

/// The first lines of a fenced section that fit in `budget` bytes, with an
/// open code block closed again.
fn cut_section(section: &str, budget: usize) -> String {
    let mut out = String::new();
    let mut open_fence: Option<String> = None;
    for line in section.lines() {
        let fence: String = line.chars().take_while(|c| *c == '`').collect();
        let closing = open_fence.as_ref().map_or(0, String::len);
        if out.len() + line.len() + 1 + closing + 1 > budget {
            break;
        }
        out.push_str(line);
        out.push('\n');
        if fence.len() >= 3 {
            match &open_fence {
                None => open_fence = Some(fence),
                Some(open) if line == open => open_fence = None,
                Some(_) => {}
            }
        }
    }
    if let Some(fence) = open_fence {
        out.push_str(&fence);
        out.push('\n');
    }
    out
}

/// Inline code, with a backtick fence longer than any inside and `|`
/// escaped (for table cells).
fn code(text: &str) -> String {
    let longest = text
        .split(|c| c != '`')
        .map(str::len)
        .max()
        .unwrap_or_default();
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{}{pad}{fence}", text.replace('|', "\\|"))
}

fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn short(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

/// ANSI colours, or none.
#[derive(Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn wrap(self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn bold(self, text: &str) -> String {
        self.wrap("1", text)
    }

    fn status(self, status: Status, text: &str) -> String {
        match status {
            Status::Added => self.wrap("32", text),
            Status::Removed | Status::Failed => self.wrap("31", text),
            Status::Changed => self.wrap("33", text),
        }
    }

    fn diff_line(self, line: &str) -> String {
        if line.starts_with("@@") {
            self.wrap("36", line)
        } else if line.starts_with('+') {
            self.wrap("32", line)
        } else if line.starts_with('-') {
            self.wrap("31", line)
        } else {
            line.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(path: &str, text: &str) -> Source {
        Source {
            path: path.to_string(),
            id: text.to_string(),
            text: text.to_string(),
            folder_depth_in_repo: path.matches('/').count(),
        }
    }

    const SHOP: &str = "name: shop\nversion: 1\nservices:\n  web:\n    image: nginx:1.27\n    http_port: 80\n    env:\n      DATABASE_URL: ${db.URL}\ndatabases:\n  db: { type: postgresql }\n";

    fn build(text: &str, target: crate::ir::Target) -> Vec<OutputFile> {
        let options = BuildOptions {
            target: Some(target),
            ..BuildOptions::default()
        };
        crate::build("Heliosfile", text, &options).files
    }

    #[test]
    fn compose_objects_reassemble_to_the_output() {
        let files = build(SHOP, crate::ir::Target::Compose);
        let objects = objects(&files);
        let ids: Vec<String> = objects.iter().map(|o| o.id.to_string()).collect();
        assert_eq!(
            ids,
            [
                "service/db",
                "service/web",
                "volume/db-data",
                "network/default",
                "network/helios-edge",
                "file/.env.example"
            ]
        );
        // Each service's text is exactly its part of compose.yaml.
        let compose = &files[0].contents;
        for object in objects.iter().filter(|o| o.id.kind == "service") {
            let indented: String = object.text.lines().map(|l| format!("  {l}\n")).collect();
            assert!(compose.contains(&indented), "{indented}");
        }
    }

    #[test]
    fn kubernetes_objects_are_keyed_by_kind_namespace_and_name() {
        let files = build(SHOP, crate::ir::Target::Kubernetes);
        let objects = objects(&files);
        let ids: Vec<String> = objects.iter().map(|o| o.id.to_string()).collect();
        assert!(ids.contains(&"Namespace/shop".to_string()), "{ids:?}");
        assert!(ids.contains(&"Deployment/shop/web".to_string()), "{ids:?}");
        assert!(ids.contains(&"file/secrets.required.yaml".to_string()));
        assert!(objects.iter().all(|o| !o.text.starts_with('#')));
    }

    #[test]
    fn same_path_and_id_is_not_compiled() {
        // Invalid text with the same id on both sides: not compiled, so no failure.
        let broken = source("a/Heliosfile", "name: a\nversion: 9\n");
        let diff = compare(
            std::slice::from_ref(&broken),
            std::slice::from_ref(&broken),
            &BuildOptions::default(),
        )
        .expect("comparable");
        assert!(diff.apps.is_empty());
        assert_eq!(diff.unchanged, 1);
    }

    #[test]
    fn a_file_naming_no_app_fails_under_its_path() {
        let base = [source("a/Heliosfile", SHOP)];
        let head = [source("a/Heliosfile", "name: [shop\n")];
        let diff = compare(&base, &head, &BuildOptions::default()).expect("comparable");
        let names: Vec<(&str, Status)> = diff
            .apps
            .iter()
            .map(|a| (a.name.as_str(), a.status))
            .collect();
        // Named after the app at the same path on the other side...
        assert_eq!(names, [("shop", Status::Failed)]);
        // ...or after its path.
        let diff = compare(&[], &head, &BuildOptions::default()).expect("comparable");
        assert_eq!(diff.apps[0].name, "a/Heliosfile");
        assert!(diff.has_failures());
        assert!(diff.to_text(false, 100).contains("! a/Heliosfile: failed"));
    }

    #[test]
    fn duplicate_app_names_are_an_error() {
        let head = [source("a/Heliosfile", SHOP), source("b/Heliosfile", SHOP)];
        let error = compare(&[], &head, &BuildOptions::default()).expect_err("duplicate");
        assert!(matches!(
            error,
            DiffError::DuplicateApp {
                side: Side::Head,
                ..
            }
        ));
    }

    #[test]
    fn markdown_stays_under_the_limit() {
        let base: Vec<Source> = (0..40)
            .map(|i| {
                source(
                    &format!("a{i}/Heliosfile"),
                    &SHOP.replace("shop", &format!("app{i}")),
                )
            })
            .collect();
        let head: Vec<Source> = base
            .iter()
            .map(|s| {
                source(
                    &s.path,
                    &s.text
                        .replace("1.27", "1.28")
                        .replace("http_port: 80", "http_port: 81"),
                )
            })
            .collect();
        let diff = compare(&base, &head, &BuildOptions::default()).expect("comparable");
        assert_eq!(diff.summary().changed, 40);
        for limit in [2_000, 5_000, 20_000] {
            let markdown = diff.to_markdown(limit);
            assert!(markdown.len() <= limit, "{} > {limit}", markdown.len());
            assert!(markdown.contains("Truncated"));
            assert_eq!(
                markdown.matches("<details").count(),
                markdown.matches("</details>").count()
            );
            assert_eq!(markdown.matches("```").count() % 2, 0);
        }
        assert!(
            !diff
                .to_markdown(GITHUB_COMMENT_LIMIT * 4)
                .contains("Truncated")
        );
    }
}
