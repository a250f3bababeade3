//! The one redaction step: whatever the reconciler records (`status.yaml`),
//! logs or prints that came from a tool it ran (Compose's output, the
//! Docker Engine's and git's error messages) goes through a [`Redactor`]
//! that knows every secret value of the cycle (user secrets, database
//! passwords, the config repo's token) and replaces each with `***`.
//!
//! Besides each value itself, the forms it takes in the env file Compose
//! reads are redacted too, since a tool that echoes a line of that file
//! prints the value quoted.

use super::Secret;
use super::env_file::{EnvDialect, quote};

/// What replaces a secret value.
pub const MASK: &str = "***";

/// Replaces every known secret value in text.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    /// Longest first, so that a value containing another is replaced whole.
    values: Vec<Secret>,
}

impl Redactor {
    /// A redactor that knows nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Learns `secret`, and the quoted forms it takes in env files.
    pub fn learn(&mut self, secret: &Secret) {
        let value = secret.expose();
        // An empty value cannot be found in text; masking every empty
        // string would garble everything.
        if value.is_empty() {
            return;
        }
        let mut forms = vec![value.to_string()];
        for dialect in [EnvDialect::ComposeV1, EnvDialect::ComposeV2] {
            if let Ok(quoted) = quote(dialect, value) {
                forms.push(quoted);
            }
        }
        for form in forms {
            let form = Secret::new(form);
            if !self.values.contains(&form) {
                self.values.push(form);
            }
        }
        self.values
            .sort_by(|a, b| b.expose().len().cmp(&a.expose().len()).then(a.cmp(b)));
    }

    /// Learns every secret of `secrets`.
    pub fn learn_all<'a>(&mut self, secrets: impl IntoIterator<Item = &'a Secret>) {
        for secret in secrets {
            self.learn(secret);
        }
    }

    /// `text` with every known value replaced by [`MASK`].
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for value in &self.values {
            if out.contains(value.expose()) {
                out = out.replace(value.expose(), MASK);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_value_and_its_quoted_forms_are_masked() {
        let mut redactor = Redactor::new();
        redactor.learn(&Secret::new("hunter2"));
        redactor.learn(&Secret::new("it's ${X}"));
        redactor.learn(&Secret::new(""));
        let text = "ERROR: password hunter2 rejected\nline: K='it\\'s $${:-{}X}'\nraw: it's ${X}";
        let redacted = redactor.redact(text);
        assert_eq!(
            redacted,
            "ERROR: password *** rejected\nline: K=***\nraw: ***"
        );
    }

    #[test]
    fn a_value_inside_another_does_not_leave_a_part_behind() {
        let mut redactor = Redactor::new();
        redactor.learn(&Secret::new("abc"));
        redactor.learn(&Secret::new("xxabcxx"));
        assert_eq!(redactor.redact("see xxabcxx and abc"), "see *** and ***");
    }
}
