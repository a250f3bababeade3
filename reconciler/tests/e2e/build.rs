//! Ship from source on the Docker host: an app whose service runs the
//! image built from the config repo is built from git objects of the
//! reconciled commit (`FROM` this world's busybox image: no pull), tagged
//! with its source tag, and rebuilt and redeployed exactly when its build
//! context changes; a broken build holds that app only, with the build
//! log's tail in its status, and no secret value anywhere.

use crate::common::{container_ids, describe, inspect};
use crate::world::{World, blog, committed_text, only_container};
use std::process::Command;

/// The app built from `site/`: its Dockerfile copies `version` in, and its
/// service prints it and waits.
fn site(name: &str, repository: &str) -> String {
    format!(
        "name: {name}\n\
         version: 1\n\
         image: {repository}\n\
         build:\n\
         \x20 dockerfile: Dockerfile\n\
         secrets: [TOKEN]\n\
         services:\n\
         \x20 web:\n\
         \x20   command: [sh, -c, \"cat /site/version; trap 'exit 0' TERM; sleep 100000 & wait\"]\n\
         \x20   env:\n\
         \x20     TOKEN: ${{secret.TOKEN}}\n"
    )
}

/// Removes every image of a repository when dropped.
struct Images(String);

impl Drop for Images {
    fn drop(&mut self) {
        let listed = Command::new("docker")
            .args(["image", "ls", "-q", "--filter"])
            .arg(format!("reference={}", self.0))
            .output();
        if let Ok(output) = listed {
            for id in String::from_utf8_lossy(&output.stdout).lines() {
                let _ = Command::new("docker").args(["rmi", "-f", id]).output();
            }
        }
    }
}

/// `src-` and 12 hex digits of the tree id of `site/` at the repo's HEAD:
/// what `heliosc tag` prints.
fn expected_tag(world: &World) -> String {
    let tree = world
        .repo
        .head()
        .and_then(|h| h.peel_to_tree())
        .expect("HEAD");
    let id = tree
        .get_path(std::path::Path::new("site"))
        .expect("site/")
        .id()
        .to_string();
    format!("src-{}", &id[..12])
}

#[test]
fn an_app_is_built_from_its_sources_and_rebuilt_only_when_they_change() {
    let Some(world) = World::new("build", &["site", "blog"]) else {
        return;
    };
    let (site_app, blog_app) = (world.app("site"), world.app("blog"));
    let repository = format!("helios-e2e/site-{}", world.scenario);
    let _images = Images(repository.clone());
    let secret = "s3cr3t-build-value-42";
    let secrets_path = world.root.join("secrets.env");
    std::fs::write(&secrets_path, format!("TOKEN={secret}\n")).expect("the secrets file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&secrets_path, std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
    }
    let secrets = secrets_path.to_str().expect("utf-8");
    let run = |code: i32| {
        let output = world
            .run_command(&["--once", "--secrets-file", secrets])
            .output()
            .expect("helios-reconciler runs");
        assert_eq!(output.status.code(), Some(code), "{}", describe(&output));
        output
    };
    let dockerfile = format!("FROM {}\nCOPY version /site/version\n", world.image);
    world.commit(&[
        ("site/Heliosfile", Some(&site(&site_app, &repository))),
        ("site/Dockerfile", Some(&dockerfile)),
        ("site/version", Some("one\n")),
        (
            "blog/Heliosfile",
            Some(&blog(&blog_app, &world.image, "hi")),
        ),
        ("README.md", Some("config\n")),
    ]);

    // Built from the commit, and run with the tag `heliosc tag` prints.
    run(0);
    let tag = expected_tag(&world);
    let web = only_container(&site_app, "web");
    assert_eq!(
        inspect(&web, "{{.Config.Image}}"),
        format!("{repository}:{tag}")
    );
    let image_id = inspect(&web, "{{.Image}}");
    let labels = inspect(&web, "{{json .Config.Labels}}");
    assert!(labels.contains("\"dev.helios.source-commit\""), "{labels}");
    let blog_web = only_container(&blog_app, "web");

    // A commit elsewhere: nothing rebuilt, nothing redeployed.
    world.commit(&[("README.md", Some("config, again\n"))]);
    run(0);
    assert_eq!(only_container(&site_app, "web"), web);
    assert_eq!(inspect(&web, "{{.Image}}"), image_id);
    assert_eq!(expected_tag(&world), tag);

    // A changed source: that app only is rebuilt and redeployed.
    world.commit(&[("site/version", Some("two\n"))]);
    run(0);
    let new_tag = expected_tag(&world);
    assert_ne!(new_tag, tag);
    let new_web = only_container(&site_app, "web");
    assert_ne!(new_web, web);
    assert_eq!(
        inspect(&new_web, "{{.Config.Image}}"),
        format!("{repository}:{new_tag}")
    );
    assert_eq!(only_container(&blog_app, "web"), blog_web);

    // Two more versions: the three newest images are kept, the first one
    // (no container uses it any more) is removed.
    for version in ["three\n", "four\n"] {
        world.commit(&[("site/version", Some(version))]);
        run(0);
    }
    let first_image = Command::new("docker")
        .args(["image", "inspect", &image_id])
        .output()
        .expect("docker runs");
    assert!(!first_image.status.success(), "the oldest image is removed");
    let new_web = only_container(&site_app, "web");

    // A broken build printing a secret's value: the app is held running
    // what it ran, the log's tail is in its status without the value,
    // and the other app goes on.
    world.commit(&[
        ("site/leak", Some(&format!("{secret}\n"))),
        (
            "site/Dockerfile",
            Some(&format!(
                "FROM {}\nCOPY leak /leak\nRUN cat /leak && echo build-broke-here && exit 3\n",
                world.image
            )),
        ),
        (
            "blog/Heliosfile",
            Some(&blog(&blog_app, &world.image, "hello")),
        ),
    ]);
    let output = run(1);
    assert_eq!(only_container(&site_app, "web"), new_web, "still running");
    let status = world.status(&site_app);
    assert!(status.contains("result: failed"), "{status}");
    assert!(status.contains("build-broke-here"), "{status}");
    assert!(!status.contains(secret), "{status}");
    assert_ne!(only_container(&blog_app, "web"), blog_web, "blog went on");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!log.contains(secret), "{log}");
    assert!(!committed_text(&world.state_dir).contains(secret));
}

#[test]
fn buildpacks_are_built_with_pack_and_its_exact_command_line() {
    let Some(world) = World::new("pack", &["cnb"]) else {
        return;
    };
    let app = world.app("cnb");
    let repository = format!("helios-e2e/cnb-{}", world.scenario);
    // A `pack` that records its command line and the context it was
    // given, then fails as a broken builder would.
    let bin = world.root.join("bin");
    std::fs::create_dir_all(&bin).expect("a folder");
    let record = world.root.join("pack-args");
    let pack = bin.join("pack");
    std::fs::write(
        &pack,
        format!(
            "#!/bin/sh\n\
             echo \"$@\" > {record}\n\
             while [ $# -gt 0 ]; do\n\
             \x20 if [ \"$1\" = --path ]; then ls \"$2\" >> {record}; fi\n\
             \x20 shift\n\
             done\n\
             echo 'ERROR: no buildpack detected' >&2\n\
             exit 7\n",
            record = record.display()
        ),
    )
    .expect("the fake pack");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&pack, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    world.commit(&[
        (
            "cnb/Heliosfile",
            Some(&format!(
                "name: {app}\nversion: 1\nimage: {repository}\nbuild:\n  builder: example/builder:1\nservices:\n  web: {{ http_port: 8080 }}\n"
            )),
        ),
        ("cnb/main.go", Some("package main\n")),
    ]);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = world
        .run_command(&["--once"])
        .env("PATH", path)
        .output()
        .expect("helios-reconciler runs");
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let recorded = std::fs::read_to_string(&record).expect("pack ran");
    let mut lines = recorded.lines();
    let arguments: Vec<&str> = lines.next().expect("its arguments").split(' ').collect();
    let tree = world
        .repo
        .head()
        .and_then(|h| h.peel_to_tree())
        .expect("HEAD");
    let id = tree
        .get_path(std::path::Path::new("cnb"))
        .expect("cnb/")
        .id()
        .to_string();
    assert_eq!(
        arguments[..5],
        [
            "build",
            format!("{repository}:src-{}", &id[..12]).as_str(),
            "--builder",
            "example/builder:1",
            "--path"
        ]
    );
    assert!(arguments[5].contains("helios-build-"), "{recorded}");
    // The context, written out from git objects.
    let files: Vec<&str> = lines.collect();
    assert_eq!(files, ["Heliosfile", "main.go"]);
    // Removed once the build is over.
    assert!(!std::path::Path::new(arguments[5]).exists());
    let status = world.status(&app);
    assert!(status.contains("no buildpack detected"), "{status}");
    assert!(container_ids(&app, "web").is_empty());
}
