//! Terraform-style text, with a line diff of each document.

use std::io::{self, Write};

use console::Style;
use similar::{ChangeTag, TextDiff};

use crate::model::{Action, Target};
use crate::plan::{Change, Plan, Warning};

/// How to render text.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextOptions {
    /// ANSI colours (only on a terminal, never with `NO_COLOR`/`--no-color`;
    /// the caller decides).
    pub color: bool,
}

struct Styles {
    add: Style,
    remove: Style,
    change: Style,
    dim: Style,
    bold: Style,
    warn: Style,
}

impl Styles {
    fn new(color: bool) -> Self {
        let s = |style: Style| style.force_styling(color);
        Styles {
            add: s(Style::new().green()),
            remove: s(Style::new().red()),
            change: s(Style::new().yellow()),
            dim: s(Style::new().dim()),
            bold: s(Style::new().bold()),
            warn: s(Style::new().yellow().bold()),
        }
    }
}

pub(super) fn symbol(action: Action) -> &'static str {
    match action {
        Action::Create => "+",
        Action::Update => "~",
        Action::Delete => "-",
    }
}

/// The text a document is shown as: attachments are a policy ARN, shown as
/// `policy_arn = "..."`; every other document as pretty JSON.
fn shown(target: &Target, document: &str) -> String {
    match target {
        // A plan carries the ARN as a JSON string; a journal (rollback) as
        // the bare ARN read back. Shown the same way either way.
        Target::Attachment { .. } => {
            let arn = document.trim();
            let arn = serde_json::from_str::<String>(arn).unwrap_or_else(|_| arn.to_string());
            format!("policy_arn = {}", serde_json::Value::String(arn))
        }
        // Documents are written exactly as planned, but shown pretty-printed
        // (key order kept) so that a compact document read back from AWS,
        // as in rollback plans, diffs line by line against a pretty one.
        _ => match serde_json::from_str::<serde_json::Value>(document) {
            Ok(value) => {
                serde_json::to_string_pretty(&value).unwrap_or_else(|_| document.to_string())
            }
            Err(_) => document.to_string(),
        },
    }
}

/// The line diff of a change's document, as shown: each line (without its
/// newline) with whether it is kept, added or removed.
pub(super) fn diff_lines(change: &Change) -> Vec<(ChangeTag, String)> {
    let before = change
        .before
        .as_deref()
        .map(|d| shown(&change.target, d))
        .unwrap_or_default();
    let after = change
        .after
        .as_deref()
        .map(|d| shown(&change.target, d))
        .unwrap_or_default();
    let diff = TextDiff::from_lines(&before, &after);
    diff.iter_all_changes()
        .map(|c| (c.tag(), c.value().trim_end_matches('\n').to_string()))
        .collect()
}

/// `will be created` and the like.
pub(super) fn verb(action: Action) -> &'static str {
    match action {
        Action::Create => "will be created",
        Action::Update => "will be updated in-place",
        Action::Delete => "will be destroyed",
    }
}

/// Render one change: header comment, symbol and address, then a line diff.
pub fn render_change(change: &Change, out: &mut dyn Write, opts: TextOptions) -> io::Result<()> {
    render_change_with(change, &[], out, opts)
}

/// [`render_change`], with a line for each warning about this change (the
/// warning itself is rendered with the others, after the plan).
fn render_change_with(
    change: &Change,
    warnings: &[Warning],
    out: &mut dyn Write,
    opts: TextOptions,
) -> io::Result<()> {
    let st = Styles::new(opts.color);
    let sym = symbol(change.action);
    let sym_style = match change.action {
        Action::Create => &st.add,
        Action::Update => &st.change,
        Action::Delete => &st.remove,
    };
    let reqs = if change.requirements.is_empty() {
        String::new()
    } else {
        format!(" ({})", change.requirements.join(", "))
    };
    writeln!(
        out,
        "  {} {}{}",
        st.bold.apply_to(format!("# {}", change.address)),
        verb(change.action),
        reqs
    )?;
    for line in change.reason.lines() {
        writeln!(out, "  {}", st.dim.apply_to(format!("#   {line}")))?;
    }
    if !change.replaced_sids.is_empty() {
        writeln!(
            out,
            "  {}",
            st.warn.apply_to(format!(
                "#   the existing statement(s) with Sid {} are replaced or removed: see the diff",
                change
                    .replaced_sids
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        )?;
    }
    for w in warnings
        .iter()
        .filter(|w| w.address.as_deref() == Some(change.address.as_str()))
    {
        let line = match w.managed_by.as_deref() {
            Some("unknown") | None => format!(
                "#   Warning: whether infrastructure as code manages {} is unknown: see below",
                w.subject
            ),
            Some(tool) => format!(
                "#   Warning: {} is managed by {tool}; the next deploy will revert this write: see below",
                w.subject
            ),
        };
        writeln!(out, "  {}", st.warn.apply_to(line))?;
    }
    writeln!(out, "  {} {}", sym_style.apply_to(sym), change.address)?;
    for (tag, line) in diff_lines(change) {
        match tag {
            ChangeTag::Equal => writeln!(out, "      {}", st.dim.apply_to(line))?,
            ChangeTag::Insert => writeln!(out, "    {}", st.add.apply_to(format!("+ {line}")))?,
            ChangeTag::Delete => writeln!(out, "    {}", st.remove.apply_to(format!("- {line}")))?,
        }
    }
    writeln!(out)?;
    Ok(())
}

/// Render the plan as Terraform-style text.
pub fn render_text(plan: &Plan, out: &mut dyn Write, opts: TextOptions) -> io::Result<()> {
    let st = Styles::new(opts.color);
    writeln!(
        out,
        "a2i-fix read account {} in {}.",
        plan.account_id, plan.region
    )?;
    writeln!(out)?;
    if plan.changes.is_empty() && plan.warnings.is_empty() {
        writeln!(
            out,
            "{}",
            st.add
                .apply_to("No changes. A2I permissions are up to date.")
        )?;
    } else if plan.changes.is_empty() {
        // Not "up to date": the warnings say A2I may still be denied.
        writeln!(
            out,
            "{}",
            st.warn.apply_to(
                "No changes that a2i-fix can make. A2I may still fail: see the warnings below."
            )
        )?;
    } else {
        writeln!(
            out,
            "a2i-fix will perform the following actions ({} create, {} update, {} destroy):",
            st.add.apply_to("+"),
            st.change.apply_to("~"),
            st.remove.apply_to("-")
        )?;
        writeln!(out)?;
        for change in &plan.changes {
            render_change_with(change, &plan.warnings, out, opts)?;
        }
        writeln!(
            out,
            "{} {} to add, {} to change, {} to destroy.",
            st.bold.apply_to("Plan:"),
            plan.summary.add,
            plan.summary.change,
            plan.summary.destroy
        )?;
    }
    render_warnings(plan, out, opts)
}

/// Render the warnings (problems a plan cannot fix, and changes to
/// resources that infrastructure as code manages), if any.
pub fn render_warnings(plan: &Plan, out: &mut dyn Write, opts: TextOptions) -> io::Result<()> {
    let st = Styles::new(opts.color);
    for w in &plan.warnings {
        writeln!(out)?;
        let req = w
            .requirement
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        writeln!(out, "{} {}{}", st.warn.apply_to("Warning:"), w.subject, req)?;
        writeln!(out, "  {}", w.message)?;
    }
    Ok(())
}
