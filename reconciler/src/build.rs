//! Builds from source: what a backend that builds images (Compose, on the
//! Docker host) is given to build an app's image from the reconciled
//! commit — the build context as a tar archive made straight from git
//! objects (no checkout, no work tree), and the request naming the image,
//! its Dockerfile, arguments and labels.

use crate::desired::AppBuild;
use git2::{ObjectType, Repository, Tree};
use heliosc::ir::Build;
use std::collections::BTreeMap;

/// Where an outside Dockerfile goes in the context archive.
const OUTSIDE_DOCKERFILE: &str = ".helios.Dockerfile";

/// One image to build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageBuild {
    /// The app it is for.
    pub app: String,
    /// `<image>:<tag>`.
    pub image: String,
    /// How: a Dockerfile (its path in the context archive) or buildpacks.
    pub method: BuildMethod,
    /// Build arguments (not secret: they stay in the image's history).
    pub args: BTreeMap<String, String>,
    /// The config repo commit the context is from.
    pub source_commit: String,
}

/// How an image is built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildMethod {
    /// `docker build` with this Dockerfile, a path in the context archive.
    Dockerfile(String),
    /// Cloud Native Buildpacks with this builder image (`pack build`).
    Buildpacks(String),
}

impl ImageBuild {
    /// The request for `build` at `source_commit`.
    pub fn of(app: &str, build: &AppBuild, source_commit: &str) -> Self {
        let (method, args) = match &build.build {
            Build::Buildpacks { builder } => {
                (BuildMethod::Buildpacks(builder.clone()), BTreeMap::new())
            }
            Build::Dockerfile { args, .. } => {
                let path = build
                    .inputs
                    .dockerfile_in_context
                    .clone()
                    .unwrap_or_else(|| OUTSIDE_DOCKERFILE.to_string());
                (BuildMethod::Dockerfile(path), args.clone())
            }
        };
        Self {
            app: app.to_string(),
            image: build.image.clone(),
            method,
            args,
            source_commit: source_commit.to_string(),
        }
    }
}

/// The build context of `build` at the commit whose tree is `root`, as a
/// tar archive: every file under the context folder (modes kept, symbolic
/// links as links, submodules left out), and an outside Dockerfile as
/// `.helios.Dockerfile`.
pub fn context_tar(
    repo: &Repository,
    root: &Tree<'_>,
    build: &AppBuild,
) -> Result<Vec<u8>, String> {
    let context = &build.inputs.context;
    let tree = if context.is_empty() {
        root.clone()
    } else {
        let entry = root
            .get_path(std::path::Path::new(context))
            .map_err(|e| format!("the build context `{context}`: {}", e.message()))?;
        repo.find_tree(entry.id())
            .map_err(|e| format!("the build context `{context}`: {}", e.message()))?
    };
    let mut archive = tar::Builder::new(Vec::new());
    append_tree(repo, &tree, "", &mut archive)?;
    if let Some(dockerfile) = &build.inputs.outside_dockerfile {
        let entry = root
            .get_path(std::path::Path::new(dockerfile))
            .map_err(|e| format!("the Dockerfile `{dockerfile}`: {}", e.message()))?;
        let blob = repo
            .find_blob(entry.id())
            .map_err(|e| format!("the Dockerfile `{dockerfile}`: {}", e.message()))?;
        append_file(&mut archive, OUTSIDE_DOCKERFILE, blob.content(), 0o644)?;
    }
    archive
        .into_inner()
        .map_err(|e| format!("the build context archive: {e}"))
}

fn append_tree(
    repo: &Repository,
    tree: &Tree<'_>,
    prefix: &str,
    archive: &mut tar::Builder<Vec<u8>>,
) -> Result<(), String> {
    for entry in tree {
        let Some(name) = entry.name() else {
            continue;
        };
        let path = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        };
        let unreadable = |e: git2::Error| format!("`{path}`: {}", e.message());
        match entry.kind() {
            Some(ObjectType::Tree) => {
                let subtree = repo.find_tree(entry.id()).map_err(unreadable)?;
                append_tree(repo, &subtree, &path, archive)?;
            }
            Some(ObjectType::Blob) => {
                let blob = repo.find_blob(entry.id()).map_err(unreadable)?;
                match entry.filemode() {
                    0o120000 => {
                        let target = String::from_utf8_lossy(blob.content()).into_owned();
                        let mut header = tar::Header::new_gnu();
                        header.set_entry_type(tar::EntryType::Symlink);
                        header.set_size(0);
                        header.set_mode(0o777);
                        header.set_mtime(0);
                        archive
                            .append_link(&mut header, &path, &target)
                            .map_err(|e| format!("`{path}`: {e}"))?;
                    }
                    0o100755 => append_file(archive, &path, blob.content(), 0o755)?,
                    _ => append_file(archive, &path, blob.content(), 0o644)?,
                }
            }
            // Submodules (commits) are not in this repository.
            _ => {}
        }
    }
    Ok(())
}

fn append_file(
    archive: &mut tar::Builder<Vec<u8>>,
    path: &str,
    content: &[u8],
    mode: u32,
) -> Result<(), String> {
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(mode);
    // Fixed times: the same commit gives the same archive.
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    archive
        .append_data(&mut header, path, content)
        .map_err(|e| format!("`{path}`: {e}"))
}
