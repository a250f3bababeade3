//! The tag contract of the images built from a config repo: the built image
//! of an app is `<image>:<tag>`, `<image>` its Heliosfile's top-level
//! `image:` repository and `<tag>` derived from the content of its build
//! inputs only, so that unchanged sources keep their tag (and their app is
//! neither rebuilt nor redeployed) whatever else a commit changed:
//!
//! - `src-` and the first 12 hex digits of the git tree id of the build
//!   context (a tree id names its whole content, recursively);
//! - when the Dockerfile lies outside the context, `src-` and the first 12
//!   hex digits of the SHA-256 of both ids (`<tree id>\n<blob id>\n`), as
//!   the Dockerfile is a build input too.
//!
//! This module owns the rule and, with the `git` feature, the lookup in a
//! commit's tree ([`in_tree`]) that `heliosc tag`, `heliosc build --tag
//! from-source` and the reconciler all use, so that all compute the same
//! tag for the same commit.

use crate::ir::Build;
use sha2::{Digest, Sha256};

/// What every source tag starts with.
pub const PREFIX: &str = "src-";

/// The value of `--tag` that asks for the tag derived from the sources.
pub const FROM_SOURCE: &str = "from-source";

/// How many hex digits of an id a tag keeps.
const DIGITS: usize = 12;

/// A git object at a path of a commit's tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GitObject {
    /// A folder, with its tree id (hex).
    Tree(String),
    /// A file, with its blob id (hex).
    Blob(String),
}

/// The build inputs of an app, as paths of the repository (`/`-separated,
/// `""` for its root).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildInputs {
    /// The build context (a buildpacks build: the Heliosfile's folder).
    pub context: String,
    /// The Dockerfile, when it lies outside the context.
    pub outside_dockerfile: Option<String>,
    /// A Dockerfile inside the context: its path relative to the context.
    pub dockerfile_in_context: Option<String>,
}

/// The build inputs of an app whose Heliosfile is at `heliosfile` (a path
/// of the repository) and builds with `build`.
pub fn build_inputs(heliosfile: &str, build: &Build) -> Result<BuildInputs, String> {
    let folder = match heliosfile.rsplit_once('/') {
        Some((folder, _)) => folder,
        None => "",
    };
    match build {
        Build::Buildpacks { .. } => Ok(BuildInputs {
            context: normalize(folder, ".")?,
            outside_dockerfile: None,
            dockerfile_in_context: None,
        }),
        Build::Dockerfile {
            dockerfile,
            context,
            ..
        } => {
            let context = normalize(folder, context)?;
            let dockerfile = normalize(folder, dockerfile)?;
            let in_context = if context.is_empty() {
                Some(dockerfile.clone())
            } else {
                dockerfile
                    .strip_prefix(&format!("{context}/"))
                    .map(str::to_string)
            };
            Ok(BuildInputs {
                outside_dockerfile: in_context.is_none().then_some(dockerfile),
                dockerfile_in_context: in_context,
                context,
            })
        }
    }
}

/// The tag of an app's built image at a commit: `lookup` gives the git
/// object at a path of that commit's tree (`""`: the tree itself).
pub fn source_tag(
    heliosfile: &str,
    build: &Build,
    lookup: &dyn Fn(&str) -> Result<Option<GitObject>, String>,
) -> Result<String, String> {
    let inputs = build_inputs(heliosfile, build)?;
    let shown = |path: &str| {
        if path.is_empty() {
            ".".to_string()
        } else {
            path.to_string()
        }
    };
    let context = match lookup(&inputs.context)? {
        Some(GitObject::Tree(id)) => id,
        Some(GitObject::Blob(_)) => {
            return Err(format!(
                "the build context `{}` is a file, not a folder",
                shown(&inputs.context)
            ));
        }
        None => {
            return Err(format!(
                "the build context `{}` is not in the commit",
                shown(&inputs.context)
            ));
        }
    };
    let Some(dockerfile) = &inputs.outside_dockerfile else {
        return Ok(tag_of(&context));
    };
    match lookup(dockerfile)? {
        Some(GitObject::Blob(id)) => {
            let digest = Sha256::digest(format!("{context}\n{id}\n").as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            Ok(tag_of(&hex))
        }
        _ => Err(format!(
            "the Dockerfile `{dockerfile}` is not in the commit"
        )),
    }
}

/// [`source_tag`] at the commit whose tree is `tree`: the lookups are in
/// that tree's git objects.
#[cfg(feature = "git")]
pub fn in_tree(tree: &git2::Tree<'_>, heliosfile: &str, build: &Build) -> Result<String, String> {
    let lookup = |path: &str| -> Result<Option<GitObject>, String> {
        if path.is_empty() {
            return Ok(Some(GitObject::Tree(tree.id().to_string())));
        }
        match tree.get_path(std::path::Path::new(path)) {
            Ok(entry) => Ok(match entry.kind() {
                Some(git2::ObjectType::Tree) => Some(GitObject::Tree(entry.id().to_string())),
                Some(git2::ObjectType::Blob) => Some(GitObject::Blob(entry.id().to_string())),
                _ => None,
            }),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read `{path}`: {}", e.message())),
        }
    };
    source_tag(heliosfile, build, &lookup)
}

fn tag_of(hex: &str) -> String {
    format!("{PREFIX}{}", hex.get(..DIGITS).unwrap_or(hex))
}

/// `relative` (a Heliosfile path, already free of `.` parts, or `..`
/// leading out of `folder`) resolved against `folder`; an error when it
/// leaves the repository.
fn normalize(folder: &str, relative: &str) -> Result<String, String> {
    let mut parts: Vec<&str> = folder.split('/').filter(|p| !p.is_empty()).collect();
    for part in relative.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(format!(
                        "the build path `{relative}` leads out of the repository"
                    ));
                }
            }
            name => parts.push(name),
        }
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn dockerfile(dockerfile: &str, context: &str) -> Build {
        Build::Dockerfile {
            dockerfile: dockerfile.to_string(),
            context: context.to_string(),
            args: BTreeMap::new(),
        }
    }

    const TREE: &str = "3f2a9c1b7d4e5f60718293a4b5c6d7e8f9012345";
    const BLOB: &str = "0123456789abcdef0123456789abcdef01234567";

    fn lookup(path: &str) -> Result<Option<GitObject>, String> {
        Ok(match path {
            "apps/shop" | "" | "apps/common" => Some(GitObject::Tree(TREE.to_string())),
            "docker/shop.Dockerfile" | "apps/shop/Dockerfile" => {
                Some(GitObject::Blob(BLOB.to_string()))
            }
            _ => None,
        })
    }

    #[test]
    fn inputs_are_paths_of_the_repository() {
        let inputs = build_inputs("apps/shop/Heliosfile", &dockerfile("Dockerfile", "."));
        assert_eq!(
            inputs,
            Ok(BuildInputs {
                context: "apps/shop".to_string(),
                outside_dockerfile: None,
                dockerfile_in_context: Some("Dockerfile".to_string()),
            })
        );
        let outside = build_inputs(
            "apps/shop/Heliosfile",
            &dockerfile("../../docker/shop.Dockerfile", "."),
        );
        assert_eq!(
            outside.map(|i| i.outside_dockerfile),
            Ok(Some("docker/shop.Dockerfile".to_string()))
        );
        let root = build_inputs("Heliosfile", &dockerfile("Dockerfile", "."));
        assert_eq!(root.map(|i| i.context), Ok(String::new()));
        let buildpacks = build_inputs(
            "apps/shop/Heliosfile",
            &Build::Buildpacks {
                builder: "paketo-buildpacks/builder:base".to_string(),
            },
        );
        assert_eq!(buildpacks.map(|i| i.context), Ok("apps/shop".to_string()));
        assert!(build_inputs("shop/Heliosfile", &dockerfile("Dockerfile", "../..")).is_err());
    }

    #[test]
    fn the_tag_is_the_context_tree_or_a_digest_with_an_outside_dockerfile() {
        let inside = source_tag(
            "apps/shop/Heliosfile",
            &dockerfile("Dockerfile", "."),
            &lookup,
        );
        assert_eq!(inside, Ok("src-3f2a9c1b7d4e".to_string()));
        let outside = source_tag(
            "apps/shop/Heliosfile",
            &dockerfile("../../docker/shop.Dockerfile", "."),
            &lookup,
        )
        .expect("a tag");
        assert!(outside.starts_with(PREFIX) && outside.len() == PREFIX.len() + DIGITS);
        assert_ne!(outside, "src-3f2a9c1b7d4e");
        // The same inputs, the same tag.
        assert_eq!(
            source_tag(
                "apps/shop/Heliosfile",
                &dockerfile("../../docker/shop.Dockerfile", "."),
                &lookup
            ),
            Ok(outside)
        );
        let missing = source_tag(
            "apps/blog/Heliosfile",
            &dockerfile("Dockerfile", "."),
            &lookup,
        );
        assert_eq!(
            missing,
            Err("the build context `apps/blog` is not in the commit".to_string())
        );
    }
}
