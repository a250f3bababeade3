//! `heliosc tag` and `heliosc build --tag from-source` on a real git
//! repository: the tag is the build context's tree id, it changes exactly
//! when the build inputs do, and both commands give the same one.

mod common;

use common::git_repo::Repo;
use std::process::Output;

const SHOP: &str = "\
name: shop
version: 1
image: registry.example.com/shop
build:
  dockerfile: Dockerfile
services:
  web: { http_port: 8080 }
";

const BLOG: &str = "\
name: blog
version: 1
services:
  web: { image: ghost:5, http_port: 2368 }
";

const OUTSIDE: &str = "\
name: api
version: 1
image: registry.example.com/api
build:
  dockerfile: ../../docker/api.Dockerfile
  context: .
services:
  web: { http_port: 8080 }
";

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn tree_id(repo: &Repo, path: &str) -> String {
    let head = repo
        .repo
        .head()
        .and_then(|h| h.peel_to_tree())
        .expect("HEAD");
    head.get_path(std::path::Path::new(path))
        .expect("in the tree")
        .id()
        .to_string()
}

fn tag_line(repo: &Repo, args: &[&str]) -> String {
    let output = repo.heliosc("tag", args);
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout(&output)
}

#[test]
fn the_tag_follows_the_build_context_only() {
    let mut repo = Repo::new("tag-context");
    repo.commit(&[
        ("apps/shop/Heliosfile", Some(SHOP)),
        (
            "apps/shop/Dockerfile",
            Some("FROM scratch\nCOPY app /app\n"),
        ),
        ("apps/shop/app", Some("one\n")),
        ("apps/blog/Heliosfile", Some(BLOG)),
        ("README.md", Some("# apps\n")),
    ]);
    let first = tag_line(&repo, &[]);
    let expected = format!(
        "shop registry.example.com/shop:src-{}\n",
        &tree_id(&repo, "apps/shop")[..12]
    );
    // blog runs a prebuilt image: no line.
    assert_eq!(first, expected);

    // A commit elsewhere keeps the tag.
    repo.commit(&[("README.md", Some("# apps, again\n"))]);
    assert_eq!(tag_line(&repo, &[]), first);
    assert_eq!(tag_line(&repo, &["apps/shop"]), first);

    // A changed source changes it; --rev still gives the old one.
    repo.commit(&[("apps/shop/app", Some("two\n"))]);
    let second = tag_line(&repo, &[]);
    assert_ne!(second, first);
    assert_eq!(tag_line(&repo, &["--rev", "HEAD~1"]), first);
}

#[test]
fn a_dockerfile_outside_the_context_is_an_input_too() {
    let mut repo = Repo::new("tag-outside");
    repo.commit(&[
        ("apps/api/Heliosfile", Some(OUTSIDE)),
        ("apps/api/main.go", Some("package main\n")),
        ("docker/api.Dockerfile", Some("FROM scratch\n")),
    ]);
    let first = tag_line(&repo, &[]);
    assert!(
        first.starts_with("api registry.example.com/api:src-"),
        "{first}"
    );
    assert!(
        !first.contains(&tree_id(&repo, "apps/api")[..12]),
        "a digest of both ids, not the context's alone: {first}"
    );
    repo.commit(&[("docker/api.Dockerfile", Some("FROM scratch\nUSER 1000\n"))]);
    assert_ne!(tag_line(&repo, &[]), first);
}

#[test]
fn build_from_source_renders_the_same_tag() {
    let mut repo = Repo::new("tag-build");
    repo.commit(&[
        ("apps/shop/Heliosfile", Some(SHOP)),
        ("apps/shop/Dockerfile", Some("FROM scratch\n")),
    ]);
    let line = tag_line(&repo, &[]);
    let image = line.trim().split(' ').nth(1).expect("an image").to_string();
    let out = repo.dir.join("out");
    let output = repo.heliosc(
        "build",
        &[
            "apps/shop/Heliosfile",
            "--target",
            "kubernetes",
            "--tag",
            "from-source",
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let manifests = std::fs::read_to_string(out.join("manifests.yaml")).expect("manifests");
    assert!(
        manifests.contains(&format!("image: {image}\n")),
        "{manifests}"
    );
}

#[test]
fn errors_say_what_is_missing() {
    let mut repo = Repo::new("tag-errors");
    repo.commit(&[(
        "apps/shop/Heliosfile",
        Some(&SHOP.replace(
            "dockerfile: Dockerfile",
            "dockerfile: Dockerfile\n  context: src",
        )),
    )]);
    let output = repo.heliosc("tag", &[]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the build context `apps/shop/src` is not in the commit"),
        "{stderr}"
    );
    let output = repo.heliosc("tag", &["--rev", "no-such-branch"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}
