//! Building an app's image on the Docker host, from its build context as a
//! tar archive of git objects: a Dockerfile through the Docker Engine's
//! build API (classic builder; BuildKit over the API needs a gRPC session
//! this backend does not open), buildpacks through the `pack` CLI when it
//! is on the host's PATH. An image that exists with the tag is not built
//! again: the tag names the sources.

use super::{ComposeBackend, api, unavailable_or_api};
use crate::backend::BackendError;
use crate::build::{BuildMethod, ImageBuild};
use bollard::query_parameters::BuildImageOptionsBuilder;
use futures_util::StreamExt;
use heliosc::lower::labels;
use std::collections::HashMap;
use std::time::Duration;

/// How many built images of an app are kept (the newest), for rollback.
pub const KEPT_IMAGES: usize = 3;

/// How many lines of a failed build's log its error keeps.
pub const LOG_TAIL: usize = 40;

/// The label naming the config repo commit an image was built from.
pub const SOURCE_COMMIT_LABEL: &str = "dev.helios.source-commit";

/// Limits of a build on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuildLimits {
    /// The memory a build may use (`--build-memory`).
    pub memory_bytes: u64,
    /// How long a build may take (`--build-timeout`).
    pub timeout: Duration,
}

impl Default for BuildLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 2 << 30,
            timeout: Duration::from_secs(15 * 60),
        }
    }
}

impl ComposeBackend {
    /// Builds `build` unless its image exists; see the module doc.
    pub(super) async fn build(
        &self,
        build: &ImageBuild,
        context: Vec<u8>,
    ) -> Result<(), BackendError> {
        if self.docker.inspect_image(&build.image).await.is_ok() {
            tracing::debug!(image = %build.image, "image exists; not built again");
            return Ok(());
        }
        let limits = self.build_limits;
        let run = async {
            match &build.method {
                BuildMethod::Dockerfile(dockerfile) => {
                    self.docker_build(build, dockerfile, context).await
                }
                BuildMethod::Buildpacks(builder) => self.pack_build(build, builder, context).await,
            }
        };
        match tokio::time::timeout(limits.timeout, run).await {
            Ok(Ok(())) => {
                // Old images go once a new one exists; failing to remove
                // one is no failure of the build.
                if let Err(e) = self.remove_old_images(&build.app).await {
                    tracing::warn!(app = %build.app, "removing old built images: {e}");
                }
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(BackendError::Command {
                command: format!("build {}", build.image),
                code: None,
                stderr: format!(
                    "the build took longer than {}s (--build-timeout)",
                    limits.timeout.as_secs()
                ),
            }),
        }
    }

    async fn docker_build(
        &self,
        build: &ImageBuild,
        dockerfile: &str,
        context: Vec<u8>,
    ) -> Result<(), BackendError> {
        // The API takes the limit as a 32-bit number of bytes.
        let memory = i32::try_from(self.build_limits.memory_bytes).unwrap_or(i32::MAX);
        let labels_of = HashMap::from([
            (labels::APP.to_string(), build.app.clone()),
            (SOURCE_COMMIT_LABEL.to_string(), build.source_commit.clone()),
        ]);
        let args: HashMap<String, String> = build.args.clone().into_iter().collect();
        let options = BuildImageOptionsBuilder::new()
            .dockerfile(dockerfile)
            .t(&build.image)
            .rm(true)
            .forcerm(true)
            .memory(memory)
            // No swap beyond the memory limit.
            .memswap(memory)
            .buildargs(&args)
            .labels(&labels_of)
            .build();
        let mut log: Vec<String> = Vec::new();
        let mut failure = None;
        let mut stream =
            self.docker
                .build_image(options, None, Some(bollard::body_full(context.into())));
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(text) = info.stream {
                        log.extend(text.lines().map(str::to_string));
                    }
                    if let Some(detail) = info.error_detail {
                        failure = Some(detail.message.unwrap_or_default());
                    }
                }
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    failure = Some(error);
                }
                Err(e @ bollard::errors::Error::DockerResponseServerError { .. }) => {
                    return Err(api(e));
                }
                Err(other) => return Err(unavailable_or_api(other)),
            }
        }
        match failure {
            None => Ok(()),
            Some(error) => {
                log.push(error);
                Err(BackendError::Command {
                    command: format!("docker build -t {} -f {dockerfile}", build.image),
                    code: None,
                    stderr: tail(&log),
                })
            }
        }
    }

    async fn pack_build(
        &self,
        build: &ImageBuild,
        builder: &str,
        context: Vec<u8>,
    ) -> Result<(), BackendError> {
        let Some(pack) = find_on_path("pack") else {
            return Err(BackendError::Command {
                command: format!("pack build {}", build.image),
                code: None,
                stderr:
                    "buildpacks builds need the `pack` CLI on the host's PATH, and it is not there"
                        .to_string(),
            });
        };
        // A private temporary folder: the context is written out for pack.
        let folder = tempfile::Builder::new()
            .prefix("helios-build-")
            .tempdir()
            .map_err(BackendError::Io)?;
        tar::Archive::new(context.as_slice())
            .unpack(folder.path())
            .map_err(BackendError::Io)?;
        let arguments = pack_arguments(&build.image, builder, &folder.path().to_string_lossy());
        let output = tokio::process::Command::new(pack)
            .args(&arguments)
            .kill_on_drop(true)
            .output()
            .await
            .map_err(BackendError::Io)?;
        if output.status.success() {
            return Ok(());
        }
        let mut log: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        log.extend(
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .map(str::to_string),
        );
        Err(BackendError::Command {
            command: format!("pack {}", arguments.join(" ")),
            code: output.status.code(),
            stderr: tail(&log),
        })
    }
}

impl ComposeBackend {
    /// Removes the images built for `app` but the [`KEPT_IMAGES`] newest;
    /// an image any container uses (a running version, a stopped one
    /// kept) is never removed.
    async fn remove_old_images(&self, app: &str) -> Result<(), BackendError> {
        use bollard::query_parameters::{
            ListContainersOptionsBuilder, ListImagesOptionsBuilder, RemoveImageOptions,
        };
        let label = format!("{}={app}", labels::APP);
        let filters = HashMap::from([("label", vec![label.as_str()])]);
        let images = self
            .docker
            .list_images(Some(
                ListImagesOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(unavailable_or_api)?;
        let containers = self
            .docker
            .list_containers(Some(ListContainersOptionsBuilder::new().all(true).build()))
            .await
            .map_err(unavailable_or_api)?;
        let in_use: std::collections::BTreeSet<String> =
            containers.into_iter().filter_map(|c| c.image_id).collect();
        let built: Vec<(String, i64)> = images.into_iter().map(|i| (i.id, i.created)).collect();
        for id in images_to_remove(&built, &in_use, KEPT_IMAGES) {
            self.docker
                .remove_image(&id, None::<RemoveImageOptions>, None)
                .await
                .map_err(api)?;
            tracing::info!(app, image = %id, "old built image removed");
        }
        Ok(())
    }
}

/// Of an app's built images (id, creation time), those to remove: all but
/// the `keep` newest, and never one in use.
pub fn images_to_remove(
    images: &[(String, i64)],
    in_use: &std::collections::BTreeSet<String>,
    keep: usize,
) -> Vec<String> {
    let mut newest_first: Vec<&(String, i64)> = images.iter().collect();
    newest_first.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    newest_first
        .into_iter()
        .skip(keep)
        .filter(|(id, _)| !in_use.contains(id))
        .map(|(id, _)| id.clone())
        .collect()
}

/// The `pack` command line of a buildpacks build.
pub fn pack_arguments(image: &str, builder: &str, path: &str) -> Vec<String> {
    ["build", image, "--builder", builder, "--path", path]
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// The last [`LOG_TAIL`] lines of a build log.
fn tail(log: &[String]) -> String {
    log[log.len().saturating_sub(LOG_TAIL)..].join("\n")
}

fn find_on_path(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pack_command_line_names_image_builder_and_path() {
        assert_eq!(
            pack_arguments(
                "registry.example.com/shop:src-3f2a9c1b7d4e",
                "paketo-buildpacks/builder:base",
                "/tmp/helios-build-x"
            ),
            [
                "build",
                "registry.example.com/shop:src-3f2a9c1b7d4e",
                "--builder",
                "paketo-buildpacks/builder:base",
                "--path",
                "/tmp/helios-build-x"
            ]
        );
    }

    #[test]
    fn the_newest_images_and_those_in_use_are_kept() {
        let images: Vec<(String, i64)> = (1..=6).map(|n| (format!("sha256:{n}"), n)).collect();
        let in_use = std::collections::BTreeSet::from(["sha256:1".to_string()]);
        // 6, 5, 4 are the newest; 1 runs somewhere.
        assert_eq!(
            images_to_remove(&images, &in_use, 3),
            ["sha256:3", "sha256:2"]
        );
        assert!(images_to_remove(&images[..2], &in_use, 3).is_empty());
    }

    #[test]
    fn a_failed_build_keeps_the_last_lines_of_its_log() {
        let log: Vec<String> = (1..=100).map(|n| format!("line {n}")).collect();
        let kept = tail(&log);
        assert_eq!(kept.lines().count(), LOG_TAIL);
        assert!(kept.starts_with("line 61\n") && kept.ends_with("line 100"));
    }
}
