//! The state directory: the reconciler's memory, kept as a git repository,
//! and the per-app env files of secrets beside it.
//!
//! This module owns the layout of `--state-dir`:
//!
//! - `apps/<app>/applied.yaml`: what was last applied (source, files and
//!   their hashes, components), and the compiled files themselves under
//!   `apps/<app>/`, which hold references to secrets, never values;
//! - `apps/<app>/status.yaml`: the last cycle's record for the app;
//! - `inventory.yaml`: every owned app and its objects;
//! - `secrets/<app>.env`: generated database passwords and user secrets,
//!   mode 0600, ignored by the repository's `.gitignore`.
//!
//! One commit per cycle that changed something, so that `git log` there is
//! the audit trail and `git diff` between two commits is what changed on
//! the host. Nothing here chooses what to write; the cycle does.

use crate::backend::{AppSecrets, Secret};
use crate::desired::{ComponentKind, DesiredApp, sha256_hex};
use crate::plan::{Action, AppPlan};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

/// The `.gitignore` of the state repository: secrets never enter git.
const GITIGNORE: &str = "# Env files with passwords and user secrets: never committed.\nsecrets/\n# Half-written files of a reconciler killed mid-write.\n*.tmp~\n# The fetched config repo, the instance lock and the Compose backend's\n# working copies: not the reconciler's record.\n/source.git/\n/.lock\n/compose/\n";

/// The author and committer of every state commit.
const AUTHOR_NAME: &str = "helios-reconciler";
const AUTHOR_EMAIL: &str = "helios@localhost";

/// The length of a generated database password.
pub const PASSWORD_LENGTH: usize = 32;

/// A failure reading or writing the state directory.
#[derive(Debug)]
pub enum StateError {
    /// A file or folder could not be read or written.
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The state repository could not be opened, read or committed to.
    Git(git2::Error),
    /// A YAML file of the state directory does not read back.
    Yaml {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The operating system gave no random bytes for a password.
    Random(String),
    /// A name that would leave its folder (`..`, `/`) was refused.
    InvalidName(String),
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Git(error) => write!(f, "state repository: {}", error.message()),
            Self::Yaml { path, message } => write!(f, "{}: {message}", path.display()),
            Self::Random(why) => write!(f, "no random bytes for a password: {why}"),
            Self::InvalidName(name) => write!(f, "`{name}` is not a safe file name"),
        }
    }
}

impl std::error::Error for StateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Git(error) => Some(error),
            _ => None,
        }
    }
}

impl From<git2::Error> for StateError {
    fn from(error: git2::Error) -> Self {
        Self::Git(error)
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What was applied for one app: `apps/<app>/applied.yaml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The app.
    pub app: String,
    /// The config repo commit it was applied from.
    pub source_commit: String,
    /// Its Heliosfile's path.
    pub source_path: String,
    /// The compiled files and the SHA-256 of each (the files are beside).
    pub files: BTreeMap<String, String>,
    /// Components and their spec hashes.
    pub components: BTreeMap<String, AppliedComponent>,
}

/// One applied component.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedComponent {
    /// What it is.
    pub kind: ComponentKind,
    /// The spec hash applied.
    pub spec_hash: String,
}

/// The outcome of a cycle for one app.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppResult {
    /// Applied and every health check passes.
    Healthy,
    /// Applied, but some check did not pass within the timeout.
    Degraded,
    /// Applying failed.
    Failed,
    /// Its Heliosfile failed; the last applied state is kept.
    Held,
    /// Removed from the host because it left the config repo; its data
    /// volumes are kept unless pruned.
    Removed,
}

/// The plan of one app as recorded: plain strings, so that the record
/// reads back whatever the planner's types become.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRecord {
    /// `create`, `update`, `delete`, `unchanged` or `held`.
    pub action: String,
    /// Why, as in the plan's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The components that change: `~ web (spec changed)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
}

impl PlanRecord {
    /// The record of an app's plan, worded as in the plan's text.
    pub fn from_plan(plan: &AppPlan) -> Self {
        Self {
            action: plan.action.as_str().to_string(),
            reason: plan.reason.map(|r| r.to_string()),
            changes: plan
                .components
                .iter()
                .filter(|c| c.action != Action::Unchanged)
                .map(|c| match c.reason {
                    Some(reason) => format!("{} {} ({reason})", c.action.as_str(), c.name),
                    None => format!("{} {}", c.action.as_str(), c.name),
                })
                .collect(),
        }
    }
}

/// How long the steps of a cycle took for one app, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Durations {
    /// Compiling its Heliosfile.
    pub compile_ms: u64,
    /// Applying.
    pub apply_ms: u64,
    /// Waiting for health checks.
    pub wait_ms: u64,
    /// The whole cycle for this app.
    pub total_ms: u64,
}

/// The last cycle's record for one app: `apps/<app>/status.yaml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppStatus {
    /// The app.
    pub app: String,
    /// The config repo commit of the cycle.
    pub source_commit: String,
    /// What the plan said for this app.
    pub plan: PlanRecord,
    /// The outcome.
    pub result: AppResult,
    /// Compiler diagnostics (rendered plain) and apply or health errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<String>,
    /// Timings.
    pub durations: Durations,
}

/// Every owned app and its objects: `inventory.yaml`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// Owned apps by name.
    pub apps: BTreeMap<String, InventoryApp>,
}

/// The owned objects of one app.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryApp {
    /// The Heliosfile it was applied from.
    pub source_path: String,
    /// Component keys.
    pub components: BTreeSet<String>,
    /// Data volumes.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub volumes: BTreeSet<String>,
}

impl InventoryApp {
    /// The inventory entry of an app as it is being applied.
    pub fn of(app: &DesiredApp) -> Self {
        Self {
            source_path: app.source_path.clone(),
            components: app.components.keys().cloned().collect(),
            volumes: app.volumes.clone(),
        }
    }
}

/// The state directory, open.
pub struct StateDir {
    dir: PathBuf,
    repo: git2::Repository,
}

impl fmt::Debug for StateDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateDir").field("dir", &self.dir).finish()
    }
}

impl StateDir {
    /// Opens the state directory at `dir`, creating it and its git
    /// repository (with the `.gitignore` that keeps secrets out) if needed.
    pub fn open_or_init(dir: &Path) -> Result<Self, StateError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let repo = match git2::Repository::open(dir) {
            Ok(repo) => repo,
            Err(_) => git2::Repository::init(dir)?,
        };
        let state = Self {
            dir: dir.to_path_buf(),
            repo,
        };
        // Rewritten on every open: a hand edit must not let secrets in.
        state.write_if_changed(Path::new(".gitignore"), GITIGNORE)?;
        Ok(state)
    }

    /// Opens an existing state directory to read it (`status`, `plan`
    /// beside a running daemon): nothing is created or written. A missing
    /// directory or one that is not a git repository is an error.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        if !dir.is_dir() {
            return Err(io(dir)(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such state directory",
            )));
        }
        let repo = git2::Repository::open(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            repo,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn app_dir(&self, app: &str) -> Result<PathBuf, StateError> {
        Ok(self.dir.join("apps").join(safe_name(app)?))
    }

    /// Writes `apps/<app>/applied.yaml` and the compiled files beside it.
    pub fn write_applied(&self, app: &DesiredApp, source_commit: &str) -> Result<(), StateError> {
        let dir = self.app_dir(&app.name)?;
        let relative = dir.strip_prefix(&self.dir).unwrap_or(&dir).to_path_buf();
        let mut files = BTreeMap::new();
        for file in &app.files {
            let path = safe_relative(&file.path)?;
            self.write_if_changed(&relative.join("files").join(path), &file.contents)?;
            files.insert(file.path.clone(), sha256_hex(&file.contents));
        }
        let applied = Applied {
            app: app.name.clone(),
            source_commit: source_commit.to_string(),
            source_path: app.source_path.clone(),
            files,
            components: app
                .components
                .iter()
                .map(|(key, c)| {
                    let applied = AppliedComponent {
                        kind: c.kind,
                        spec_hash: c.spec_hash.clone(),
                    };
                    (key.clone(), applied)
                })
                .collect(),
        };
        self.write_if_changed(&relative.join("applied.yaml"), &to_yaml(&applied)?)
    }

    /// Reads `apps/<app>/applied.yaml`, if the app was ever applied.
    pub fn read_applied(&self, app: &str) -> Result<Option<Applied>, StateError> {
        self.read_yaml(&self.app_dir(app)?.join("applied.yaml"))
    }

    /// Writes `apps/<app>/status.yaml`.
    pub fn write_status(&self, status: &AppStatus) -> Result<(), StateError> {
        let path = self.app_dir(&status.app)?.join("status.yaml");
        let relative = path.strip_prefix(&self.dir).unwrap_or(&path).to_path_buf();
        self.write_if_changed(&relative, &to_yaml(status)?)
    }

    /// Reads the last status of `app`.
    pub fn read_status(&self, app: &str) -> Result<Option<AppStatus>, StateError> {
        self.read_yaml(&self.app_dir(app)?.join("status.yaml"))
    }

    /// The last status of every app that has one, by name (for `status`).
    pub fn read_statuses(&self) -> Result<BTreeMap<String, AppStatus>, StateError> {
        let apps = self.dir.join("apps");
        let mut statuses = BTreeMap::new();
        let entries = match std::fs::read_dir(&apps) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(statuses),
            Err(e) => return Err(io(&apps)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io(&apps))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(status) = self.read_status(&name)? {
                statuses.insert(name, status);
            }
        }
        Ok(statuses)
    }

    /// Removes everything recorded for a deleted app (git history keeps it).
    pub fn forget_app(&self, app: &str) -> Result<(), StateError> {
        let dir = self.app_dir(app)?;
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&dir)(e)),
        }
    }

    /// Writes `inventory.yaml`.
    pub fn write_inventory(&self, inventory: &Inventory) -> Result<(), StateError> {
        self.write_if_changed(Path::new("inventory.yaml"), &to_yaml(inventory)?)
    }

    /// Reads `inventory.yaml` (empty before the first cycle).
    pub fn read_inventory(&self) -> Result<Inventory, StateError> {
        Ok(self
            .read_yaml(&self.dir.join("inventory.yaml"))?
            .unwrap_or_default())
    }

    /// Commits every change of the state directory (secrets excluded by
    /// `.gitignore`), if there is any; the message names the source commit:
    /// `reconcile 1a2b3c4: 2 updated, 1 created`. Returns the new commit.
    pub fn commit(&self, source_commit: &str, summary: &str) -> Result<Option<String>, StateError> {
        let mut index = self.repo.index()?;
        index.add_all(["*"], git2::IndexAddOption::DEFAULT, None)?;
        // `add_all` adds and updates; `update_all` also drops deleted files.
        index.update_all(["*"], None)?;
        index.write()?;
        let tree_id = index.write_tree()?;
        let parent = match self.repo.head() {
            Ok(head) => Some(head.peel_to_commit()?),
            Err(e) if e.code() == git2::ErrorCode::UnbornBranch => None,
            Err(e) => return Err(e.into()),
        };
        if parent.as_ref().map(|p| p.tree_id()) == Some(tree_id) {
            return Ok(None);
        }
        let tree = self.repo.find_tree(tree_id)?;
        let signature = git2::Signature::now(AUTHOR_NAME, AUTHOR_EMAIL)?;
        let short: String = source_commit.chars().take(7).collect();
        let message = format!("reconcile {short}: {summary}\n\nSource commit: {source_commit}\n");
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let oid = self.repo.commit(
            Some("HEAD"),
            &signature,
            &signature,
            &message,
            &tree,
            &parents,
        )?;
        Ok(Some(oid.to_string()))
    }

    /// When each app's `status.yaml` was last committed (seconds since the
    /// Unix epoch), from the state repository's history: the commit time
    /// of the newest commit that changed it. Only the last `limit` commits
    /// are read; an app whose record is older is left out.
    pub fn status_times(&self, limit: usize) -> Result<BTreeMap<String, i64>, StateError> {
        let mut times = BTreeMap::new();
        let mut walk = self.repo.revwalk()?;
        match walk.push_head() {
            Ok(()) => {}
            Err(e) if e.code() == git2::ErrorCode::UnbornBranch => return Ok(times),
            Err(e) => return Err(e.into()),
        }
        let blobs = |tree: &git2::Tree<'_>| -> BTreeMap<String, git2::Oid> {
            let Ok(apps) = tree
                .get_name("apps")
                .map(|e| e.id())
                .ok_or(())
                .and_then(|id| self.repo.find_tree(id).map_err(|_| ()))
            else {
                return BTreeMap::new();
            };
            apps.iter()
                .filter_map(|app| {
                    let name = app.name()?.to_string();
                    let dir = self.repo.find_tree(app.id()).ok()?;
                    Some((name, dir.get_name("status.yaml")?.id()))
                })
                .collect()
        };
        for oid in walk.take(limit) {
            let commit = self.repo.find_commit(oid?)?;
            let now = blobs(&commit.tree()?);
            let before = match commit.parent(0) {
                Ok(parent) => blobs(&parent.tree()?),
                Err(_) => BTreeMap::new(),
            };
            for (app, blob) in now {
                if before.get(&app) != Some(&blob) {
                    times.entry(app).or_insert(commit.time().seconds());
                }
            }
        }
        Ok(times)
    }

    /// The env file of `app`: `secrets/<app>.env`.
    pub fn env_file(&self, app: &str) -> Result<PathBuf, StateError> {
        Ok(self
            .dir
            .join("secrets")
            .join(format!("{}.env", safe_name(app)?)))
    }

    /// Makes sure the env file of `app` exists with a password for each of
    /// its databases and the given user secrets, and returns them all.
    ///
    /// A database password is generated the first time and never changes:
    /// the database stored it in its volume at first start, and a new one
    /// would lock the app out of its own data. User secrets are taken as
    /// given each time (they are rotated outside). The file is mode 0600.
    pub fn ensure_secrets(
        &self,
        app: &DesiredApp,
        user: &BTreeMap<String, Secret>,
    ) -> Result<AppSecrets, StateError> {
        let path = self.env_file(&app.name)?;
        let existing = match std::fs::read_to_string(&path) {
            Ok(text) => parse_env(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(io(&path)(e)),
        };
        let mut secrets = AppSecrets {
            env_file: Some(path.clone()),
            ..Default::default()
        };
        let mut lines = BTreeMap::new();
        // Passwords of databases that left the app are kept: the volume
        // is kept too, and the database may come back.
        for (variable, value) in &existing {
            if variable.ends_with("_PASSWORD") && !variable.starts_with("HELIOS_SECRET_") {
                lines.insert(variable.clone(), value.clone());
            }
        }
        for database in &app.databases {
            let variable = heliosc::lower::database_password_variable(database);
            let password = match lines.get(&variable) {
                Some(password) => password.clone(),
                None => generate_password()?,
            };
            lines.insert(variable, password.clone());
            secrets
                .database_passwords
                .insert(database.clone(), Secret(password));
        }
        for (name, value) in user {
            lines.insert(
                heliosc::lower::user_secret_variable(name),
                value.expose().to_string(),
            );
            secrets.user.insert(name.clone(), value.clone());
        }
        let text: String = lines
            .iter()
            .map(|(k, v)| format!("{k}={}\n", quote_env(v)))
            .collect();
        if existing != lines || !path.exists() {
            write_private(&path, &text)?;
        }
        Ok(secrets)
    }

    fn write_if_changed(&self, relative: &Path, text: &str) -> Result<(), StateError> {
        let path = self.dir.join(relative);
        if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
            return Ok(());
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        // Write then rename: a reconciler killed mid-write leaves the old
        // file, never half of the new one.
        let temporary = path.with_extension("tmp~");
        std::fs::write(&temporary, text).map_err(io(&temporary))?;
        std::fs::rename(&temporary, &path).map_err(io(&path))
    }

    fn read_yaml<T: for<'de> Deserialize<'de>>(
        &self,
        path: &Path,
    ) -> Result<Option<T>, StateError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(path)(e)),
        };
        serde_saphyr::from_str(&text)
            .map(Some)
            .map_err(|e| StateError::Yaml {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
    }
}

fn to_yaml<T: Serialize>(value: &T) -> Result<String, StateError> {
    serde_saphyr::to_string(value).map_err(|e| StateError::Yaml {
        path: PathBuf::new(),
        message: e.to_string(),
    })
}

/// App names are DNS labels once checked; this refuses anything else
/// rather than trusting that, since they become paths.
fn safe_name(name: &str) -> Result<&str, StateError> {
    let ok = !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0']);
    if ok {
        Ok(name)
    } else {
        Err(StateError::InvalidName(name.to_string()))
    }
}

fn safe_relative(path: &str) -> Result<PathBuf, StateError> {
    let relative = Path::new(path);
    if relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        Ok(relative.to_path_buf())
    } else {
        Err(StateError::InvalidName(path.to_string()))
    }
}

/// 32 letters and digits from the operating system's random source.
pub fn generate_password() -> Result<String, StateError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // 248 = 4 × 62: bytes above it are dropped so that every character is
    // equally likely.
    const LIMIT: u8 = 248;
    let mut password = String::with_capacity(PASSWORD_LENGTH);
    let mut buffer = [0u8; 64];
    while password.len() < PASSWORD_LENGTH {
        getrandom::fill(&mut buffer).map_err(|e| StateError::Random(e.to_string()))?;
        for byte in buffer {
            if byte < LIMIT && password.len() < PASSWORD_LENGTH {
                password.push(char::from(ALPHABET[usize::from(byte) % ALPHABET.len()]));
            }
        }
    }
    Ok(password)
}

/// An env file value for Compose: single quotes keep it literal (no `$`
/// interpolation); a value with a quote or a newline is double-quoted with
/// escapes instead.
fn quote_env(value: &str) -> String {
    if !value.contains(['\'', '\n', '\r']) {
        return format!("'{value}'");
    }
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Reads back an env file this module wrote.
fn parse_env(text: &str) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    for line in text.lines() {
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let value = if let Some(inner) = raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
            inner.to_string()
        } else if let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                match (c, chars.clone().next()) {
                    ('\\', Some(next)) => {
                        chars.next();
                        out.push(match next {
                            'n' => '\n',
                            'r' => '\r',
                            other => other,
                        });
                    }
                    ('$', Some('$')) => {
                        chars.next();
                        out.push('$');
                    }
                    (c, _) => out.push(c),
                }
            }
            out
        } else {
            raw.to_string()
        };
        values.insert(key.to_string(), value);
    }
    values
}

/// Writes a file only its owner can read, replacing it atomically.
fn write_private(path: &Path, text: &str) -> Result<(), StateError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o700))
                .map_err(io(parent))?;
        }
    }
    let temporary = path.with_extension("env.tmp~");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // Created 0600: never readable by others, not even for a moment.
        options.mode(0o600);
    }
    let mut file = options.open(&temporary).map_err(io(&temporary))?;
    file.write_all(text.as_bytes()).map_err(io(&temporary))?;
    file.sync_all().map_err(io(&temporary))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        // A leftover temporary file from a crash keeps its old mode.
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))
            .map_err(io(&temporary))?;
    }
    std::fs::rename(&temporary, path).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_round_trip() {
        for value in [
            "plain",
            "with $dollar",
            "it's",
            "two\nlines",
            "back\\slash \"q\"",
        ] {
            let text = format!("K={}\n", quote_env(value));
            assert_eq!(parse_env(&text)["K"], value, "{text}");
        }
    }

    #[test]
    fn passwords_are_32_alphanumerics_and_differ() {
        let a = generate_password().expect("random bytes");
        let b = generate_password().expect("random bytes");
        assert_eq!(a.len(), PASSWORD_LENGTH);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn unsafe_names_are_refused() {
        assert!(safe_name("..").is_err());
        assert!(safe_name("a/b").is_err());
        assert!(safe_name("shop").is_ok());
        assert!(safe_relative("../x").is_err());
        assert!(safe_relative("/etc/passwd").is_err());
        assert!(safe_relative("compose.yaml").is_ok());
    }
}
