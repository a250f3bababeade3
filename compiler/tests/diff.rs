//! `heliosc diff` end to end, on git repositories made here with git2: every
//! case in text, markdown and JSON, snapshotted under `snapshots/diff`.
//! Commits have fixed authors and times, so their ids (shown in the output)
//! are the same on every run.

mod common;

use common::git_repo::Repo;
use common::snapshot_settings;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SHOP: &str = "\
name: shop
version: 1
image: registry.example.com/shop
services:
  web:
    image: registry.example.com/shop:1.4.2
    http_port: 3000
    env:
      NODE_ENV: production
      DATABASE_URL: ${postgres.URL}
      STRIPE_KEY: ${secret.STRIPE_KEY}
  worker:
    command: [npm, run, worker]
databases:
  postgres: { type: postgresql, version: \"16\" }
secrets: [STRIPE_KEY]
";

const BLOG: &str = "\
name: blog
version: 1
services:
  ghost:
    image: ghost:5.80
    http_port: 2368
    memory: 256
";

const API: &str = "\
name: api
version: 1
services:
  api:
    image: registry.example.com/api:2.0.0
    http_port: 8080
    replicas: 2
";

/// A git repository in the target dir, named after the test.
/// The three apps, committed.
fn three_apps(name: &str) -> (Repo, String) {
    let mut repo = Repo::new(name);
    let base = repo.commit(&[
        ("apps/shop/Heliosfile.yml", Some(SHOP)),
        ("apps/blog/Heliosfile", Some(BLOG)),
        ("apps/api/Heliosfile.yaml", Some(API)),
        ("README.md", Some("# apps\n")),
    ]);
    (repo, base)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `heliosc diff ARGS` in each format, checks the exit code, snapshots
/// each output as `<case>_<format>`, and returns the outputs by format.
fn each_format(repo: &Repo, case: &str, args: &[&str], code: i32) -> BTreeMap<String, String> {
    let mut outputs = BTreeMap::new();
    for format in ["text", "markdown", "json"] {
        let mut all = args.to_vec();
        all.extend(["--format", format]);
        let output = repo.heliosc("diff", &all);
        assert_eq!(
            output.status.code(),
            Some(code),
            "{case} {format}: {}{}",
            stdout(&output),
            stderr(&output)
        );
        assert_eq!(stderr(&output), "", "{case} {format}");
        let text = stdout(&output);
        if format == "json" {
            serde_json::from_str::<serde_json::Value>(&text).expect("valid JSON");
        }
        snapshot_settings("diff")
            .bind(|| insta::assert_snapshot!(format!("{case}_{format}"), text));
        outputs.insert(format.to_string(), text);
    }
    outputs
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("JSON")
}

#[test]
fn no_change_exits_zero() {
    let (mut repo, base) = three_apps("no-change");
    repo.commit(&[("README.md", Some("# apps\n\nNothing compiled changes.\n"))]);
    let outputs = each_format(&repo, "no_change", &["--base", &base], 0);
    let summary = &json(&outputs["json"])["summary"];
    assert_eq!(summary["unchanged"], 3);
    assert_eq!(summary["changed"], 0);
}

#[test]
fn one_changed_app_is_the_only_one_shown() {
    let (mut repo, base) = three_apps("one-changed");
    repo.commit(&[(
        "apps/blog/Heliosfile",
        Some(
            &BLOG
                .replace("5.80", "5.81")
                .replace("memory: 256", "memory: 512"),
        ),
    )]);
    let outputs = each_format(
        &repo,
        "one_changed",
        &["--base", &base, "--head", "HEAD", "--path", "apps"],
        3,
    );
    for text in outputs.values() {
        assert!(text.contains("blog"));
        assert!(
            !text.contains("shop") && !text.contains("app api"),
            "{text}"
        );
    }
    let value = json(&outputs["json"]);
    assert_eq!(value["apps"].as_array().map(Vec::len), Some(1));
    assert_eq!(value["apps"][0]["objects"][0]["id"], "service/ghost");
    assert_eq!(value["summary"]["unchanged"], 2);
}

#[test]
fn added_app_is_listed_whole() {
    let (mut repo, base) = three_apps("added");
    repo.commit(&[(
        "apps/docs/Heliosfile.yml",
        Some("name: docs\nversion: 1\nservices:\n  site: { image: nginx:1.27, http_port: 80 }\n"),
    )]);
    let outputs = each_format(&repo, "added", &["--base", &base], 3);
    let value = json(&outputs["json"]);
    assert_eq!(value["apps"][0]["name"], "docs");
    assert_eq!(value["apps"][0]["status"], "added");
    assert_eq!(value["apps"][0]["base_path"], serde_json::Value::Null);
}

#[test]
fn removed_app_is_listed_whole() {
    let (mut repo, base) = three_apps("removed");
    repo.commit(&[("apps/blog/Heliosfile", None)]);
    let outputs = each_format(&repo, "removed", &["--base", &base], 3);
    let value = json(&outputs["json"]);
    assert_eq!(value["apps"][0]["name"], "blog");
    assert_eq!(value["apps"][0]["status"], "removed");
    assert_eq!(value["summary"]["removed"], 1);
}

#[test]
fn app_failing_on_head_exits_one_with_its_diagnostics() {
    let (mut repo, base) = three_apps("fails");
    repo.commit(&[
        (
            "apps/blog/Heliosfile",
            Some(&BLOG.replace("memory: 256", "memroy: 256")),
        ),
        // A change elsewhere: exit 1 still wins over 3.
        (
            "apps/api/Heliosfile.yaml",
            Some(&API.replace("replicas: 2", "replicas: 3")),
        ),
    ]);
    let outputs = each_format(&repo, "fails_on_head", &["--base", &base], 1);
    for text in outputs.values() {
        assert!(text.contains("H0201"), "{text}");
    }
    let value = json(&outputs["json"]);
    let blog = &value["apps"][1];
    assert_eq!(blog["name"], "blog");
    assert_eq!(blog["status"], "failed");
    assert_eq!(blog["failures"][0]["side"], "head");
    assert_eq!(blog["failures"][0]["diagnostics"][0]["line"], 7);
}

#[test]
fn reordered_keys_and_services_show_no_change() {
    let (mut repo, base) = three_apps("reorder");
    let reordered = "\
secrets: [STRIPE_KEY]
databases:
  postgres: { version: \"16\", type: postgresql }
services:
  worker:
    command: [npm, run, worker]
  web:
    env:
      STRIPE_KEY: ${secret.STRIPE_KEY}
      DATABASE_URL: ${postgres.URL}
      NODE_ENV: production
    http_port: 3000
    image: registry.example.com/shop:1.4.2
image: registry.example.com/shop
version: 1
name: shop
";
    repo.commit(&[("apps/shop/Heliosfile.yml", Some(reordered))]);
    let outputs = each_format(&repo, "reorder", &["--base", &base], 0);
    assert_eq!(json(&outputs["json"])["summary"]["unchanged"], 3);
}

#[test]
fn secret_reference_change_shows_names_only() {
    let (mut repo, base) = three_apps("secret");
    repo.commit(&[(
        "apps/shop/Heliosfile.yml",
        Some(&SHOP.replace("STRIPE_KEY", "PAYMENT_KEY")),
    )]);
    // Values in the environment and in an uncommitted .env never show.
    let value = "sk_live_do_not_print_0123456789";
    std::fs::write(
        repo.dir.join("apps/shop/.env"),
        format!("HELIOS_SECRET_PAYMENT_KEY={value}\nHELIOS_SECRET_STRIPE_KEY={value}\n"),
    )
    .expect("write .env");
    let outputs = each_format(&repo, "secret", &["--base", &base], 3);
    for for_kubernetes in [false, true] {
        let mut args = vec!["--base", base.as_str()];
        if for_kubernetes {
            args.extend(["--target", "kubernetes"]);
        }
        let output = Command::new(env!("CARGO_BIN_EXE_heliosc"))
            .arg("diff")
            .args(&args)
            .current_dir(&repo.dir)
            .env("HELIOS_SECRET_PAYMENT_KEY", value)
            .env("NO_COLOR", "1")
            .output()
            .expect("run heliosc");
        assert!(!stdout(&output).contains(value));
        assert!(stdout(&output).contains("PAYMENT_KEY"));
    }
    for text in outputs.values() {
        assert!(!text.contains(value));
        assert!(text.contains("HELIOS_SECRET_PAYMENT_KEY"), "{text}");
    }
    // Every changed line of the Compose diff is a reference, never a value.
    let diff = json(&outputs["json"]);
    for object in diff["apps"][0]["objects"].as_array().expect("objects") {
        let text = object["diff"].as_str().expect("a diff");
        for line in text.lines().filter(|l| l.starts_with(['+', '-'])) {
            assert!(
                line.contains("${HELIOS_SECRET_")
                    || line.ends_with("_KEY=")
                    || line.contains("spec-hash"),
                "{line}"
            );
        }
    }
}

#[test]
fn kubernetes_objects_by_kind_namespace_and_name() {
    let (mut repo, base) = three_apps("kubernetes");
    repo.commit(&[
        (
            "apps/api/Heliosfile.yaml",
            Some(&API.replace("replicas: 2", "replicas: 1")),
        ),
        ("apps/blog/Heliosfile", None),
    ]);
    let outputs = each_format(
        &repo,
        "kubernetes",
        &["--base", &base, "--target", "kubernetes"],
        3,
    );
    let value = json(&outputs["json"]);
    let ids: Vec<&str> = value["apps"][0]["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter_map(|o| o["id"].as_str())
        .collect();
    // One replica: the Deployment changes and the PodDisruptionBudget goes.
    assert_eq!(
        ids,
        ["Deployment/api/api", "PodDisruptionBudget/api/api"],
        "{value}"
    );
    assert_eq!(value["apps"][0]["objects"][1]["status"], "removed");
}

#[test]
fn markdown_is_truncated_under_githubs_limit() {
    let mut repo = Repo::new("truncated");
    let app = |i: usize, tag: &str| {
        let mut text = format!("name: app{i}\nversion: 1\nservices:\n");
        for s in 0..20 {
            text.push_str(&format!(
                "  svc{s}:\n    image: registry.example.com/app{i}-svc{s}:{tag}\n    http_port: 8080\n    env: {{ RELEASE: \"{tag}\", COLOR: blue{tag} }}\n"
            ));
        }
        text
    };
    let paths: Vec<String> = (0..30)
        .map(|i| format!("apps/app{i:02}/Heliosfile.yml"))
        .collect();
    let before: Vec<(String, String)> = (0..30)
        .map(|i| (paths[i].clone(), app(i, "1.0.0")))
        .collect();
    let after: Vec<(String, String)> = (0..30)
        .map(|i| (paths[i].clone(), app(i, "2.0.0")))
        .collect();
    let changes: Vec<(&str, Option<&str>)> = before
        .iter()
        .map(|(p, t)| (p.as_str(), Some(t.as_str())))
        .collect();
    let base = repo.commit(&changes);
    let changes: Vec<(&str, Option<&str>)> = after
        .iter()
        .map(|(p, t)| (p.as_str(), Some(t.as_str())))
        .collect();
    repo.commit(&changes);

    let full = repo.heliosc("diff", &["--base", &base, "--format", "text"]);
    assert_eq!(full.status.code(), Some(3));
    assert!(stdout(&full).len() > 4 * 65_536, "the whole diff is large");
    let output = repo.heliosc("diff", &["--base", &base, "--format", "markdown"]);
    assert_eq!(output.status.code(), Some(3));
    let markdown = stdout(&output);
    assert!(markdown.chars().count() <= 65_536, "{}", markdown.len());
    assert!(
        markdown.len() > 60_000,
        "the room is used: {}",
        markdown.len()
    );
    assert!(markdown.contains(
        "> [!WARNING]\n> Truncated to stay under GitHub's 65,536-character comment limit"
    ));
    assert_eq!(
        markdown.matches("<details").count(),
        markdown.matches("</details>").count()
    );
    assert_eq!(
        markdown.matches("```").count() % 2,
        0,
        "code blocks are closed"
    );
    // The table still lists every app.
    assert_eq!(markdown.matches("| changed |").count(), 30);
    let head: String = markdown.chars().take(1_500).collect();
    let tail: String = {
        let chars: Vec<char> = markdown.chars().collect();
        chars[chars.len() - 900..].iter().collect()
    };
    snapshot_settings("diff").bind(|| {
        insta::assert_snapshot!("truncated_markdown_start", head);
        insta::assert_snapshot!("truncated_markdown_end", tail);
    });
    // JSON is never truncated.
    let json_output = repo.heliosc("diff", &["--base", &base, "--format", "json"]);
    assert_eq!(
        json(&stdout(&json_output))["apps"].as_array().map(Vec::len),
        Some(30)
    );
}

/// Every file under `dir` (but `.git`) with its contents.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                if !path.ends_with(".git") {
                    folders.push(path);
                }
            } else {
                out.insert(path.clone(), std::fs::read(&path).expect("read"));
            }
        }
    }
    out
}

#[test]
fn work_tree_is_neither_read_nor_touched() {
    let (mut repo, base) = three_apps("work-tree");
    repo.commit(&[("apps/blog/Heliosfile", Some(&BLOG.replace("5.80", "5.81")))]);
    let clean = repo.heliosc("diff", &["--base", &base, "--format", "json"]);
    // Uncommitted edits: a changed, a broken and a new Heliosfile.
    std::fs::write(
        repo.dir.join("apps/shop/Heliosfile.yml"),
        SHOP.replace("1.4.2", "9.9.9"),
    )
    .expect("write");
    std::fs::write(repo.dir.join("apps/api/Heliosfile.yaml"), "name: [broken\n").expect("write");
    std::fs::create_dir_all(repo.dir.join("apps/new")).expect("mkdir");
    std::fs::write(
        repo.dir.join("apps/new/Heliosfile"),
        BLOG.replace("blog", "new"),
    )
    .expect("write");
    let before = files(&repo.dir);
    let index_before = std::fs::read(repo.dir.join(".git/index")).expect("index");
    let dirty = repo.heliosc("diff", &["--base", &base, "--format", "json"]);
    assert_eq!(dirty.status.code(), Some(3));
    assert_eq!(stdout(&dirty), stdout(&clean));
    assert_eq!(files(&repo.dir), before, "no file written or changed");
    assert_eq!(
        std::fs::read(repo.dir.join(".git/index")).expect("index"),
        index_before
    );
    let statuses = repo.repo.statuses(None).expect("status").len();
    assert_eq!(statuses, 3, "the three edits are still there, uncommitted");
}

#[test]
fn two_files_defining_one_app_exit_one() {
    let (mut repo, base) = three_apps("duplicate");
    repo.commit(&[("apps/blog2/Heliosfile", Some(BLOG))]);
    let output = repo.heliosc("diff", &["--base", &base]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "heliosc: error: at the head revision, `apps/blog/Heliosfile` and `apps/blog2/Heliosfile` both define the app `blog`\n"
    );
}

#[test]
fn moved_app_is_matched_by_name() {
    let (mut repo, base) = three_apps("moved");
    repo.commit(&[
        ("apps/blog/Heliosfile", None),
        ("apps/web/blog/Heliosfile", Some(BLOG)),
    ]);
    let output = repo.heliosc("diff", &["--base", &base, "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}

#[test]
fn usage_and_repository_errors_exit_two() {
    let (repo, base) = three_apps("errors");
    let cases: [(&[&str], &str); 5] = [
        (
            &["--base", "no-such-branch"],
            "cannot resolve revision `no-such-branch`",
        ),
        (&["--base", &base, "--format", "xml"], "invalid value 'xml'"),
        (&[], "--base <REV>"),
        (
            &["--base", &base, "--path", "nowhere"],
            "no Heliosfile in nowhere",
        ),
        (
            &["--base", &base, "--repo", "/"],
            "no git repository at `/`",
        ),
    ];
    for (args, message) in cases {
        let output = repo.heliosc("diff", args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&output).contains(message),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn color_only_when_asked_or_on_a_terminal() {
    let (mut repo, base) = three_apps("color");
    repo.commit(&[("apps/blog/Heliosfile", Some(&BLOG.replace("5.80", "5.81")))]);
    let plain = repo.heliosc("diff", &["--base", &base]);
    assert!(!stdout(&plain).contains('\x1b'));
    let colored = repo.heliosc("diff", &["--base", &base, "--color", "always"]);
    assert!(
        stdout(&colored).contains("\x1b[32m+"),
        "{}",
        stdout(&colored)
    );
}

#[test]
fn a_subfolder_repo_and_a_single_file_path() {
    let (mut repo, base) = three_apps("subfolder");
    repo.commit(&[("apps/blog/Heliosfile", Some(&BLOG.replace("5.80", "5.81")))]);
    // Run from elsewhere with --repo pointing inside the work tree.
    let output = Command::new(env!("CARGO_BIN_EXE_heliosc"))
        .args(["diff", "--base", &base, "--format", "json", "--repo"])
        .arg(repo.dir.join("apps/shop"))
        .args(["--path", "./apps/blog/Heliosfile"])
        .env("NO_COLOR", "1")
        .output()
        .expect("run heliosc");
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let value = json(&stdout(&output));
    assert_eq!(value["apps"][0]["head_path"], "apps/blog/Heliosfile");
    assert_eq!(value["summary"]["unchanged"], 0);
}
