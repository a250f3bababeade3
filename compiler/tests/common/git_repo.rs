//! A git repository in the test's temp dir, with deterministic commits,
//! and `heliosc` run in its work tree.

use git2::{Repository, Signature, Time};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A repository with a work tree; commits have a fixed author and time.
pub(crate) struct Repo {
    /// The work tree.
    pub(crate) dir: PathBuf,
    /// The repository.
    pub(crate) repo: Repository,
    commits: usize,
}

impl Repo {
    /// A new repository in the test's temp dir, empty.
    pub(crate) fn new(name: &str) -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("repo-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create repo dir");
        let repo = Repository::init(&dir).expect("git init");
        Self {
            dir,
            repo,
            commits: 0,
        }
    }

    /// Writes (`Some`) or deletes (`None`) files, commits them, and returns
    /// the commit id.
    pub(crate) fn commit(&mut self, changes: &[(&str, Option<&str>)]) -> String {
        let mut index = self.repo.index().expect("index");
        for (path, text) in changes {
            let file = self.dir.join(path);
            match text {
                Some(text) => {
                    std::fs::create_dir_all(file.parent().expect("a parent")).expect("mkdir");
                    std::fs::write(&file, text).expect("write");
                    index.add_path(Path::new(path)).expect("git add");
                }
                None => {
                    std::fs::remove_file(&file).expect("rm");
                    index.remove_path(Path::new(path)).expect("git rm");
                }
            }
        }
        index.write().expect("write index");
        let tree_id = index.write_tree().expect("write tree");
        let tree = self.repo.find_tree(tree_id).expect("tree");
        // A fixed author and time: the same content gives the same commit id.
        let time = Time::new(1_700_000_000 + 60 * self.commits as i64, 0);
        let signature = Signature::new("Helios Test", "test@example.com", &time).expect("sig");
        let parent = self.repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let id = self
            .repo
            .commit(
                Some("HEAD"),
                &signature,
                &signature,
                &format!("commit {}", self.commits),
                &tree,
                &parents,
            )
            .expect("commit");
        self.commits += 1;
        id.to_string()
    }

    /// Runs `heliosc <command> <args>` in the work tree.
    pub(crate) fn heliosc(&self, command: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_heliosc"))
            .arg(command)
            .args(args)
            .current_dir(&self.dir)
            .env("NO_COLOR", "1")
            .env("COLUMNS", "100")
            .output()
            .expect("run heliosc")
    }
}
