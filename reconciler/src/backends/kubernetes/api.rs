//! The requests the Kubernetes backend makes, through kube's dynamic
//! `Api`, and what their failures mean.
//!
//! This module owns the wire: server-side apply (`PATCH` with
//! `application/apply-patch+yaml`, `fieldManager=helios`, `force` and
//! `dryRun=All` only when asked), create, list by label, delete with
//! `propagationPolicy: Background`; and the reading of the API server's
//! `Status` answers: a 409 `FieldManagerConflict` names the manager that
//! owns each contested field, and whether that manager's entry is an
//! Apply (another applier: a real conflict) or an Update (`kubectl edit`,
//! `scale`, `patch`: a hand edit, which is drift). The API server writes an
//! Update manager as `"kubectl-edit" using apps/v1` and an Apply manager as
//! `"tuner"` (see `fixtures/kube-recordings/07` and `10`).

use super::objects::{FIELD_MANAGER, KindInfo};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::Status;
use serde_json::Value;
use std::collections::BTreeMap;

/// The contested fields of one other manager, from a 409 answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldConflict {
    /// The other manager's name (`kubectl-edit`, `tuner`).
    pub manager: String,
    /// Whether its entry is an Update (a hand edit): drift Helios takes
    /// back, rather than another applier's field.
    pub by_update: bool,
    /// The fields, as the API server names them (`.spec.replicas`).
    pub fields: Vec<String>,
}

/// How a request failed.
#[derive(Debug)]
pub enum ApiFailure {
    /// 409 `Conflict` of a server-side apply: fields another manager owns.
    Conflict(Vec<FieldConflict>),
    /// 404: the object (or its namespace) does not exist.
    NotFound(String),
    /// 409 `AlreadyExists` of a create.
    AlreadyExists,
    /// The API server refused the object itself (400, 403, 422, or the 500
    /// "failed to create typed patch object" a field unknown to the schema
    /// gets): retrying the same object cannot help.
    Rejected(String),
    /// The API server could not be reached or failed (other 5xx, 429,
    /// transport errors): the next cycle retries.
    Unavailable(String),
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Conflict(conflicts) => {
                let parts: Vec<String> = conflicts
                    .iter()
                    .map(|c| {
                        format!(
                            "{} {} managed by `{}`{}",
                            if c.fields.len() == 1 {
                                "field"
                            } else {
                                "fields"
                            },
                            c.fields.join(", "),
                            c.manager,
                            if c.by_update {
                                " (a hand edit)"
                            } else {
                                " (another applier)"
                            }
                        )
                    })
                    .collect();
                write!(f, "conflict: {}", parts.join("; "))
            }
            Self::NotFound(message) => write!(f, "not found: {message}"),
            Self::AlreadyExists => f.write_str("already exists"),
            Self::Rejected(message) => write!(f, "rejected: {message}"),
            Self::Unavailable(message) => write!(f, "API server unavailable: {message}"),
        }
    }
}

impl From<kube::Error> for ApiFailure {
    fn from(error: kube::Error) -> Self {
        match error {
            kube::Error::Api(status) => from_status(&status),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

fn from_status(status: &Status) -> ApiFailure {
    let message = status.message.clone();
    match (status.code, status.reason.as_str()) {
        (409, "AlreadyExists") => ApiFailure::AlreadyExists,
        (409, _) if conflicts(status).is_some() => {
            ApiFailure::Conflict(conflicts(status).unwrap_or_default())
        }
        (404, _) => ApiFailure::NotFound(message),
        // A field unknown to the schema: a permanent error of the object,
        // whatever the status code says.
        (500, _) if message.starts_with("failed to create typed patch object") => {
            ApiFailure::Rejected(message)
        }
        (429 | 500..=599, _) => ApiFailure::Unavailable(format!("{} {message}", status.code)),
        (_, _) => {
            let causes: Vec<String> = status
                .details
                .iter()
                .flat_map(|d| &d.causes)
                .filter(|c| !c.field.is_empty())
                .map(|c| format!("{}: {}", c.field, c.message))
                .collect();
            if causes.is_empty() || message.contains(&causes[0]) {
                ApiFailure::Rejected(format!("{} {message}", status.code))
            } else {
                ApiFailure::Rejected(format!("{} {message} ({})", status.code, causes.join("; ")))
            }
        }
    }
}

/// The field conflicts of a 409 answer, by manager, if it is one.
fn conflicts(status: &Status) -> Option<Vec<FieldConflict>> {
    let causes: Vec<_> = status
        .details
        .iter()
        .flat_map(|d| &d.causes)
        .filter(|c| c.reason == "FieldManagerConflict")
        .collect();
    if causes.is_empty() {
        return None;
    }
    let mut by_manager: BTreeMap<(String, bool), Vec<String>> = BTreeMap::new();
    for cause in causes {
        // `conflict with "kubectl-edit" using apps/v1` or `conflict with "tuner"`.
        let rest = cause
            .message
            .strip_prefix("conflict with ")
            .unwrap_or(&cause.message);
        let (manager, by_update) = match rest.strip_prefix('"').and_then(|r| r.split_once('"')) {
            Some((manager, tail)) => (manager.to_string(), tail.trim_start().starts_with("using ")),
            None => (rest.to_string(), false),
        };
        by_manager
            .entry((manager, by_update))
            .or_default()
            .push(cause.field.clone());
    }
    Some(
        by_manager
            .into_iter()
            .map(|((manager, by_update), fields)| FieldConflict {
                manager,
                by_update,
                fields,
            })
            .collect(),
    )
}

/// A dynamic API of `info` in `namespace` (or cluster-wide).
pub fn api(client: &kube::Client, info: &KindInfo, namespace: Option<&str>) -> Api<DynamicObject> {
    let resource = info.api_resource();
    match namespace {
        Some(namespace) if info.namespaced => {
            Api::namespaced_with(client.clone(), namespace, &resource)
        }
        _ => Api::all_with(client.clone(), &resource),
    }
}

/// Server-side apply of `object` (its kind `info`) with field manager
/// `helios`: `force` takes contested fields over, `dry_run` stores
/// nothing. Returns the object as the API server has (or would have) it.
pub async fn apply(
    client: &kube::Client,
    info: &KindInfo,
    object: &Value,
    force: bool,
    dry_run: bool,
) -> Result<Value, ApiFailure> {
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let namespace = object["metadata"]["namespace"].as_str();
    let mut params = PatchParams::apply(FIELD_MANAGER);
    params.force = force;
    params.dry_run = dry_run;
    let applied = api(client, info, namespace)
        .patch(name, &params, &Patch::Apply(object))
        .await?;
    Ok(serde_json::to_value(applied).unwrap_or(Value::Null))
}

/// Creates `object` (never overwrites): [`ApiFailure::AlreadyExists`] if
/// it exists.
pub async fn create(
    client: &kube::Client,
    info: &KindInfo,
    namespace: &str,
    object: &DynamicObject,
) -> Result<(), ApiFailure> {
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PostParams::default()
    };
    api(client, info, Some(namespace))
        .create(&params, object)
        .await?;
    Ok(())
}

/// Every object of `info` matching `selector`, across namespaces (or in
/// `namespace`).
pub async fn list(
    client: &kube::Client,
    info: &KindInfo,
    namespace: Option<&str>,
    selector: Option<&str>,
) -> Result<Vec<DynamicObject>, ApiFailure> {
    let mut params = ListParams::default();
    if let Some(selector) = selector {
        params = params.labels(selector);
    }
    Ok(api(client, info, namespace).list(&params).await?.items)
}

/// Deletes an object with background propagation (its dependents, such as
/// a Deployment's ReplicaSets and Pods, go after it). An object already
/// gone is not an error.
pub async fn delete(
    client: &kube::Client,
    info: &KindInfo,
    namespace: Option<&str>,
    name: &str,
) -> Result<(), ApiFailure> {
    match api(client, info, namespace)
        .delete(name, &DeleteParams::background())
        .await
        .map_err(ApiFailure::from)
    {
        Ok(_) | Err(ApiFailure::NotFound(_)) => Ok(()),
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(file: &str) -> Status {
        let path = format!(
            "{}/../fixtures/kube-recordings/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).expect("recording");
        let recording: Value = serde_json::from_str(&text).expect("json");
        serde_json::from_value(recording["response"]["body"].clone()).expect("a Status")
    }

    #[test]
    fn a_hand_edit_is_an_update_manager() {
        let ApiFailure::Conflict(conflicts) =
            from_status(&status("07-ssa-after-drift-dry-run.json"))
        else {
            panic!("a conflict")
        };
        assert_eq!(
            conflicts,
            [FieldConflict {
                manager: "kubectl-edit".to_string(),
                by_update: true,
                fields: vec![".spec.replicas".to_string()],
            }]
        );
    }

    #[test]
    fn another_applier_is_an_apply_manager() {
        let ApiFailure::Conflict(conflicts) = from_status(&status("10-ssa-helios-conflict.json"))
        else {
            panic!("a conflict")
        };
        assert_eq!(conflicts[0].manager, "tuner");
        assert!(!conflicts[0].by_update);
    }

    #[test]
    fn answers_are_classified() {
        assert!(matches!(
            from_status(&status("17-create-secret-exists.json")),
            ApiFailure::AlreadyExists
        ));
        assert!(matches!(
            from_status(&status("14-get-missing.json")),
            ApiFailure::NotFound(_)
        ));
        assert!(matches!(
            from_status(&status("15-ssa-invalid.json")),
            ApiFailure::Rejected(_)
        ));
        let ApiFailure::Rejected(message) = from_status(&status("23-ssa-invalid-422.json")) else {
            panic!("rejected")
        };
        assert!(message.starts_with("422 "), "{message}");
    }
}
