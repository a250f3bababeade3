//! The Secrets the Kubernetes backend owns for an app: each database's
//! `<db>-credentials`, created once with a random password and never
//! modified, and `<app>-secrets`, kept in step with `--secrets-file` (only
//! the keys the app declares).
//!
//! Values travel only in request bodies, as `data` (base64 of the exact
//! bytes), never in an error, log or status: errors name the Secret.

use super::api::{self, ApiFailure};
use super::objects::{APPLY_ORDER, KindInfo, MANAGED_BY};
use crate::secrets::Secret;
use heliosc::lower::labels;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::DynamicObject;
use std::collections::BTreeMap;

fn secret_kind() -> &'static KindInfo {
    &APPLY_ORDER[1]
}

/// The name of the Secret holding a database's credentials (as the
/// compiled manifests reference it).
pub fn credentials_name(database: &str) -> String {
    format!("{database}-credentials")
}

/// The name of the Secret holding the app's user secrets.
pub fn app_secrets_name(app: &str) -> String {
    format!("{app}-secrets")
}

/// A new database password: 32 bytes from the OS random source, URL-safe
/// base64 without padding (43 characters, safe inside a connection URL).
pub fn generate_password() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(base64_url(&bytes))
}

fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        let digits = chunk.len() + 1;
        for i in 0..digits {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn metadata(name: &str, namespace: &str, app: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(namespace.to_string()),
        labels: Some(BTreeMap::from([
            (labels::APP.to_string(), app.to_string()),
            (
                "app.kubernetes.io/managed-by".to_string(),
                MANAGED_BY.to_string(),
            ),
        ])),
        ..ObjectMeta::default()
    }
}

/// Creates `<db>-credentials` in `namespace` if it is missing, with the
/// keys the manifests read (`username`, `database`: the app's name;
/// `password`: generated). An existing one is left exactly as it is
/// (409 AlreadyExists is success): a database initialised with a password
/// must keep it.
pub async fn ensure_credentials(
    client: &kube::Client,
    namespace: &str,
    app: &str,
    database: &str,
) -> Result<(), String> {
    let name = credentials_name(database);
    let password = generate_password()
        .map_err(|e| format!("Secret {namespace}/{name}: no random source: {e}"))?;
    let secret = core::Secret {
        metadata: metadata(&name, namespace, app),
        type_: Some("Opaque".to_string()),
        data: Some(BTreeMap::from([
            ("database".to_string(), ByteString(app.as_bytes().to_vec())),
            ("password".to_string(), ByteString(password.into_bytes())),
            ("username".to_string(), ByteString(app.as_bytes().to_vec())),
        ])),
        ..core::Secret::default()
    };
    let object = to_dynamic(&secret)?;
    match api::create(client, secret_kind(), namespace, &object).await {
        Ok(()) | Err(ApiFailure::AlreadyExists) => Ok(()),
        Err(e) => Err(format!("Secret {namespace}/{name}: {e}")),
    }
}

/// Applies `<app>-secrets` with exactly the user secrets the app declares
/// (server-side apply: a key the app no longer declares is removed, since
/// Helios owns every key it applied).
pub async fn apply_app_secrets(
    client: &kube::Client,
    namespace: &str,
    app: &str,
    values: &BTreeMap<String, Secret>,
    force: bool,
) -> Result<(), String> {
    let name = app_secrets_name(app);
    let secret = core::Secret {
        metadata: metadata(&name, namespace, app),
        type_: Some("Opaque".to_string()),
        data: Some(
            values
                .iter()
                .map(|(key, value)| (key.clone(), ByteString(value.expose().as_bytes().to_vec())))
                .collect(),
        ),
        ..core::Secret::default()
    };
    let mut object =
        serde_json::to_value(&secret).map_err(|e| format!("Secret {namespace}/{name}: {e}"))?;
    object["apiVersion"] = "v1".into();
    object["kind"] = "Secret".into();
    api::apply(client, secret_kind(), &object, force, false)
        .await
        .map(drop)
        // The answer echoes the data; only the failure's kind is kept.
        .map_err(|e| match e {
            ApiFailure::Conflict(_) | ApiFailure::Rejected(_) => {
                format!("Secret {namespace}/{name}: the API server refused it")
            }
            other => format!("Secret {namespace}/{name}: {other}"),
        })
}

fn to_dynamic(secret: &core::Secret) -> Result<DynamicObject, String> {
    let mut value = serde_json::to_value(secret).map_err(|e| e.to_string())?;
    value["apiVersion"] = "v1".into();
    value["kind"] = "Secret".into();
    serde_json::from_value(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_43_url_safe_characters_and_differ() {
        let a = generate_password().expect("random");
        let b = generate_password().expect("random");
        assert_eq!(a.len(), 43);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{a}"
        );
        assert_ne!(a, b);
    }

    #[test]
    fn base64_url_matches_the_standard_vectors() {
        assert_eq!(base64_url(b""), "");
        assert_eq!(base64_url(b"f"), "Zg");
        assert_eq!(base64_url(b"fo"), "Zm8");
        assert_eq!(base64_url(b"foo"), "Zm9v");
        assert_eq!(base64_url(b"foob"), "Zm9vYg");
        assert_eq!(base64_url(&[0xfb, 0xff]), "-_8");
    }
}
