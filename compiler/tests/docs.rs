//! `docs/diagnostics.md` is generated from the code catalogue (the same text
//! `heliosc explain` prints), so it cannot drift from the compiler.
//! Regenerate with `HELIOS_REGENERATE=1 cargo test -p heliosc --test docs`.

use heliosc::Code;
use std::path::Path;

fn render() -> String {
    let mut out = String::from(
        "# Diagnostic codes\n\n<!-- Generated from compiler/src/diagnostic/codes.rs by compiler/tests/docs.rs; do not edit. -->\n\n\
         Every diagnostic `heliosc` prints has a stable code. `heliosc explain CODE` prints the same text as below.\n\n\
         | code | name | severity |\n| --- | --- | --- |\n",
    );
    for code in Code::ALL {
        out.push_str(&format!(
            "| [{0}](#{1}) | {2} | {3} |\n",
            code.as_str(),
            code.as_str().to_lowercase(),
            code.slug(),
            code.severity().as_str()
        ));
    }
    for code in Code::ALL {
        let explanation = code.explanation();
        let mut lines = explanation.lines();
        let title = lines.next().unwrap_or_default();
        out.push_str(&format!("\n## {}\n\n`{title}`\n", code.as_str()));
        for line in lines {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn diagnostics_doc_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/diagnostics.md");
    let generated = render();
    if std::env::var_os("HELIOS_REGENERATE").is_some() {
        std::fs::write(&path, &generated).expect("write docs/diagnostics.md");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/diagnostics.md is stale: run `HELIOS_REGENERATE=1 cargo test -p heliosc --test docs` and commit it"
    );
}
