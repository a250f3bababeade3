//! Wake-ups of the daemon between polls: a new commit in a local config
//! repo (file-system events on its git directory), and a change of the
//! secrets file (a rotated value is applied at once).
//!
//! Only the files a commit or a push changes are of interest: the refs
//! (loose under `refs/`, or `packed-refs`) and `HEAD`. They live in the
//! repository's *common* git directory: `<repo>/.git` of a work tree, the
//! repository itself when bare, the main repository's for a linked work
//! tree. Anything else there (the index, objects, logs) changes on
//! `git add` or `git gc` too, and is ignored.

use notify::{EventKind, RecursiveMode, Watcher as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::Notify;

/// A running watch; dropping it stops watching.
pub(crate) struct CommitWatcher {
    _watcher: notify::RecommendedWatcher,
    /// The git directory watched.
    pub(crate) git_dir: PathBuf,
}

/// Watches the git directory of the repository at `repo` and calls
/// `wake.notify_one()` whenever a ref may have moved. The error says why
/// not (not a repository, no inotify watch left): then the caller polls.
pub(crate) fn watch_commits(repo: &Path, wake: Arc<Notify>) -> Result<CommitWatcher, String> {
    let repository = git2::Repository::open(repo)
        .map_err(|e| format!("`{}`: {}", repo.display(), e.message()))?;
    // Canonical, because the events carry the paths as the kernel has them.
    let git_dir = std::fs::canonicalize(repository.commondir())
        .map_err(|e| format!("`{}`: {e}", repository.commondir().display()))?;
    let refs = git_dir.join("refs");
    let handler_dir = git_dir.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        match event {
            Ok(event) => {
                if !matches!(event.kind, EventKind::Access(_))
                    && event.paths.iter().any(|p| is_ref_change(&handler_dir, p))
                {
                    wake.notify_one();
                }
            }
            // The watch may have missed a change: look, to be safe.
            Err(e) => {
                tracing::warn!("watching the config repo: {e}");
                wake.notify_one();
            }
        }
    })
    .map_err(|e| e.to_string())?;
    watcher
        .watch(&git_dir, RecursiveMode::NonRecursive)
        .map_err(|e| format!("`{}`: {e}", git_dir.display()))?;
    if refs.is_dir() {
        watcher
            .watch(&refs, RecursiveMode::Recursive)
            .map_err(|e| format!("`{}`: {e}", refs.display()))?;
    }
    Ok(CommitWatcher {
        _watcher: watcher,
        git_dir,
    })
}

/// A running watch of one file; dropping it stops watching.
pub(crate) struct FileWatcher {
    _watcher: notify::RecommendedWatcher,
}

/// Watches the file at `path` and calls `wake.notify_one()` whenever it
/// may have changed. Its folder is watched, since editors and secret
/// managers replace a file (write a new one, rename it over) rather than
/// write it in place.
pub(crate) fn watch_file(path: &Path, wake: Arc<Notify>) -> Result<FileWatcher, String> {
    let path = std::fs::canonicalize(path).map_err(|e| format!("`{}`: {e}", path.display()))?;
    let folder = path
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("`{}` has no folder", path.display()))?;
    let name = path.file_name().map(std::ffi::OsStr::to_os_string);
    let mut watcher =
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(event) => {
                if !matches!(event.kind, EventKind::Access(_))
                    && event
                        .paths
                        .iter()
                        .any(|p| p.file_name().map(std::ffi::OsStr::to_os_string) == name)
                {
                    wake.notify_one();
                }
            }
            Err(e) => {
                tracing::warn!("watching the secrets file: {e}");
                wake.notify_one();
            }
        })
        .map_err(|e| e.to_string())?;
    watcher
        .watch(&folder, RecursiveMode::NonRecursive)
        .map_err(|e| format!("`{}`: {e}", folder.display()))?;
    Ok(FileWatcher { _watcher: watcher })
}

/// Whether a change of `path` may have moved a ref of the repository whose
/// git directory is `git_dir`.
fn is_ref_change(git_dir: &Path, path: &Path) -> bool {
    let Ok(relative) = path.strip_prefix(git_dir) else {
        return false;
    };
    let mut parts = relative.components();
    match (parts.next(), parts.next()) {
        (Some(first), None) => {
            let name = first.as_os_str();
            // `packed-refs.lock` and `HEAD.lock` are renamed over these.
            name == "packed-refs" || name == "HEAD"
        }
        (Some(first), Some(_)) => first.as_os_str() == "refs",
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn only_refs_and_head_count() {
        let git = Path::new("/r/.git");
        assert!(is_ref_change(git, Path::new("/r/.git/refs/heads/main")));
        assert!(is_ref_change(
            git,
            Path::new("/r/.git/refs/heads/main.lock")
        ));
        assert!(is_ref_change(git, Path::new("/r/.git/packed-refs")));
        assert!(is_ref_change(git, Path::new("/r/.git/HEAD")));
        assert!(!is_ref_change(git, Path::new("/r/.git/index")));
        assert!(!is_ref_change(git, Path::new("/r/.git/objects/ab/cdef")));
        assert!(!is_ref_change(git, Path::new("/r/.git/logs/HEAD")));
        assert!(!is_ref_change(git, Path::new("/r/shop/Heliosfile")));
    }

    fn commit(repo: &git2::Repository, message: &str) {
        let signature = git2::Signature::now("Test", "test@helios.invalid").expect("who");
        let tree = {
            let mut index = repo.index().expect("the index");
            let id = index.write_tree().expect("a tree");
            repo.find_tree(id).expect("the tree")
        };
        let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        repo.commit(
            Some("HEAD"),
            &signature,
            &signature,
            message,
            &tree,
            &parents,
        )
        .expect("a commit");
    }

    async fn woken(wake: &Notify) -> bool {
        tokio::time::timeout(Duration::from_secs(5), wake.notified())
            .await
            .is_ok()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_commit_wakes_in_a_work_tree_and_a_bare_repo() {
        let dir = tempfile::tempdir().expect("a temp dir");
        for bare in [false, true] {
            let path = dir.path().join(if bare { "bare.git" } else { "work" });
            let repo = if bare {
                git2::Repository::init_bare(&path)
            } else {
                git2::Repository::init(&path)
            }
            .expect("git init");
            commit(&repo, "first");
            let wake = Arc::new(Notify::new());
            let watcher = watch_commits(&path, Arc::clone(&wake)).expect("a watch");
            assert_eq!(
                watcher.git_dir.file_name().and_then(|n| n.to_str()),
                Some(if bare { "bare.git" } else { ".git" })
            );
            // Nothing happened yet.
            assert!(
                tokio::time::timeout(Duration::from_millis(100), wake.notified())
                    .await
                    .is_err()
            );
            commit(&repo, "second");
            assert!(
                woken(&wake).await,
                "no wake-up after a commit (bare: {bare})"
            );
        }
    }

    #[test]
    fn a_folder_that_is_no_repository_is_refused() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let error = watch_commits(dir.path(), Arc::new(Notify::new()));
        assert!(error.is_err());
    }
}
