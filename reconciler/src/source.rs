//! The config repo as the reconciler sees it: one branch of a remote (a URL
//! or a local path), fetched into a bare repository in the state directory,
//! and the Heliosfiles of a commit read straight from git objects. This
//! module owns the credentials (a [`Secret`] that never prints), the fetch
//! and what it means (new commit, force push, deleted branch, unreachable
//! remote), the tree walk, and the [`Backoff`] the daemon waits with after a
//! failure. It never logs: callers log its outcomes and errors, which hold
//! no credential.

pub use crate::secrets::Secret;
use git2::{
    AutotagOption, Cred, CredentialType, FetchOptions, FetchPrune, ObjectType, Oid, ProxyOptions,
    RemoteCallbacks, Repository, Tree,
};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use heliosc::{HELIOSFILE_NAMES, SKIPPED_FOLDERS};

/// Heliosfiles bigger than this are flagged, not read: a manifest is a few
/// kilobytes, and a huge blob (a committed archive renamed by mistake) must
/// not be loaded into memory on every cycle.
pub const MAX_HELIOSFILE_BYTES: usize = 4 * 1024 * 1024;

/// The user name sent with a token when none is configured: GitHub wants
/// `x-access-token`, and GitLab and Gitea accept any name with a token.
pub const DEFAULT_TOKEN_USER: &str = "x-access-token";

/// The folder of the state directory holding the fetched repository.
const MIRROR_DIR: &str = "source.git";

/// The remote name in the bare repository.
const REMOTE: &str = "origin";

/// Reads a credential from an environment variable: the variable's name is
/// what appears on the command line, never the value, so it does not show
/// in `ps`.
fn secret_from_env(var: &str) -> Result<Secret, SourceError> {
    let value = std::env::var(var).map_err(|e| SourceError::Credential {
        from: format!("environment variable `{var}`"),
        message: match e {
            std::env::VarError::NotPresent => "is not set".to_string(),
            std::env::VarError::NotUnicode(_) => "is not valid Unicode".to_string(),
        },
    })?;
    checked_credential(value, || format!("environment variable `{var}`"))
}

/// Reads a credential from a file (a mounted Kubernetes Secret, a systemd
/// credential), without its trailing newline: editors and `echo` add one,
/// and it is never part of a token.
fn secret_from_file(path: &Path) -> Result<Secret, SourceError> {
    let value = std::fs::read_to_string(path).map_err(|e| SourceError::Credential {
        from: format!("file `{}`", path.display()),
        message: e.to_string(),
    })?;
    checked_credential(value, || format!("file `{}`", path.display()))
}

/// The value with surrounding whitespace removed; an empty value is an
/// error now rather than a baffling authentication failure later.
fn checked_credential(value: String, from: impl FnOnce() -> String) -> Result<Secret, SourceError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(SourceError::Credential {
            from: from(),
            message: "is empty".to_string(),
        });
    }
    Ok(Secret::new(trimmed))
}

/// How to authenticate to the remote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Auth {
    /// No credentials: a public repository, a local path, or ssh through an
    /// agent-less setup that needs none.
    #[default]
    None,
    /// https with a token (a personal access token, a deploy token), sent
    /// as the password of `username`.
    Token {
        /// The user name sent with the token ([`DEFAULT_TOKEN_USER`] unless
        /// the forge wants another).
        username: String,
        /// The token.
        token: Secret,
    },
    /// ssh with a private key file.
    SshKey {
        /// The private key; its `.pub` is not needed.
        private_key_path: PathBuf,
        /// The key's passphrase, if it has one.
        passphrase: Option<Secret>,
    },
}

impl Auth {
    /// A token read from the environment variable `var`, sent with
    /// [`DEFAULT_TOKEN_USER`].
    pub fn token_from_env(var: &str) -> Result<Self, SourceError> {
        Ok(Self::Token {
            username: DEFAULT_TOKEN_USER.to_string(),
            token: secret_from_env(var)?,
        })
    }

    /// A token read from the file at `path`, sent with
    /// [`DEFAULT_TOKEN_USER`].
    pub fn token_from_file(path: &Path) -> Result<Self, SourceError> {
        Ok(Self::Token {
            username: DEFAULT_TOKEN_USER.to_string(),
            token: secret_from_file(path)?,
        })
    }

    /// The credential values, for the cycle's redactor.
    pub fn credentials(&self) -> Vec<&Secret> {
        match self {
            Self::None => Vec::new(),
            Self::Token { token, .. } => vec![token],
            Self::SshKey { passphrase, .. } => passphrase.iter().collect(),
        }
    }

    /// The secret values, to scrub from any message git returns.
    fn secrets(&self) -> Vec<&str> {
        match self {
            Self::None => Vec::new(),
            Self::Token { token, .. } => vec![token.expose()],
            Self::SshKey { passphrase, .. } => passphrase.iter().map(Secret::expose).collect(),
        }
    }
}

/// What to fetch and read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceConfig {
    /// The remote: an https or ssh URL, a `file://` URL or a local path. It
    /// must not hold a password: the URL is stored in the state directory
    /// and shown in errors and on the command line.
    pub url: String,
    /// The branch to follow, without `refs/heads/`.
    pub branch: String,
    /// The folder of the repository to read, `""` for all of it (several
    /// hosts share a repository, each with its own path).
    pub path: String,
    /// The credentials.
    pub auth: Auth,
}

impl SourceConfig {
    /// A config for `url` and `branch`, the whole repository, no
    /// credentials.
    pub fn new(url: impl Into<String>, branch: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            branch: branch.into(),
            path: String::new(),
            auth: Auth::None,
        }
    }
}

/// What a fetch found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchOutcome {
    /// The branch is where the last fetch left it.
    Unchanged {
        /// The branch's commit.
        commit: Oid,
    },
    /// The branch moved (or this is the first fetch).
    NewCommit {
        /// Where the last fetch left it; `None` on the first fetch.
        previous: Option<Oid>,
        /// Where it is now.
        commit: Oid,
        /// `previous` is not an ancestor of `commit`: history was rewritten
        /// (a force push, a reset). The new commit is still the desired
        /// state; this is for the log and the status record.
        rewritten: bool,
    },
}

impl FetchOutcome {
    /// The branch's commit after the fetch.
    pub fn commit(&self) -> Oid {
        match self {
            Self::Unchanged { commit } | Self::NewCommit { commit, .. } => *commit,
        }
    }
}

/// Why a Heliosfile could not be read. The file is reported, the others
/// are read: one bad file must not stop the other apps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileError {
    /// The blob is not UTF-8 text.
    NotUtf8,
    /// The blob is over [`MAX_HELIOSFILE_BYTES`] and was not read.
    TooLarge {
        /// Its size in bytes.
        size: usize,
    },
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotUtf8 => f.write_str("is not UTF-8 text"),
            Self::TooLarge { size } => write!(
                f,
                "is {size} bytes, over the {MAX_HELIOSFILE_BYTES}-byte limit for a Heliosfile"
            ),
        }
    }
}

impl std::error::Error for FileError {}

/// One Heliosfile of a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// Its path from the repository's root, `/`-separated.
    pub path: String,
    /// Its blob: the same id means the same content, whatever the commit.
    pub blob_id: Oid,
    /// Its text, or why it could not be read.
    pub text: Result<String, FileError>,
}

/// Errors of the git source. None holds a credential: URLs are shown
/// without their password and messages from git are scrubbed of secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceError {
    /// The configuration cannot be used (a password in the URL, an invalid
    /// branch name).
    Config {
        /// What is wrong.
        message: String,
    },
    /// A credential could not be read.
    Credential {
        /// Where it was to be read from (a variable's name, a file's path).
        from: String,
        /// What went wrong.
        message: String,
    },
    /// The bare repository in the state directory could not be opened,
    /// created or configured.
    StateRepository {
        /// Its path.
        path: PathBuf,
        /// git's message.
        message: String,
    },
    /// The remote could not be reached or read: network down, DNS, refused
    /// connection, TLS, a local path that is gone. The caller keeps the
    /// last state and retries with a [`Backoff`].
    Unreachable {
        /// The remote, without credentials.
        url: String,
        /// git's message, scrubbed.
        message: String,
    },
    /// The remote refused the credentials (or asked for some and none are
    /// configured). Retrying will not help until the credentials change.
    Authentication {
        /// The remote, without credentials.
        url: String,
        /// git's message, scrubbed.
        message: String,
    },
    /// The branch does not exist on the remote: deleted, renamed or never
    /// pushed. The caller keeps the last state: a deleted branch must never
    /// wipe a host.
    BranchMissing {
        /// The remote, without credentials.
        url: String,
        /// The branch.
        branch: String,
    },
    /// `--path` names no folder or file in the commit: a typo, or a folder
    /// that was moved. An error rather than an empty host: reconciling
    /// nothing would remove every app.
    PathMissing {
        /// The path.
        path: String,
        /// The commit.
        commit: String,
    },
    /// Reading fetched objects failed (a commit not fetched, a corrupt
    /// object).
    Git {
        /// What was being read.
        context: String,
        /// git's message.
        message: String,
    },
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config { message } => write!(f, "invalid source configuration: {message}"),
            Self::Credential { from, message } => {
                write!(f, "cannot read the credential from {from}: {message}")
            }
            Self::StateRepository { path, message } => write!(
                f,
                "cannot use the repository `{}` in the state directory: {message}",
                path.display()
            ),
            Self::Unreachable { url, message } => {
                write!(f, "cannot fetch from `{url}`: {message}")
            }
            Self::Authentication { url, message } => {
                write!(f, "authentication to `{url}` failed: {message}")
            }
            Self::BranchMissing { url, branch } => {
                write!(f, "branch `{branch}` does not exist on `{url}`")
            }
            Self::PathMissing { path, commit } => write!(
                f,
                "--path `{path}` names no folder or file in commit {commit}; nothing is applied or removed (check --path, or the branch)"
            ),
            Self::Git { context, message } => write!(f, "cannot read {context}: {message}"),
        }
    }
}

impl std::error::Error for SourceError {}

/// The config repo: a bare repository under the state directory that
/// fetches one branch of the remote.
pub struct GitSource {
    repo: Repository,
    config: SourceConfig,
    /// `config.url` as git is given it (a local path made absolute, so the
    /// daemon's working directory does not matter).
    url: String,
    /// `config.path` without leading, trailing or doubled slashes.
    path: String,
}

impl fmt::Debug for GitSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitSource")
            .field("repo", &self.repo.path())
            .field("url", &redact_url(&self.url))
            .field("branch", &self.config.branch)
            .field("path", &self.path)
            .field("auth", &self.config.auth)
            .finish()
    }
}

impl GitSource {
    /// Opens (or creates) `<state_dir>/source.git` and points its `origin`
    /// at the configured URL. Nothing is fetched yet.
    pub fn open(config: SourceConfig, state_dir: &Path) -> Result<Self, SourceError> {
        if url_has_password(&config.url) {
            return Err(SourceError::Config {
                message: format!(
                    "the repository URL `{}` holds a password; give the token through \
                     an environment variable or a file instead, so it is neither stored \
                     nor shown",
                    redact_url(&config.url)
                ),
            });
        }
        let branch = config
            .branch
            .strip_prefix("refs/heads/")
            .unwrap_or(&config.branch);
        if branch.is_empty() || !git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
            return Err(SourceError::Config {
                message: format!("`{}` is not a valid branch name", config.branch),
            });
        }
        let config = SourceConfig {
            branch: branch.to_string(),
            ..config
        };
        let url = absolute_local_url(&config.url);
        let path = normalize_path(&config.path);

        let dir = state_dir.join(MIRROR_DIR);
        let state_error = |e: git2::Error| SourceError::StateRepository {
            path: dir.clone(),
            message: e.message().to_string(),
        };
        let repo = if dir.exists() {
            Repository::open_bare(&dir).map_err(state_error)?
        } else {
            Repository::init_bare(&dir).map_err(state_error)?
        };
        // The URL may have changed since the last run (`--repo` edited):
        // follow it. The old tracking ref stays, so the next fetch still
        // says whether the new remote's history continues the old one.
        match repo.find_remote(REMOTE) {
            Ok(remote) if remote.url() == Some(url.as_str()) => {}
            Ok(_) => repo.remote_set_url(REMOTE, &url).map_err(state_error)?,
            Err(_) => {
                repo.remote_with_fetch(REMOTE, &url, &refspec(&config.branch))
                    .map_err(state_error)?;
            }
        }
        Ok(Self {
            repo,
            config,
            url,
            path,
        })
    }

    /// The configuration (its secrets print as `***`).
    pub fn config(&self) -> &SourceConfig {
        &self.config
    }

    /// The remote's local directory when it is one (a path or a `file://`
    /// URL), for a watcher to notice new commits without polling.
    pub fn local_path(&self) -> Option<PathBuf> {
        let path = self.url.strip_prefix("file://").unwrap_or(&self.url);
        let path = Path::new(path);
        (path.is_absolute() && path.exists()).then(|| path.to_path_buf())
    }

    /// The commit the last successful fetch left the branch at, if any.
    pub fn last_fetched(&self) -> Option<Oid> {
        self.repo.refname_to_id(&self.tracking_ref()).ok()
    }

    /// Fetches the branch (and only it, forcibly, so a force push is
    /// taken) and says how it moved. On error the tracking ref is left as
    /// it was: the caller keeps the last state.
    pub fn fetch(&mut self) -> Result<FetchOutcome, SourceError> {
        let previous = self.last_fetched();
        let secrets = self.config.auth.secrets();
        let fetch_error = |e: git2::Error| self.transport_error(&e, &secrets);

        let mut remote =
            self.repo
                .find_remote(REMOTE)
                .map_err(|e| SourceError::StateRepository {
                    path: self.repo.path().to_path_buf(),
                    message: e.message().to_string(),
                })?;
        let mut options = FetchOptions::new();
        options
            .remote_callbacks(credentials_callbacks(&self.config.auth))
            // Tags are not followed: only the branch is desired state.
            .download_tags(AutotagOption::None)
            .prune(FetchPrune::Off);
        // http(s)_proxy and the git config, as `git fetch` does.
        let mut proxy = ProxyOptions::new();
        proxy.auto();
        options.proxy_options(proxy);
        remote
            .fetch(&[refspec(&self.config.branch)], Some(&mut options), None)
            .map_err(fetch_error)?;

        // A refspec without a match fetches nothing and is no error in
        // libgit2; whether the branch exists is in what the remote listed.
        let wanted = format!("refs/heads/{}", self.config.branch);
        let advertised = remote
            .list()
            .map_err(fetch_error)?
            .iter()
            .any(|head| head.name() == wanted);
        if !advertised {
            return Err(SourceError::BranchMissing {
                url: redact_url(&self.url),
                branch: self.config.branch.clone(),
            });
        }
        let commit =
            self.repo
                .refname_to_id(&self.tracking_ref())
                .map_err(|e| SourceError::Git {
                    context: format!("the fetched branch `{}`", self.config.branch),
                    message: e.message().to_string(),
                })?;
        Ok(match previous {
            Some(previous) if previous == commit => FetchOutcome::Unchanged { commit },
            _ => FetchOutcome::NewCommit {
                previous,
                commit,
                // A previous commit gone from the object store cannot be an
                // ancestor we know of: call it a rewrite.
                rewritten: previous.is_some_and(|previous| {
                    !self
                        .repo
                        .graph_descendant_of(commit, previous)
                        .unwrap_or(false)
                }),
            },
        })
    }

    /// The tree id of the configured path at `commit` (`None` when the path
    /// does not exist there). Two commits with the same id have the same
    /// Heliosfiles, so a commit touching only other hosts' folders can be
    /// skipped.
    pub fn tree_id(&self, commit: Oid) -> Result<Option<Oid>, SourceError> {
        let tree = self.commit_tree(commit)?;
        if self.path.is_empty() {
            return Ok(Some(tree.id()));
        }
        Ok(tree.get_path(Path::new(&self.path)).ok().map(|e| e.id()))
    }

    /// Every Heliosfile under the configured path at `commit`, read from
    /// git objects (there is no work tree), sorted by path. An empty list
    /// is a valid answer; what to do with it is the caller's call. A path
    /// naming one Heliosfile gives that file.
    pub fn read_heliosfiles(&self, commit: Oid) -> Result<Vec<SourceFile>, SourceError> {
        let tree = self.commit_tree(commit)?;
        let mut files = Vec::new();
        if self.path.is_empty() {
            self.walk(&tree, "", &mut files)?;
        } else if let Ok(entry) = tree.get_path(Path::new(&self.path)) {
            match entry.kind() {
                Some(ObjectType::Tree) => {
                    let subtree = self.find_tree(entry.id(), &self.path)?;
                    self.walk(&subtree, &self.path, &mut files)?;
                }
                Some(ObjectType::Blob) if is_regular_file(entry.filemode()) => {
                    files.push(self.read_blob(entry.id(), &self.path)?);
                }
                _ => {}
            }
        } else {
            return Err(SourceError::PathMissing {
                path: self.path.clone(),
                commit: commit.to_string(),
            });
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    /// The source tag of the image built for the Heliosfile at `heliosfile`
    /// (a path of the repository) with `build`, at `commit`
    /// ([`heliosc::source_tag`]: the same as `heliosc tag` prints).
    pub fn source_tag(
        &self,
        commit: Oid,
        heliosfile: &str,
        build: &heliosc::ir::Build,
    ) -> Result<String, String> {
        let tree = self.commit_tree(commit).map_err(|e| e.to_string())?;
        heliosc::source_tag::in_tree(&tree, heliosfile, build)
    }

    /// The build context of `build` at `commit` as a tar archive made from
    /// git objects ([`crate::build::context_tar`]).
    pub fn context_tar(
        &self,
        commit: Oid,
        build: &crate::desired::AppBuild,
    ) -> Result<Vec<u8>, String> {
        let tree = self.commit_tree(commit).map_err(|e| e.to_string())?;
        crate::build::context_tar(&self.repo, &tree, build)
    }

    fn tracking_ref(&self) -> String {
        format!("refs/remotes/{REMOTE}/{}", self.config.branch)
    }

    fn commit_tree(&self, commit: Oid) -> Result<Tree<'_>, SourceError> {
        self.repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(|e| SourceError::Git {
                context: format!("commit {commit}"),
                message: e.message().to_string(),
            })
    }

    fn find_tree(&self, id: Oid, path: &str) -> Result<Tree<'_>, SourceError> {
        self.repo.find_tree(id).map_err(|e| SourceError::Git {
            context: format!("folder `{path}`"),
            message: e.message().to_string(),
        })
    }

    /// This folder's Heliosfile (the first name of [`HELIOSFILE_NAMES`]
    /// present) and those of its subfolders. The walk of `heliosc diff`.
    fn walk(
        &self,
        tree: &Tree<'_>,
        prefix: &str,
        out: &mut Vec<SourceFile>,
    ) -> Result<(), SourceError> {
        let join = |name: &str| {
            if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}/{name}")
            }
        };
        let heliosfile = HELIOSFILE_NAMES.iter().find_map(|name| {
            tree.get_name(name).filter(|entry| {
                entry.kind() == Some(ObjectType::Blob) && is_regular_file(entry.filemode())
            })
        });
        if let Some(entry) = heliosfile {
            let name = entry.name().unwrap_or_default();
            out.push(self.read_blob(entry.id(), &join(name))?);
        }
        for entry in tree.iter() {
            // Non-UTF-8 folder names cannot hold an app we could name.
            let Some(name) = entry.name() else {
                continue;
            };
            if entry.kind() != Some(ObjectType::Tree) || SKIPPED_FOLDERS.contains(&name) {
                continue;
            }
            let path = join(name);
            let subtree = self.find_tree(entry.id(), &path)?;
            self.walk(&subtree, &path, out)?;
        }
        Ok(())
    }

    fn read_blob(&self, id: Oid, path: &str) -> Result<SourceFile, SourceError> {
        let git_error = |e: git2::Error| SourceError::Git {
            context: format!("`{path}`"),
            message: e.message().to_string(),
        };
        // The header gives the size without loading the blob.
        let (size, _) = self
            .repo
            .odb()
            .and_then(|odb| odb.read_header(id))
            .map_err(git_error)?;
        let text = if size > MAX_HELIOSFILE_BYTES {
            Err(FileError::TooLarge { size })
        } else {
            let blob = self.repo.find_blob(id).map_err(git_error)?;
            std::str::from_utf8(blob.content())
                .map(str::to_string)
                .map_err(|_| FileError::NotUtf8)
        };
        Ok(SourceFile {
            path: path.to_string(),
            blob_id: id,
            text,
        })
    }

    /// A fetch error as the caller acts on it: credentials refused (fix the
    /// config) or anything else on the way (wait and retry).
    fn transport_error(&self, e: &git2::Error, secrets: &[&str]) -> SourceError {
        let url = redact_url(&self.url);
        let message = scrub(e.message(), secrets);
        if e.code() == git2::ErrorCode::Auth {
            SourceError::Authentication { url, message }
        } else {
            SourceError::Unreachable { url, message }
        }
    }
}

/// The one refspec fetched: forced, so a rewritten branch replaces the old.
fn refspec(branch: &str) -> String {
    format!("+refs/heads/{branch}:refs/remotes/{REMOTE}/{branch}")
}

/// The credentials callback. libgit2 calls it again after each rejection,
/// so each kind of credential is offered once: a wrong token fails with an
/// authentication error instead of looping.
fn credentials_callbacks(auth: &Auth) -> RemoteCallbacks<'_> {
    let mut callbacks = RemoteCallbacks::new();
    let mut offered = CredentialType::empty();
    callbacks.credentials(move |_url, username_from_url, allowed| {
        // ssh asks for the user name first when the URL has none.
        if allowed.contains(CredentialType::USERNAME) {
            return Cred::username(username_from_url.unwrap_or("git"));
        }
        let (kind, cred) = match auth {
            Auth::Token { username, token }
                if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) =>
            {
                (CredentialType::USER_PASS_PLAINTEXT, {
                    let user = username_from_url.unwrap_or(username);
                    Cred::userpass_plaintext(user, token.expose())
                })
            }
            Auth::SshKey {
                private_key_path,
                passphrase,
            } if allowed.contains(CredentialType::SSH_KEY) => (
                CredentialType::SSH_KEY,
                Cred::ssh_key(
                    username_from_url.unwrap_or("git"),
                    None,
                    private_key_path,
                    passphrase.as_ref().map(Secret::expose),
                ),
            ),
            Auth::None => {
                return Err(auth_error(
                    "the remote asks for credentials and none are configured",
                ));
            }
            _ => {
                return Err(auth_error(
                    "the remote does not accept the configured kind of credentials",
                ));
            }
        };
        if offered.contains(kind) {
            return Err(auth_error("the remote rejected the credentials"));
        }
        offered |= kind;
        cred
    });
    callbacks
}

fn auth_error(message: &str) -> git2::Error {
    git2::Error::new(git2::ErrorCode::Auth, git2::ErrorClass::Callback, message)
}

/// Regular files (`100644`, `100755`), not symlinks or submodules.
fn is_regular_file(mode: i32) -> bool {
    mode & 0o170000 == 0o100000
}

/// `a//b/` and `/a/b` as `a/b`; `.` and `""` as the root.
fn normalize_path(path: &str) -> String {
    path.split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// A local path made absolute; URLs (`scheme://`, scp-like `host:path`) and
/// paths that do not exist are left as given.
fn absolute_local_url(url: &str) -> String {
    if url.contains("://") {
        return url.to_string();
    }
    match std::fs::canonicalize(url) {
        Ok(path) => path.to_string_lossy().into_owned(),
        Err(_) => url.to_string(),
    }
}

/// The `user:password@` of a `scheme://` URL, if present.
fn userinfo(url: &str) -> Option<(usize, &str)> {
    let start = url.find("://")? + 3;
    let rest = &url[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    Some((start, &rest[..at]))
}

fn url_has_password(url: &str) -> bool {
    userinfo(url).is_some_and(|(_, info)| info.contains(':'))
}

/// The URL with any password replaced by `***`: a URL with one is refused,
/// but errors about it must not show it either.
fn redact_url(url: &str) -> String {
    match userinfo(url) {
        Some((start, info)) if info.contains(':') => {
            let user = info.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..start], &url[start + info.len()..])
        }
        _ => url.to_string(),
    }
}

/// A message from git with every secret value replaced by `***`: git does
/// not echo credentials, but a server's error body might.
fn scrub(message: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|secret| !secret.is_empty())
        .fold(message.to_string(), |message, secret| {
            message.replace(secret, "***")
        })
}

/// Exponential backoff for failed cycles: `base`, `2 × base`, `4 × base`,
/// ... capped at `max`, each scaled by a jitter factor so many reconcilers
/// failing together (a forge outage) do not retry in lockstep. Pure: the
/// caller passes the random number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
    /// Failures since the last success.
    pub attempt: u32,
}

impl Backoff {
    /// A backoff that has seen no failure.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            attempt: 0,
        }
    }

    /// The delay before the next attempt, counting one more failure.
    /// `jitter` in `[0, 1)` scales the capped delay into `[½, 1)` of itself
    /// ("equal jitter"): spread out, yet never much shorter than intended.
    /// Values outside the range are clamped.
    pub fn next_delay(&mut self, jitter: f64) -> Duration {
        let factor = 1u32.checked_shl(self.attempt).unwrap_or(u32::MAX);
        let delay = self
            .base
            .checked_mul(factor)
            .map_or(self.max, |delay| delay.min(self.max));
        self.attempt = self.attempt.saturating_add(1);
        let jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        delay.mul_f64(0.5 + jitter / 2.0)
    }

    /// After a success: the next failure waits `base` again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(format!("{secret}"), "***");
        let auth = Auth::Token {
            username: DEFAULT_TOKEN_USER.to_string(),
            token: secret,
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
    }

    #[test]
    fn urls_are_redacted() {
        assert!(url_has_password("https://u:tok@example.com/r.git"));
        assert!(!url_has_password("https://u@example.com/r.git"));
        assert!(!url_has_password("ssh://git@example.com/r.git"));
        assert!(!url_has_password("git@example.com:org/r.git"));
        assert!(!url_has_password("/srv/repo"));
        assert_eq!(
            redact_url("https://u:tok@example.com/a@b"),
            "https://u:***@example.com/a@b"
        );
        assert_eq!(redact_url("https://example.com/r"), "https://example.com/r");
    }

    #[test]
    fn paths_are_normalized() {
        assert_eq!(normalize_path(""), "");
        assert_eq!(normalize_path("."), "");
        assert_eq!(normalize_path("/hosts//edge-1/"), "hosts/edge-1");
        assert_eq!(normalize_path("./hosts/edge-1"), "hosts/edge-1");
    }

    #[test]
    fn scrub_replaces_secrets() {
        assert_eq!(
            scrub("bad token abc in abc", &["abc", ""]),
            "bad token *** in ***"
        );
    }

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(10));
        // A jitter of (almost) 1 gives the full delay; 0 gives half.
        let full: Vec<u64> = (0..6)
            .map(|_| backoff.next_delay(1.0).as_millis() as u64)
            .collect();
        assert_eq!(full, [1000, 2000, 4000, 8000, 10000, 10000]);
        backoff.reset();
        assert_eq!(backoff.next_delay(0.0), Duration::from_millis(500));
        assert_eq!(backoff.next_delay(0.5), Duration::from_millis(1500));
        // Out of range and NaN jitter are clamped.
        assert_eq!(backoff.next_delay(-3.0), Duration::from_secs(2));
        assert_eq!(backoff.next_delay(f64::NAN), Duration::from_secs(4));
    }

    #[test]
    fn backoff_does_not_overflow() {
        let mut backoff = Backoff {
            base: Duration::from_secs(u64::MAX / 2),
            max: Duration::from_secs(300),
            attempt: u32::MAX,
        };
        assert_eq!(backoff.next_delay(1.0), Duration::from_secs(300));
        assert_eq!(backoff.attempt, u32::MAX);
    }
}
