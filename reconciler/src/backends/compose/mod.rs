//! The Compose backend: one Docker host.
//!
//! - **Observe** through the Docker Engine API (`bollard`, local unix
//!   socket): containers carrying `dev.helios.app` (exited ones too, since
//!   a crashed container is drift), grouped by app and service, with their
//!   `dev.helios.spec-hash`; and the `<db>-data` volumes Compose made for
//!   those apps.
//! - **Apply** with the real Compose tool of the host (`docker compose`,
//!   else `docker-compose`), so that what runs is exactly what an operator
//!   would get by hand from the same file: the compiled `compose.yaml` is
//!   written to `<state_dir>/compose/<app>/compose.yaml` (the backend's
//!   working copy, kept out of the state repository, whose record of it is
//!   `apps/<app>/files/compose.yaml`) and brought up with
//!   `-p <app> -f <that file> --env-file <secrets> up -d`.
//! - **Secrets** go by path: the env file of [`AppSecrets::env_file`], or,
//!   when the caller gives values only, one this backend writes with mode
//!   0600 to `<state_dir>/secrets/<app>.env`. No value is ever logged or put
//!   on a command line.

mod build;

pub use build::{
    BuildLimits, KEPT_IMAGES, LOG_TAIL, SOURCE_COMMIT_LABEL, images_to_remove, pack_arguments,
};

use crate::backend::{
    AppSecrets, Backend, BackendError, DriftEvent, Health, HealthState, Instance, InstanceStatus,
    ObservedComponent, ObservedState,
};
use crate::desired::{ComponentKind, DesiredApp};
use crate::plan::{VolumeAction, VolumePlan};
use crate::secrets::Secret;
use crate::secrets::env_file::{self, EnvDialect};
use bollard::Docker;
use bollard::models::{
    ContainerSummary, ContainerSummaryHealthStatusEnum, ContainerSummaryStateEnum,
    NetworkCreateRequest,
};
use bollard::query_parameters::{
    EventsOptionsBuilder, ListContainersOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

// The label names are the compiler's (one owner: `heliosc::lower::labels`).
pub use heliosc::lower::labels::{
    APP as APP_LABEL, COMPONENT as COMPONENT_LABEL, SECRETS_DIGEST as SECRETS_DIGEST_LABEL,
    SERVICE as SERVICE_LABEL, SPEC_HASH as SPEC_HASH_LABEL,
};
/// The label Compose (v1 and v2) sets on everything of a project.
const PROJECT_LABEL: &str = "com.docker.compose.project";
/// The label Compose sets on a volume: its name in the compose file.
const VOLUME_LABEL: &str = "com.docker.compose.volume";

/// Which Compose tool the host has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComposeTool {
    /// The `docker compose` plugin (Compose v2).
    Plugin,
    /// The standalone `docker-compose` (Compose v1, or v2's standalone
    /// binary).
    Standalone,
}

impl ComposeTool {
    /// Finds the tool: `docker compose` if `docker compose version` works,
    /// else `docker-compose` if `docker-compose version` does.
    pub async fn detect() -> Result<Self, BackendError> {
        if succeeds("docker", &["compose", "version"]).await {
            Ok(Self::Plugin)
        } else if succeeds("docker-compose", &["version"]).await {
            Ok(Self::Standalone)
        } else {
            Err(BackendError::Unavailable(
                "neither `docker compose` nor `docker-compose` works on this host".to_string(),
            ))
        }
    }

    /// The program and the arguments that come before the subcommand.
    fn command(self) -> tokio::process::Command {
        match self {
            Self::Plugin => {
                let mut command = tokio::process::Command::new("docker");
                command.arg("compose");
                command
            }
            Self::Standalone => {
                let mut command = tokio::process::Command::new("docker-compose");
                // Compose v1 ignores `deploy:` (replicas, resource limits)
                // without it; v2 applies them anyway and accepts the flag.
                command.arg("--compatibility");
                command
            }
        }
    }

    /// Whose rules the tool reads env files by: `docker compose` is
    /// Compose v2; a standalone `docker-compose` is v1 when
    /// `docker-compose version --short` says 1.x, else v2.
    pub async fn dialect(self) -> EnvDialect {
        match self {
            Self::Plugin => EnvDialect::ComposeV2,
            Self::Standalone => {
                let version = tokio::process::Command::new("docker-compose")
                    .args(["version", "--short"])
                    .stdin(std::process::Stdio::null())
                    .output()
                    .await
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                    .unwrap_or_default();
                if version.starts_with("1.") {
                    EnvDialect::ComposeV1
                } else {
                    EnvDialect::ComposeV2
                }
            }
        }
    }

    /// How the command line starts, for messages.
    fn display(self) -> &'static str {
        match self {
            Self::Plugin => "docker compose",
            Self::Standalone => "docker-compose --compatibility",
        }
    }
}

async fn succeeds(program: &str, args: &[&str]) -> bool {
    tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .is_ok_and(|o| o.status.success())
}

/// The Compose backend of one Docker host.
#[derive(Debug)]
pub struct ComposeBackend {
    docker: Docker,
    tool: ComposeTool,
    dialect: EnvDialect,
    state_dir: PathBuf,
    build_limits: BuildLimits,
}

impl ComposeBackend {
    /// Connects to the local Docker Engine (`DOCKER_HOST` or the default
    /// socket), agrees on an API version with it, and finds the Compose
    /// tool. `state_dir` is the reconciler's state directory.
    pub async fn connect(state_dir: &Path) -> Result<Self, BackendError> {
        let docker = Docker::connect_with_local_defaults()
            .map_err(|e| BackendError::Unavailable(format!("Docker Engine: {e}")))?
            // bollard speaks a newer API than older engines (20.10 is
            // 1.41); without this they refuse every request.
            .negotiate_version()
            .await
            .map_err(|e| BackendError::Unavailable(format!("Docker Engine: {e}")))?;
        let tool = ComposeTool::detect().await?;
        let dialect = tool.dialect().await;
        Ok(Self {
            docker,
            tool,
            dialect,
            state_dir: state_dir.to_path_buf(),
            build_limits: BuildLimits::default(),
        })
    }

    /// The same backend with these limits on builds.
    pub fn with_build_limits(mut self, limits: BuildLimits) -> Self {
        self.build_limits = limits;
        self
    }

    /// The Compose tool in use.
    pub fn tool(&self) -> ComposeTool {
        self.tool
    }

    /// The rules its env files are written by.
    pub fn dialect(&self) -> EnvDialect {
        self.dialect
    }

    /// Where the compiled `compose.yaml` of `app` is written before `up`.
    /// It stays after a `remove` that keeps volumes: it is what a later
    /// `down -v` needs to find them.
    pub fn compose_file(&self, app: &str) -> PathBuf {
        self.working_copies().join(app).join("compose.yaml")
    }

    /// `<state_dir>/compose/`: one folder per app, ignored by the state
    /// repository (which records the same file under `apps/<app>/files/`).
    fn working_copies(&self) -> PathBuf {
        self.state_dir.join("compose")
    }

    /// The env file this backend writes for `app` from the values it is
    /// given: `<state_dir>/secrets/compose/<app>.env` (mode 0600, in the
    /// git-ignored `secrets/`).
    pub fn env_file_path(&self, app: &str) -> PathBuf {
        self.state_dir
            .join("secrets")
            .join("compose")
            .join(format!("{app}.env"))
    }

    /// Polls [`Backend::health`] until the app is healthy, definitely
    /// unhealthy, or `timeout` passes (then it is reported as it last was,
    /// `Progressing` meaning "did not settle in time").
    pub async fn wait_healthy(
        &self,
        app: &str,
        timeout: Duration,
        every: Duration,
    ) -> Result<Health, BackendError> {
        let start = Instant::now();
        loop {
            let health = self.health(app).await?;
            if health.state != HealthState::Progressing || start.elapsed() >= timeout {
                return Ok(health);
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Creates the external network the compiled files join, if missing.
    async fn ensure_edge_network(&self) -> Result<(), BackendError> {
        let network = heliosc::lower::compose::EDGE_NETWORK;
        match self.docker.inspect_network(network, None).await {
            Ok(_) => return Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(e) => return Err(api(e)),
        }
        let request = NetworkCreateRequest {
            name: network.to_string(),
            driver: Some("bridge".to_string()),
            ..Default::default()
        };
        match self.docker.create_network(request).await {
            Ok(_) => {
                tracing::info!(
                    network,
                    "created the network the host's edge router and the apps' public services share (docs/edge.md)"
                );
                Ok(())
            }
            // Another process created it in between: fine.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(api(e)),
        }
    }

    /// Writes the env file of `app` from `secrets`, by the rules of the
    /// host's Compose tool, and returns its path. Every variable the
    /// compose file interpolates must have a value: Compose would run the
    /// app with a blank password otherwise.
    fn write_env_file(
        &self,
        app: &DesiredApp,
        secrets: &AppSecrets,
    ) -> Result<PathBuf, BackendError> {
        let mut values: BTreeMap<String, Secret> = BTreeMap::new();
        for (database, password) in &secrets.database_passwords {
            values.insert(
                heliosc::lower::database_password_variable(database),
                password.clone(),
            );
        }
        for (name, value) in &secrets.user {
            values.insert(heliosc::lower::user_secret_variable(name), value.clone());
        }
        if let Some(missing) = app
            .required_variables
            .iter()
            .find(|v| !values.contains_key(*v))
        {
            return Err(BackendError::MissingSecret {
                app: app.name.clone(),
                secret: missing.clone(),
            });
        }
        let text = env_file::render(self.dialect, &values).map_err(BackendError::Uncarriable)?;
        let path = self.env_file_path(&app.name);
        crate::secrets::write_private(&path, &text)?;
        Ok(path)
    }

    /// Runs the Compose tool for project `app` with its file; the error
    /// keeps the command line (paths only) and standard error.
    async fn compose(
        &self,
        app: &str,
        env_file: Option<&Path>,
        args: &[&str],
    ) -> Result<(), BackendError> {
        let file = self.compose_file(app);
        let mut command = self.tool.command();
        command
            .args(["--ansi", "never", "-p", app])
            .arg("-f")
            .arg(&file);
        let mut line = format!("{} -p {app} -f {}", self.tool.display(), file.display());
        if let Some(env_file) = env_file {
            command.arg("--env-file").arg(env_file);
            line.push_str(&format!(" --env-file {}", env_file.display()));
        }
        command.args(args);
        for arg in args {
            line.push(' ');
            line.push_str(arg);
        }
        command
            .stdin(std::process::Stdio::null())
            // The env file is the one source of values: a variable of the
            // reconciler's own environment must not leak into an app, and
            // both Compose tools let the environment win over the file.
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME");
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("HELIOS_") {
                command.env_remove(name);
            }
        }
        let output = command.output().await.map_err(|e| BackendError::Command {
            command: line.clone(),
            code: None,
            stderr: e.to_string(),
        })?;
        if output.status.success() {
            Ok(())
        } else {
            Err(BackendError::Command {
                command: line,
                code: output.status.code(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            })
        }
    }

    /// Owned containers, exited ones included; of one app if given.
    async fn containers(&self, app: Option<&str>) -> Result<Vec<ContainerSummary>, BackendError> {
        let label = match app {
            Some(app) => format!("{APP_LABEL}={app}"),
            None => APP_LABEL.to_string(),
        };
        let filters = HashMap::from([("label", vec![label])]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        self.docker
            .list_containers(Some(options))
            .await
            .map_err(unavailable_or_api)
    }

    /// The `<db>-data` volumes Compose made for `apps`, by app (names as
    /// in the compose file, without the project prefix), with their full
    /// names.
    async fn volumes(
        &self,
        apps: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, BTreeMap<String, String>>, BackendError> {
        let filters = HashMap::from([("label", vec![VOLUME_LABEL.to_string()])]);
        let options = ListVolumesOptionsBuilder::new().filters(&filters).build();
        let listed = self
            .docker
            .list_volumes(Some(options))
            .await
            .map_err(unavailable_or_api)?;
        let mut by_app: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for volume in listed.volumes.unwrap_or_default() {
            let (Some(project), Some(name)) = (
                volume.labels.get(PROJECT_LABEL),
                volume.labels.get(VOLUME_LABEL),
            ) else {
                continue;
            };
            // Volumes carry `dev.helios.app` since the compiler labels
            // them; older ones only Compose's labels, so ownership is also
            // the project being an owned app and the name the compiler's
            // `<db>-data` form.
            let labelled = volume.labels.get(APP_LABEL) == Some(project);
            if apps.contains(project) && (labelled || name.ends_with("-data")) {
                by_app
                    .entry(project.clone())
                    .or_default()
                    .insert(name.clone(), volume.name.clone());
            }
        }
        Ok(by_app)
    }

    /// Apps this backend wrote a compose file for: after a `remove` that
    /// kept volumes, the only trace of the app besides its volumes.
    fn apps_with_files(&self) -> BTreeSet<String> {
        let Ok(entries) = std::fs::read_dir(self.working_copies()) else {
            return BTreeSet::new();
        };
        entries
            .filter_map(Result::ok)
            .filter(|e| e.path().join("compose.yaml").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }
}

impl Backend for ComposeBackend {
    fn name(&self) -> &'static str {
        "compose"
    }

    fn builds_images(&self) -> bool {
        true
    }

    async fn build_image(
        &self,
        build: &crate::build::ImageBuild,
        context: Vec<u8>,
    ) -> Result<(), BackendError> {
        self.build(build, context).await
    }

    /// Docker's event stream, filtered by the engine to containers with
    /// [`APP_LABEL`] and here to the actions that leave a container not
    /// running or not healthy. The stream is reopened with a growing delay
    /// whenever it fails or ends (an engine restart), for as long as the
    /// future lives.
    fn watch_drift<F>(&self, mut on_event: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: FnMut(DriftEvent) + Send + 'static,
    {
        use futures_util::StreamExt as _;
        let docker = self.docker.clone();
        async move {
            let filters: HashMap<&str, Vec<&str>> =
                HashMap::from([("type", vec!["container"]), ("label", vec![APP_LABEL])]);
            let mut backoff =
                crate::source::Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
            loop {
                let options = EventsOptionsBuilder::new().filters(&filters).build();
                let mut events = std::pin::pin!(docker.events(Some(options)));
                let mut failure = "the stream ended".to_string();
                while let Some(event) = events.next().await {
                    match event {
                        Ok(event) => {
                            backoff.reset();
                            if let Some(event) = drift_event(event) {
                                on_event(event);
                            }
                        }
                        Err(e) => {
                            failure = e.to_string();
                            break;
                        }
                    }
                }
                // Seconds-grained jitter is enough to spread reconnects.
                let jitter = f64::from(std::process::id() % 100) / 100.0;
                let delay = backoff.next_delay(jitter);
                tracing::warn!(
                    "Docker events: {failure}; reconnecting in {}s",
                    delay.as_secs()
                );
                tokio::time::sleep(delay).await;
            }
        }
    }

    async fn observe(&self) -> Result<ObservedState, BackendError> {
        let mut state = ObservedState::default();
        for container in self.containers(None).await? {
            let labels = container.labels.clone().unwrap_or_default();
            let (Some(app), Some(service)) = (labels.get(APP_LABEL), labels.get(SERVICE_LABEL))
            else {
                continue;
            };
            let kind = match labels.get(COMPONENT_LABEL).map(String::as_str) {
                Some("database") => ComponentKind::Database,
                _ => ComponentKind::Service,
            };
            let component = state
                .apps
                .entry(app.clone())
                .or_default()
                .components
                .entry(service.clone())
                .or_insert_with(|| ObservedComponent {
                    kind,
                    instances: Vec::new(),
                });
            component.instances.push(Instance {
                spec_hash: labels.get(SPEC_HASH_LABEL).cloned(),
                secrets_digest: labels.get(SECRETS_DIGEST_LABEL).cloned(),
                status: instance_status(&container),
            });
        }
        let mut apps: BTreeSet<String> = state.apps.keys().cloned().collect();
        apps.extend(self.apps_with_files());
        for (app, volumes) in self.volumes(&apps).await? {
            state
                .apps
                .entry(app)
                .or_default()
                .volumes
                .extend(volumes.into_keys());
        }
        Ok(state)
    }

    async fn apply(
        &self,
        app: &DesiredApp,
        components: &[String],
        secrets: &AppSecrets,
    ) -> Result<(), BackendError> {
        if components.is_empty() {
            return Ok(());
        }
        let Some(file) = app.files.iter().find(|f| f.path == "compose.yaml") else {
            return Err(BackendError::Api(format!(
                "app `{}` has no compiled compose.yaml",
                app.name
            )));
        };
        let env_file = self.write_env_file(app, secrets)?;
        let path = self.compose_file(&app.name);
        write_atomically(&path, &file.contents)?;
        self.ensure_edge_network().await?;
        let mut args = vec!["up", "-d"];
        // Orphans (services that left the file) go only when the whole app
        // is applied: the plan applies databases first and deletes last,
        // and a database step must not remove anything.
        let whole = app.components.keys().all(|k| components.contains(k));
        if whole {
            args.push("--remove-orphans");
        }
        // The count of containers is given explicitly, so that exactly
        // `replicas` run afterwards however many ran before (one removed
        // by hand, or one too many).
        let scales: Vec<String> = components
            .iter()
            .filter_map(|key| {
                let replicas = app.components.get(key)?.replicas?;
                Some(format!("{key}={replicas}"))
            })
            .collect();
        for scale in &scales {
            args.push("--scale");
            args.push(scale);
        }
        args.extend(components.iter().map(String::as_str));
        self.compose(&app.name, Some(&env_file), &args).await
    }

    async fn delete(
        &self,
        app: &str,
        components: &[String],
        volumes: &[VolumePlan],
    ) -> Result<(), BackendError> {
        // Through the API rather than Compose: the services are no longer
        // in the app's compose file, so Compose does not know them.
        let remove = RemoveContainerOptionsBuilder::new().force(true).build();
        for container in self.containers(Some(app)).await? {
            let labels = container.labels.clone().unwrap_or_default();
            let owned = labels.get(APP_LABEL).is_some_and(|a| a == app);
            let Some(service) = labels.get(SERVICE_LABEL) else {
                continue;
            };
            if !owned || !components.contains(service) {
                continue;
            }
            if let Some(id) = &container.id {
                self.docker
                    .remove_container(id, Some(remove.clone()))
                    .await
                    .map_err(api)?;
            }
        }
        let doomed: BTreeSet<&str> = volumes
            .iter()
            .filter(|v| v.action == VolumeAction::Delete)
            .map(|v| v.name.as_str())
            .collect();
        if !doomed.is_empty() {
            let apps = BTreeSet::from([app.to_string()]);
            let live = self.volumes(&apps).await?;
            for (name, full) in live.get(app).into_iter().flatten() {
                if doomed.contains(name.as_str()) {
                    self.docker
                        .remove_volume(full, None::<bollard::query_parameters::RemoveVolumeOptions>)
                        .await
                        .map_err(api)?;
                }
            }
        }
        Ok(())
    }

    async fn remove(&self, app: &str, volumes: &[VolumePlan]) -> Result<(), BackendError> {
        let file = self.compose_file(app);
        if !file.is_file() {
            // Nothing this backend applied (or its file was lost): remove
            // the owned containers through the API instead.
            let keys: Vec<String> = self
                .containers(Some(app))
                .await?
                .iter()
                .filter_map(|c| c.labels.as_ref()?.get(SERVICE_LABEL).cloned())
                .collect();
            return self.delete(app, &keys, volumes).await;
        }
        let env_file = self.env_file_path(app);
        // Compose interpolates the file even to take it down; without the
        // values it only warns, so a missing env file is not an error.
        let env_file = env_file.is_file().then_some(env_file.as_path());
        let mut args = vec!["down", "--remove-orphans"];
        // The plan lists every volume of a removed app, all with the same
        // action: `-v` deletes exactly those.
        let prune = volumes.iter().any(|v| v.action == VolumeAction::Delete);
        if prune {
            args.push("-v");
        }
        self.compose(app, env_file, &args).await?;
        if volumes.iter().all(|v| v.action == VolumeAction::Delete) {
            // Nothing of the app is left: forget it, so that observe no
            // longer reports it.
            std::fs::remove_file(&file)?;
        }
        Ok(())
    }

    async fn health(&self, app: &str) -> Result<Health, BackendError> {
        let containers = self.containers(Some(app)).await?;
        if containers.is_empty() {
            return Ok(Health {
                state: HealthState::Unhealthy,
                details: vec![format!("app `{app}` has no containers")],
            });
        }
        let mut progressing = false;
        let mut unhealthy = false;
        let mut details = Vec::new();
        for container in &containers {
            let labels = container.labels.clone().unwrap_or_default();
            let service = labels.get(SERVICE_LABEL).map_or("?", String::as_str);
            let name = container
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map_or("?", |n| n.trim_start_matches('/'));
            let status = instance_status(container);
            let what = match status {
                // Containers are never edited in place.
                InstanceStatus::Running
                | InstanceStatus::Healthy
                | InstanceStatus::Edited
                | InstanceStatus::Conflict => {
                    continue;
                }
                InstanceStatus::Starting => {
                    progressing = true;
                    "starting"
                }
                InstanceStatus::Unhealthy => {
                    unhealthy = true;
                    "unhealthy"
                }
                InstanceStatus::Exited | InstanceStatus::Missing => {
                    unhealthy = true;
                    "not running"
                }
            };
            let docker_status = container.status.as_deref().unwrap_or("");
            let mut detail = format!("{service}: {name} {what} ({docker_status})");
            if status == InstanceStatus::Unhealthy
                && let Some(id) = &container.id
                && let Some(cause) = self.failing_check(id).await
            {
                detail.push_str(": ");
                detail.push_str(&cause);
            }
            details.push(detail);
        }
        details.sort();
        let state = if unhealthy {
            HealthState::Unhealthy
        } else if progressing {
            HealthState::Progressing
        } else {
            HealthState::Healthy
        };
        Ok(Health { state, details })
    }
}

impl ComposeBackend {
    /// Why the last health check of container `id` failed, from its health
    /// log; `None` when the engine says nothing.
    async fn failing_check(&self, id: &str) -> Option<String> {
        let inspected = self
            .docker
            .inspect_container(
                id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .ok()?;
        let last = inspected.state?.health?.log?.pop()?;
        Some(check_failure(
            last.exit_code,
            last.output.as_deref().unwrap_or(""),
        ))
    }
}

/// What a failed health check's exit code and output say: a check whose
/// command cannot start (exit 126 or 127, `exec: ... no such file`) is
/// named as such, since an image without `wget` or `curl` (or `/bin/sh`)
/// fails every HTTP check however healthy the app is.
pub fn check_failure(exit_code: Option<i64>, output: &str) -> String {
    let first = output
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let cannot_start = matches!(exit_code, Some(126 | 127))
        || first.contains("executable file not found")
        || (first.contains("exec") && first.contains("no such file or directory"));
    let code = exit_code.map_or_else(|| "?".to_string(), |c| c.to_string());
    if cannot_start {
        format!(
            "the health check cannot run (exit {code}: {first}): the image lacks the command it runs (an HTTP check needs wget or curl, and /bin/sh)"
        )
    } else if first.is_empty() {
        format!("last health check: exit {code}")
    } else {
        format!("last health check: exit {code}: {first}")
    }
}

/// A container's state as the trait sees it. The health comes from the
/// summary's `Health` where the engine gives it (API 1.50+), else from its
/// `Status` text (`Up 3 seconds (healthy)`), which every version has.
fn instance_status(container: &ContainerSummary) -> InstanceStatus {
    match container.state {
        Some(ContainerSummaryStateEnum::RUNNING) => {}
        Some(ContainerSummaryStateEnum::CREATED | ContainerSummaryStateEnum::RESTARTING) => {
            return InstanceStatus::Starting;
        }
        _ => return InstanceStatus::Exited,
    }
    if let Some(health) = container.health.as_ref().and_then(|h| h.status) {
        match health {
            ContainerSummaryHealthStatusEnum::HEALTHY => return InstanceStatus::Healthy,
            ContainerSummaryHealthStatusEnum::UNHEALTHY => return InstanceStatus::Unhealthy,
            ContainerSummaryHealthStatusEnum::STARTING => return InstanceStatus::Starting,
            _ => {}
        }
    }
    let status = container.status.as_deref().unwrap_or("");
    if status.contains("(healthy)") {
        InstanceStatus::Healthy
    } else if status.contains("(unhealthy)") {
        InstanceStatus::Unhealthy
    } else if status.contains("(health: starting)") {
        InstanceStatus::Starting
    } else {
        InstanceStatus::Running
    }
}

fn api(error: bollard::errors::Error) -> BackendError {
    BackendError::Api(error.to_string())
}

/// A connection failure is the daemon being away; anything else is an API
/// answer.
fn unavailable_or_api(error: bollard::errors::Error) -> BackendError {
    match error {
        bollard::errors::Error::DockerResponseServerError { .. } => api(error),
        other => BackendError::Unavailable(other.to_string()),
    }
}

/// Writes a file through a temporary one and a rename, so that Compose
/// never reads a half-written file.
fn write_atomically(path: &Path, text: &str) -> Result<(), BackendError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let temporary = path.with_extension("yaml.tmp~");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}

/// The event as drift, if it may be: a container that stopped running
/// (`die` covers crashes, kills and stops; `destroy` a `docker rm -f`;
/// `oom`) or whose health check now fails.
fn drift_event(event: bollard::models::EventMessage) -> Option<DriftEvent> {
    let action = event.action?;
    let drift = matches!(action.as_str(), "die" | "destroy" | "stop" | "kill" | "oom")
        || action == "health_status: unhealthy";
    if !drift {
        return None;
    }
    let attributes = event.actor?.attributes.unwrap_or_default();
    Some(DriftEvent {
        app: attributes.get(APP_LABEL)?.clone(),
        object: attributes.get("name").cloned().unwrap_or_default(),
        action,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_that_cannot_start_is_named_as_such() {
        let missing = check_failure(
            Some(127),
            "/bin/sh: wget: not found\n/bin/sh: curl: not found\n",
        );
        assert!(
            missing.starts_with("the health check cannot run (exit 127: /bin/sh: wget: not found)"),
            "{missing}"
        );
        let exec = check_failure(
            Some(-1),
            "OCI runtime exec failed: exec failed: unable to start container process: exec: \"/bin/no-probe\": stat /bin/no-probe: no such file or directory: unknown",
        );
        assert!(exec.starts_with("the health check cannot run"), "{exec}");
        assert_eq!(
            check_failure(Some(1), "wget: server returned error: HTTP/1.1 500\n"),
            "last health check: exit 1: wget: server returned error: HTTP/1.1 500"
        );
    }
    use bollard::models::ContainerSummaryHealth;

    #[test]
    fn only_owned_containers_leaving_running_or_healthy_are_drift() {
        let event = |action: &str, app: Option<&str>| bollard::models::EventMessage {
            action: Some(action.to_string()),
            actor: Some(bollard::models::EventActor {
                id: Some("0123".to_string()),
                attributes: Some(
                    [("name", Some("shop-web-1")), (APP_LABEL, app)]
                        .into_iter()
                        .filter_map(|(k, v)| Some((k.to_string(), v?.to_string())))
                        .collect(),
                ),
            }),
            ..Default::default()
        };
        assert_eq!(
            drift_event(event("die", Some("shop"))),
            Some(DriftEvent {
                app: "shop".to_string(),
                object: "shop-web-1".to_string(),
                action: "die".to_string(),
            })
        );
        for action in ["destroy", "stop", "kill", "oom", "health_status: unhealthy"] {
            assert!(
                drift_event(event(action, Some("shop"))).is_some(),
                "{action}"
            );
        }
        for action in [
            "start",
            "create",
            "health_status: healthy",
            "exec_start: sh",
        ] {
            assert_eq!(drift_event(event(action, Some("shop"))), None, "{action}");
        }
        assert_eq!(drift_event(event("die", None)), None);
    }

    fn container(state: ContainerSummaryStateEnum, status: &str) -> ContainerSummary {
        ContainerSummary {
            state: Some(state),
            status: Some(status.to_string()),
            ..Default::default()
        }
    }

    #[test]
    fn status_text_gives_the_health_of_older_engines() {
        use ContainerSummaryStateEnum::*;
        let cases = [
            (RUNNING, "Up 3 seconds", InstanceStatus::Running),
            (RUNNING, "Up 3 seconds (healthy)", InstanceStatus::Healthy),
            (
                RUNNING,
                "Up 1 second (health: starting)",
                InstanceStatus::Starting,
            ),
            (
                RUNNING,
                "Up 2 minutes (unhealthy)",
                InstanceStatus::Unhealthy,
            ),
            (EXITED, "Exited (137) 2 seconds ago", InstanceStatus::Exited),
            (
                RESTARTING,
                "Restarting (1) 1 second ago",
                InstanceStatus::Starting,
            ),
            (DEAD, "Dead", InstanceStatus::Exited),
        ];
        for (state, status, expected) in cases {
            assert_eq!(
                instance_status(&container(state, status)),
                expected,
                "{status}"
            );
        }
    }

    #[test]
    fn the_health_field_wins_where_the_engine_gives_it() {
        let mut c = container(ContainerSummaryStateEnum::RUNNING, "Up 3 seconds");
        c.health = Some(ContainerSummaryHealth {
            status: Some(ContainerSummaryHealthStatusEnum::UNHEALTHY),
            ..Default::default()
        });
        assert_eq!(instance_status(&c), InstanceStatus::Unhealthy);
    }
}
