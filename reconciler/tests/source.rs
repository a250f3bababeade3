//! The git source against real repositories made with git2 in temp dirs: a
//! "remote" with a work tree that commits are made in, fetched by local
//! path, and loopback-only fake remotes for the failures.

use git2::{BranchType, Oid, Repository, RepositoryInitOptions, Signature};
use helios_reconciler::source::{
    Auth, DEFAULT_TOKEN_USER, FetchOutcome, FileError, GitSource, MAX_HELIOSFILE_BYTES, Secret,
    SourceConfig, SourceError,
};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tempfile::TempDir;

/// A fresh directory for one test, removed when dropped. Unique, so two
/// runs of these tests at once (two checkouts' `cargo test`) do not race.
fn scratch(name: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("source-{name}-"))
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("a temp dir")
}

/// The "remote": a repository with a work tree on branch `main`.
fn remote(dir: &Path) -> Repository {
    let mut options = RepositoryInitOptions::new();
    options.initial_head("main");
    Repository::init_opts(dir.join("remote"), &options).expect("git init")
}

fn signature() -> Signature<'static> {
    Signature::now("Helios Test", "test@helios.invalid").expect("a signature")
}

/// Writes `files` into the work tree and commits them (and only them: the
/// rest of the work tree may be dirty) on top of `parent`, without moving
/// any ref.
fn commit_files(repo: &Repository, parent: Option<Oid>, files: &[(&str, &[u8])]) -> Oid {
    let workdir = repo.workdir().expect("a work tree").to_path_buf();
    let mut index = repo.index().expect("a fixture commit");
    for (path, content) in files {
        let full = workdir.join(path);
        std::fs::create_dir_all(full.parent().expect("a parent folder")).expect("a fixture commit");
        std::fs::write(full, content).expect("a fixture commit");
        index.add_path(Path::new(path)).expect("a fixture commit");
    }
    index.write().expect("a fixture commit");
    let tree = repo
        .find_tree(index.write_tree().expect("a fixture commit"))
        .expect("a fixture commit");
    let parents: Vec<_> = parent
        .map(|p| repo.find_commit(p).expect("a fixture commit"))
        .into_iter()
        .collect();
    let parents: Vec<_> = parents.iter().collect();
    repo.commit(None, &signature(), &signature(), "test", &tree, &parents)
        .expect("a fixture commit")
}

/// Points `branch` at `commit`, forcibly (a push, or a force push).
fn set_branch(repo: &Repository, branch: &str, commit: Oid) {
    repo.reference(&format!("refs/heads/{branch}"), commit, true, "test")
        .expect("a branch update");
}

/// A commit on `main` on top of its tip.
fn push(repo: &Repository, files: &[(&str, &[u8])]) -> Oid {
    let parent = repo.refname_to_id("refs/heads/main").ok();
    let commit = commit_files(repo, parent, files);
    set_branch(repo, "main", commit);
    commit
}

fn source(dir: &Path, branch: &str, path: &str) -> GitSource {
    let mut config = SourceConfig::new(
        dir.join("remote").to_str().expect("open the source"),
        branch,
    );
    config.path = path.to_string();
    GitSource::open(config, &dir.join("state")).expect("open the source")
}

const WEB: &[u8] = b"name: web\n";

#[test]
fn new_commit_unchanged_and_fast_forward() {
    let tmp = scratch("fast-forward");
    let dir = tmp.path();
    let remote = remote(dir);
    let first = push(&remote, &[("Heliosfile.yml", WEB)]);
    let mut source = source(dir, "main", "");
    assert_eq!(source.last_fetched(), None);

    assert_eq!(
        source.fetch().unwrap(),
        FetchOutcome::NewCommit {
            previous: None,
            commit: first,
            rewritten: false
        }
    );
    assert_eq!(
        source.fetch().unwrap(),
        FetchOutcome::Unchanged { commit: first }
    );

    let second = push(&remote, &[("Heliosfile.yml", b"name: web2\n")]);
    let outcome = source.fetch().unwrap();
    assert_eq!(
        outcome,
        FetchOutcome::NewCommit {
            previous: Some(first),
            commit: second,
            rewritten: false
        }
    );
    assert_eq!(outcome.commit(), second);
    assert_eq!(source.last_fetched(), Some(second));

    // The state survives a restart: the bare repository is reopened.
    drop(source);
    let mut reopened = self::source(dir, "main", "");
    assert_eq!(reopened.last_fetched(), Some(second));
    assert_eq!(
        reopened.fetch().unwrap(),
        FetchOutcome::Unchanged { commit: second }
    );
}

#[test]
fn force_push_is_taken_and_flagged() {
    let tmp = scratch("force-push");
    let dir = tmp.path();
    let remote = remote(dir);
    let base = push(&remote, &[("Heliosfile.yml", WEB)]);
    let old_tip = push(&remote, &[("Heliosfile.yml", b"name: old\n")]);
    let mut source = source(dir, "main", "");
    source.fetch().unwrap();

    // Rewrite history: `main` now ends in a sibling of the fetched tip.
    let new_tip = commit_files(&remote, Some(base), &[("Heliosfile.yml", b"name: new\n")]);
    set_branch(&remote, "main", new_tip);
    assert_eq!(
        source.fetch().unwrap(),
        FetchOutcome::NewCommit {
            previous: Some(old_tip),
            commit: new_tip,
            rewritten: true
        }
    );
    let files = source.read_heliosfiles(new_tip).unwrap();
    assert_eq!(files[0].text.as_deref(), Ok("name: new\n"));

    // Going back to an ancestor is a rewrite too.
    set_branch(&remote, "main", base);
    assert_eq!(
        source.fetch().unwrap(),
        FetchOutcome::NewCommit {
            previous: Some(new_tip),
            commit: base,
            rewritten: true
        }
    );
}

#[test]
fn deleted_branch_is_missing_and_last_state_kept() {
    let tmp = scratch("deleted-branch");
    let dir = tmp.path();
    let remote = remote(dir);
    let commit = push(&remote, &[("Heliosfile.yml", WEB)]);
    set_branch(&remote, "edge", commit);
    let mut source = source(dir, "edge", "");
    source.fetch().unwrap();

    remote
        .find_branch("edge", BranchType::Local)
        .unwrap()
        .delete()
        .unwrap();
    let error = source.fetch().unwrap_err();
    assert!(
        matches!(&error, SourceError::BranchMissing { branch, .. } if branch == "edge"),
        "{error:?}"
    );
    assert!(error.to_string().contains("branch `edge` does not exist"));
    // The last fetched commit is still there to keep serving.
    assert_eq!(source.last_fetched(), Some(commit));
    assert_eq!(source.read_heliosfiles(commit).unwrap().len(), 1);

    // Pushed again: fetched again.
    set_branch(&remote, "edge", commit);
    assert_eq!(source.fetch().unwrap(), FetchOutcome::Unchanged { commit });
}

#[test]
fn branch_never_pushed_is_missing() {
    let tmp = scratch("never-pushed");
    let dir = tmp.path();
    let remote = remote(dir);
    push(&remote, &[("Heliosfile.yml", WEB)]);
    let mut source = source(dir, "production", "");
    assert!(matches!(
        source.fetch(),
        Err(SourceError::BranchMissing { .. })
    ));
    assert_eq!(source.last_fetched(), None);
}

#[test]
fn file_url_works() {
    let tmp = scratch("file-url");
    let dir = tmp.path();
    let remote = remote(dir);
    let commit = push(&remote, &[("Heliosfile.yml", WEB)]);
    let url = format!("file://{}", dir.join("remote").display());
    let mut source = GitSource::open(SourceConfig::new(url, "main"), &dir.join("state")).unwrap();
    assert_eq!(source.fetch().unwrap().commit(), commit);
    assert_eq!(source.local_path(), Some(dir.join("remote")));
}

const TOKEN: &str = "ghp_SuperSecretTokenValue42";

fn token_config(url: &str) -> SourceConfig {
    SourceConfig {
        auth: Auth::Token {
            username: DEFAULT_TOKEN_USER.to_string(),
            token: Secret::new(TOKEN),
        },
        ..SourceConfig::new(url, "main")
    }
}

fn assert_no_token(error: &SourceError) {
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
}

#[test]
fn unreachable_remote_reports_without_credentials() {
    let tmp = scratch("unreachable");
    let dir = tmp.path();
    // Port 9 (discard) on loopback: nothing listens, the connection is
    // refused at once.
    let mut source = GitSource::open(
        token_config("http://127.0.0.1:9/repo.git"),
        &dir.join("state"),
    )
    .unwrap();
    let error = source.fetch().unwrap_err();
    assert!(
        matches!(&error, SourceError::Unreachable { url, .. } if url == "http://127.0.0.1:9/repo.git"),
        "{error:?}"
    );
    assert_no_token(&error);
    assert!(!format!("{source:?}").contains(TOKEN));

    // A local path that is gone is unreachable too.
    let mut gone = GitSource::open(
        SourceConfig::new(dir.join("nowhere").to_str().unwrap(), "main"),
        &dir.join("state-2"),
    )
    .unwrap();
    assert!(matches!(gone.fetch(), Err(SourceError::Unreachable { .. })));
}

/// A loopback HTTP server answering every request with 401, recording the
/// requests.
fn refusing_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("the fake server");
    let url = format!(
        "http://{}/repo.git",
        listener.local_addr().expect("the fake server")
    );
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = Vec::new();
            let mut buffer = [0; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            seen.lock()
                .expect("the fake server")
                .push(String::from_utf8_lossy(&request).into_owned());
            let _ = stream.write_all(
                b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"helios\"\r\n\
                  Content-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (url, requests)
}

#[test]
fn rejected_token_is_an_authentication_error_without_the_token() {
    let tmp = scratch("rejected-token");
    let dir = tmp.path();
    let (url, requests) = refusing_server();
    let mut source = GitSource::open(token_config(&url), &dir.join("state")).unwrap();
    let error = source.fetch().unwrap_err();
    assert!(
        matches!(error, SourceError::Authentication { .. }),
        "{error:?}"
    );
    assert_no_token(&error);
    // The token was offered (once: a rejected one is not retried forever).
    let requests = requests.lock().unwrap();
    let with_auth = requests
        .iter()
        .filter(|r| r.to_ascii_lowercase().contains("authorization: basic"))
        .count();
    assert_eq!(with_auth, 1, "{requests:#?}");
}

#[test]
fn no_credentials_when_asked_is_an_authentication_error() {
    let tmp = scratch("no-credentials");
    let dir = tmp.path();
    let (url, _) = refusing_server();
    let mut source = GitSource::open(SourceConfig::new(url, "main"), &dir.join("state")).unwrap();
    let error = source.fetch().unwrap_err();
    assert!(
        matches!(error, SourceError::Authentication { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("none are configured"), "{error}");
}

#[test]
fn password_in_url_and_bad_branch_are_refused() {
    let tmp = scratch("bad-config");
    let dir = tmp.path();
    let url = format!("https://bot:{TOKEN}@git.example.com/ops/config.git");
    let error = GitSource::open(SourceConfig::new(url, "main"), &dir.join("state")).unwrap_err();
    assert!(matches!(error, SourceError::Config { .. }), "{error:?}");
    assert_no_token(&error);
    assert!(
        error.to_string().contains("bot:***@git.example.com"),
        "{error}"
    );

    let error = GitSource::open(
        SourceConfig::new("/srv/config", "bad..name"),
        &dir.join("state"),
    )
    .unwrap_err();
    assert!(matches!(error, SourceError::Config { .. }), "{error:?}");
}

#[test]
fn repo_without_heliosfile_reads_empty_and_a_missing_path_is_an_error() {
    let tmp = scratch("no-heliosfile");
    let dir = tmp.path();
    let remote = remote(dir);
    let commit = push(&remote, &[("README.md", b"# config\n")]);
    let mut source = source(dir, "main", "");
    source.fetch().unwrap();
    assert_eq!(source.read_heliosfiles(commit).unwrap(), []);
    // A path that names nothing at that commit is an error, never an
    // empty host (reconciling nothing would remove every app).
    let mut elsewhere = self::source(dir, "main", "hosts/edge-9");
    elsewhere.fetch().unwrap();
    match elsewhere.read_heliosfiles(commit) {
        Err(SourceError::PathMissing { path, .. }) => assert_eq!(path, "hosts/edge-9"),
        other => panic!("{other:?}"),
    }
    assert_eq!(elsewhere.tree_id(commit).unwrap(), None);
}

#[test]
fn heliosfiles_are_read_from_the_tree_under_the_path() {
    let tmp = scratch("tree");
    let dir = tmp.path();
    let remote = remote(dir);
    let big = vec![b'#'; MAX_HELIOSFILE_BYTES + 1];
    let commit = push(
        &remote,
        &[
            ("hosts/edge-1/web/Heliosfile.yml", WEB),
            // Both names: the first of the list is the folder's Heliosfile.
            ("hosts/edge-1/db/Heliosfile.yaml", b"name: db\n"),
            ("hosts/edge-1/db/Heliosfile", b"name: ignored\n"),
            ("hosts/edge-1/db/README.md", b"not a Heliosfile\n"),
            (
                "hosts/edge-1/node_modules/x/Heliosfile.yml",
                b"name: skipped\n",
            ),
            ("hosts/edge-1/target/Heliosfile.yml", b"name: skipped\n"),
            ("hosts/edge-1/binary/Heliosfile", b"name: \xff\xfe\n"),
            ("hosts/edge-1/big/Heliosfile.yml", &big),
            ("hosts/edge-2/Heliosfile.yml", b"name: other-host\n"),
        ],
    );
    // Uncommitted edits in the remote's work tree are not the desired
    // state: only the commit's tree is read.
    let workdir = remote.workdir().unwrap();
    std::fs::write(
        workdir.join("hosts/edge-1/web/Heliosfile.yml"),
        "name: dirty\n",
    )
    .unwrap();
    std::fs::create_dir_all(workdir.join("hosts/edge-1/new")).unwrap();
    std::fs::write(
        workdir.join("hosts/edge-1/new/Heliosfile.yml"),
        "name: new\n",
    )
    .unwrap();

    let mut source = source(dir, "main", "/hosts/edge-1/");
    source.fetch().unwrap();
    let files = source.read_heliosfiles(commit).unwrap();
    let summary: Vec<(&str, Result<&str, FileError>)> = files
        .iter()
        .map(|f| (f.path.as_str(), f.text.as_deref().map_err(Clone::clone)))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "hosts/edge-1/big/Heliosfile.yml",
                Err(FileError::TooLarge {
                    size: MAX_HELIOSFILE_BYTES + 1
                })
            ),
            ("hosts/edge-1/binary/Heliosfile", Err(FileError::NotUtf8)),
            ("hosts/edge-1/db/Heliosfile.yaml", Ok("name: db\n")),
            ("hosts/edge-1/web/Heliosfile.yml", Ok("name: web\n")),
        ]
    );
    let web = &files[3];
    assert_eq!(
        web.blob_id,
        remote
            .find_commit(commit)
            .unwrap()
            .tree()
            .unwrap()
            .get_path(Path::new("hosts/edge-1/web/Heliosfile.yml"))
            .unwrap()
            .id()
    );

    // A commit elsewhere in the repository leaves this path's tree as is.
    let before = source.tree_id(commit).unwrap();
    assert!(before.is_some());
    let other = push(
        &remote,
        &[("hosts/edge-2/Heliosfile.yml", b"name: changed\n")],
    );
    source.fetch().unwrap();
    assert_eq!(source.tree_id(other).unwrap(), before);

    // A path naming one Heliosfile reads that file.
    let mut single = self::source(dir, "main", "hosts/edge-2/Heliosfile.yml");
    single.fetch().unwrap();
    let files = single.read_heliosfiles(other).unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].text.as_deref(), Ok("name: changed\n"));
}

#[test]
fn unknown_commit_is_a_git_error() {
    let tmp = scratch("unknown-commit");
    let dir = tmp.path();
    remote(dir);
    let source = source(dir, "main", "");
    assert!(matches!(
        source.read_heliosfiles(Oid::from_bytes(&[7; 20]).unwrap()),
        Err(SourceError::Git { .. })
    ));
}

#[test]
fn credentials_from_files_and_environment() {
    let tmp = scratch("credentials");
    let dir = tmp.path();
    let file = dir.join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    match Auth::token_from_file(&file).unwrap() {
        Auth::Token { username, token } => {
            assert_eq!(username, DEFAULT_TOKEN_USER);
            assert_eq!(token.expose(), TOKEN);
            assert_eq!(format!("{token:?} {token}"), "Secret(***) ***");
        }
        other => panic!("{other:?}"),
    }
    std::fs::write(&file, "\n").unwrap();
    assert!(matches!(
        Auth::token_from_file(&file),
        Err(SourceError::Credential { .. })
    ));
    assert!(matches!(
        Auth::token_from_file(&dir.join("missing")),
        Err(SourceError::Credential { .. })
    ));

    // Cargo sets CARGO_PKG_NAME for the test process; setting a variable
    // here would need `unsafe`, which the workspace forbids.
    match Auth::token_from_env("CARGO_PKG_NAME").unwrap() {
        Auth::Token { token, .. } => assert_eq!(token.expose(), "helios-reconciler"),
        other => panic!("{other:?}"),
    }
    let error = Auth::token_from_env("HELIOS_TEST_VARIABLE_THAT_IS_NOT_SET").unwrap_err();
    assert!(error.to_string().contains("is not set"), "{error}");
}
