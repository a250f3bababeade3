//! Byte spans into a Heliosfile's text, and the line/column arithmetic that
//! diagnostics need. Every later stage carries these spans so that an error
//! can point at the exact key, value, list item or `${...}` reference.

use serde::Serialize;

/// A half-open byte range `start..end` into the source text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end` (bytes).
    pub const fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }

    /// An empty span at `offset`: a caret between two characters.
    pub const fn empty(offset: usize) -> Self {
        Self {
            start: offset,
            end: offset,
        }
    }

    /// Number of bytes covered.
    pub const fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the span covers no byte.
    pub const fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The part of `text` this span covers (empty when out of range).
    pub fn slice<'t>(&self, text: &'t str) -> &'t str {
        text.get(self.start..self.end).unwrap_or("")
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(span: Span) -> Self {
        miette::SourceSpan::new(span.start.into(), span.len())
    }
}

/// One-based line and column (in characters) of a byte offset.
///
/// Offsets past the end or inside a multi-byte character are clamped to the
/// nearest character boundary before them, so any offset is safe to pass.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Byte offset of the `char_offset`-th character (clamped to the end).
pub(crate) fn byte_offset_of_char(text: &str, char_offset: usize) -> usize {
    text.char_indices()
        .nth(char_offset)
        .map_or(text.len(), |(byte, _)| byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_characters_not_bytes() {
        let text = "a: é\nbb: x\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, text.find('x').unwrap_or(0)), (2, 5));
        // Inside the two-byte `é`: clamped to its start.
        assert_eq!(line_column(text, 4), (1, 4));
        assert_eq!(line_column(text, 10_000), (3, 1));
    }

    #[test]
    fn byte_offset_of_char_handles_multibyte() {
        assert_eq!(byte_offset_of_char("éa", 1), 2);
        assert_eq!(byte_offset_of_char("éa", 9), 3);
    }
}
