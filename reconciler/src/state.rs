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
//! - `secrets/<app>.env`: the app's generated database passwords, and
//!   `secrets/digest.key`, the key of the keyed digests of secret values:
//!   mode 0600, ignored by the repository's `.gitignore` (the Compose
//!   backend's env files, written from these and `--secrets-file` each
//!   time, live in `secrets/compose/`).
//!
//! One commit per cycle that changed something, so that `git log` there is
//! the audit trail and `git diff` between two commits is what changed on
//! the host. Nothing here chooses what to write; the cycle does.

use crate::desired::{ComponentKind, DesiredApp, sha256_hex};
use crate::plan::{Action, AppPlan};
use crate::secrets::digest::DigestKey;
use crate::secrets::{self, Secret, secrets_file};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
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
    /// A file of `secrets/` does not read back (its values are not shown).
    Secrets {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Git(error) => write!(f, "state repository: {}", error.message()),
            Self::Yaml { path, message } => write!(f, "{}: {message}", path.display()),
            Self::Random(why) => write!(f, "no random bytes for a password: {why}"),
            Self::InvalidName(name) => write!(f, "`{name}` is not a safe file name"),
            Self::Secrets { path, message } => write!(f, "{}: {message}", path.display()),
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
    /// The keyed digest of each secret value it was applied with (never
    /// a value, nor a plain hash of one), so that a later plan can say
    /// which secret changed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
    /// The compiled YAML applied (references to secrets, never values),
    /// so that a later plan can show which fields change.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub spec: String,
}

impl AppliedComponent {
    /// The record of a component as it is applied.
    pub fn of(component: &crate::desired::DesiredComponent) -> Self {
        Self {
            kind: component.kind,
            spec_hash: component.spec_hash.clone(),
            secrets: component.secret_digests.clone(),
            spec: component.spec.clone(),
        }
    }
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
                .map(|c| match c.reason_text() {
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

    /// Whether `apps/<app>/applied.yaml` records `app` as it is now: the
    /// same Heliosfile, compiled files and components (spec hashes and
    /// secret digests), whatever the source commit.
    pub fn applied_describes(&self, app: &DesiredApp) -> Result<bool, StateError> {
        let Some(applied) = self.read_applied(&app.name)? else {
            return Ok(false);
        };
        let files: BTreeMap<String, String> = app
            .files
            .iter()
            .map(|f| (f.path.clone(), sha256_hex(&f.contents)))
            .collect();
        let components: BTreeMap<String, AppliedComponent> = app
            .components
            .iter()
            .map(|(key, c)| (key.clone(), AppliedComponent::of(c)))
            .collect();
        Ok(applied.source_path == app.source_path
            && applied.files == files
            && applied.components == components)
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
                .map(|(key, c)| (key.clone(), AppliedComponent::of(c)))
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

    /// Writes `skipped.yaml`: the apps of the config repo for another
    /// backend, so that `status` says which apps this reconciler skips
    /// and why; removed when there is none.
    pub fn write_skipped(&self, skipped: &[crate::desired::SkippedApp]) -> Result<(), StateError> {
        let path = Path::new("skipped.yaml");
        if skipped.is_empty() {
            let full = self.dir.join(path);
            return match std::fs::remove_file(&full) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&full)(e)),
                _ => Ok(()),
            };
        }
        self.write_if_changed(path, &to_yaml(&skipped)?)
    }

    /// Reads `skipped.yaml`: `(app, target, path)` of each skipped app.
    pub fn read_skipped(&self) -> Result<Vec<(String, String, String)>, StateError> {
        #[derive(Deserialize)]
        struct Entry {
            app: String,
            path: String,
            target: String,
        }
        let entries: Vec<Entry> = self
            .read_yaml(&self.dir.join("skipped.yaml"))?
            .unwrap_or_default();
        Ok(entries
            .into_iter()
            .map(|e| (e.app, e.target, e.path))
            .collect())
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

    /// The store of `app`'s generated database passwords:
    /// `secrets/<app>.env`, in the `NAME=value` format of the secrets file.
    pub fn password_file(&self, app: &str) -> Result<PathBuf, StateError> {
        Ok(self
            .dir
            .join("secrets")
            .join(format!("{}.env", safe_name(app)?)))
    }

    /// The password of each database of `app`, by database name, generated
    /// and stored the first time.
    ///
    /// A database password is generated once and never changed by the
    /// reconciler: the database stored it in its volume at first start,
    /// and a new one would lock the app out of its own data. An operator
    /// who rotates it (in the database, then in this file) gets the
    /// services that use it recreated. Passwords of databases that left
    /// the app are kept: the volume is kept too, and the database may come
    /// back. The file is mode 0600 in a 0700 folder.
    pub fn database_passwords(
        &self,
        app: &str,
        databases: &[String],
    ) -> Result<BTreeMap<String, Secret>, StateError> {
        let path = self.password_file(app)?;
        let mut stored = match std::fs::read_to_string(&path) {
            Ok(text) => secrets_file::parse(&text).map_err(|message| StateError::Secrets {
                path: path.clone(),
                message,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(io(&path)(e)),
        };
        // Files of earlier versions also held the app's user secrets: they
        // come from `--secrets-file` each cycle, never from here.
        let before = stored.len();
        stored.retain(|name, _| !name.starts_with("HELIOS_SECRET_"));
        let mut changed = stored.len() != before;
        let mut passwords = BTreeMap::new();
        for database in databases {
            let variable = heliosc::lower::database_password_variable(database);
            let password = match stored.get(&variable) {
                Some(password) => password.clone(),
                None => {
                    let password = Secret::new(generate_password()?);
                    stored.insert(variable, password.clone());
                    changed = true;
                    password
                }
            };
            passwords.insert(database.clone(), password);
        }
        if changed || !path.exists() {
            let text = secrets_file::render(&stored).map_err(|message| StateError::Secrets {
                path: path.clone(),
                message,
            })?;
            secrets::write_private(&path, &text).map_err(io(&path))?;
        }
        Ok(passwords)
    }

    /// The passwords already stored for `app`'s databases, generating
    /// none: for `plan`, which must not write beside a running daemon.
    pub fn stored_database_passwords(
        &self,
        app: &str,
        databases: &[String],
    ) -> Result<BTreeMap<String, Secret>, StateError> {
        let path = self.password_file(app)?;
        let stored = match std::fs::read_to_string(&path) {
            Ok(text) => secrets_file::parse(&text).map_err(|message| StateError::Secrets {
                path: path.clone(),
                message,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(io(&path)(e)),
        };
        Ok(databases
            .iter()
            .filter_map(|db| {
                let value = stored.get(&heliosc::lower::database_password_variable(db))?;
                Some((db.clone(), value.clone()))
            })
            .collect())
    }

    /// The digest key if there is one yet (`plan` makes none).
    pub fn digest_key_if_any(&self) -> Result<Option<DigestKey>, StateError> {
        let path = self.dir.join("secrets").join("digest.key");
        if path.is_file() {
            self.digest_key().map(Some)
        } else {
            Ok(None)
        }
    }

    /// The key of the keyed digests of secret values
    /// (`secrets/digest.key`, mode 0600), generated the first time.
    pub fn digest_key(&self) -> Result<DigestKey, StateError> {
        let path = self.dir.join("secrets").join("digest.key");
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                return DigestKey::from_hex(&text).ok_or_else(|| StateError::Secrets {
                    path: path.clone(),
                    message: "not a digest key (64 hex digits); delete it to make a new one"
                        .to_string(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
        let key = DigestKey::generate().map_err(StateError::Random)?;
        secrets::write_private(&path, &format!("{}\n", key.to_hex())).map_err(io(&path))?;
        Ok(key)
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
        if let Err(source) = std::fs::write(&temporary, text) {
            // A full disk leaves half a file: do not keep it.
            let _ = std::fs::remove_file(&temporary);
            return Err(io(&temporary)(source));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
