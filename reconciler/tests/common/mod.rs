//! What the tests on the real Docker Engine share: the prerequisites (skip
//! with a message, or fail under `HELIOS_REQUIRE_DOCKER=1`), a local image
//! built `FROM scratch` on Debian's static busybox (no registry can be
//! reached here), queries of live containers, and a cleanup that removes
//! what a test made even when it panics.

#![allow(dead_code, clippy::panic)] // Each test binary uses a part; helpers fail loudly.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Debian's `busybox-static`.
pub(crate) const BUSYBOX: &str = "/bin/busybox";

fn docker_required() -> bool {
    std::env::var("HELIOS_REQUIRE_DOCKER").is_ok_and(|v| v == "1")
}

fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether the Docker daemon, a Compose tool and busybox are here. When
/// one is missing the test says so and is skipped, or, with
/// `HELIOS_REQUIRE_DOCKER=1` (CI), fails.
pub(crate) fn docker_ready() -> bool {
    let checks = [
        (succeeds("docker", &["info"]), "no Docker daemon"),
        (
            succeeds("docker-compose", &["version"]) || succeeds("docker", &["compose", "version"]),
            "no Compose tool (docker compose or docker-compose)",
        ),
        (
            Path::new(BUSYBOX).is_file(),
            "no static busybox at /bin/busybox (apt-get install busybox-static)",
        ),
    ];
    for (ok, message) in checks {
        if !ok {
            if docker_required() {
                panic!("HELIOS_REQUIRE_DOCKER=1 but {message}");
            }
            eprintln!("skipped: {message}");
            return false;
        }
    }
    true
}

/// Standard output and error, for failure messages.
pub(crate) fn describe(output: &Output) -> String {
    format!(
        "{}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs `command`, fails the test unless it succeeds, returns its stdout.
pub(crate) fn run_ok(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        describe(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Polls `probe` until it gives a value or `limit` passes.
pub(crate) fn wait_for<T>(limit: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Builds the test image `tag`: busybox (`sh`, `httpd`, `nc`, `sleep`) with
/// `/www/index.html`, and a fake Redis for databases: `redis-server` keeps
/// the config the compiled command pipes to it in `/tmp/redis-config` and
/// answers on 6379; `redis-cli` (the compiled healthcheck) answers PONG.
pub(crate) fn build_image(context: &Path, tag: &str) {
    let _ = std::fs::remove_dir_all(context);
    std::fs::create_dir_all(context.join("www")).expect("create context");
    std::fs::copy(BUSYBOX, context.join("busybox")).expect("copy busybox");
    std::fs::write(context.join("www/index.html"), "ok\n").expect("index");
    for (name, script) in [
        (
            "redis-server",
            "#!/bin/sh\ncat > /tmp/redis-config\ntrap 'exit 0' TERM\nnc -ll -p 6379 -e echo +PONG &\nwait\n",
        ),
        ("redis-cli", "#!/bin/sh\necho PONG\n"),
    ] {
        let path = context.join(name);
        std::fs::write(&path, script).expect("script");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
    }
    std::fs::write(
        context.join("Dockerfile"),
        "FROM scratch\n\
         COPY busybox /bin/busybox\n\
         RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
         RUN mkdir -p /tmp && chmod 1777 /tmp\n\
         COPY www /www\n\
         COPY redis-server redis-cli /usr/local/bin/\n\
         ENV PATH=/usr/local/bin:/bin\n",
    )
    .expect("Dockerfile");
    run_ok(
        Command::new("docker")
            .args(["build", "-q", "-t", tag])
            .arg(context),
    );
}

/// Ids of the containers of one service of a Compose project (stopped
/// ones too), sorted.
pub(crate) fn container_ids(project: &str, service: &str) -> Vec<String> {
    container_ids_on(Command::new("docker"), project, service)
}

/// [`container_ids`] through `docker`, a `docker` command that may talk to
/// another engine (`DOCKER_HOST`).
pub(crate) fn container_ids_on(mut docker: Command, project: &str, service: &str) -> Vec<String> {
    let mut ids: Vec<String> = run_ok(docker.args([
        "ps",
        "-aq",
        "--no-trunc",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--filter",
        &format!("label=com.docker.compose.service={service}"),
    ]))
    .split_whitespace()
    .map(str::to_string)
    .collect();
    ids.sort();
    ids
}

/// `docker inspect --format FORMAT ID`, trimmed.
pub(crate) fn inspect(id: &str, format: &str) -> String {
    run_ok(Command::new("docker").args(["inspect", "--format", format, id]))
        .trim()
        .to_string()
}

/// Names of the volumes of a Compose project.
pub(crate) fn volumes(project: &str) -> Vec<String> {
    let mut names: Vec<String> = run_ok(Command::new("docker").args([
        "volume",
        "ls",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
    ]))
    .split_whitespace()
    .map(str::to_string)
    .collect();
    names.sort();
    names
}

/// Everything a test creates on the Docker host; dropping it removes it
/// all (containers, volumes, networks of its projects, its image), whether
/// the test passed or panicked.
pub(crate) struct Cleanup {
    /// Compose projects (app names).
    pub(crate) projects: Vec<String>,
    /// Image tags.
    pub(crate) images: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for project in &self.projects {
            let label = format!("label=com.docker.compose.project={project}");
            let ids = Command::new("docker")
                .args(["ps", "-aq", "--filter", &label])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            for id in ids.split_whitespace() {
                let _ = Command::new("docker").args(["rm", "-f", id]).output();
            }
            for kind in ["volume", "network"] {
                let names = Command::new("docker")
                    .args([kind, "ls", "-q", "--filter", &label])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                for name in names.split_whitespace() {
                    let _ = Command::new("docker").args([kind, "rm", name]).output();
                }
            }
        }
        for image in &self.images {
            let _ = Command::new("docker")
                .args(["image", "rm", "-f", image])
                .output();
        }
    }
}

/// A config repo: a git repository with a work tree on branch `main`.
pub(crate) fn config_repo(dir: &Path) -> git2::Repository {
    let mut options = git2::RepositoryInitOptions::new();
    options.initial_head("main");
    git2::Repository::init_opts(dir, &options).expect("git init")
}

/// Writes (`Some`) or deletes (`None`) files of `repo`'s work tree, then
/// commits everything on its current branch, as `git commit -a` would.
pub(crate) fn commit_all(repo: &git2::Repository, files: &[(&str, Option<&str>)]) {
    let workdir = repo.workdir().expect("a work tree").to_path_buf();
    for (path, text) in files {
        let path = workdir.join(path);
        match text {
            Some(text) => {
                std::fs::create_dir_all(path.parent().expect("a parent")).expect("a folder");
                std::fs::write(&path, text).expect("a file");
            }
            None => std::fs::remove_file(&path).expect("a removal"),
        }
    }
    let mut index = repo.index().expect("the index");
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .expect("add");
    index.update_all(["*"], None).expect("update");
    index.write().expect("write the index");
    let tree = repo
        .find_tree(index.write_tree().expect("a tree"))
        .expect("the tree");
    let signature = git2::Signature::now("Test", "test@helios.invalid").expect("who");
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    repo.commit(
        Some("HEAD"),
        &signature,
        &signature,
        "change",
        &tree,
        &parents,
    )
    .expect("a commit");
}
