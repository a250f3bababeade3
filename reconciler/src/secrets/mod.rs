//! Secret values: the one owner of every value the reconciler must deliver
//! byte-exact and never show.
//!
//! - [`Secret`]: a value whose `Debug` and `Display` print `***`.
//! - [`secrets_file`]: the `NAME=value` format of `--secrets-file` (and of
//!   the state directory's store of generated database passwords).
//! - [`env_file`]: the env file handed to the Compose tool, written by the
//!   quoting rules of the tool that reads it and refusing what it cannot
//!   carry (a newline, a carriage return, a NUL).
//! - [`redact`]: the one redaction step for everything recorded, logged or
//!   printed that came from a tool the reconciler ran.
//! - [`digest`]: keyed digests of values (HMAC-SHA256 with a key kept
//!   outside git), so that a rotated value changes a spec hash without the
//!   value, or a plain hash of it, ever being written anywhere.

pub mod digest;
pub mod env_file;
pub mod redact;
pub mod secrets_file;

use std::fmt;
use std::path::Path;

/// A secret value. Its `Debug` and `Display` do not show it, so that it
/// cannot leak through a log line, an error or a test failure message.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the few places that must hand it on (the env
    /// file, git's credential callback, a keyed digest, the redactor).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Why the value cannot be carried through an env file line, if it
    /// cannot: Compose reads one variable per line and C strings end at NUL.
    pub fn uncarriable(&self) -> Option<&'static str> {
        uncarriable(&self.0)
    }
}

/// Why `value` cannot be carried in an env file, if it cannot.
pub fn uncarriable(value: &str) -> Option<&'static str> {
    if value.contains('\n') {
        Some("contains a newline")
    } else if value.contains('\r') {
        Some("contains a carriage return")
    } else if value.contains('\0') {
        Some("contains a NUL character")
    } else {
        None
    }
}

/// Writes a file of secret values that only its owner can read, replacing
/// it atomically: created 0600 (never readable by others, not even for a
/// moment) in a folder made 0700, written through a temporary file that is
/// synced and renamed, so a reader never sees half of it.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp~");
    let temporary = path.with_file_name(name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(&temporary)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        // A leftover temporary file from a crash keeps its old mode.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_formats_its_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "Secret(***) ***");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[cfg(unix)]
    #[test]
    fn secret_files_are_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secrets/app.env");
        write_private(&path, "HELIOS_DB_PASSWORD=x\n").expect("written");
        let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("secrets")), 0o700);
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "HELIOS_DB_PASSWORD=x\n"
        );
    }

    #[test]
    fn line_breaks_and_nul_cannot_be_carried() {
        assert_eq!(
            Secret::new("a\nb").uncarriable(),
            Some("contains a newline")
        );
        assert_eq!(
            Secret::new("a\rb").uncarriable(),
            Some("contains a carriage return")
        );
        assert_eq!(
            Secret::new("a\0b").uncarriable(),
            Some("contains a NUL character")
        );
        assert_eq!(Secret::new("a'$\"`\\ #=é").uncarriable(), None);
    }
}
