//! An app's health on a cluster: the rollout status of its Deployments
//! and StatefulSets, as `kubectl rollout status` reads it, and the reasons
//! of its pods when a rollout does not finish.
//!
//! A workload is rolled out when the controller has seen its latest spec
//! (`observedGeneration >= generation`) and every desired replica is
//! updated, ready and (Deployments) available. A Deployment whose
//! `Progressing` condition says `ProgressDeadlineExceeded` has failed: no
//! wait helps. A pod waiting in `ImagePullBackOff`, `ErrImagePull` or
//! `CrashLoopBackOff`, or running but not ready (a failing probe), is a
//! reason given with the verdict.

use crate::backend::{Health, HealthState};
use serde_json::Value;

/// The rollout of one workload (`Deployment` or `StatefulSet` as JSON).
pub fn rollout(object: &Value) -> (HealthState, Option<String>) {
    let kind = object["kind"].as_str().unwrap_or("workload");
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let what = format!("{kind} {name}");
    let int = |v: &Value| v.as_i64().unwrap_or(0);
    let status = &object["status"];
    let generation = int(&object["metadata"]["generation"]);
    let observed = int(&status["observedGeneration"]);
    let wanted = object["spec"]["replicas"].as_i64().unwrap_or(1);
    let failed = status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded");
    if failed {
        return (
            HealthState::Failed,
            Some(format!("{what}: progress deadline exceeded")),
        );
    }
    if observed < generation {
        return (
            HealthState::Progressing,
            Some(format!("{what}: waiting for the controller")),
        );
    }
    let updated = int(&status["updatedReplicas"]);
    let ready = int(&status["readyReplicas"]);
    let available = if kind == "Deployment" {
        int(&status["availableReplicas"])
    } else {
        ready
    };
    let total = int(&status["replicas"]);
    if updated < wanted || ready < wanted || available < wanted || total > wanted {
        return (
            HealthState::Progressing,
            Some(format!(
                "{what}: {ready}/{wanted} ready, {updated} updated, {available} available"
            )),
        );
    }
    (HealthState::Healthy, None)
}

/// Whether `image` carries a source tag (`<repository>:src-<12 hex>`).
fn is_source_tagged(image: &str) -> bool {
    image
        .rsplit_once(':')
        .and_then(|(_, tag)| tag.strip_prefix(heliosc::source_tag::PREFIX))
        .is_some_and(|hex| hex.len() == 12 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Why a pod does not serve, if it does not: the reason a container waits
/// in, or a failing readiness probe.
pub fn pod_reason(pod: &Value) -> Option<String> {
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let statuses = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten();
    for status in statuses {
        let container = status["name"].as_str().unwrap_or_default();
        if let Some(reason) = status["state"]["waiting"]["reason"].as_str()
            && reason != "ContainerCreating"
        {
            let message = status["state"]["waiting"]["message"].as_str().unwrap_or("");
            let message = message.lines().next().unwrap_or("");
            let mut line = if message.is_empty() {
                format!("pod {name}: container {container}: {reason}")
            } else {
                format!("pod {name}: container {container}: {reason}: {message}")
            };
            // An image built from the config repo is CI's to push: name
            // the tag it must push (the one `heliosc tag` prints).
            let image = status["image"].as_str().unwrap_or_default();
            let pulling = matches!(reason, "ErrImagePull" | "ImagePullBackOff");
            if pulling && is_source_tagged(image) {
                line.push_str(&format!(
                    " (built from the config repo: CI must push {image}, the tag `heliosc tag` prints)"
                ));
            }
            return Some(line);
        }
        if status["state"]["running"].is_object() && status["ready"] == false {
            return Some(format!(
                "pod {name}: container {container}: running but not ready (failing readiness probe)"
            ));
        }
    }
    let unschedulable = pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "PodScheduled" && c["status"] == "False");
    unschedulable.map(|c| {
        format!(
            "pod {name}: not scheduled: {}",
            c["message"].as_str().unwrap_or("unschedulable")
        )
    })
}

/// The app's health from its workloads and pods: failed if a rollout
/// failed, healthy when every one is rolled out; otherwise progressing, or
/// unhealthy when a pod's reason will not go away by waiting (an image
/// that cannot be pulled, a crash loop).
pub fn app_health(workloads: &[Value], pods: &[Value]) -> Health {
    let mut state = HealthState::Healthy;
    let mut details = Vec::new();
    for workload in workloads {
        let (workload_state, detail) = rollout(workload);
        details.extend(detail);
        state = worse(state, workload_state);
    }
    if state != HealthState::Healthy {
        for pod in pods {
            if let Some(reason) = pod_reason(pod) {
                let stuck = [
                    "ImagePullBackOff",
                    "ErrImagePull",
                    "CrashLoopBackOff",
                    "InvalidImageName",
                    "CreateContainerConfigError",
                ]
                .iter()
                .any(|r| reason.contains(r));
                if stuck {
                    state = worse(state, HealthState::Unhealthy);
                }
                details.push(reason);
            }
        }
    }
    Health { state, details }
}

fn worse(a: HealthState, b: HealthState) -> HealthState {
    let rank = |s: HealthState| match s {
        HealthState::Healthy => 0,
        HealthState::Progressing => 1,
        HealthState::Unhealthy => 2,
        HealthState::Failed => 3,
    };
    if rank(b) > rank(a) { b } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_tagged_image_that_cannot_be_pulled_names_the_tag_ci_must_push() {
        let pod = serde_json::json!({
            "metadata": {"name": "web-1"},
            "status": {"containerStatuses": [{
                "name": "web",
                "image": "registry.example.com/shop:src-3f2a9c1b7d4e",
                "ready": false,
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}},
            }]},
        });
        let reason = pod_reason(&pod).expect("a reason");
        assert!(
            reason.ends_with("(built from the config repo: CI must push registry.example.com/shop:src-3f2a9c1b7d4e, the tag `heliosc tag` prints)"),
            "{reason}"
        );
        let mut other = pod.clone();
        other["status"]["containerStatuses"][0]["image"] = serde_json::json!("nginx:1.27");
        assert!(
            !pod_reason(&other)
                .expect("a reason")
                .contains("CI must push")
        );
    }
    use serde_json::json;

    fn deployment(status: Value) -> Value {
        json!({"kind": "Deployment", "metadata": {"name": "web", "generation": 2}, "spec": {"replicas": 2}, "status": status})
    }

    #[test]
    fn a_finished_rollout_is_healthy() {
        let done = deployment(
            json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}),
        );
        assert_eq!(rollout(&done), (HealthState::Healthy, None));
    }

    #[test]
    fn an_old_generation_or_missing_replicas_progress() {
        let stale = deployment(
            json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}),
        );
        assert_eq!(rollout(&stale).0, HealthState::Progressing);
        let half = deployment(
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1, "readyReplicas": 2, "availableReplicas": 2}),
        );
        let (state, detail) = rollout(&half);
        assert_eq!(state, HealthState::Progressing);
        assert_eq!(
            detail.as_deref(),
            Some("Deployment web: 2/2 ready, 1 updated, 2 available")
        );
    }

    #[test]
    fn a_deadline_exceeded_fails() {
        let failed = deployment(
            json!({"observedGeneration": 2, "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}),
        );
        assert_eq!(rollout(&failed).0, HealthState::Failed);
    }

    #[test]
    fn pods_that_cannot_start_make_it_unhealthy_with_their_reason() {
        let half = deployment(
            json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 0}),
        );
        let pod = json!({"metadata": {"name": "web-1"}, "status": {"containerStatuses": [{"name": "web", "ready": false, "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"x\""}}}]}});
        let health = app_health(std::slice::from_ref(&half), &[pod]);
        assert_eq!(health.state, HealthState::Unhealthy);
        assert!(
            health
                .details
                .iter()
                .any(|d| d
                    == "pod web-1: container web: ImagePullBackOff: Back-off pulling image \"x\""),
            "{:?}",
            health.details
        );
        let probing = json!({"metadata": {"name": "web-2"}, "status": {"containerStatuses": [{"name": "web", "ready": false, "state": {"running": {}}}]}});
        let health = app_health(&[half], &[probing]);
        assert_eq!(health.state, HealthState::Progressing);
        assert!(health.details[1].contains("failing readiness probe"));
    }
}
