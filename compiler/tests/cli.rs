//! The `heliosc` binary end to end: exit codes, output formats, folder
//! search. Human output is snapshotted under `snapshots/cli`.

mod common;

use common::snapshot_settings;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const VALID: &str =
    "name: shop\nversion: 1\nservices:\n  web:\n    image: nginx:1.27\n    http_port: 80\n";
const INVALID: &str = "name: shop\nversion: 1\nservices:\n  web:\n    image: nginx:1.27\n    http_port: 80\n    replica: 2\n    env:\n      DATABASE_URL: ${postgress.URL}\n";

fn heliosc(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_heliosc"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .output()
        .expect("run heliosc")
}

/// A fresh folder under the target dir, named after the test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn write(dir: &Path, relative: &str, text: &str) {
    let path = dir.join(relative);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("create folder");
    std::fs::write(path, text).expect("write file");
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn check_valid_file_exits_zero() {
    let dir = scratch("valid");
    write(&dir, "Heliosfile.yml", VALID);
    let output = heliosc(&["check", "Heliosfile.yml"], &dir);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stderr(&output),
        "checked 1 file: 0 error(s), 0 warning(s)\n"
    );
}

#[test]
fn check_invalid_file_exits_one_with_every_error() {
    let dir = scratch("invalid");
    write(&dir, "Heliosfile.yml", INVALID);
    let output = heliosc(&["check", "Heliosfile.yml"], &dir);
    assert_eq!(output.status.code(), Some(1));
    snapshot_settings("cli")
        .bind(|| insta::assert_snapshot!("check_invalid_human", stderr(&output)));
}

#[test]
fn bidi_control_characters_warn_but_check_and_build_succeed() {
    let dir = scratch("bidi");
    let text = VALID.replace(
        "    http_port: 80\n",
        "    http_port: 80\n    env:\n      FLAGS: \"\u{202E}eslaf\"\n",
    );
    write(&dir, "Heliosfile.yml", &text);
    let output = heliosc(&["check", "Heliosfile.yml"], &dir);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains("H0108"), "{}", stderr(&output));
    assert!(
        stderr(&output).ends_with("checked 1 file: 0 error(s), 1 warning(s)\n"),
        "{}",
        stderr(&output)
    );
    let output = heliosc(&["build", "Heliosfile.yml", "--out", "out"], &dir);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(dir.join("out/compose.yaml").is_file());
}

#[test]
fn json_message_format_is_one_object_per_line() {
    let dir = scratch("json");
    write(&dir, "Heliosfile.yml", INVALID);
    let output = heliosc(
        &["check", "--message-format", "json", "Heliosfile.yml"],
        &dir,
    );
    assert_eq!(output.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 2);
    let reference = &lines[1];
    assert_eq!(reference["file"], "Heliosfile.yml");
    assert_eq!(reference["code"], "H0701");
    assert_eq!(reference["severity"], "error");
    assert_eq!(reference["line"], 9);
    assert_eq!(reference["column"], 21);
    let (start, end) = (
        reference["span"]["start"].as_u64().unwrap_or(0),
        reference["span"]["end"].as_u64().unwrap_or(0),
    );
    assert_eq!(&INVALID[start as usize..end as usize], "${postgress.URL}");
    assert_eq!(
        reference["help"],
        "a reference starts with a service, a database, `secret` or `app`"
    );
    assert_eq!(lines[0]["code"], "H0201");
    assert!(
        stderr(&output).is_empty(),
        "JSON mode prints no human summary"
    );
}

#[test]
fn folder_is_searched_for_heliosfiles_in_sorted_order() {
    let dir = scratch("folder");
    write(&dir, "apps/b/Heliosfile", INVALID);
    write(&dir, "apps/a/Heliosfile.yaml", VALID);
    write(&dir, "apps/a/notes.yml", "not: a heliosfile\n");
    write(&dir, "node_modules/x/Heliosfile.yml", "this: is skipped\n");
    let output = heliosc(&["check", "--message-format", "json", "apps"], &dir);
    assert_eq!(output.status.code(), Some(1));
    let files: Vec<String> = stdout(&output)
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).expect("JSON")["file"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert!(
        files.iter().all(|f| f.ends_with("apps/b/Heliosfile")),
        "{files:?}"
    );
    let human = heliosc(&["check", "."], &dir);
    assert!(
        stderr(&human).ends_with("checked 2 files: 2 error(s), 0 warning(s)\n"),
        "{}",
        stderr(&human)
    );
}

#[test]
fn io_and_usage_errors_exit_two() {
    let dir = scratch("io");
    let missing = heliosc(&["check", "nope.yml"], &dir);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("cannot read `nope.yml`"),
        "{}",
        stderr(&missing)
    );
    let empty_folder = heliosc(&["check", "."], &dir);
    assert_eq!(empty_folder.status.code(), Some(2));
    assert!(stderr(&empty_folder).contains("no Heliosfile found"));
    let usage = heliosc(&["check", "--message-format", "xml"], &dir);
    assert_eq!(usage.status.code(), Some(2));
    write(&dir, "binary/Heliosfile", "");
    std::fs::write(dir.join("binary/Heliosfile"), [0xff, 0xfe, 0x00]).expect("write");
    let binary = heliosc(&["check", "binary/Heliosfile"], &dir);
    assert_eq!(binary.status.code(), Some(2));
    assert!(stderr(&binary).contains("not UTF-8"));
}

#[test]
fn explain_prints_the_code_documentation() {
    let dir = scratch("explain");
    let output = heliosc(&["explain", "H0103"], &dir);
    assert_eq!(output.status.code(), Some(0));
    snapshot_settings("cli").bind(|| insta::assert_snapshot!("explain_H0103", stdout(&output)));
    let by_name = heliosc(&["explain", "duplicate-key"], &dir);
    assert_eq!(stdout(&by_name), stdout(&output));
    let list = heliosc(&["explain"], &dir);
    assert_eq!(stdout(&list).lines().count(), heliosc::Code::ALL.len());
    let unknown = heliosc(&["explain", "H9999"], &dir);
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn schema_command_prints_the_checked_in_schema() {
    let dir = scratch("schema");
    let output = heliosc(&["schema"], &dir);
    assert_eq!(output.status.code(), Some(0));
    let checked_in = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema/heliosfile.schema.json"),
    )
    .expect("the checked-in schema");
    assert_eq!(stdout(&output), checked_in);
}

#[test]
fn build_writes_compose_and_env_example() {
    let dir = scratch("build");
    write(
        &dir,
        "Heliosfile.yml",
        &format!("{VALID}  worker:\n    command: [run]\nimage: registry.example.com/shop\n"),
    );
    let output = heliosc(
        &["build", "Heliosfile.yml", "--out", "out", "--tag", "1.2.3"],
        &dir,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let compose = std::fs::read_to_string(dir.join("out/compose.yaml")).expect("compose.yaml");
    assert!(
        compose.contains("image: registry.example.com/shop:1.2.3"),
        "{compose}"
    );
    assert!(compose.contains("image: nginx:1.27"));
    assert!(dir.join("out/.env.example").is_file());
    let names: Vec<String> = std::fs::read_dir(dir.join("out"))
        .expect("out")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "no staging leftovers: {names:?}");

    let overridden = heliosc(
        &[
            "build",
            "Heliosfile.yml",
            "--out",
            "out",
            "--tag",
            "1.2.3",
            "--image",
            "web=caddy:2.8",
        ],
        &dir,
    );
    assert_eq!(overridden.status.code(), Some(0), "{}", stderr(&overridden));
    let compose = std::fs::read_to_string(dir.join("out/compose.yaml")).expect("compose.yaml");
    assert!(
        compose.contains("image: caddy:2.8") && !compose.contains("nginx"),
        "{compose}"
    );

    let unknown = heliosc(
        &[
            "build",
            "Heliosfile.yml",
            "--out",
            "out",
            "--tag",
            "1",
            "--image",
            "wbe=caddy:2.8",
        ],
        &dir,
    );
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("`wbe`"), "{}", stderr(&unknown));
}

#[test]
fn build_with_errors_writes_nothing() {
    let dir = scratch("build-atomic");
    write(&dir, "apps/good/Heliosfile.yml", VALID);
    write(
        &dir,
        "apps/bad/Heliosfile.yml",
        INVALID.replace("name: shop", "name: bad").as_str(),
    );
    write(&dir, "out/keep.txt", "untouched");
    let output = heliosc(&["build", "apps", "--out", "out"], &dir);
    assert_eq!(output.status.code(), Some(1));
    let entries: Vec<String> = std::fs::read_dir(dir.join("out"))
        .expect("out")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        entries,
        ["keep.txt"],
        "nothing may be written when an app fails"
    );

    // A service without any image fails the build too, naming the fixes.
    write(
        &dir,
        "lone/Heliosfile.yml",
        "name: lone\nversion: 1\nservices:\n  worker:\n    command: [run]\n",
    );
    let no_image = heliosc(&["build", "lone", "--out", "out"], &dir);
    assert_eq!(no_image.status.code(), Some(1));
    assert!(stderr(&no_image).contains("H0603"), "{}", stderr(&no_image));
    assert!(!dir.join("out/lone").exists());
}

#[test]
fn build_of_a_folder_writes_one_folder_per_app() {
    let dir = scratch("build-folder");
    write(&dir, "apps/a/Heliosfile.yml", VALID);
    write(
        &dir,
        "apps/b/Heliosfile",
        &VALID.replace("name: shop", "name: blog"),
    );
    let output = heliosc(&["build", "apps", "--out", "out"], &dir);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(dir.join("out/shop/compose.yaml").is_file());
    assert!(dir.join("out/blog/compose.yaml").is_file());

    write(&dir, "apps/c/Heliosfile", VALID);
    let duplicate = heliosc(&["build", "apps", "--out", "out2"], &dir);
    assert_eq!(duplicate.status.code(), Some(2));
    assert!(
        stderr(&duplicate).contains("both define the app `shop`"),
        "{}",
        stderr(&duplicate)
    );
    assert!(!dir.join("out2").exists());
}

#[test]
fn build_context_is_relative_to_the_output_folder() {
    let dir = scratch("build-context");
    std::fs::create_dir_all(dir.join(".git")).expect("a fake repository root");
    write(
        &dir,
        "apps/api/Heliosfile.yml",
        "name: api\nversion: 1\nimage: registry.example.com/api\nbuild:\n  dockerfile: ../../docker/Dockerfile\n  context: ../..\nservices:\n  api: { http_port: 8080 }\n",
    );
    let output = heliosc(
        &[
            "build",
            "apps/api/Heliosfile.yml",
            "--out",
            "rendered/api",
            "--tag",
            "7",
        ],
        &dir,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let compose =
        std::fs::read_to_string(dir.join("rendered/api/compose.yaml")).expect("compose.yaml");
    assert!(compose.contains("context: ../.."), "{compose}");
    assert!(
        compose.contains("dockerfile: docker/Dockerfile"),
        "{compose}"
    );
}

#[test]
fn github_message_format_emits_workflow_commands() {
    let dir = scratch("github");
    write(&dir, "Heliosfile.yml", INVALID);
    let output = heliosc(
        &["check", "--message-format", "github", "Heliosfile.yml"],
        &dir,
    );
    assert_eq!(output.status.code(), Some(1));
    let lines: Vec<String> = stdout(&output).lines().map(str::to_string).collect();
    assert_eq!(
        lines,
        [
            "::error file=Heliosfile.yml,line=7,col=5,endLine=7,endColumn=12,title=H0201 unknown-key::unknown key `replica` in service `web`%0Ahelp: did you mean `replicas`?",
            "::error file=Heliosfile.yml,line=9,col=21,endLine=9,endColumn=37,title=H0701 unknown-reference::unknown reference `postgress`%0Ahelp: a reference starts with a service, a database, `secret` or `app`",
        ]
    );
}

#[test]
fn build_check_reports_stale_output_and_writes_nothing() {
    let dir = scratch("build-check");
    write(&dir, "apps/shop/Heliosfile.yml", VALID);
    write(
        &dir,
        "apps/blog/Heliosfile.yml",
        &VALID.replace("name: shop", "name: blog"),
    );
    let built = heliosc(&["build", "apps", "--out", "rendered"], &dir);
    assert_eq!(built.status.code(), Some(0), "{}", stderr(&built));

    let current = heliosc(&["build", "apps", "--out", "rendered", "--check"], &dir);
    assert_eq!(current.status.code(), Some(0), "{}", stderr(&current));
    assert!(stdout(&current).is_empty());

    // One app changes, one is removed: both show in the diff, nothing is written.
    write(
        &dir,
        "apps/shop/Heliosfile.yml",
        &VALID.replace("http_port: 80", "http_port: 8080"),
    );
    std::fs::remove_dir_all(dir.join("apps/blog")).expect("remove blog");
    let before =
        std::fs::read_to_string(dir.join("rendered/shop/compose.yaml")).expect("compose.yaml");
    let stale = heliosc(&["build", "apps", "--out", "rendered", "--check"], &dir);
    assert_eq!(stale.status.code(), Some(1), "{}", stderr(&stale));
    let diff = stdout(&stale);
    assert!(diff.contains("--- a/rendered/shop/compose.yaml"), "{diff}");
    assert!(
        diff.contains("-    - \"80\"") && diff.contains("+    - \"8080\""),
        "{diff}"
    );
    assert!(
        diff.contains("--- a/rendered/blog/compose.yaml"),
        "a removed app is stale too: {diff}"
    );
    assert!(stderr(&stale).contains("is stale"), "{}", stderr(&stale));
    let after =
        std::fs::read_to_string(dir.join("rendered/shop/compose.yaml")).expect("compose.yaml");
    assert_eq!(before, after, "--check writes nothing");
}
