//! The plan as a pull-request comment (GitHub-flavoured Markdown): a
//! summary line, the warnings, then one collapsible `<details>` section per
//! change with its reason and its diff in a `diff` code block.
//!
//! GitHub refuses a comment longer than [`COMMENT_LIMIT`] characters. The
//! summary and the warnings are never shortened; when the whole comment
//! would not fit, the diffs are (each keeps a fair share of what is left,
//! and says how many of its lines it shows); if even the sections without
//! their diffs do not fit, each change is one line of a list (its
//! address, action and requirements), and what does not fit of that list
//! is counted. Lengths
//! are counted in bytes, which are never fewer than characters, so the
//! comment is under the limit however GitHub counts.

use std::io::{self, Write};

use similar::ChangeTag;

use super::text::{diff_lines, symbol, verb};
use crate::plan::{Change, Plan};

/// GitHub's limit on the length of an issue or pull-request comment.
pub const COMMENT_LIMIT: usize = 65_536;

/// Room kept for the note under a shortened diff.
const NOTE_ROOM: usize = 80;

/// Write the plan as a pull-request comment of fewer than
/// [`COMMENT_LIMIT`] bytes (unless the warnings alone are longer).
pub fn render_markdown(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(markdown(plan, COMMENT_LIMIT).as_bytes())
}

/// The comment, shorter than `limit` bytes when the summary and the
/// warnings leave room.
pub fn markdown(plan: &Plan, limit: usize) -> String {
    let head = head(plan);
    let sections: Vec<Section> = plan.changes.iter().map(Section::new).collect();
    let full: usize = head.len() + sections.iter().map(Section::full_len).sum::<usize>();
    if full < limit {
        let mut s = head;
        for section in &sections {
            section.write(&mut s, section.lines.len());
        }
        return s;
    }
    shortened(head, &sections, limit)
}

/// The comment with shortened diffs (and, if need be, fewer sections).
fn shortened(head: String, sections: &[Section], limit: usize) -> String {
    let tail = format!(
        "\n---\n_Diffs are shortened to keep this comment under GitHub's limit of {COMMENT_LIMIT} characters: `a2i-fix plan` or `a2i-fix show PLANFILE` prints them whole._\n"
    );
    let frames: usize = sections.iter().map(|s| s.frame_len() + NOTE_ROOM).sum();
    let fixed = head.len() + tail.len() + frames;
    let mut s = head;
    if fixed >= limit {
        return listed(s, sections, limit);
    }
    // What is left is shared fairly: each diff may use the remaining room
    // divided by the diffs still to come, and what it leaves goes on.
    let mut room = limit - 1 - fixed;
    for (i, section) in sections.iter().enumerate() {
        let share = room / (sections.len() - i);
        let mut used = 0;
        let mut n = 0;
        for line in &section.lines {
            let cost = line.len() + 1;
            if used + cost > share {
                break;
            }
            used += cost;
            n += 1;
        }
        room -= used;
        section.write(&mut s, n);
    }
    s.push_str(&tail);
    s
}

/// Not even every section without its diff fits: one line per change, as
/// many as fit, then a count of the rest.
fn listed(mut s: String, sections: &[Section], limit: usize) -> String {
    let note = format!(
        "\n_{} changes are listed without their reasons and diffs, to keep this comment under GitHub's limit of {COMMENT_LIMIT} characters: `a2i-fix plan` or `a2i-fix show PLANFILE` prints them whole._\n\n",
        sections.len()
    );
    s.push_str(&note);
    // Room for the count of what does not fit.
    let room = limit.saturating_sub(200);
    let mut shown = 0;
    for section in sections {
        if s.len() + section.line.len() >= room {
            break;
        }
        s.push_str(&section.line);
        shown += 1;
    }
    if shown < sections.len() {
        s.push_str(&format!(
            "\n_{} more change(s) are not listed here._\n",
            sections.len() - shown
        ));
    }
    s
}

/// The summary line, the account, and every warning.
fn head(plan: &Plan) -> String {
    let warnings = match plan.warnings.len() {
        0 => String::new(),
        1 => "1 warning".to_string(),
        n => format!("{n} warnings"),
    };
    let summary = if plan.changes.is_empty() && plan.warnings.is_empty() {
        "no changes. A2I permissions are up to date.".to_string()
    } else if plan.changes.is_empty() {
        format!("no changes that a2i-fix can make, but {warnings}: A2I may still fail.")
    } else {
        let counts = format!(
            "{} to add, {} to change, {} to destroy",
            plan.summary.add, plan.summary.change, plan.summary.destroy
        );
        if warnings.is_empty() {
            format!("{counts}.")
        } else {
            format!("{counts}; {warnings}.")
        }
    };
    let mut s = format!(
        "**a2i-fix plan:** {summary}\n\nAccount `{}` in `{}`.\n",
        plan.account_id, plan.region
    );
    if !plan.warnings.is_empty() {
        s.push_str("\n#### Warnings\n\n");
        for w in &plan.warnings {
            let req = w
                .requirement
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            s.push_str(&format!(
                "- :warning: **{}**{req}: {}\n",
                inline(&w.subject),
                inline(&w.message)
            ));
        }
    }
    if !plan.changes.is_empty() {
        s.push_str("\n#### Changes\n");
    }
    s
}

/// One change: the frame (summary, reason) and the lines of its diff.
struct Section {
    /// The change in one list item, for a plan too long for sections.
    line: String,
    /// From `<details>` to the reason, ending with a blank line.
    open: String,
    /// The fence of the diff block (longer than any backtick run inside).
    fence: String,
    /// The diff lines, each `+ `, `- ` or `  ` and the line.
    lines: Vec<String>,
}

impl Section {
    fn new(change: &Change) -> Self {
        let reqs = if change.requirements.is_empty() {
            String::new()
        } else {
            format!(" ({})", change.requirements.join(", "))
        };
        let mut open = format!(
            "\n<details>\n<summary><code>{} {}</code> {}{}</summary>\n\n",
            symbol(change.action),
            html(&change.address),
            verb(change.action),
            reqs
        );
        let line = format!(
            "- <code>{} {}</code> {}{}\n",
            symbol(change.action),
            html(&change.address),
            verb(change.action),
            reqs
        );
        // Lines of the reason kept apart by a Markdown line break.
        let reason: Vec<String> = change.reason.lines().map(inline).collect();
        open.push_str(&reason.join("  \n"));
        open.push('\n');
        if !change.replaced_sids.is_empty() {
            let sids: Vec<String> = change
                .replaced_sids
                .iter()
                .map(|s| format!("`{s}`"))
                .collect();
            open.push_str(&format!(
                "\n**The existing statement(s) with Sid {} are replaced or removed:** see the diff.\n",
                sids.join(", ")
            ));
        }
        open.push('\n');
        let lines: Vec<String> = diff_lines(change)
            .into_iter()
            .map(|(tag, line)| {
                let sign = match tag {
                    ChangeTag::Equal => ' ',
                    ChangeTag::Insert => '+',
                    ChangeTag::Delete => '-',
                };
                format!("{sign} {line}")
            })
            .collect();
        let longest_run = lines.iter().map(|l| backtick_run(l)).max().unwrap_or(0);
        let fence = "`".repeat(longest_run.max(2) + 1);
        Section {
            line,
            open,
            fence,
            lines,
        }
    }

    /// Everything but the diff lines.
    fn frame_len(&self) -> usize {
        self.open.len() + 2 * self.fence.len() + "diff\n\n\n</details>\n".len()
    }

    fn full_len(&self) -> usize {
        self.frame_len() + self.lines.iter().map(|l| l.len() + 1).sum::<usize>()
    }

    /// Write the section with its first `shown` diff lines, saying so when
    /// that is not all of them.
    fn write(&self, s: &mut String, shown: usize) {
        s.push_str(&self.open);
        let total = self.lines.len();
        if shown > 0 {
            s.push_str(&self.fence);
            s.push_str("diff\n");
            for line in &self.lines[..shown] {
                s.push_str(line);
                s.push('\n');
            }
            s.push_str(&self.fence);
            s.push('\n');
        }
        if shown < total {
            if shown == 0 {
                s.push_str(&format!(
                    "\n_Diff not shown ({total} lines): the comment would be too long._\n"
                ));
            } else {
                s.push_str(&format!(
                    "\n_Diff shortened: {shown} of {total} lines shown._\n"
                ));
            }
        }
        s.push_str("\n</details>\n");
    }
}

/// The longest run of backticks in `line`.
fn backtick_run(line: &str) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for c in line.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

/// Text for an HTML element: `&`, `<` and `>` escaped.
fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// One line of Markdown text whose `code spans` are kept as they are and
/// whose other text cannot open an HTML tag.
fn inline(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    let mut in_code = false;
    for c in text.chars() {
        match c {
            '`' => {
                in_code = !in_code;
                s.push(c);
            }
            '\n' | '\r' => s.push(' '),
            '<' if !in_code => s.push_str("&lt;"),
            '>' if !in_code => s.push_str("&gt;"),
            '&' if !in_code => s.push_str("&amp;"),
            _ => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, Target, digest, fingerprint};
    use crate::plan::{Warning, summarize};

    fn cors_change(bucket: &str, rules: usize) -> Change {
        let rule =
            "    {\n      \"AllowedMethods\": [\"GET\"],\n      \"AllowedOrigins\": [\"*\"]\n    }";
        let after = format!("[\n{}\n]", vec![rule; rules].join(",\n"));
        Change {
            address: format!("aws_s3_bucket_cors_configuration.{bucket}"),
            action: Action::Create,
            target: Target::BucketCors {
                bucket: bucket.to_string(),
            },
            requirements: vec!["R1".to_string()],
            reason: format!("the worker's browser must read images from bucket `{bucket}`"),
            before: None,
            after: Some(after.clone()),
            before_fingerprint: fingerprint(None),
            after_digest: digest(&after),
            replaced_sids: vec![],
        }
    }

    fn plan_of(changes: Vec<Change>, warnings: usize) -> Plan {
        Plan {
            format_version: 1,
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            spec_hash: String::new(),
            summary: summarize(&changes),
            changes,
            warnings: (0..warnings)
                .map(|i| Warning {
                    subject: format!("role `R{i}`"),
                    requirement: Some("R2".into()),
                    message: format!("R2 is blocked by an explicit Deny <{i}>"),
                    address: None,
                    managed_by: None,
                })
                .collect(),
            api_calls: Default::default(),
        }
    }

    #[test]
    fn a_small_plan_is_shown_whole() {
        let plan = plan_of(vec![cors_change("b", 1)], 1);
        let md = markdown(&plan, COMMENT_LIMIT);
        assert!(
            md.starts_with("**a2i-fix plan:** 1 to add, 0 to change, 0 to destroy; 1 warning.")
        );
        assert!(md.contains("<details>\n<summary><code>+ aws_s3_bucket_cors_configuration.b</code> will be created (R1)</summary>"));
        assert!(md.contains("```diff\n+ [\n"));
        assert!(
            md.contains("Deny &lt;0&gt;"),
            "text cannot open a tag: {md}"
        );
        assert!(!md.contains("shortened"));
    }

    #[test]
    fn a_large_plan_keeps_summary_and_warnings_and_shortens_diffs_under_the_limit() {
        let changes = (0..200)
            .map(|i| cors_change(&format!("bucket-{i}"), 40))
            .collect();
        let plan = plan_of(changes, 30);
        let md = markdown(&plan, COMMENT_LIMIT);
        assert!(md.len() < COMMENT_LIMIT, "{} bytes", md.len());
        assert!(md.starts_with("**a2i-fix plan:** 200 to add"));
        for i in 0..30 {
            assert!(md.contains(&format!("**role `R{i}`**")), "warning {i} kept");
        }
        assert_eq!(
            md.matches("<details>").count(),
            200,
            "every change has its section"
        );
        assert!(md.contains("Diffs are shortened"));
        assert_eq!(
            md.matches("<details>").count(),
            md.matches("</details>").count()
        );
        // Every opened diff block is closed.
        assert_eq!(
            md.matches("```diff\n").count() * 2,
            md.matches("```").count()
        );
    }

    #[test]
    fn a_plan_too_long_for_sections_lists_each_change_on_one_line() {
        let changes = (0..400)
            .map(|i| cors_change(&format!("bucket-{i}"), 40))
            .collect();
        let plan = plan_of(changes, 30);
        let md = markdown(&plan, COMMENT_LIMIT);
        assert!(md.len() < COMMENT_LIMIT, "{} bytes", md.len());
        for i in 0..30 {
            assert!(md.contains(&format!("**role `R{i}`**")), "warning {i} kept");
        }
        assert!(md.contains("400 changes are listed without their reasons and diffs"));
        assert_eq!(
            md.matches("\n- <code>+ aws_s3_bucket_cors_configuration.bucket-")
                .count(),
            400
        );
        assert!(!md.contains("<details>"));
    }

    #[test]
    fn when_even_the_sections_do_not_fit_the_rest_is_counted() {
        let changes = (0..50)
            .map(|i| cors_change(&format!("bucket-{i}"), 1))
            .collect();
        let plan = plan_of(changes, 0);
        let md = markdown(&plan, 3000);
        assert!(md.len() < 3000, "{} bytes", md.len());
        let shown = md.matches("\n- <code>").count();
        assert!(shown > 0 && shown < 50, "{shown}: {md}");
        assert!(md.contains(&format!(
            "_{} more change(s) are not listed here._",
            50 - shown
        )));
    }

    #[test]
    fn a_fence_is_longer_than_any_backtick_run_in_the_diff() {
        let mut c = cors_change("b", 1);
        c.after = Some("[\"```\"]".into());
        let md = markdown(&plan_of(vec![c], 0), COMMENT_LIMIT);
        assert!(md.contains("````diff\n"), "{md}");
    }
}
