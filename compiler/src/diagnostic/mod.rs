//! Diagnostics: what the compiler says about a Heliosfile, with a stable code,
//! a severity, spans into the source and help. This module owns the type, the
//! catalogue of codes ([`Code`]), one constructor per code
//! ([`constructors`]), and rendering (human via miette, JSON lines).

mod codes;
pub(crate) mod constructors;
mod render;

pub use codes::{Code, Severity};
pub use render::{RenderOptions, render, to_github, to_json};

use crate::span::Span;
use serde::Serialize;

/// A label on a span of the source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Label {
    /// What the label covers.
    pub span: Span,
    /// Text shown next to the caret.
    pub message: String,
    /// Whether this is the primary label (the thing that is wrong) rather
    /// than a secondary one (context such as "first defined here").
    pub primary: bool,
}

/// One problem found in a Heliosfile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The stable code, e.g. `H0201`.
    pub code: Code,
    /// Error or warning.
    pub severity: Severity,
    /// One sentence saying what is wrong.
    pub message: String,
    /// The primary label first, then any secondary labels.
    pub labels: Vec<Label>,
    /// How to fix it, when there is something useful to say.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic with `code`'s severity and a primary label on `span`.
    pub(crate) fn new(
        code: Code,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Self {
        Self {
            code,
            severity: code.severity(),
            message: message.into(),
            labels: vec![Label {
                span,
                message: label.into(),
                primary: true,
            }],
            help: None,
        }
    }

    /// Adds help text.
    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds help only when there is some.
    pub(crate) fn with_optional_help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    /// Adds a secondary label.
    pub(crate) fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
            primary: false,
        });
        self
    }

    /// The span of the primary label.
    pub fn primary_span(&self) -> Span {
        self.labels
            .iter()
            .find(|label| label.primary)
            .map(|label| label.span)
            .unwrap_or_default()
    }

    /// Whether this diagnostic is an error (not a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Most diagnostics reported for one file; the rest are summed up in one
/// [`Code::H0107`].
pub const MAX_DIAGNOSTICS: usize = 500;

/// Keeps the first [`MAX_DIAGNOSTICS`] (already sorted) and replaces the rest
/// with one diagnostic saying how many were left out.
pub(crate) fn truncate(diagnostics: &mut Vec<Diagnostic>) {
    if diagnostics.len() <= MAX_DIAGNOSTICS {
        return;
    }
    let hidden = diagnostics.len() - MAX_DIAGNOSTICS;
    let next = diagnostics[MAX_DIAGNOSTICS].primary_span();
    diagnostics.truncate(MAX_DIAGNOSTICS);
    diagnostics.push(constructors::too_many_diagnostics(
        MAX_DIAGNOSTICS,
        hidden,
        next,
    ));
}

/// Sorts diagnostics by position, then code, so that output is the same
/// whatever order the checks ran in.
pub(crate) fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (a.primary_span(), a.code, &a.message).cmp(&(b.primary_span(), b.code, &b.message))
    });
}
