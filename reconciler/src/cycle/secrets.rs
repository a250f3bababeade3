//! The secret values of a cycle: each app's user secrets and database
//! passwords (or why it must be held), the keyed digests that go into its
//! components' specs, and the redactor that knows them all.

use super::{CycleError, Reconciler};
use crate::backend::AppSecrets;
use crate::desired::{ComponentSecrets, SecretDigests};
use crate::secrets::digest::DigestKey;
use crate::secrets::redact::Redactor;
use crate::secrets::{Secret, secrets_file};
use std::collections::BTreeMap;

impl<B> Reconciler<B> {
    /// The user secrets of `--secrets-file` as they are now (none without
    /// one).
    pub(super) fn read_user_secrets(&self) -> Result<BTreeMap<String, Secret>, CycleError> {
        match &self.options.secrets_file {
            Some(path) => secrets_file::read(path).map_err(CycleError::Secrets),
            None => Ok(BTreeMap::new()),
        }
    }

    /// The secret values `app` gets, or why it must be held.
    pub(super) fn app_secrets(
        &self,
        app: &heliosc::ir::App,
        user_secrets: &BTreeMap<String, Secret>,
        generate: bool,
    ) -> Result<AppSecrets, String> {
        let missing: Vec<String> = app
            .secrets
            .iter()
            .filter(|name| !user_secrets.contains_key(*name))
            .map(|name| format!("`{name}`"))
            .collect();
        if !missing.is_empty() {
            let what = match missing.as_slice() {
                [one] => format!("secret {one} is declared but"),
                many => format!("secrets {} are declared but", many.join(", ")),
            };
            return Err(match &self.options.secrets_file {
                Some(path) => format!(
                    "{what} `{}` has no value for {}; nothing of the app is applied until it has one",
                    path.display(),
                    if missing.len() == 1 { "it" } else { "them" }
                ),
                None => format!(
                    "{what} no --secrets-file is given; nothing of the app is applied until it has a value"
                ),
            });
        }
        let mut secrets = AppSecrets::default();
        for name in &app.secrets {
            let Some(value) = user_secrets.get(name) else {
                continue;
            };
            if let Some(why) = value.uncarriable() {
                return Err(format!(
                    "the value of secret `{name}` {why}, which Compose cannot carry; it is refused, not altered, and nothing of the app is applied"
                ));
            }
            secrets.user.insert(name.clone(), value.clone());
        }
        let databases: Vec<String> = app.databases.keys().cloned().collect();
        secrets.database_passwords = if generate {
            self.state
                .database_passwords(&app.name, &databases)
                .map_err(|e| format!("database passwords: {e}"))?
        } else {
            self.state
                .stored_database_passwords(&app.name, &databases)
                .map_err(|e| format!("database passwords: {e}"))?
        };
        Ok(secrets)
    }

    /// Knows every secret value of this cycle: the user secrets, the
    /// database passwords of the apps, the config repo's credentials.
    pub(super) fn redactor(
        &self,
        user_secrets: &BTreeMap<String, Secret>,
        app_secrets: &BTreeMap<String, AppSecrets>,
    ) -> Redactor {
        let mut redactor = Redactor::new();
        redactor.learn_all(user_secrets.values());
        for secrets in app_secrets.values() {
            redactor.learn_all(secrets.database_passwords.values());
        }
        redactor.learn_all(self.source.config().auth.credentials());
        redactor
    }

    /// `text` with every secret value this reconciler knows of replaced by
    /// `***`, for messages of a failed cycle (the daemon's log).
    pub fn redact(&self, text: &str) -> String {
        let user_secrets = self.read_user_secrets().unwrap_or_default();
        self.redactor(&user_secrets, &BTreeMap::new()).redact(text)
    }
}

/// The keyed digests of the secret values each Compose component of `app`
/// uses (the variables its compiled definition interpolates), named for
/// people: a user secret by its name, a password as `<db>.PASSWORD`, as a Heliosfile refers to it.
pub(super) fn secret_digests(
    app: &heliosc::ir::App,
    secrets: &AppSecrets,
    key: &DigestKey,
) -> SecretDigests {
    let mut values: BTreeMap<String, (String, &Secret)> = BTreeMap::new();
    for (database, password) in &secrets.database_passwords {
        values.insert(
            heliosc::lower::database_password_variable(database),
            (format!("{database}.PASSWORD"), password),
        );
    }
    for (name, value) in &secrets.user {
        values.insert(
            heliosc::lower::user_secret_variable(name),
            (name.clone(), value),
        );
    }
    let mut digests = SecretDigests::default();
    for (component, variables) in heliosc::lower::compose::service_variables(app) {
        let mut by_secret = BTreeMap::new();
        let mut all = String::new();
        for variable in &variables {
            // A password not generated yet (`plan` beside the daemon) has
            // no digest: its component is new anyway.
            let Some((name, value)) = values.get(variable) else {
                continue;
            };
            let digest = key.value_digest(variable, value);
            all.push_str(&format!("{variable}={digest}\n"));
            by_secret.insert(name.clone(), digest);
        }
        if by_secret.is_empty() {
            continue;
        }
        digests.components.insert(
            component,
            ComponentSecrets {
                digest: key.hmac_hex(all.as_bytes()),
                by_secret,
            },
        );
    }
    digests
}
