//! Whole cycles on a real config repo (a git repository in a temp dir,
//! fetched by path) and a real state directory, against live state
//! held in memory.

use super::*;
use crate::backend::{Instance, InstanceStatus, ObservedComponent};
use crate::backends::fake::FakeBackend;
use crate::source::SourceConfig;
use std::path::Path;

const SHOP: &str = "name: shop\nversion: 1\nservices:\n  web: { image: nginx:1.27 }\ndatabases:\n  db: { type: redis }\n";
const BLOG: &str = "name: blog\nversion: 1\nservices:\n  web: { image: ghost:5 }\n";

/// The config repo: a work tree on `main` that commits are made in.
struct Remote {
    repo: git2::Repository,
}

impl Remote {
    fn new(dir: &Path) -> Self {
        let mut options = git2::RepositoryInitOptions::new();
        options.initial_head("main");
        let repo = git2::Repository::init_opts(dir, &options).expect("git init");
        Self { repo }
    }

    fn workdir(&self) -> &Path {
        self.repo.workdir().expect("a work tree")
    }

    /// Writes (`Some`) or deletes (`None`) files, then commits all.
    fn commit(&self, files: &[(&str, Option<&str>)]) -> String {
        for (path, text) in files {
            let path = self.workdir().join(path);
            match text {
                Some(text) => {
                    std::fs::create_dir_all(path.parent().expect("a parent")).expect("a folder");
                    std::fs::write(&path, text).expect("a file");
                }
                None => std::fs::remove_file(&path).expect("a removal"),
            }
        }
        let mut index = self.repo.index().expect("the index");
        index
            .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
            .expect("add");
        index.update_all(["*"], None).expect("update");
        index.write().expect("write the index");
        let tree = self
            .repo
            .find_tree(index.write_tree().expect("a tree"))
            .expect("the tree");
        let signature = git2::Signature::now("Test", "test@helios.invalid").expect("who");
        let parent = self.repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        self.repo
            .commit(
                Some("HEAD"),
                &signature,
                &signature,
                "change",
                &tree,
                &parents,
            )
            .expect("a commit")
            .to_string()
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    remote: Remote,
    reconciler: Reconciler<FakeBackend>,
}

fn fixture(backend: FakeBackend, files: &[(&str, Option<&str>)]) -> Fixture {
    let dir = tempfile::tempdir().expect("a temp dir");
    let remote = Remote::new(&dir.path().join("config"));
    remote.commit(files);
    let state_dir = dir.path().join("state");
    let state = StateDir::open_or_init(&state_dir).expect("the state dir");
    let url = remote.workdir().to_string_lossy().into_owned();
    let source = GitSource::open(SourceConfig::new(url, "main"), &state_dir).expect("the source");
    let options = CycleOptions {
        // Every cycle compares live state, unless a test says otherwise.
        drift_interval: Duration::ZERO,
        health_timeout: Duration::from_millis(200),
        health_poll: Duration::from_millis(10),
        ..CycleOptions::default()
    };
    Fixture {
        _dir: dir,
        remote,
        reconciler: Reconciler::new(source, state, backend, options),
    }
}

fn result_of(report: &CycleReport, app: &str) -> Option<AppResult> {
    report
        .apps
        .iter()
        .find(|a| a.app == app)
        .and_then(|a| a.result)
}

fn state_commits(state: &StateDir) -> usize {
    let repo = git2::Repository::open(state.dir()).expect("the state repo");
    let mut walk = repo.revwalk().expect("a walk");
    if walk.push_head().is_err() {
        return 0;
    }
    walk.count()
}

#[tokio::test(flavor = "current_thread")]
async fn first_cycle_creates_second_is_a_no_op() {
    let mut f = fixture(
        FakeBackend::default(),
        &[
            ("shop/Heliosfile", Some(SHOP)),
            ("blog/Heliosfile", Some(BLOG)),
        ],
    );
    let first = f.reconciler.reconcile().await.expect("a cycle");
    assert!(first.converged, "{first:?}");
    assert_eq!(first.outcome, Outcome::Applied);
    assert_eq!(first.counts.created, 2);
    assert_eq!(result_of(&first, "shop"), Some(AppResult::Healthy));
    assert!(first.state_commit.is_some());
    assert_eq!(first.next, Next::Requeue(Duration::from_secs(30)));
    // Databases before services.
    let operations = f.reconciler.backend().operations();
    let db = operations.iter().position(|o| o == "apply shop db");
    let web = operations.iter().position(|o| o == "apply shop web");
    assert!(db < web && db.is_some(), "{operations:?}");

    let state = f.reconciler.state();
    let status = state.read_status("shop").expect("read").expect("a status");
    assert_eq!(status.result, AppResult::Healthy);
    assert_eq!(status.source_commit, first.source_commit);
    assert!(state.read_applied("blog").expect("read").is_some());
    let inventory = state.read_inventory().expect("the inventory");
    assert_eq!(inventory.apps.keys().collect::<Vec<_>>(), ["blog", "shop"]);
    // Neither the fetched repo nor the env files are recorded.
    let repo = git2::Repository::open(state.dir()).expect("the state repo");
    let tree = repo.head().and_then(|h| h.peel_to_tree()).expect("a tree");
    assert!(tree.get_name("source.git").is_none());
    assert!(tree.get_name("secrets").is_none());
    let commits = state_commits(state);

    let second = f.reconciler.reconcile().await.expect("a cycle");
    assert!(second.converged);
    // Compared with live state, nothing to apply: counted as such.
    assert_eq!(second.outcome, Outcome::Unchanged);
    assert_eq!(second.counts.unchanged, 2);
    assert_eq!(second.state_commit, None);
    assert_eq!(state_commits(f.reconciler.state()), commits);
}

#[tokio::test(flavor = "current_thread")]
async fn a_stop_mid_step_finishes_that_step_and_starts_no_other() {
    let mut f = fixture(
        FakeBackend::default(),
        &[
            ("shop/Heliosfile", Some(SHOP)),
            ("wiki/Heliosfile", Some(&BLOG.replace("blog", "wiki"))),
        ],
    );
    let stop = f.reconciler.stop_flag();
    f.reconciler.backend().stop_on_next_apply(stop);
    let report = f.reconciler.reconcile().await.expect("a cycle");
    let operations = f.reconciler.backend().operations();
    // The database step ran to its end; no other step started (apps are
    // applied in name order, one at a time by default).
    let applied: Vec<&String> = operations
        .iter()
        .filter(|o| !o.starts_with("store inventory"))
        .collect();
    assert_eq!(applied, ["apply shop db"]);
    assert!(!report.converged);
    assert_eq!(result_of(&report, "shop"), Some(AppResult::Failed));
    assert_eq!(result_of(&report, "wiki"), None);
    let state = f.reconciler.state();
    let status = state.read_status("shop").expect("read").expect("a status");
    assert!(
        status
            .diagnostics
            .iter()
            .any(|d| d.contains("stopped before")),
        "{status:?}"
    );
    assert!(state.read_status("wiki").expect("read").is_none());
    assert!(state.read_applied("shop").expect("read").is_none());
}

#[tokio::test(flavor = "current_thread")]
async fn live_apps_it_never_applied_are_left_alone() {
    // An app brought up by hand from `heliosc build` output, or by
    // another reconciler: Helios labels, but not in this inventory.
    let backend = FakeBackend::default();
    backend.edit_live(|live| {
        live.apps.insert(
            "handmade".to_string(),
            crate::backend::ObservedApp {
                components: BTreeMap::from([(
                    "web".to_string(),
                    ObservedComponent {
                        kind: crate::desired::ComponentKind::Service,
                        instances: vec![Instance {
                            spec_hash: Some("sha256:0".to_string()),
                            secrets_digest: None,
                            status: InstanceStatus::Healthy,
                        }],
                    },
                )]),
                ..Default::default()
            },
        );
    });
    let mut f = fixture(backend, &[("shop/Heliosfile", Some(SHOP))]);
    let report = f.reconciler.reconcile().await.expect("a cycle");
    assert!(report.converged, "{report:?}");
    assert!(
        report.apps.iter().all(|a| a.app != "handmade"),
        "{report:?}"
    );
    assert!(f.reconciler.backend().live().apps.contains_key("handmade"));
    let operations = f.reconciler.backend().operations();
    assert!(
        operations.iter().all(|o| !o.contains("handmade")),
        "{operations:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_unchanged_commit_is_skipped_until_a_drift_check_is_due() {
    let mut f = fixture(FakeBackend::default(), &[("shop/Heliosfile", Some(SHOP))]);
    f.reconciler.options.drift_interval = Duration::from_secs(3600);
    assert!(f.reconciler.reconcile().await.expect("a cycle").converged);
    let skipped = f.reconciler.reconcile().await.expect("a cycle");
    assert_eq!(skipped.outcome, Outcome::Skipped);

    // The backend saw a container die: the next cycle looks.
    f.reconciler.backend().edit_live(|live| {
        live.apps
            .get_mut("shop")
            .expect("shop")
            .components
            .remove("web");
    });
    f.reconciler.request_drift_check();
    let checked = f.reconciler.reconcile().await.expect("a cycle");
    assert_eq!(checked.outcome, Outcome::Applied);
    assert_eq!(
        checked.drift_corrected,
        [DriftCorrected {
            app: "shop".to_string(),
            component: "web".to_string(),
            reason: "missing",
        }]
    );
    let skipped = f.reconciler.reconcile().await.expect("a cycle");
    assert_eq!(skipped.outcome, Outcome::Skipped);

    // A new commit is reconciled at once.
    f.remote
        .commit(&[("shop/Heliosfile", Some(&SHOP.replace("1.27", "1.28")))]);
    let changed = f.reconciler.reconcile().await.expect("a cycle");
    assert_eq!(changed.outcome, Outcome::Applied);
    assert_eq!(changed.counts.updated, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_removed_app_is_deleted_and_recorded() {
    let mut f = fixture(
        FakeBackend::default(),
        &[
            ("shop/Heliosfile", Some(SHOP)),
            ("blog/Heliosfile", Some(BLOG)),
            ("wiki/Heliosfile", Some(&BLOG.replace("blog", "wiki"))),
        ],
    );
    f.reconciler.reconcile().await.expect("a cycle");
    f.remote.commit(&[("blog/Heliosfile", None)]);
    let report = f.reconciler.reconcile().await.expect("a cycle");
    assert!(report.converged, "{report:?}");
    assert_eq!(report.counts.deleted, 1);
    assert_eq!(result_of(&report, "blog"), Some(AppResult::Removed));
    let live = f.reconciler.backend().live();
    assert!(
        live.apps
            .get("blog")
            .is_none_or(|b| b.components.is_empty())
    );
    assert!(!live.apps["shop"].components.is_empty());
    let state = f.reconciler.state();
    let status = state.read_status("blog").expect("read").expect("a status");
    assert_eq!(status.result, AppResult::Removed);
    assert!(
        !state
            .read_inventory()
            .expect("read")
            .apps
            .contains_key("blog")
    );
    assert!(report.state_commit.is_some());
    // Removed once: the next cycle does nothing.
    let again = f.reconciler.reconcile().await.expect("a cycle");
    assert_eq!(again.state_commit, None);
    assert!(again.converged);
}

#[tokio::test(flavor = "current_thread")]
async fn an_invalid_heliosfile_holds_its_app_with_diagnostics() {
    let mut f = fixture(
        FakeBackend::default(),
        &[
            ("shop/Heliosfile", Some(SHOP)),
            ("blog/Heliosfile", Some(BLOG)),
        ],
    );
    f.reconciler.reconcile().await.expect("a cycle");
    let before = f.reconciler.backend().live();
    let broken = SHOP.replace("image: nginx:1.27", "image: nginx:1.28, replicas: lots");
    f.remote.commit(&[
        ("shop/Heliosfile", Some(&broken)),
        ("blog/Heliosfile", Some(&BLOG.replace("ghost:5", "ghost:6"))),
    ]);
    let report = f.reconciler.reconcile().await.expect("a cycle");
    assert!(!report.converged);
    assert_eq!(result_of(&report, "shop"), Some(AppResult::Held));
    // The other app goes on.
    assert_eq!(result_of(&report, "blog"), Some(AppResult::Healthy));
    assert_eq!(report.counts.updated, 1);
    let live = f.reconciler.backend().live();
    assert_eq!(live.apps["shop"], before.apps["shop"]);
    let status = f
        .reconciler
        .state()
        .read_status("shop")
        .expect("read")
        .expect("a status");
    assert_eq!(status.result, AppResult::Held);
    let diagnostics = status.diagnostics.join("\n");
    assert!(diagnostics.contains("shop/Heliosfile"), "{diagnostics}");
    assert!(diagnostics.contains("replicas"), "{diagnostics}");
    assert!(report.next != Next::Requeue(Duration::from_secs(30)));

    // Held again with the same diagnostics: nothing new to record.
    let again = f.reconciler.reconcile().await.expect("a cycle");
    assert_eq!(again.state_commit, None);
}

#[tokio::test(flavor = "current_thread")]
async fn the_guard_refuses_deleting_every_app() {
    let mut f = fixture(
        FakeBackend::default(),
        &[
            ("shop/Heliosfile", Some(SHOP)),
            ("blog/Heliosfile", Some(BLOG)),
        ],
    );
    f.reconciler.reconcile().await.expect("a cycle");
    let before = f.reconciler.backend().live();
    f.remote.commit(&[
        ("shop/Heliosfile", None),
        ("blog/Heliosfile", None),
        ("README.md", Some("nothing here\n")),
    ]);
    let report = f.reconciler.reconcile().await.expect("a cycle");
    assert!(!report.converged);
    assert!(
        matches!(&report.outcome, Outcome::Refused(m) if m.contains("every owned app")),
        "{:?}",
        report.outcome
    );
    assert_eq!(f.reconciler.backend().live(), before);
    let status = f
        .reconciler
        .state()
        .read_status("blog")
        .expect("read")
        .expect("a status");
    assert_eq!(status.result, AppResult::Held);
    assert!(status.diagnostics[0].contains("refused"), "{status:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn one_failing_app_does_not_stop_the_others() {
    let backend = FakeBackend::default().failing("shop");
    let mut f = fixture(
        backend,
        &[
            ("shop/Heliosfile", Some(SHOP)),
            ("blog/Heliosfile", Some(BLOG)),
        ],
    );
    let report = f.reconciler.reconcile().await.expect("a cycle");
    assert!(!report.converged);
    assert_eq!(result_of(&report, "shop"), Some(AppResult::Failed));
    assert_eq!(result_of(&report, "blog"), Some(AppResult::Healthy));
    assert_eq!(report.counts.failed, 1);
    // Its services are not started without their database.
    let operations = f.reconciler.backend().operations();
    assert!(
        !operations.contains(&"apply shop web".to_string()),
        "{operations:?}"
    );
    let status = f
        .reconciler
        .state()
        .read_status("shop")
        .expect("read")
        .expect("a status");
    assert_eq!(status.result, AppResult::Failed);
    assert!(status.diagnostics[0].contains("refused by the test"));
    assert!(
        f.reconciler
            .state()
            .read_applied("shop")
            .expect("read")
            .is_none()
    );
}

const STRIPE: &str = "name: shop\nversion: 1\nsecrets: [STRIPE_KEY]\nservices:\n  web:\n    image: nginx:1.27\n    env:\n      KEY: ${secret.STRIPE_KEY}\n  other:\n    image: nginx:1.27\ndatabases:\n  db: { type: postgresql }\n";

fn with_secrets_file(f: &mut Fixture, text: &str) -> std::path::PathBuf {
    let path = f._dir.path().join("secrets.env");
    std::fs::write(&path, text).expect("written");
    f.reconciler.options.secrets_file = Some(path.clone());
    path
}

#[tokio::test(flavor = "current_thread")]
async fn each_app_gets_the_user_secrets_it_declares() {
    let mut f = fixture(
        FakeBackend::default(),
        &[
            ("shop/Heliosfile", Some(STRIPE)),
            ("blog/Heliosfile", Some(BLOG)),
        ],
    );
    with_secrets_file(&mut f, "STRIPE_KEY=sk_test_1\nSMTP_PASSWORD=mail_2\n");
    assert!(f.reconciler.reconcile().await.expect("a cycle").converged);
    let backend = f.reconciler.backend();
    let shop_secrets = backend.secrets_of("shop").expect("applied");
    let shop: Vec<(&str, &str)> = shop_secrets
        .user
        .iter()
        .map(|(k, v)| (k.as_str(), v.expose()))
        .collect();
    assert_eq!(shop, [("STRIPE_KEY", "sk_test_1")]);
    assert_eq!(shop_secrets.database_passwords["db"].expose().len(), 32);
    assert!(backend.secrets_of("blog").expect("applied").user.is_empty());
}

const MAIL: &str = "name: mail\nversion: 1\nsecrets: [SMTP_USER, SMTP_PASSWORD]\nservices:\n  web:\n    image: nginx:1.27\n    env:\n      USER: ${secret.SMTP_USER}\n      PASSWORD: ${secret.SMTP_PASSWORD}\n";

#[tokio::test(flavor = "current_thread")]
async fn a_declared_secret_without_a_value_holds_its_app_only() {
    let mut f = fixture(
        FakeBackend::default(),
        &[
            ("shop/Heliosfile", Some(STRIPE)),
            ("blog/Heliosfile", Some(BLOG)),
            ("mail/Heliosfile", Some(MAIL)),
        ],
    );
    with_secrets_file(&mut f, "OTHER=1\n");
    let report = f.reconciler.reconcile().await.expect("a cycle");
    assert!(!report.converged);
    // Every missing one is named.
    let mail = report.apps.iter().find(|a| a.app == "mail").expect("mail");
    assert_eq!(mail.result, Some(AppResult::Held));
    assert!(
        mail.diagnostics
            .iter()
            .any(|d| d.contains("secrets `SMTP_PASSWORD`, `SMTP_USER` are declared but")),
        "{:?}",
        mail.diagnostics
    );
    assert_eq!(result_of(&report, "shop"), Some(AppResult::Held));
    assert_eq!(result_of(&report, "blog"), Some(AppResult::Healthy));
    let shop = report.apps.iter().find(|a| a.app == "shop").expect("shop");
    assert!(
        shop.diagnostics
            .iter()
            .any(|d| d.contains("secret `STRIPE_KEY` is declared")),
        "{:?}",
        shop.diagnostics
    );
    let operations = f.reconciler.backend().operations();
    assert!(
        operations.iter().all(|o| !o.contains("shop")),
        "{operations:?}"
    );
    let status = f
        .reconciler
        .state()
        .read_status("shop")
        .expect("read")
        .expect("a status");
    assert_eq!(status.result, AppResult::Held);

    // A value that cannot be carried is refused the same way, named.
    with_secrets_file(&mut f, "STRIPE_KEY=\"a\rb\"\n");
    let report = f.reconciler.reconcile().await.expect("a cycle");
    let shop = report.apps.iter().find(|a| a.app == "shop").expect("shop");
    assert_eq!(shop.result, Some(AppResult::Held));
    assert!(
        shop.diagnostics
            .iter()
            .any(|d| d.contains("`STRIPE_KEY` contains a carriage return")),
        "{:?}",
        shop.diagnostics
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_rotated_secret_updates_exactly_the_services_that_use_it() {
    let mut f = fixture(FakeBackend::default(), &[("shop/Heliosfile", Some(STRIPE))]);
    let path = with_secrets_file(&mut f, "STRIPE_KEY=sk_live_1\n");
    assert!(f.reconciler.reconcile().await.expect("a cycle").converged);
    // Same commit, no drift check due: only the new value wakes it.
    f.reconciler.options.drift_interval = Duration::from_secs(3600);
    assert_eq!(
        f.reconciler.reconcile().await.expect("a cycle").outcome,
        Outcome::Skipped
    );
    std::fs::write(&path, "STRIPE_KEY=sk_live_2\n").expect("rotated");
    f.reconciler.backend().clear_operations();
    let (_, plan) = f.reconciler.plan_only().await.expect("a plan");
    let text = plan.to_text();
    assert!(
        text.contains("~ update service shop/web (secret STRIPE_KEY changed)"),
        "{text}"
    );
    assert!(text.contains("= unchanged service shop/other"), "{text}");
    assert!(!text.contains("sk_live"), "{text}");
    let report = f.reconciler.reconcile().await.expect("a cycle");
    assert!(report.converged, "{report:?}");
    let operations = f.reconciler.backend().operations();
    assert_eq!(operations, ["apply shop web"]);
    let status = f
        .reconciler
        .state()
        .read_status("shop")
        .expect("read")
        .expect("a status");
    assert_eq!(
        status.plan.changes,
        ["update web (secret STRIPE_KEY changed)"]
    );
    // The database password rotated by an operator: the database and
    // nothing else uses it here.
    let password_file = f.reconciler.state().password_file("shop").expect("a path");
    std::fs::write(&password_file, "HELIOS_DB_PASSWORD='rotated'\n").expect("rotated");
    f.reconciler.request_drift_check();
    f.reconciler.backend().clear_operations();
    let report = f.reconciler.reconcile().await.expect("a cycle");
    assert!(report.converged, "{report:?}");
    let operations = f.reconciler.backend().operations();
    assert_eq!(operations, ["apply shop db"]);
}

#[tokio::test(flavor = "current_thread")]
async fn what_a_tool_prints_is_recorded_without_secret_values() {
    let backend = FakeBackend::default().leaking_secrets_on_apply();
    let mut f = fixture(backend, &[("shop/Heliosfile", Some(STRIPE))]);
    with_secrets_file(&mut f, "STRIPE_KEY=it's ${HOME} $$ `x`\n");
    let report = f.reconciler.reconcile().await.expect("a cycle");
    let shop = report.apps.iter().find(|a| a.app == "shop").expect("shop");
    assert_eq!(shop.result, Some(AppResult::Failed));
    let password = f
        .reconciler
        .state()
        .database_passwords("shop", &["db".to_string()])
        .expect("passwords")["db"]
        .expose()
        .to_string();
    let diagnostics = shop.diagnostics.join("\n");
    assert!(
        diagnostics.contains("ERROR: bad values: *** | ***"),
        "{diagnostics}"
    );
    let status = std::fs::read_to_string(f.reconciler.state().dir().join("apps/shop/status.yaml"))
        .expect("a status");
    for secret in ["it's ${HOME} $$ `x`", password.as_str()] {
        assert!(!diagnostics.contains(secret));
        assert!(!status.contains(secret), "{status}");
    }
}

fn last_state_message(state: &StateDir) -> String {
    let repo = git2::Repository::open(state.dir()).expect("the state repo");
    let head = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .expect("a commit");
    head.message().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "current_thread")]
async fn state_commits_say_what_was_applied_and_with_what_result() {
    let backend = FakeBackend::default().unhealthy("shop");
    let mut f = fixture(
        backend,
        &[
            ("shop/Heliosfile", Some(SHOP)),
            ("blog/Heliosfile", Some(BLOG)),
        ],
    );
    let report = f.reconciler.reconcile().await.expect("a cycle");
    assert_eq!(report.outcome, Outcome::Applied);
    let message = last_state_message(f.reconciler.state());
    assert!(
        message.starts_with(&format!(
            "reconcile {}: 1 created, 1 created (degraded)\n",
            &report.source_commit[..7]
        )),
        "{message}"
    );

    // A refused plan deletes nothing and says so.
    f.remote
        .commit(&[("shop/Heliosfile", None), ("blog/Heliosfile", None)]);
    let report = f.reconciler.reconcile().await.expect("a cycle");
    assert!(matches!(report.outcome, Outcome::Refused(_)));
    let message = last_state_message(f.reconciler.state());
    assert!(
        message.contains(": plan refused: the plan deletes every owned app"),
        "{message}"
    );
    assert!(
        !message.contains("deleted,") && !message.contains("1 deleted"),
        "{message}"
    );
    assert!(!message.contains("refused: refused"), "{message}");
}

#[tokio::test(flavor = "current_thread")]
async fn drift_is_healed() {
    let mut f = fixture(FakeBackend::default(), &[("blog/Heliosfile", Some(BLOG))]);
    f.reconciler.reconcile().await.expect("a cycle");
    f.reconciler.backend().edit_live(|live| {
        let web = live
            .apps
            .get_mut("blog")
            .and_then(|a| a.components.get_mut("web"))
            .expect("blog web");
        web.instances[0].status = InstanceStatus::Exited;
    });
    let report = f.reconciler.reconcile().await.expect("a cycle");
    assert!(report.converged);
    assert_eq!(report.counts.updated, 1);
    assert_eq!(
        report.drift_corrected,
        [DriftCorrected {
            app: "blog".to_string(),
            component: "web".to_string(),
            reason: "exited",
        }]
    );
    let live = f.reconciler.backend().live();
    assert_eq!(
        live.apps["blog"].components["web"].instances[0].status,
        InstanceStatus::Healthy
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_inventory_and_the_backends_copy_rebuild_each_other() {
    let backend = FakeBackend::default();
    // Another reconciler's app, with its copy of the inventory: never
    // adopted, so never pruned.
    let elsewhere = crate::state::InventoryApp {
        source_path: "other/Heliosfile".to_string(),
        components: BTreeSet::from(["web".to_string()]),
        volumes: BTreeSet::new(),
    };
    backend
        .store_inventory(
            "https://git.example.com/other.git#main:",
            "other",
            Some(&elsewhere),
        )
        .await
        .expect("stored");
    let mut f = fixture(
        backend,
        &[
            ("shop/Heliosfile", Some(SHOP)),
            ("blog/Heliosfile", Some(BLOG)),
        ],
    );
    assert!(f.reconciler.reconcile().await.expect("a cycle").converged);
    let operations = f.reconciler.backend().operations();
    assert!(
        operations.contains(&"store inventory blog".to_string()),
        "{operations:?}"
    );
    assert!(
        operations.contains(&"store inventory shop".to_string()),
        "{operations:?}"
    );

    // An unchanged cycle writes no copy.
    f.reconciler.backend().clear_operations();
    f.reconciler.reconcile().await.expect("a cycle");
    assert_eq!(f.reconciler.backend().operations(), Vec::<String>::new());

    // The state directory loses its inventory; blog leaves the config
    // repo. The backend's copy says blog was this reconciler's: pruned.
    let state_dir = f.reconciler.state().dir().to_path_buf();
    std::fs::remove_file(state_dir.join("inventory.yaml")).expect("removed");
    f.remote.commit(&[("blog/Heliosfile", None)]);
    let report = f.reconciler.reconcile().await.expect("a cycle");
    assert!(report.converged, "{report:?}");
    assert_eq!(result_of(&report, "blog"), Some(AppResult::Removed));
    assert!(report.apps.iter().all(|a| a.app != "other"), "{report:?}");
    let inventory = f.reconciler.state().read_inventory().expect("read");
    assert_eq!(inventory.apps.keys().collect::<Vec<_>>(), ["shop"]);
    let operations = f.reconciler.backend().operations();
    assert!(
        operations.contains(&"remove blog".to_string()),
        "{operations:?}"
    );
    assert!(
        operations.contains(&"store inventory blog".to_string()),
        "{operations:?}"
    );

    // The backend loses its copy: the next cycle writes it again.
    f.reconciler.backend().lose_stored_inventory();
    f.reconciler.backend().clear_operations();
    f.reconciler.reconcile().await.expect("a cycle");
    assert_eq!(
        f.reconciler.backend().operations(),
        ["store inventory shop"]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_app_for_another_backend_is_skipped_and_one_that_moves_leaves() {
    let on_cluster =
        "name: wiki\nversion: 1\ntarget: kubernetes\nservices:\n  web: { image: wiki:2 }\n";
    let mut f = fixture(
        FakeBackend::default(),
        &[
            ("shop/Heliosfile", Some(SHOP)),
            ("blog/Heliosfile", Some(BLOG)),
            ("wiki/Heliosfile", Some(on_cluster)),
        ],
    );
    let report = f.reconciler.reconcile().await.expect("a cycle");
    assert!(report.converged, "{report:?}");
    assert!(report.apps.iter().all(|a| a.app != "wiki"), "{report:?}");
    assert!(!f.reconciler.backend().live().apps.contains_key("wiki"));
    let (_, plan) = f.reconciler.plan_only().await.expect("a plan");
    assert!(
        plan.to_text()
            .contains("skipped app wiki: target kubernetes (wiki/Heliosfile)"),
        "{}",
        plan.to_text()
    );
    assert_eq!(
        f.reconciler.state().read_skipped().expect("read"),
        [(
            "wiki".to_string(),
            "kubernetes".to_string(),
            "wiki/Heliosfile".to_string()
        )]
    );

    // shop moves to the cluster: it leaves this host, its volume kept
    // (the last app to leave a host would be refused by the guard).
    let moved = SHOP.replacen("version: 1\n", "version: 1\ntarget: kubernetes\n", 1);
    f.remote.commit(&[("shop/Heliosfile", Some(&moved))]);
    let report = f.reconciler.reconcile().await.expect("a cycle");
    assert_eq!(result_of(&report, "shop"), Some(AppResult::Removed));
    let live = f.reconciler.backend().live();
    let shop = live.apps.get("shop").expect("its volume is kept");
    assert!(shop.components.is_empty());
    assert!(shop.volumes.contains("db-data"), "{shop:?}");
    let skipped: Vec<String> = f
        .reconciler
        .state()
        .read_skipped()
        .expect("read")
        .into_iter()
        .map(|(app, _, _)| app)
        .collect();
    assert_eq!(skipped, ["shop", "wiki"]);
}
