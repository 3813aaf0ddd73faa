//! Where an error is: spans turned into 1-based lines, and key paths such
//! as `flow_definition[1].output`, also for TOML syntax errors (the nearest
//! key before the error).

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::SpecError;

/// Key path used for errors about the whole document.
pub(super) const DOCUMENT: &str = "(document)";

/// File name and text, to turn spans into lines.
#[derive(Clone, Copy)]
pub(super) struct Cx<'a> {
    pub(super) file: &'a str,
    pub(super) text: &'a str,
    /// The offset of every `\n` in `text` ([`newlines`]), so that a line
    /// is a binary search, not a count from the start of the file for
    /// every key (which made a 200-flow spec take a second in a debug
    /// build).
    pub(super) newlines: &'a [usize],
}

/// The offsets of the newlines of `text`, in order.
pub(super) fn newlines(text: &str) -> Vec<usize> {
    text.bytes()
        .enumerate()
        .filter_map(|(i, b)| (b == b'\n').then_some(i))
        .collect()
}

impl Cx<'_> {
    pub(super) fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        // Newlines strictly before `end`, as counting them would find.
        self.newlines.partition_point(|&at| at < end) + 1
    }

    pub(super) fn err(
        &self,
        span: &Range<usize>,
        key: &str,
        message: impl Into<String>,
    ) -> SpecError {
        SpecError::Invalid {
            file: self.file.to_string(),
            line: self.line(span.start),
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// A TOML syntax error: the line from its span, the key path of the
    /// nearest key at or before it (from a best-effort parse).
    pub(super) fn syntax_error(&self, e: &toml::de::Error) -> SpecError {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        let (recovered, _) = DeTable::parse_recoverable(self.text);
        let mut best: Option<(usize, String)> = None;
        nearest_key(recovered.get_ref(), "", offset, &mut best);
        let key = best
            .map(|(_, path)| path)
            .unwrap_or_else(|| DOCUMENT.to_string());
        let message = format!("invalid TOML: {}", e.message().trim_end());
        SpecError::Invalid {
            file: self.file.to_string(),
            line: self.line(offset),
            key,
            message,
        }
    }
}

/// The line of every key of the document, by key path (`account_id`,
/// `flow_definition[0]` for the `[[header]]` of a table of an array,
/// `flow_definition[0].output`, `flow_definition[0].input_buckets[1]`).
pub(super) fn key_lines(cx: Cx<'_>, table: &DeTable<'_>) -> BTreeMap<String, usize> {
    let mut lines = BTreeMap::new();
    table_lines(cx, table, "", &mut lines);
    lines
}

fn table_lines(cx: Cx<'_>, table: &DeTable<'_>, prefix: &str, lines: &mut BTreeMap<String, usize>) {
    for (key, value) in table.iter() {
        let path = join(prefix, key.get_ref());
        lines.insert(path.clone(), cx.line(key.span().start));
        value_lines(cx, value, &path, lines);
    }
}

fn value_lines(
    cx: Cx<'_>,
    value: &Spanned<DeValue<'_>>,
    path: &str,
    lines: &mut BTreeMap<String, usize>,
) {
    match value.get_ref() {
        DeValue::Table(t) => table_lines(cx, t, path, lines),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                lines.insert(item_path.clone(), cx.line(item.span().start));
                value_lines(cx, item, &item_path, lines);
            }
        }
        _ => {}
    }
}

/// The path of the key that starts last at or before `offset`.
fn nearest_key(
    table: &DeTable<'_>,
    prefix: &str,
    offset: usize,
    best: &mut Option<(usize, String)>,
) {
    for (key, value) in table.iter() {
        let path = join(prefix, key.get_ref());
        consider(key.span().start, &path, offset, best);
        nearest_in_value(value, &path, offset, best);
    }
}

fn nearest_in_value(
    value: &Spanned<DeValue<'_>>,
    path: &str,
    offset: usize,
    best: &mut Option<(usize, String)>,
) {
    match value.get_ref() {
        DeValue::Table(t) => nearest_key(t, path, offset, best),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                if item.get_ref().is_table() {
                    consider(item.span().start, &item_path, offset, best);
                }
                nearest_in_value(item, &item_path, offset, best);
            }
        }
        _ => {}
    }
}

fn consider(start: usize, path: &str, offset: usize, best: &mut Option<(usize, String)>) {
    if start <= offset && best.as_ref().is_none_or(|(s, _)| start >= *s) {
        *best = Some((start, path.to_string()));
    }
}

/// `prefix.key`, with the key quoted as TOML would need it (`""`, `"a b"`).
pub(super) fn join(prefix: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let key = if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    };
    if prefix.is_empty() {
        key
    } else {
        format!("{prefix}.{key}")
    }
}
