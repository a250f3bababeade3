//! Rendering diagnostics for people (miette's graphical report) and for
//! machines (one JSON object per diagnostic).

use super::{Diagnostic, Severity};
use crate::span::{Span, line_column};
use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteSpanContents, SourceCode,
    SpanContents,
};
use std::fmt;

/// How to render a diagnostic for people.
#[derive(Clone, Copy, Debug)]
pub struct RenderOptions {
    /// Use ANSI colours (for a terminal).
    pub color: bool,
    /// Wrap width in columns.
    pub width: usize,
}

impl Default for RenderOptions {
    /// Plain text, 100 columns: deterministic, for tests and logs.
    fn default() -> Self {
        Self {
            color: false,
            width: 100,
        }
    }
}

/// Renders `diagnostic` against the file it is about, with a caret line under
/// each labelled span.
pub fn render(diagnostic: &Diagnostic, path: &str, text: &str, options: RenderOptions) -> String {
    let theme = if options.color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(options.width)
        .with_links(false);
    let report = Report {
        diagnostic,
        source: NamedText { name: path, text },
    };
    let mut out = String::new();
    if handler.render_report(&mut out, &report).is_err() {
        // Writing to a String cannot fail; keep a usable fallback anyway.
        out = format!("{}: {}\n", diagnostic.code, diagnostic.message);
    }
    out
}

/// The diagnostic as a GitHub Actions workflow command, so that CI shows it
/// inline on the pull request:
/// `::error file=F,line=L,col=C,endLine=L,endColumn=C,title=CODE::message`.
pub fn to_github(diagnostic: &Diagnostic, path: &str, text: &str) -> String {
    let span = diagnostic.primary_span();
    let (line, column) = line_column(text, span.start);
    let (end_line, end_column) = line_column(text, span.end);
    let command = match diagnostic.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut message = diagnostic.message.clone();
    if let Some(help) = &diagnostic.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    format!(
        "::{command} file={},line={line},col={column},endLine={end_line},endColumn={end_column},title={}::{}",
        escape_property(path),
        escape_property(&format!("{} {}", diagnostic.code, diagnostic.code.slug())),
        escape_data(&message),
    )
}

/// Workflow-command escaping of a message.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Workflow-command escaping of a property value, which also ends at `:` or `,`.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The diagnostic as one JSON object: file, line, column, byte span, code,
/// severity, message, help, and every label with its own position.
pub fn to_json(diagnostic: &Diagnostic, path: &str, text: &str) -> serde_json::Value {
    let span = diagnostic.primary_span();
    let (line, column) = line_column(text, span.start);
    let (end_line, end_column) = line_column(text, span.end);
    let labels: Vec<serde_json::Value> = diagnostic
        .labels
        .iter()
        .map(|label| {
            let (line, column) = line_column(text, label.span.start);
            serde_json::json!({
                "line": line,
                "column": column,
                "span": { "start": label.span.start, "end": label.span.end },
                "message": label.message,
                "primary": label.primary,
            })
        })
        .collect();
    serde_json::json!({
        "file": path,
        "line": line,
        "column": column,
        "end_line": end_line,
        "end_column": end_column,
        "span": { "start": span.start, "end": span.end },
        "code": diagnostic.code.as_str(),
        "severity": diagnostic.severity.as_str(),
        "message": diagnostic.message,
        "help": diagnostic.help,
        "labels": labels,
    })
}

/// A source text with a name, borrowed: miette's `NamedSource` wants to own
/// its text, which would copy a whole file per diagnostic.
struct NamedText<'a> {
    name: &'a str,
    text: &'a str,
}

impl fmt::Debug for NamedText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedText")
            .field("name", &self.name)
            .finish()
    }
}

impl SourceCode for NamedText<'_> {
    fn read_span<'s>(
        &'s self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'s> + 's>, miette::MietteError> {
        let contents = self
            .text
            .read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.to_string(),
            contents.data(),
            *contents.span(),
            contents.line(),
            contents.column(),
            contents.line_count(),
        )))
    }
}

struct Report<'a> {
    diagnostic: &'a Diagnostic,
    source: NamedText<'a>,
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diagnostic, f)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diagnostic.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|help| Box::new(help) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let text_len = self.source.text.len();
        Some(Box::new(self.diagnostic.labels.iter().map(move |label| {
            // A span past the end (e.g. "missing key" at EOF) must still render.
            let span = Span::new(label.span.start.min(text_len), label.span.end.min(text_len));
            if label.primary {
                LabeledSpan::new_primary_with_span(Some(label.message.clone()), span)
            } else {
                LabeledSpan::new_with_span(Some(label.message.clone()), span)
            }
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::{Code, Label};

    #[test]
    fn github_commands_escape_what_they_must() {
        let text = "name: a\nversion: 2\n";
        let diagnostic = Diagnostic {
            code: Code::H0204,
            severity: Severity::Error,
            message: "50% off, twice".to_string(),
            labels: vec![Label {
                span: Span::new(17, 18),
                message: String::new(),
                primary: true,
            }],
            help: Some("line one\nline two".to_string()),
        };
        assert_eq!(
            to_github(&diagnostic, "apps/a,b:c/Heliosfile", text),
            "::error file=apps/a%2Cb%3Ac/Heliosfile,line=2,col=10,endLine=2,endColumn=11,\
             title=H0204 unsupported-version::50%25 off, twice%0Ahelp: line one%0Aline two"
        );
    }
}
