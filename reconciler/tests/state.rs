//! The state directory: a git repository committed to only on change, with
//! status records that read back, stable generated passwords in 0600 env
//! files, and no secret value in any commit.

use helios_reconciler::backend::ObservedState;
use helios_reconciler::desired::{DesiredOptions, DesiredState, desired_state};
use helios_reconciler::plan::{PlanOptions, plan};
use helios_reconciler::secrets::Secret;
use helios_reconciler::state::{
    AppResult, AppStatus, Durations, Inventory, InventoryApp, PlanRecord, StateDir,
};
use std::collections::BTreeMap;
use std::path::Path;

const SHOP: &str = "\
name: shop
version: 1
secrets: [STRIPE_KEY]
services:
  web:
    image: nginx:1.27
    http_port: 80
    env:
      STRIPE: ${secret.STRIPE_KEY}
      DATABASE_URL: ${db.URL}
databases:
  db: { type: postgresql }
";

fn temp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("state-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("a temporary directory")
}

fn compile(text: &str) -> DesiredState {
    let files = vec![("apps/shop/Heliosfile".to_string(), text.to_string())];
    let desired = desired_state(&files, &DesiredOptions::default());
    assert!(desired.failed.is_empty(), "{:?}", desired.failed);
    desired
}

fn user_secrets(value: &str) -> BTreeMap<String, Secret> {
    BTreeMap::from([("STRIPE_KEY".to_string(), Secret::new(value))])
}

/// One cycle as the daemon records it: secrets, applied files, status,
/// inventory, commit.
fn record_cycle(
    state: &StateDir,
    desired: &DesiredState,
    source_commit: &str,
    secrets: &BTreeMap<String, Secret>,
) -> Option<String> {
    let plan = plan(desired, &ObservedState::default(), &PlanOptions::default());
    let mut inventory = Inventory::default();
    for app in desired.apps.values() {
        state
            .database_passwords(&app.name, &app.databases)
            .expect("passwords");
        // The user secrets never reach the state directory at all.
        let _ = secrets;
        state.write_applied(app, source_commit).expect("applied");
        let status = AppStatus {
            app: app.name.clone(),
            source_commit: source_commit.to_string(),
            plan: PlanRecord::from_plan(plan.app(&app.name).expect("planned")),
            result: AppResult::Healthy,
            diagnostics: Vec::new(),
            durations: Durations::default(),
        };
        state.write_status(&status).expect("status");
        inventory
            .apps
            .insert(app.name.clone(), InventoryApp::of(app));
    }
    state.write_inventory(&inventory).expect("inventory");
    state
        .commit(source_commit, &plan.summary.describe())
        .expect("commit")
}

fn commit_count(dir: &Path) -> usize {
    let repo = git2::Repository::open(dir).expect("the state repo");
    let mut walk = repo.revwalk().expect("a revwalk");
    walk.push_head().expect("a head");
    walk.count()
}

#[test]
fn commits_only_on_change_with_the_source_commit_in_the_message() {
    let dir = temp();
    let state = StateDir::open_or_init(dir.path()).expect("a state dir");
    let desired = compile(SHOP);
    let source = "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d";
    let first = record_cycle(&state, &desired, source, &user_secrets("sk_live_1"));
    assert!(first.is_some());
    assert_eq!(commit_count(dir.path()), 1);

    // The same cycle again changes nothing: no commit.
    assert_eq!(
        record_cycle(&state, &desired, source, &user_secrets("sk_live_1")),
        None
    );
    assert_eq!(commit_count(dir.path()), 1);

    // A new source commit with a changed spec: one more commit.
    let changed = compile(&SHOP.replace("nginx:1.27", "nginx:1.28"));
    let second = "ffffeeee00001111222233334444555566667777";
    assert!(record_cycle(&state, &changed, second, &user_secrets("sk_live_1")).is_some());
    assert_eq!(commit_count(dir.path()), 2);

    let repo = git2::Repository::open(dir.path()).expect("the state repo");
    let head = repo.head().and_then(|h| h.peel_to_commit()).expect("head");
    let message = head.message().expect("a message");
    assert!(
        message.starts_with("reconcile ffffeee: 1 created"),
        "{message}"
    );
    assert!(message.contains(second), "{message}");
    assert_eq!(head.author().name(), Some("helios-reconciler"));
    assert_eq!(head.author().email(), Some("helios@localhost"));

    // Reopening keeps history.
    drop(state);
    let reopened = StateDir::open_or_init(dir.path()).expect("reopened");
    assert_eq!(commit_count(dir.path()), 2);
    let applied = reopened
        .read_applied("shop")
        .expect("readable")
        .expect("applied");
    assert_eq!(applied.source_commit, second);
    assert!(applied.files.contains_key("compose.yaml"));
    assert!(dir.path().join("apps/shop/files/compose.yaml").exists());
    let inventory = reopened.read_inventory().expect("inventory");
    assert!(inventory.apps["shop"].components.contains("web"));
}

#[test]
fn status_reads_back() {
    let dir = temp();
    let state = StateDir::open_or_init(dir.path()).expect("a state dir");
    let status = AppStatus {
        app: "shop".to_string(),
        source_commit: "abc".to_string(),
        plan: PlanRecord {
            action: "update".to_string(),
            reason: Some("drifted: exited".to_string()),
            changes: vec!["update web (drifted: exited)".to_string()],
        },
        result: AppResult::Degraded,
        diagnostics: vec!["web: health check failed\nsecond line".to_string()],
        durations: Durations {
            compile_ms: 3,
            apply_ms: 1200,
            wait_ms: 30000,
            total_ms: 31210,
        },
    };
    state.write_status(&status).expect("written");
    assert_eq!(
        state.read_status("shop").expect("read"),
        Some(status.clone())
    );
    assert_eq!(state.read_status("other").expect("read"), None);
    let all = state.read_statuses().expect("all");
    assert_eq!(all.len(), 1);
    assert_eq!(all["shop"], status);
    state.forget_app("shop").expect("forgotten");
    assert!(state.read_statuses().expect("all").is_empty());
}

#[test]
fn database_passwords_never_change() {
    let dir = temp();
    let state = StateDir::open_or_init(dir.path()).expect("a state dir");
    let desired = compile(SHOP);
    let shop = &desired.apps["shop"];
    let first = state
        .database_passwords(&shop.name, &shop.databases)
        .expect("passwords");
    let again = state
        .database_passwords(&shop.name, &shop.databases)
        .expect("passwords");
    let password = first["db"].expose().to_string();
    assert_eq!(password.len(), 32);
    assert_eq!(again["db"].expose(), password);

    // Reopening the state dir does not regenerate it either.
    let reopened = StateDir::open_or_init(dir.path()).expect("reopened");
    let third = reopened
        .database_passwords(&shop.name, &shop.databases)
        .expect("passwords");
    assert_eq!(third["db"].expose(), password);
    // Reading without generating sees the same one.
    let stored = reopened
        .stored_database_passwords(&shop.name, &shop.databases)
        .expect("stored");
    assert_eq!(stored, third);

    let text = std::fs::read_to_string(state.password_file("shop").expect("a path"))
        .expect("the password file");
    assert_eq!(text, format!("HELIOS_DB_PASSWORD='{password}'\n"));
    // Debug output never shows a value.
    assert!(!format!("{third:?}").contains(&password));
}

#[test]
fn passwords_of_earlier_versions_are_kept_and_their_user_secrets_dropped() {
    let dir = temp();
    let state = StateDir::open_or_init(dir.path()).expect("a state dir");
    let path = state.password_file("shop").expect("a path");
    std::fs::create_dir_all(path.parent().expect("a folder")).expect("a folder");
    // What versions before the one owner of secrets wrote.
    std::fs::write(
        &path,
        "HELIOS_DB_PASSWORD='Abc123'\nHELIOS_SECRET_STRIPE_KEY='sk_live_1'\n",
    )
    .expect("written");
    let passwords = state
        .database_passwords("shop", &["db".to_string()])
        .expect("passwords");
    assert_eq!(passwords["db"].expose(), "Abc123");
    let text = std::fs::read_to_string(&path).expect("readable");
    assert_eq!(text, "HELIOS_DB_PASSWORD='Abc123'\n");
}

#[cfg(unix)]
#[test]
fn the_password_file_and_the_digest_key_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = temp();
    let state = StateDir::open_or_init(dir.path()).expect("a state dir");
    let desired = compile(SHOP);
    let shop = &desired.apps["shop"];
    state
        .database_passwords(&shop.name, &shop.databases)
        .expect("passwords");
    let key = state.digest_key().expect("a key");
    assert_eq!(state.digest_key().expect("the same key"), key);
    let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    let path = state.password_file("shop").expect("a path");
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.path().join("secrets/digest.key")), 0o600);
    assert_eq!(mode(path.parent().expect("a folder")), 0o700);
}

#[test]
fn no_secret_value_is_ever_committed() {
    let dir = temp();
    let state = StateDir::open_or_init(dir.path()).expect("a state dir");
    let user_value = "sk_live_do_not_commit_me";
    let desired = compile(SHOP);
    record_cycle(&state, &desired, "1111111", &user_secrets(user_value)).expect("a commit");
    let changed = compile(&SHOP.replace("nginx:1.27", "nginx:1.28"));
    let rotated = "sk_live_rotated_value";
    record_cycle(&state, &changed, "2222222", &user_secrets(rotated)).expect("a commit");

    let shop = &changed.apps["shop"];
    let passwords = state
        .database_passwords(&shop.name, &shop.databases)
        .expect("passwords");
    let password = passwords["db"].expose().to_string();
    // The password file is there, outside git.
    let env =
        std::fs::read_to_string(state.password_file("shop").expect("a path")).expect("readable");
    assert!(env.contains(&password));

    let repo = git2::Repository::open(dir.path()).expect("the state repo");
    let mut walk = repo.revwalk().expect("a revwalk");
    walk.push_head().expect("a head");
    let mut blobs = 0;
    for oid in walk {
        let commit = repo.find_commit(oid.expect("an oid")).expect("a commit");
        let message = commit.message().unwrap_or_default();
        for secret in [password.as_str(), user_value, rotated] {
            assert!(!message.contains(secret));
        }
        let tree = commit.tree().expect("a tree");
        tree.walk(git2::TreeWalkMode::PreOrder, |root, entry| {
            if let Ok(object) = entry.to_object(&repo)
                && let Some(blob) = object.as_blob()
            {
                blobs += 1;
                let content = String::from_utf8_lossy(blob.content());
                for secret in [password.as_str(), user_value, rotated] {
                    assert!(
                        !content.contains(secret),
                        "a secret in {root}{}",
                        entry.name().unwrap_or_default()
                    );
                }
                assert!(!root.starts_with("secrets"));
            }
            git2::TreeWalkResult::Ok
        })
        .expect("a walk");
    }
    assert!(blobs > 5, "only {blobs} blobs walked");
}
