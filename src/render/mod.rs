//! Showing a plan, written to any `io::Write` so that tests render into a
//! `Vec<u8>`:
//!
//! | file | format |
//! |---|---|
//! | `text.rs` | Terraform-style text with a line diff of each document (the terminal) |
//! | `mod.rs` | versioned JSON (`--json`, `--format json`) |
//! | `markdown.rs` | a pull-request comment, kept under GitHub's comment limit |
//! | `sarif.rs` | SARIF 2.1.0 for code scanning, each result on a line of the spec |

use std::io::{self, Write};

use crate::plan::Plan;

pub mod markdown;
pub mod sarif;
mod text;

pub use markdown::{COMMENT_LIMIT, render_markdown};
pub use sarif::{Anchor, Locate, render_sarif};
pub use text::{TextOptions, render_change, render_text, render_warnings};

/// The formats `plan` prints in (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Terraform-style text.
    #[default]
    Text,
    /// One versioned JSON document (what `--json` prints).
    Json,
    /// A pull-request comment.
    Markdown,
    /// SARIF 2.1.0, results anchored to lines of the spec file.
    Sarif,
}

/// Render the plan as one versioned JSON document (see README "JSON plan").
pub fn render_json(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    write_json(&plan, out)
}

/// Pretty JSON and a newline, keeping the kind of an I/O failure (a closed
/// pipe stays `BrokenPipe`).
fn write_json(value: &impl serde::Serialize, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(|e| match e.io_error_kind() {
        Some(kind) => io::Error::new(kind, e),
        None => io::Error::other(e),
    })?;
    writeln!(out)
}
