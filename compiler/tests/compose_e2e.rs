//! End to end on a real Docker Engine: compile a Heliosfile with the
//! `heliosc` binary, run it with `docker-compose up`, and check that the
//! app works as the Heliosfile says: the web service turns healthy and
//! answers over HTTP inside the app's network, references reach the
//! worker's environment filled in (the database password from the env
//! file), the database container gets its credential, and `deploy:`
//! (replicas, limits) takes effect.
//!
//! No registry is needed: the images are built locally `FROM scratch` with
//! a static busybox (`/bin/busybox`, Debian's `busybox-static`), and the
//! database is a fake Redis image that answers the compiled native
//! healthcheck.
//!
//! Without a Docker daemon (or `docker-compose`, or busybox) the test is
//! skipped with a message; with `HELIOS_REQUIRE_DOCKER=1` it fails instead.

#![allow(clippy::panic)] // Test helpers fail loudly by design.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Where the static busybox comes from (Debian's `busybox-static`).
const BUSYBOX: &str = "/bin/busybox";
/// The external network the compiled file expects.
const EDGE_NETWORK: &str = "helios-edge";
/// `docker build` without a network: the images are `FROM scratch` and
/// need none, and the build's `RUN` steps then do not depend on the
/// engine's default bridge (`docker0`), which some hosts lack.
const BUILD: [&str; 5] = ["build", "-q", "--network", "none", "-t"];

/// Whether a missing prerequisite is a failure rather than a skip.
fn docker_required() -> bool {
    std::env::var("HELIOS_REQUIRE_DOCKER").is_ok_and(|v| v == "1")
}

/// Skips (returns false) or, when Docker is required, fails.
fn prerequisite(ok: bool, message: &str) -> bool {
    if ok {
        return true;
    }
    if docker_required() {
        panic!("HELIOS_REQUIRE_DOCKER=1 but {message}");
    }
    eprintln!("skipped: {message}");
    false
}

fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command and returns its output, whatever the status.
fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

/// Runs a command that must succeed; returns its standard output.
fn run_ok(command: &mut Command) -> String {
    let output = run(command);
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

fn write(path: &Path, contents: &str) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("create folder");
    std::fs::write(path, contents)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

#[cfg(unix)]
fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", path.display()));
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) {}

/// Polls `probe` until it gives a value or `limit` passes.
fn wait_for<T>(limit: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Everything the test creates on the Docker host; dropping it removes it
/// all, whether the test passed or panicked.
struct Deployment {
    project: String,
    compose_file: PathBuf,
    env_file: PathBuf,
    images: Vec<String>,
    created_network: bool,
}

impl Deployment {
    /// `docker-compose` for this project. `--compatibility` makes Compose
    /// v1 apply `deploy:` (replicas, resource limits), which it otherwise
    /// ignores.
    fn compose(&self, args: &[&str]) -> Command {
        let mut command = Command::new("docker-compose");
        command
            .arg("--compatibility")
            .args(["-p", &self.project])
            .arg("-f")
            .arg(&self.compose_file)
            .arg("--env-file")
            .arg(&self.env_file)
            .args(args)
            .env("COMPOSE_INTERACTIVE_NO_CLI", "1");
        command
    }

    /// The container ids of one service, sorted.
    fn containers(&self, service: &str) -> Vec<String> {
        let mut ids: Vec<String> = run_ok(&mut self.compose(&["ps", "-q", service]))
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        ids.sort();
        ids
    }

    /// `docker inspect -f FORMAT` of one container.
    fn inspect(&self, id: &str, format: &str) -> String {
        run_ok(Command::new("docker").args(["inspect", "-f", format, id]))
            .trim()
            .to_string()
    }

    /// Runs a command in the first container of a service.
    fn exec(&self, service: &str, command: &[&str]) -> Output {
        let mut args = vec!["exec", "-T", service];
        args.extend_from_slice(command);
        run(&mut self.compose(&args))
    }

    /// What went wrong, for a failure message: containers and their logs.
    fn describe(&self) -> String {
        let ps = run(&mut self.compose(&["ps"]));
        let logs = run(&mut self.compose(&["logs", "--no-color", "--tail", "30"]));
        format!(
            "{}{}{}",
            text(&ps.stdout),
            text(&logs.stdout),
            text(&logs.stderr)
        )
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        if self.compose_file.exists() {
            let _ = self
                .compose(&["down", "-v", "--remove-orphans", "-t", "1"])
                .output();
        }
        for image in &self.images {
            let _ = Command::new("docker")
                .args(["image", "rm", "-f", image])
                .output();
        }
        if self.created_network {
            let _ = Command::new("docker")
                .args(["network", "rm", EDGE_NETWORK])
                .output();
        }
    }
}

/// Builds `tag` from a Dockerfile and files in a fresh context folder.
/// The files get mode 0755 (the legacy builder keeps the context's modes).
fn build_image(context: &Path, tag: &str, dockerfile: &str, files: &[(&str, &str)]) {
    let _ = std::fs::remove_dir_all(context);
    std::fs::create_dir_all(context).expect("create build context");
    write(&context.join("Dockerfile"), dockerfile);
    for (name, contents) in files {
        let path = context.join(name);
        write(&path, contents);
        make_executable(&path);
    }
    run_ok(Command::new("docker").args(BUILD).arg(tag).arg(context));
}

/// A `FROM scratch` image with busybox and its applets in `/bin`, and a
/// page for `httpd` to serve.
fn build_base_image(context: &Path, tag: &str) {
    let _ = std::fs::remove_dir_all(context);
    std::fs::create_dir_all(context.join("www")).expect("create www");
    std::fs::copy(BUSYBOX, context.join("busybox")).expect("copy busybox");
    write(&context.join("www/index.html"), "hello from helios-e2e\n");
    write(
        &context.join("Dockerfile"),
        "FROM scratch\n\
         COPY busybox /bin/busybox\n\
         RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
         RUN mkdir -p /tmp /usr/local/bin && chmod 1777 /tmp\n\
         COPY www /www\n\
         ENV PATH=/usr/local/bin:/bin\n",
    );
    run_ok(Command::new("docker").args(BUILD).arg(tag).arg(context));
}

/// A fake Redis on the base image: `redis-server` records its arguments and
/// the configuration it reads on standard input, and listens on 6379; `redis-cli` answers PONG when it has the credential the
/// compiled file gives it (`REDISCLI_AUTH`).
fn build_fake_redis(context: &Path, tag: &str, base: &str) {
    build_image(
        context,
        tag,
        &format!(
            "FROM {base}\n\
             COPY redis-server redis-cli /usr/local/bin/\n"
        ),
        &[
            (
                "redis-server",
                "#!/bin/sh\n\
                 echo \"$@\" > /tmp/redis-args\n\
                 cat > /tmp/redis-config\n\
                 exec nc -ll -p 6379 -e echo +PONG\n",
            ),
            (
                "redis-cli",
                "#!/bin/sh\n\
                 [ -n \"$REDISCLI_AUTH\" ] || { echo 'NOAUTH' >&2; exit 1; }\n\
                 echo PONG\n",
            ),
        ],
    );
}

#[test]
fn compiled_app_runs_on_docker() {
    if !prerequisite(succeeds("docker", &["info"]), "no Docker daemon")
        || !prerequisite(
            succeeds("docker-compose", &["version"]),
            "`docker-compose` is not installed",
        )
        || !prerequisite(
            Path::new(BUSYBOX).is_file(),
            "no static busybox at /bin/busybox (apt-get install busybox-static)",
        )
    {
        return;
    }
    let started = Instant::now();
    let pid = std::process::id();
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("compose-e2e-{pid}"));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("create scratch dir");

    let base = format!("helios-e2e/base:{pid}");
    let fake_redis = format!("helios-e2e/fake-redis:{pid}");
    let mut deployment = Deployment {
        project: format!("helios-e2e-{pid}"),
        compose_file: root.join("out/compose.yaml"),
        env_file: root.join("helios.env"),
        images: vec![fake_redis.clone(), base.clone()],
        created_network: false,
    };

    // Images.
    build_base_image(&root.join("image-base"), &base);
    build_fake_redis(&root.join("image-redis"), &fake_redis, &base);

    // The Heliosfile: `web` runs the built image (`image:` + `--tag`),
    // `worker` gets its image with `--image`.
    let heliosfile = format!(
        "name: e2e\n\
         version: 1\n\
         image: helios-e2e/base\n\
         services:\n\
         \x20 web:\n\
         \x20   command: [httpd, -f, -p, \"8080\", -h, /www]\n\
         \x20   http_port: 8080\n\
         \x20   replicas: 2\n\
         \x20   cpu: 0.5\n\
         \x20   memory: 64\n\
         \x20   healthcheck:\n\
         \x20     path: /index.html\n\
         \x20     interval: 1s\n\
         \x20     timeout: 1s\n\
         \x20     retries: 30\n\
         \x20 worker:\n\
         \x20   command: [sh, -c, \"env > /tmp/env.txt && exec sleep 3600\"]\n\
         \x20   env:\n\
         \x20     WEB_URL: ${{web.URL}}\n\
         \x20     REDIS_HOST: ${{redis.HOST}}\n\
         \x20     CACHE: \"url=${{redis.URL}};pool=4\"\n\
         \x20     APP_NAME: ${{app.name}}\n\
         \x20     LITERAL: \"cost $5, not $${{app.name}}\"\n\
         databases:\n\
         \x20 redis:\n\
         \x20   type: redis\n\
         \x20   image: {fake_redis}\n"
    );
    let source = root.join("app/Heliosfile.yml");
    write(&source, &heliosfile);

    // Compile with the binary.
    let out_dir = root.join("out");
    run_ok(
        Command::new(env!("CARGO_BIN_EXE_heliosc"))
            .arg("build")
            .arg(&source)
            .arg("--out")
            .arg(&out_dir)
            .args(["--tag", &pid.to_string()])
            .args(["--image", &format!("worker={base}")])
            .env("NO_COLOR", "1"),
    );
    let compose_yaml = std::fs::read_to_string(&deployment.compose_file).expect("compose.yaml");
    let env_example = std::fs::read_to_string(out_dir.join(".env.example")).expect(".env.example");
    assert!(
        env_example.lines().any(|l| l == "HELIOS_REDIS_PASSWORD="),
        "{env_example}"
    );

    // The env file the reconciler would keep, with a made-up password.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let password = format!("e2e-pw-{pid}-{nanos:09}");
    write(
        &deployment.env_file,
        &format!("HELIOS_REDIS_PASSWORD={password}\n"),
    );
    assert!(
        !compose_yaml.contains(&password),
        "the compiled file holds the password"
    );

    // The router's network exists on a Helios host; create it if missing.
    if !succeeds("docker", &["network", "inspect", EDGE_NETWORK]) {
        run_ok(Command::new("docker").args(["network", "create", EDGE_NETWORK]));
        deployment.created_network = true;
    }

    // Up: Compose waits for the database and web to be healthy before it
    // starts the worker (depends_on: service_healthy).
    let up = run(&mut deployment.compose(&["up", "-d", "--no-build"]));
    assert!(
        up.status.success(),
        "docker-compose up failed:\n{}{}\n{}",
        text(&up.stdout),
        text(&up.stderr),
        deployment.describe()
    );

    // deploy.replicas: two web containers.
    let web = deployment.containers("web");
    assert_eq!(
        web.len(),
        2,
        "deploy.replicas: 2 web containers\n{}",
        deployment.describe()
    );

    // Both web containers turn healthy.
    let healthy = wait_for(Duration::from_secs(60), || {
        web.iter()
            .all(|id| deployment.inspect(id, "{{.State.Health.Status}}") == "healthy")
            .then_some(())
    });
    assert!(
        healthy.is_some(),
        "web did not turn healthy\n{}",
        deployment.describe()
    );

    // deploy.resources.limits: 0.5 cpu, 64 MiB.
    for id in &web {
        assert_eq!(
            deployment.inspect(id, "{{.HostConfig.NanoCpus}}"),
            "500000000",
            "cpu limit"
        );
        assert_eq!(
            deployment.inspect(id, "{{.HostConfig.Memory}}"),
            (64u64 << 20).to_string(),
            "memory limit"
        );
        assert_eq!(
            deployment.inspect(id, "{{index .Config.Labels \"dev.helios.app\"}}"),
            "e2e"
        );
        let networks = deployment.inspect(
            id,
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        );
        assert!(
            networks.split_whitespace().any(|n| n == EDGE_NETWORK),
            "web joins {EDGE_NETWORK}: {networks}"
        );
    }

    // The database container: healthy by its compiled native check, and
    // its server got the password through the escaped `$$REDISCLI_AUTH`.
    let redis = deployment.containers("redis");
    assert_eq!(redis.len(), 1);
    assert_eq!(
        deployment.inspect(&redis[0], "{{.State.Health.Status}}"),
        "healthy",
        "{}",
        deployment.describe()
    );
    // The database's data volume carries the Helios labels, so a volume
    // kept after its app is gone can be traced back to it.
    let volume = deployment.inspect(
        &redis[0],
        "{{range .Mounts}}{{if eq .Destination \"/data\"}}{{.Name}}{{end}}{{end}}",
    );
    assert!(!volume.is_empty(), "redis mounts no volume at /data");
    let volume_labels = run_ok(Command::new("docker").args([
        "volume",
        "inspect",
        "-f",
        "{{range $k, $v := .Labels}}{{$k}}={{$v}}\n{{end}}",
        &volume,
    ]));
    for expected in [
        "dev.helios.app=e2e",
        "dev.helios.component=database",
        "dev.helios.database=redis",
    ] {
        assert!(
            volume_labels.lines().any(|l| l == expected),
            "volume {volume} lacks {expected}:\n{volume_labels}"
        );
    }
    // The password reaches the server as configuration on its standard
    // input, not as an argument that `ps` would show.
    let redis_args = deployment.exec("redis", &["cat", "/tmp/redis-args"]);
    assert_eq!(
        text(&redis_args.stdout).trim(),
        "-",
        "{}",
        text(&redis_args.stderr)
    );
    let redis_config = deployment.exec("redis", &["cat", "/tmp/redis-config"]);
    assert_eq!(
        text(&redis_config.stdout),
        format!("appendonly yes\nrequirepass {password}\n"),
        "{}",
        text(&redis_config.stderr)
    );

    // Web answers over HTTP inside the app's network, by its service name.
    let page = deployment.exec("worker", &["wget", "-qO-", "http://web:8080/index.html"]);
    assert_eq!(
        text(&page.stdout),
        "hello from helios-e2e\n",
        "{}\n{}",
        text(&page.stderr),
        deployment.describe()
    );

    // The worker's process saw the references filled in.
    let env = wait_for(Duration::from_secs(15), || {
        let output = deployment.exec("worker", &["cat", "/tmp/env.txt"]);
        output.status.success().then(|| text(&output.stdout))
    })
    .unwrap_or_else(|| {
        panic!(
            "the worker wrote no /tmp/env.txt\n{}",
            deployment.describe()
        )
    });
    let value = |name: &str| {
        env.lines()
            .find_map(|line| line.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} is not in the worker's environment:\n{env}"))
            .to_string()
    };
    assert_eq!(value("WEB_URL"), "http://web:8080");
    assert_eq!(value("REDIS_HOST"), "redis");
    assert_eq!(
        value("CACHE"),
        format!("url=redis://:{password}@redis:6379/0;pool=4")
    );
    assert_eq!(value("APP_NAME"), "e2e");
    assert_eq!(value("LITERAL"), "cost $5, not ${app.name}");

    drop(deployment);
    let elapsed = started.elapsed();
    eprintln!("compose e2e took {elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(90),
        "the end-to-end test should stay under 90 s, took {elapsed:?}"
    );
}
