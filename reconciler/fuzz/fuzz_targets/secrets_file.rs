//! `secrets_file::parse` of arbitrary text never panics; what it parses,
//! `secrets_file::render` writes back so that `parse` reads the same map
//! (render refuses values it cannot carry: a line break or a NUL).
#![no_main]

use helios_reconciler_fuzz::secrets::{Secret, secrets_file};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

fn exposed(map: &BTreeMap<String, Secret>) -> BTreeMap<&str, &str> {
    map.iter().map(|(k, v)| (k.as_str(), v.expose())).collect()
}

fuzz_target!(|text: &str| {
    let Ok(parsed) = secrets_file::parse(text) else {
        return;
    };
    match secrets_file::render(&parsed) {
        Ok(rendered) => {
            let again = secrets_file::parse(&rendered)
                .unwrap_or_else(|e| panic!("render's output does not parse: {e}\n{rendered:?}"));
            assert_eq!(
                exposed(&again),
                exposed(&parsed),
                "round trip changed the map; rendered: {rendered:?}"
            );
            // Rendering is a fixed point.
            assert_eq!(
                secrets_file::render(&again).as_deref(),
                Ok(rendered.as_str())
            );
        }
        Err(_) => assert!(
            parsed.values().any(|v| v.uncarriable().is_some()),
            "render refused a map whose values are all carriable"
        ),
    }
});
