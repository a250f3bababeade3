//! The env file handed to Compose: `env_file::render` of arbitrary values
//! reads back (through `env_file::parse`, the model of each Compose tool's
//! reader) to exactly those values; when it refuses, the value is one the
//! dialect cannot carry. `env_file::parse` of arbitrary text never panics.
#![no_main]

use arbitrary::Arbitrary;
use helios_reconciler_fuzz::secrets::Secret;
use helios_reconciler_fuzz::secrets::env_file::{self, EnvDialect};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

#[derive(Arbitrary, Debug)]
enum Input {
    /// Values to write, read back by the dialect's model.
    RoundTrip { v2: bool, values: Vec<String> },
    /// Any text, read by the dialect's model.
    Parse { v2: bool, text: String },
}

fn dialect(v2: bool) -> EnvDialect {
    if v2 {
        EnvDialect::ComposeV2
    } else {
        EnvDialect::ComposeV1
    }
}

fuzz_target!(|input: Input| {
    match input {
        Input::Parse { v2, text } => {
            let _ = env_file::parse(dialect(v2), &text);
        }
        Input::RoundTrip { v2, values } => {
            let dialect = dialect(v2);
            let map: BTreeMap<String, Secret> = values
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("HELIOS_SECRET_V{i}"), Secret::new(v.as_str())))
                .collect();
            match env_file::render(dialect, &map) {
                Ok(text) => {
                    let read = env_file::parse(dialect, &text);
                    let expected: BTreeMap<String, String> = map
                        .iter()
                        .map(|(k, v)| (k.clone(), v.expose().to_string()))
                        .collect();
                    assert_eq!(
                        read, expected,
                        "{dialect:?} reads back other values from:\n{text:?}"
                    );
                }
                Err(refused) => {
                    let index: usize = refused
                        .variable
                        .strip_prefix("HELIOS_SECRET_V")
                        .and_then(|i| i.parse().ok())
                        .unwrap_or_else(|| panic!("refused an unknown variable: {refused}"));
                    let value = &values[index];
                    let uncarriable = value.contains(['\n', '\r', '\0'])
                        || (dialect == EnvDialect::ComposeV2 && value.ends_with('\\'));
                    assert!(
                        uncarriable,
                        "{dialect:?} refused a carriable value {value:?}: {}",
                        refused.why
                    );
                }
            }
        }
    }
});
