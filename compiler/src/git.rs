//! Reading Heliosfiles straight from git objects, for `heliosc diff` and
//! `heliosc tag`: the tree of a revision's commit is walked and its blobs
//! read; nothing is checked out and the work tree is never touched. Also
//! the lookups the source tag of a built image needs
//! ([`heliosc::source_tag`]).

use git2::{ObjectType, Repository, Tree};
use heliosc::diff::{Revision, Source};
use heliosc::ir::Build;
use heliosc::source_tag;
use heliosc::{HELIOSFILE_NAMES, SKIPPED_FOLDERS};
use std::path::Path;

/// Opens the repository containing `dir` (searching upward, as git does).
pub(crate) fn open(dir: &Path) -> Result<Repository, String> {
    Repository::discover(dir)
        .map_err(|e| format!("no git repository at `{}`: {}", dir.display(), e.message()))
}

/// Every Heliosfile under `under` (a folder in the repository, `""` for the
/// root, or one Heliosfile's path) at revision `rev`, sorted by path, with
/// the revision as resolved. A folder missing at `rev` has no Heliosfile.
pub(crate) fn read_revision(
    repo: &Repository,
    rev: &str,
    under: &str,
) -> Result<(Revision, Vec<Source>), String> {
    let commit = repo
        .revparse_single(rev)
        .and_then(|object| object.peel_to_commit())
        .map_err(|e| format!("cannot resolve revision `{rev}`: {}", e.message()))?;
    let revision = Revision {
        rev: rev.to_string(),
        commit: commit.id().to_string(),
    };
    let tree = commit
        .tree()
        .map_err(|e| format!("cannot read the tree of `{rev}`: {}", e.message()))?;
    let mut sources = Vec::new();
    if under.is_empty() {
        walk(repo, &tree, "", &mut sources)?;
    } else if let Ok(entry) = tree.get_path(Path::new(under)) {
        match entry.kind() {
            Some(ObjectType::Tree) => {
                let subtree = repo
                    .find_tree(entry.id())
                    .map_err(|e| format!("cannot read `{under}` at `{rev}`: {}", e.message()))?;
                walk(repo, &subtree, under, &mut sources)?;
            }
            Some(ObjectType::Blob) if is_regular_file(entry.filemode()) => {
                sources.push(read_blob(repo, entry.id(), under)?);
            }
            _ => {}
        }
    }
    sources.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((revision, sources))
}

/// Regular files (`100644`, `100755`), not symlinks or submodules.
fn is_regular_file(mode: i32) -> bool {
    mode & 0o170000 == 0o100000
}

/// The Heliosfile of this folder (by preference of name) and those of its
/// subfolders, skipping the folders `heliosc check` skips.
fn walk(
    repo: &Repository,
    tree: &Tree<'_>,
    prefix: &str,
    out: &mut Vec<Source>,
) -> Result<(), String> {
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
        out.push(read_blob(repo, entry.id(), &join(name))?);
    }
    for entry in tree.iter() {
        let Some(name) = entry.name() else {
            continue;
        };
        if entry.kind() != Some(ObjectType::Tree) || SKIPPED_FOLDERS.contains(&name) {
            continue;
        }
        let path = join(name);
        let subtree = repo
            .find_tree(entry.id())
            .map_err(|e| format!("cannot read folder `{path}`: {}", e.message()))?;
        walk(repo, &subtree, &path, out)?;
    }
    Ok(())
}

fn read_blob(repo: &Repository, id: git2::Oid, path: &str) -> Result<Source, String> {
    let blob = repo
        .find_blob(id)
        .map_err(|e| format!("cannot read `{path}`: {}", e.message()))?;
    let text = std::str::from_utf8(blob.content())
        .map_err(|_| format!("`{path}` is not UTF-8 text"))?
        .to_string();
    Ok(Source {
        path: path.to_string(),
        id: id.to_string(),
        text,
        folder_depth_in_repo: path.matches('/').count(),
    })
}

/// The source tag of an app built with `build` whose Heliosfile is at
/// `heliosfile` (a path of the repository), at revision `rev`.
pub(crate) fn source_tag(
    repo: &Repository,
    rev: &str,
    heliosfile: &str,
    build: &Build,
) -> Result<String, String> {
    let tree = repo
        .revparse_single(rev)
        .and_then(|object| object.peel_to_commit())
        .and_then(|commit| commit.tree())
        .map_err(|e| format!("cannot read the tree of `{rev}`: {}", e.message()))?;
    source_tag::in_tree(&tree, heliosfile, build)
        .map_err(|e| format!("{heliosfile} at `{rev}`: {e}"))
}

/// `path` (a file or folder, existing) as a path of the repository whose
/// work tree holds it: `/`-separated, `""` for the root.
pub(crate) fn path_in_repo(repo: &Repository, path: &Path) -> Result<String, String> {
    let workdir = repo
        .workdir()
        .ok_or_else(|| "the repository has no work tree".to_string())?;
    let canonical = |p: &Path| {
        std::fs::canonicalize(p).map_err(|e| format!("cannot resolve `{}`: {e}", p.display()))
    };
    let (root, path) = (canonical(workdir)?, canonical(path)?);
    let relative = path.strip_prefix(&root).map_err(|_| {
        format!(
            "`{}` is not inside the repository at `{}`",
            path.display(),
            root.display()
        )
    })?;
    Ok(relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/"))
}
