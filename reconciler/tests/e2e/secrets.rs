//! Secrets end to end: values with every character quoting gets wrong
//! reach the container byte-exact through the host's real Compose tool; a
//! rotated value recreates exactly the services that use it; a declared
//! secret without a value (or with one Compose cannot carry) holds its app;
//! and what a tool prints reaches no record with a value in it.

use crate::common::describe;
use crate::world::{
    World, committed_text, container_environment, last_state_commit_message, only_container,
};
use helios_reconciler::secrets::{Secret, secrets_file};
use std::collections::BTreeMap;
use std::path::Path;

/// Values a quoting bug would alter: quotes, `$` in every form Compose or
/// python-dotenv interpolates, backticks, backslashes (a trailing one
/// too), `#`, `=`, inner and outer spaces, unicode.
const VALUES: &[(&str, &str)] = &[
    ("QUOTE_DOLLAR", "it's $5 and \"$HOME\""),
    ("BRACES", "${HOME} ${X:-default} ${}"),
    ("DOUBLE_DOLLAR", "$$ and $${X} and $"),
    ("BACKTICKS", "`whoami` $(id)"),
    ("BACKSLASHES", "a\\b\\\\c\\'d\\"),
    ("HASH_EQUALS", "#not-a-comment k=v=w # x"),
    ("SPACES", "  inner  and outer  "),
    ("UNICODE", "pässwörd ✓ 日本 🚀"),
];

/// An app whose `web` uses every secret and whose `plain` uses none.
fn app(name: &str, image: &str, secrets: &[&str]) -> String {
    let declared = secrets.join(", ");
    let env: String = secrets
        .iter()
        .map(|s| format!("\x20     {s}: ${{secret.{s}}}\n"))
        .collect();
    format!(
        "name: {name}\n\
         version: 1\n\
         secrets: [{declared}]\n\
         services:\n\
         \x20 web:\n\
         \x20   image: {image}\n\
         \x20   command: [sh, -c, \"trap 'exit 0' TERM; sleep 3600 & wait\"]\n\
         \x20   env:\n{env}\
         \x20 plain:\n\
         \x20   image: {image}\n\
         \x20   command: [sh, -c, \"trap 'exit 0' TERM; sleep 3600 & wait\"]\n"
    )
}

fn write_secrets(path: &Path, values: &BTreeMap<String, Secret>) {
    let text = secrets_file::render(values).expect("carriable");
    std::fs::write(path, text).expect("the secrets file");
}

fn values(overrides: &[(&str, &str)]) -> BTreeMap<String, Secret> {
    let mut values: BTreeMap<String, Secret> = VALUES
        .iter()
        .map(|(k, v)| (k.to_string(), Secret::new(*v)))
        .collect();
    for (k, v) in overrides {
        values.insert(k.to_string(), Secret::new(*v));
    }
    values
}

#[test]
fn secret_values_arrive_byte_exact_rotate_and_hold() {
    let Some(world) = World::new("secrets", &["vault"]) else {
        return;
    };
    let name = world.app("vault");
    let names: Vec<&str> = VALUES.iter().map(|(k, _)| *k).collect();
    world.commit(&[("vault/Heliosfile", Some(&app(&name, &world.image, &names)))]);
    let secrets_path = world.root.join("secrets.env");
    write_secrets(&secrets_path, &values(&[]));
    let path = secrets_path.to_string_lossy().into_owned();
    let run = |expect: i32| {
        let output = world
            .run_command(&["--once", "--secrets-file", &path])
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(expect), "{}", describe(&output));
        output
    };

    // Every value arrives byte-exact.
    let first = run(0);
    let web = only_container(&name, "web");
    let plain = only_container(&name, "plain");
    let env = container_environment(&web);
    for (variable, value) in VALUES {
        assert_eq!(
            env.get(*variable).map(String::as_str),
            Some(*value),
            "{variable}"
        );
    }
    let recorded = committed_text(&world.state_dir);
    let printed = format!("{}{}", describe(&first), world.status(&name));
    for (_, value) in VALUES {
        assert!(!recorded.contains(value), "{value} committed");
        assert!(!printed.contains(value), "{value} printed");
    }

    // Rotation: a new value for one secret, with no commit, recreates the
    // service that uses it and nothing else; the plan names the secret.
    write_secrets(
        &secrets_path,
        &values(&[("QUOTE_DOLLAR", "rotated: it's $6")]),
    );
    run(0);
    let rotated_web = only_container(&name, "web");
    assert_ne!(rotated_web, web, "web was recreated");
    assert_eq!(only_container(&name, "plain"), plain, "plain was kept");
    assert_eq!(
        container_environment(&rotated_web)
            .get("QUOTE_DOLLAR")
            .map(String::as_str),
        Some("rotated: it's $6")
    );
    let status = world.status(&name);
    assert!(
        status.contains("update web (secret QUOTE_DOLLAR changed)"),
        "{status}"
    );
    assert!(!status.contains("rotated: it"), "{status}");
    let message = last_state_commit_message(&world.state_dir);
    assert!(message.contains("1 updated"), "{message}");

    // A declared secret missing from the file holds the app: nothing of
    // it is applied, exit 1, the reason names it.
    let mut missing = values(&[("QUOTE_DOLLAR", "rotated: it's $6")]);
    missing.remove("BRACES");
    missing.insert("UNICODE".to_string(), Secret::new("changed too"));
    write_secrets(&secrets_path, &missing);
    run(1);
    assert_eq!(only_container(&name, "web"), rotated_web, "nothing applied");
    let status = world.status(&name);
    assert!(status.contains("result: held"), "{status}");
    assert!(status.contains("secret `BRACES` is declared"), "{status}");
    assert!(last_state_commit_message(&world.state_dir).contains("1 held"));

    // A value Compose cannot carry (a NUL) is refused, named, not altered.
    // (Written by hand: the secrets file's own writer refuses it too.)
    let mut others = values(&[]);
    others.remove("SPACES");
    let mut text = secrets_file::render(&others).expect("carriable");
    text.push_str("SPACES='a\0b'\n");
    std::fs::write(&secrets_path, text).expect("the secrets file");
    run(1);
    let status = world.status(&name);
    assert!(
        status.contains("`SPACES` contains a NUL character"),
        "{status}"
    );
    assert_eq!(only_container(&name, "web"), rotated_web, "nothing applied");
}

#[test]
fn what_the_compose_tool_prints_is_recorded_redacted() {
    let Some(world) = World::new("redact", &["leaky"]) else {
        return;
    };
    let name = world.app("leaky");
    world.commit(&[(
        "leaky/Heliosfile",
        Some(&app(&name, &world.image, &["TOKEN"])),
    )]);
    let secret = "s3cr3t-'$x'-value";
    let secrets_path = world.root.join("secrets.env");
    write_secrets(
        &secrets_path,
        &BTreeMap::from([("TOKEN".to_string(), Secret::new(secret))]),
    );
    // A Compose tool that prints its env file, as a failing tool may
    // print what it read, and fails; and a `docker` without the Compose
    // plugin, so that it is the one used.
    let bin = world.root.join("bin");
    std::fs::create_dir_all(&bin).expect("a folder");
    let docker = bin.join("docker");
    std::fs::write(
        &docker,
        format!(
            "#!/bin/sh\nif [ \"$1\" = compose ]; then exit 1; fi\nexec {} \"$@\"\n",
            on_path("docker").display()
        ),
    )
    .expect("the docker wrapper");
    let tool = bin.join("docker-compose");
    std::fs::write(
        &tool,
        format!(
            "#!/bin/sh\n\
         if [ \"$1\" = version ]; then exec {} \"$@\"; fi\n\
         while [ $# -gt 0 ]; do\n\
         \x20 if [ \"$1\" = --env-file ]; then cat \"$2\" >&2; echo \"value: $(cut -d= -f2- \"$2\")\" >&2; fi\n\
         \x20 shift\n\
         done\n\
         exit 1\n",
            on_path("docker-compose").display()
        ),
    )
    .expect("the fake tool");
    #[cfg(unix)]
    for script in [&tool, &docker] {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = world
        .run_command(&["--once", "--secrets-file", &secrets_path.to_string_lossy()])
        .env("PATH", &path)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let status = world.status(&name);
    assert!(status.contains("result: failed"), "{status}");
    assert!(status.contains("***"), "{status}");
    let everything = format!(
        "{}{}{}",
        describe(&output),
        status,
        committed_text(&world.state_dir)
    );
    assert!(!everything.contains(secret), "{everything}");
    assert!(!everything.contains("s3cr3t"), "{everything}");
}

/// Where `program` is on this process's PATH.
fn on_path(program: &str) -> std::path::PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("{program} is not on PATH"))
}
