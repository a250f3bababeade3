//! Golden tests of the planner: (desired, observed) → plan text (and JSON
//! for some), one per action, reason, guard verdict and volume rule.
//! Snapshots live in `snapshots/reconciler/plan/` at the repository root.

use helios_reconciler::backend::{
    Instance, InstanceStatus, ObservedApp, ObservedComponent, ObservedState,
};
use helios_reconciler::desired::{
    AppInputs, ComponentSecrets, DesiredApp, DesiredOptions, DesiredState, SecretDigests,
    desired_state, desired_state_with,
};
use helios_reconciler::plan::{Action, Phase, Plan, PlanOptions, Reason, plan};
use heliosc::ir::Target;
use std::path::PathBuf;

fn settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf();
    settings.set_snapshot_path(root.join("snapshots").join("reconciler").join("plan"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings
}

fn snapshot(name: &str, plan: &Plan) {
    settings().bind(|| insta::assert_snapshot!(name, plan.to_text()));
}

fn snapshot_json(name: &str, plan: &Plan) {
    settings().bind(|| insta::assert_snapshot!(name, plan.to_json()));
}

const SHOP: &str = "\
name: shop
version: 1
services:
  web: { image: nginx:1.27, http_port: 80 }
  worker: { image: busybox:1.36, command: [sleep, infinity] }
databases:
  db: { type: postgresql }
";

const BLOG: &str = "\
name: blog
version: 1
services:
  web: { image: ghost:5, http_port: 2368 }
";

const WIKI: &str = "\
name: wiki
version: 1
services:
  web: { image: wiki:2, http_port: 3000 }
";

const CHAT: &str = "\
name: chat
version: 1
services:
  web: { image: chat:1, http_port: 8080 }
";

fn compile(files: &[(&str, &str)]) -> DesiredState {
    compile_for(files, Target::Compose)
}

fn compile_for(files: &[(&str, &str)], target: Target) -> DesiredState {
    // A reconciler takes the apps whose `target:` is its backend's (the
    // default is compose).
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(p, t)| match target {
            Target::Compose => (p.to_string(), t.to_string()),
            Target::Kubernetes => (
                p.to_string(),
                t.replacen("version: 1\n", "version: 1\ntarget: kubernetes\n", 1),
            ),
        })
        .collect();
    let options = DesiredOptions {
        target,
        ..Default::default()
    };
    desired_state(&files, &options)
}

/// The live state of `app` when it was applied and is healthy.
fn running(app: &DesiredApp) -> ObservedApp {
    ObservedApp {
        components: app
            .components
            .iter()
            .map(|(key, c)| {
                let component = ObservedComponent {
                    kind: c.kind,
                    instances: (0..c.replicas.unwrap_or(1))
                        .map(|_| Instance {
                            spec_hash: Some(c.spec_hash.clone()),
                            secrets_digest: c.secrets_digest.clone(),
                            status: InstanceStatus::Healthy,
                        })
                        .collect(),
                };
                (key.clone(), component)
            })
            .collect(),
        volumes: app.volumes.clone(),
        source_path: Some(app.source_path.clone()),
        ..Default::default()
    }
}

/// The live state of everything in `desired`, healthy.
fn all_running(desired: &DesiredState) -> ObservedState {
    ObservedState {
        apps: desired
            .apps
            .iter()
            .map(|(name, app)| (name.clone(), running(app)))
            .collect(),
    }
}

/// Records `desired`'s compiled specs as what was last applied, as the
/// reconciler's state directory does.
fn with_applied_specs(mut observed: ObservedState, desired: &DesiredState) -> ObservedState {
    for (name, app) in &desired.apps {
        if let Some(live) = observed.apps.get_mut(name) {
            live.applied_specs = app
                .components
                .iter()
                .map(|(key, c)| (key.clone(), c.spec.clone()))
                .collect();
        }
    }
    observed
}

fn set_status(observed: &mut ObservedState, app: &str, component: &str, status: InstanceStatus) {
    let component = observed
        .apps
        .get_mut(app)
        .and_then(|a| a.components.get_mut(component))
        .expect("an observed component");
    component.instances[0].status = status;
}

#[test]
fn a_new_app_is_created_databases_first() {
    let desired = compile(&[("apps/shop/Heliosfile", SHOP)]);
    let plan = plan(&desired, &ObservedState::default(), &PlanOptions::default());
    assert_eq!(plan.apps[0].action, Action::Create);
    assert_eq!(plan.apps[0].reason, Some(Reason::Missing));
    snapshot("create_missing_app", &plan);
    snapshot_json("create_missing_app_json", &plan);
}

#[test]
fn a_running_app_is_unchanged() {
    let desired = compile(&[
        ("apps/shop/Heliosfile", SHOP),
        ("apps/blog/Heliosfile", BLOG),
    ]);
    let observed = all_running(&desired);
    let plan = plan(&desired, &observed, &PlanOptions::default());
    assert!(!plan.has_changes());
    snapshot("unchanged", &plan);
}

#[test]
fn a_changed_spec_updates_only_that_service() {
    let old = compile(&[("apps/shop/Heliosfile", SHOP)]);
    let observed = with_applied_specs(all_running(&old), &old);
    let new = compile(&[(
        "apps/shop/Heliosfile",
        &SHOP.replace("nginx:1.27", "nginx:1.28"),
    )]);
    let plan = plan(&new, &observed, &PlanOptions::default());
    // The changed fields, as a unified diff of the applied service.
    let web = &plan.apps[0].components.iter().find(|c| c.name == "web");
    let diff = web.and_then(|c| c.diff.as_deref()).expect("a diff");
    assert!(diff.contains("-image: nginx:1.27"), "{diff}");
    assert!(diff.contains("+image: nginx:1.28"), "{diff}");
    snapshot("update_spec_changed", &plan);
}

#[test]
fn exited_unhealthy_and_missing_instances_are_healed() {
    let desired = compile(&[
        ("apps/shop/Heliosfile", SHOP),
        ("apps/blog/Heliosfile", BLOG),
        ("apps/wiki/Heliosfile", WIKI),
        ("apps/chat/Heliosfile", CHAT),
    ]);
    let mut observed = all_running(&desired);
    set_status(&mut observed, "shop", "worker", InstanceStatus::Exited);
    set_status(&mut observed, "shop", "web", InstanceStatus::Unhealthy);
    set_status(&mut observed, "blog", "web", InstanceStatus::Unhealthy);
    set_status(&mut observed, "wiki", "web", InstanceStatus::Missing);
    // Starting is on its way, not drift.
    set_status(&mut observed, "chat", "web", InstanceStatus::Starting);
    let plan = plan(&desired, &observed, &PlanOptions::default());
    assert_eq!(plan.app("chat").map(|a| a.action), Some(Action::Unchanged));
    snapshot("update_drifted", &plan);
    snapshot_json("update_drifted_json", &plan);
}

#[test]
fn too_few_or_too_many_replicas_are_drift() {
    let scaled = SHOP.replace(
        "web: { image: nginx:1.27, http_port: 80 }",
        "web: { image: nginx:1.27, http_port: 80, replicas: 3 }",
    );
    let desired = compile(&[
        ("apps/shop/Heliosfile", scaled.as_str()),
        ("apps/blog/Heliosfile", BLOG),
    ]);
    let mut observed = all_running(&desired);
    let component = |observed: &mut ObservedState, app: &str, name: &str| {
        observed
            .apps
            .get_mut(app)
            .and_then(|a| a.components.get_mut(name))
            .map(|c| &mut c.instances)
            .expect("an observed component")
            .clone()
    };
    // One of shop's three web replicas was removed by hand; blog's one
    // web runs twice.
    let mut shop_web = component(&mut observed, "shop", "web");
    shop_web.pop();
    let mut blog_web = component(&mut observed, "blog", "web");
    blog_web.push(blog_web[0].clone());
    for (app, instances) in [("shop", shop_web), ("blog", blog_web)] {
        if let Some(c) = observed
            .apps
            .get_mut(app)
            .and_then(|a| a.components.get_mut("web"))
        {
            c.instances = instances;
        }
    }
    let plan = plan(&desired, &observed, &PlanOptions::default());
    snapshot("update_replica_count_drifted", &plan);
}

#[test]
fn a_rotated_secret_updates_only_the_components_that_use_it_and_names_it() {
    const STRIPE: &str = "\
name: shop
version: 1
secrets: [STRIPE_KEY, SMTP_PASSWORD]
services:
  web:
    image: nginx:1.27
    env: { KEY: \"${secret.STRIPE_KEY}\", DATABASE_URL: \"${db.URL}\" }
  mailer:
    image: busybox:1.36
    env: { SMTP: \"${secret.SMTP_PASSWORD}\" }
  worker: { image: busybox:1.36 }
databases:
  db: { type: postgresql }
";
    let files = vec![("apps/shop/Heliosfile".to_string(), STRIPE.to_string())];
    // Digests as the cycle makes them: one per secret, one per component.
    let digests = |stripe: &str, password: &str| {
        let by_secret = |pairs: &[(&str, &str)]| -> std::collections::BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let mut digests = SecretDigests::default();
        for (component, pairs) in [
            (
                "web",
                vec![("STRIPE_KEY", stripe), ("db.PASSWORD", password)],
            ),
            ("mailer", vec![("SMTP_PASSWORD", "m1")]),
            ("db", vec![("db.PASSWORD", password)]),
        ] {
            let by_secret = by_secret(&pairs);
            let digest = by_secret.values().cloned().collect::<Vec<_>>().join("+");
            digests.components.insert(
                component.to_string(),
                ComponentSecrets { digest, by_secret },
            );
        }
        digests
    };
    let compile_with = |stripe: &str, password: &str| {
        let desired = desired_state_with(&files, &DesiredOptions::default(), &mut |_, _| {
            Ok(AppInputs {
                digests: digests(stripe, password),
                source_tag: None,
            })
        });
        assert!(desired.failed.is_empty(), "{:?}", desired.failed);
        desired
    };
    let before = compile_with("s1", "p1");
    let mut observed = all_running(&before);
    // What the cycle reads back from applied.yaml.
    let shop = observed.apps.get_mut("shop").expect("shop");
    shop.applied_secrets = before.apps["shop"]
        .components
        .iter()
        .map(|(k, c)| (k.clone(), c.secret_digests.clone()))
        .filter(|(_, d)| !d.is_empty())
        .collect();

    let after = compile_with("s2", "p1");
    // The compiled spec does not change with a value.
    for (key, component) in &after.apps["shop"].components {
        assert_eq!(
            component.spec_hash,
            before.apps["shop"].components[key].spec_hash
        );
    }
    let rotated = plan(&after, &observed, &PlanOptions::default());
    assert_eq!(rotated.apps[0].reason, Some(Reason::SecretChanged));
    snapshot("update_secret_changed", &rotated);
    snapshot_json("update_secret_changed_json", &rotated);

    let password = plan(
        &compile_with("s1", "p2"),
        &observed,
        &PlanOptions::default(),
    );
    snapshot("update_database_password_changed", &password);
}

#[test]
fn an_added_service_is_created_and_a_removed_one_deleted_with_its_volume_kept() {
    let old = compile(&[("apps/shop/Heliosfile", SHOP)]);
    let observed = all_running(&old);
    let new_text = "\
name: shop
version: 1
services:
  web: { image: nginx:1.27, http_port: 80 }
  api: { image: api:1, ports: [9000] }
";
    let new = compile(&[("apps/shop/Heliosfile", new_text)]);
    let kept = plan(&new, &observed, &PlanOptions::default());
    snapshot("update_component_missing_and_orphaned", &kept);
    snapshot_json("update_component_missing_and_orphaned_json", &kept);
    let pruned = plan(
        &new,
        &observed,
        &PlanOptions {
            prune_volumes: true,
            ..Default::default()
        },
    );
    snapshot("update_component_orphaned_prune_volumes", &pruned);
}

#[test]
fn an_app_no_longer_desired_is_deleted_last_and_its_volumes_kept() {
    let old = compile(&[
        ("apps/shop/Heliosfile", SHOP),
        ("apps/blog/Heliosfile", BLOG),
        ("apps/wiki/Heliosfile", WIKI),
    ]);
    let observed = all_running(&old);
    let new = compile(&[
        ("apps/blog/Heliosfile", &BLOG.replace("ghost:5", "ghost:6")),
        ("apps/wiki/Heliosfile", WIKI),
    ]);
    let plan = plan(&new, &observed, &PlanOptions::default());
    assert!(plan.refused.is_none());
    snapshot("delete_orphaned_app", &plan);
}

#[test]
fn volumes_of_a_deleted_app_go_only_with_prune_volumes() {
    let old = compile(&[
        ("apps/shop/Heliosfile", SHOP),
        ("apps/blog/Heliosfile", BLOG),
        ("apps/wiki/Heliosfile", WIKI),
    ]);
    let observed = all_running(&old);
    let new = compile(&[
        ("apps/blog/Heliosfile", BLOG),
        ("apps/wiki/Heliosfile", WIKI),
    ]);
    let options = PlanOptions {
        prune_volumes: true,
        ..Default::default()
    };
    snapshot(
        "delete_orphaned_app_prune_volumes",
        &plan(&new, &observed, &options),
    );
}

#[test]
fn deleting_every_owned_app_is_refused() {
    let old = compile(&[("apps/shop/Heliosfile", SHOP)]);
    let observed = all_running(&old);
    // An empty commit, or a fetch that read nothing.
    let plan = plan(&DesiredState::default(), &observed, &PlanOptions::default());
    let refusal = plan.refused.as_ref().expect("refused");
    assert!(refusal.all);
    assert!(plan.steps.is_empty());
    snapshot("guard_refuses_deleting_all", &plan);
    snapshot_json("guard_refuses_deleting_all_json", &plan);
}

#[test]
fn deleting_more_than_the_share_is_refused_and_the_share_itself_is_not() {
    let old = compile(&[
        ("apps/shop/Heliosfile", SHOP),
        ("apps/blog/Heliosfile", BLOG),
        ("apps/wiki/Heliosfile", WIKI),
        ("apps/chat/Heliosfile", CHAT),
    ]);
    let observed = all_running(&old);
    // 3 of 4 (75%): refused, though one app stays and one is updated.
    let one_left = compile(&[("apps/chat/Heliosfile", &CHAT.replace("chat:1", "chat:2"))]);
    let refused = plan(&one_left, &observed, &PlanOptions::default());
    assert!(refused.refused.as_ref().is_some_and(|r| !r.all));
    snapshot("guard_refuses_more_than_half", &refused);

    // 2 of 4 is 50%, not more: allowed.
    let half = compile(&[
        ("apps/wiki/Heliosfile", WIKI),
        ("apps/chat/Heliosfile", CHAT),
    ]);
    let allowed = plan(&half, &observed, &PlanOptions::default());
    assert!(allowed.refused.is_none());
    assert!(allowed.has_changes());

    // A lower limit refuses it.
    let strict = PlanOptions {
        max_prune_percent: 25,
        ..Default::default()
    };
    snapshot(
        "guard_refuses_more_than_custom_percent",
        &plan(&half, &observed, &strict),
    );
}

#[test]
fn allow_mass_prune_overrides_the_guard() {
    let old = compile(&[
        ("apps/shop/Heliosfile", SHOP),
        ("apps/blog/Heliosfile", BLOG),
    ]);
    let observed = all_running(&old);
    let options = PlanOptions {
        allow_mass_prune: true,
        ..Default::default()
    };
    let plan = plan(&DesiredState::default(), &observed, &options);
    assert!(plan.refused.is_none());
    snapshot("guard_allowed_by_override", &plan);
}

#[test]
fn an_app_that_fails_to_compile_is_held_not_deleted() {
    let old = compile(&[
        ("apps/shop/Heliosfile", SHOP),
        ("apps/blog/Heliosfile", BLOG),
    ]);
    let observed = all_running(&old);
    let broken = BLOG.replace("http_port: 2368", "http_port: 99999");
    let new = compile(&[
        ("apps/shop/Heliosfile", SHOP),
        ("apps/blog/Heliosfile", &broken),
    ]);
    let plan = plan(&new, &observed, &PlanOptions::default());
    assert_eq!(plan.app("blog").map(|a| a.action), Some(Action::Held));
    assert!(!plan.has_changes());
    snapshot("held_compile_failed", &plan);
    snapshot_json("held_compile_failed_json", &plan);
}

#[test]
fn two_apps_with_one_name_are_both_held() {
    let old = compile(&[
        ("apps/blog/Heliosfile", BLOG),
        ("apps/wiki/Heliosfile", WIKI),
    ]);
    let observed = all_running(&old);
    // A copy of blog, renamed by mistake to wiki's name: neither wiki is
    // applied, and the running wiki is not touched.
    let new = compile(&[
        ("apps/blog/Heliosfile", BLOG),
        ("apps/wiki/Heliosfile", WIKI),
        (
            "apps/wiki2/Heliosfile",
            &BLOG.replace("name: blog", "name: wiki"),
        ),
    ]);
    let plan = plan(&new, &observed, &PlanOptions::default());
    assert_eq!(plan.app("wiki").map(|a| a.action), Some(Action::Held));
    snapshot("held_duplicate_name", &plan);
}

#[test]
fn a_file_without_a_readable_name_holds_its_app_or_every_orphan() {
    let old = compile(&[
        ("apps/shop/Heliosfile", SHOP),
        ("apps/blog/Heliosfile", BLOG),
        ("apps/wiki/Heliosfile", WIKI),
    ]);
    let observed = all_running(&old);
    // blog's file no longer parses; the inventory knows it was blog's.
    let new = compile(&[
        ("apps/shop/Heliosfile", SHOP),
        ("apps/blog/Heliosfile", "name: [blog\n"),
        ("apps/wiki/Heliosfile", WIKI),
    ]);
    let by_path = plan(&new, &observed, &PlanOptions::default());
    assert_eq!(by_path.app("blog").map(|a| a.action), Some(Action::Held));
    snapshot("held_unreadable_by_path", &by_path);

    // A new unreadable file and wiki removed: wiki might be that file's app.
    let new = compile(&[
        ("apps/shop/Heliosfile", SHOP),
        ("apps/blog/Heliosfile", BLOG),
        ("apps/new/Heliosfile", "name: [oops\n"),
    ]);
    let unattributed = plan(&new, &observed, &PlanOptions::default());
    assert_eq!(
        unattributed.app("wiki").map(|a| a.reason),
        Some(Some(Reason::Unattributed))
    );
    snapshot("held_unattributed_orphan", &unattributed);
}

#[test]
fn kubernetes_applies_namespaces_then_databases_then_services() {
    let desired = compile_for(&[("apps/shop/Heliosfile", SHOP)], Target::Kubernetes);
    let created = plan(&desired, &ObservedState::default(), &PlanOptions::default());
    snapshot("kubernetes_create", &created);

    let mut observed = all_running(&desired);
    let new = compile_for(
        &[(
            "apps/shop/Heliosfile",
            &SHOP.replace("nginx:1.27", "nginx:1.28"),
        )],
        Target::Kubernetes,
    );
    observed
        .apps
        .get_mut("shop")
        .expect("shop")
        .components
        .get_mut("StatefulSet/shop/db")
        .expect("the database")
        .instances[0]
        .status = InstanceStatus::Exited;
    snapshot(
        "kubernetes_update",
        &plan(&new, &observed, &PlanOptions::default()),
    );
}

#[test]
fn the_plan_is_deterministic() {
    let desired = compile(&[
        ("apps/shop/Heliosfile", SHOP),
        ("apps/blog/Heliosfile", BLOG),
    ]);
    let observed = ObservedState::default();
    let a = plan(&desired, &observed, &PlanOptions::default());
    let b = plan(&desired, &observed, &PlanOptions::default());
    assert_eq!(a, b);
    assert_eq!(a.to_json(), b.to_json());
}

#[test]
fn kept_volumes_of_a_removed_app_are_left_alone_until_pruned() {
    let old = compile(&[
        ("apps/shop/Heliosfile", SHOP),
        ("apps/blog/Heliosfile", BLOG),
    ]);
    let mut observed = all_running(&old);
    let shop = observed.apps.get_mut("shop").expect("shop");
    shop.components.clear();
    let desired = compile(&[("apps/blog/Heliosfile", BLOG)]);
    let kept = plan(&desired, &observed, &PlanOptions::default());
    assert!(kept.app("shop").is_none());
    assert!(!kept.has_changes());
    let options = PlanOptions {
        prune_volumes: true,
        ..Default::default()
    };
    let pruned = plan(&desired, &observed, &options);
    // Volumes alone do not count against the guard: 1 owned app, 0 deleted.
    assert!(pruned.refused.is_none());
    snapshot("delete_leftover_volumes_prune_volumes", &pruned);
}

const SHOP_WITH_SECRET: &str = "\
name: shop
version: 1
secrets: [STRIPE_KEY]
services:
  web:
    image: nginx:1.27
    http_port: 80
    env:
      STRIPE_KEY: ${secret.STRIPE_KEY}
      DATABASE_URL: ${db.URL}
databases:
  db: { type: postgresql }
";

#[test]
fn kubernetes_plans_per_object() {
    let kubernetes = |files: &[(&str, &str)]| compile_for(files, Target::Kubernetes);
    let old = kubernetes(&[
        ("apps/shop/Heliosfile", SHOP_WITH_SECRET),
        ("apps/blog/Heliosfile", BLOG),
        ("apps/wiki/Heliosfile", WIKI),
    ]);
    let live = with_applied_specs(all_running(&old), &old);

    let unchanged = plan(&old, &live, &PlanOptions::default());
    assert!(!unchanged.has_changes());
    snapshot("kubernetes_unchanged", &unchanged);

    // An update shows the fields that change, per object; the secret is
    // a reference in the diff, never a value.
    let new = kubernetes(&[
        (
            "apps/shop/Heliosfile",
            &SHOP_WITH_SECRET
                .replace("nginx:1.27", "nginx:1.28")
                .replace("http_port: 80", "http_port: 80\n    replicas: 3"),
        ),
        ("apps/blog/Heliosfile", BLOG),
        ("apps/wiki/Heliosfile", WIKI),
    ]);
    let updated = plan(&new, &live, &PlanOptions::default());
    let deployment = updated.apps.iter().find(|a| a.app == "shop").expect("shop");
    let web = deployment
        .components
        .iter()
        .find(|c| c.name == "Deployment/shop/web")
        .expect("the deployment");
    let diff = web.diff.as_deref().expect("a diff");
    assert!(diff.contains("+  replicas: 3"), "{diff}");
    assert!(diff.contains("secretKeyRef"), "{diff}");
    snapshot("kubernetes_update_with_diff", &updated);

    // wiki leaves the repo: every owned object goes, Namespace last.
    let removed = plan(
        &kubernetes(&[
            ("apps/shop/Heliosfile", SHOP_WITH_SECRET),
            ("apps/blog/Heliosfile", BLOG),
        ]),
        &live,
        &PlanOptions::default(),
    );
    snapshot("kubernetes_delete", &removed);

    // A hand edit and another applier's field, as the drift check marks
    // them.
    let mut drifted = live.clone();
    set_status(
        &mut drifted,
        "shop",
        "Deployment/shop/web",
        InstanceStatus::Edited,
    );
    set_status(
        &mut drifted,
        "blog",
        "Service/blog/web",
        InstanceStatus::Conflict,
    );
    let healed = plan(&old, &drifted, &PlanOptions::default());
    snapshot("kubernetes_drift_and_conflict", &healed);

    // A Heliosfile that no longer compiles: held, nothing touched.
    let broken = kubernetes(&[
        ("apps/shop/Heliosfile", SHOP_WITH_SECRET),
        ("apps/blog/Heliosfile", BLOG),
        (
            "apps/wiki/Heliosfile",
            &WIKI.replace("image: wiki:2", "image: 42"),
        ),
    ]);
    let held = plan(&broken, &live, &PlanOptions::default());
    assert_eq!(
        held.apps.iter().find(|a| a.app == "wiki").map(|a| a.action),
        Some(Action::Held)
    );
    snapshot("kubernetes_held", &held);
}

#[test]
fn a_changed_app_running_its_built_image_is_built_first() {
    let site = "\
name: site
version: 1
image: registry.example.com/site
build:
  dockerfile: Dockerfile
services:
  web: { http_port: 8080 }
  worker: { image: busybox:1.36, command: [sleep, infinity] }
";
    let files = vec![("apps/site/Heliosfile".to_string(), site.to_string())];
    let compile_at = |tag: &str| {
        let desired = desired_state_with(&files, &DesiredOptions::default(), &mut |_, _| {
            Ok(AppInputs {
                source_tag: Some(tag.to_string()),
                ..AppInputs::default()
            })
        });
        assert!(desired.failed.is_empty(), "{:?}", desired.failed);
        desired
    };
    let options = PlanOptions {
        build_images: true,
        ..PlanOptions::default()
    };
    let first = compile_at("src-3f2a9c1b7d4e");
    let created = plan(&first, &ObservedState::default(), &options);
    assert_eq!(created.steps[0].phase, Phase::BuildImage);
    assert_eq!(created.steps[0].components, ["web"]);
    snapshot("build_before_create", &created);

    // New sources: a new tag, web rebuilt and updated, worker untouched.
    let live = all_running(&first);
    let changed = plan(&compile_at("src-0123456789ab"), &live, &options);
    snapshot("build_before_update", &changed);

    // The same sources: nothing to build.
    assert!(!plan(&first, &live, &options).has_changes());
    // A backend that does not build (a cluster): no build step.
    let cluster = plan(&first, &ObservedState::default(), &PlanOptions::default());
    assert!(cluster.steps.iter().all(|s| s.phase != Phase::BuildImage));
}
