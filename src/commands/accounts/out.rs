//! What a many-account run prints and keeps: one section per target and a
//! table, the JSON document, the saved plans of `--out DIR`, the run record
//! that `rollback RUN_DIR` reads, and the file `accounts
//! --from-organization` writes.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};

use crate::accounts::organization::{self, FileDefaults, OrgAccount};
use crate::render::{self, Format, TextOptions};
use crate::{journal, saved};

use super::{FromOrganization, Row, tally};
use crate::commands::{Console, Outcome};

/// The run record's name in a run directory.
pub const RUN_FILE_NAME: &str = "run.json";

/// The suffix of the saved plans `--out DIR` writes.
const PLAN_SUFFIX: &str = ".plan.json";

/// An error and its causes on one line.
fn one_line(err: &anyhow::Error) -> String {
    err.chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

/// Every target's plan (or error) under a header, then the table; or the
/// one JSON document.
pub(super) fn print_rows(
    rows: &[Row],
    format: Format,
    console: &mut Console<'_>,
) -> anyhow::Result<()> {
    if format == Format::Json {
        return print_json(rows, console);
    }
    let opts = TextOptions {
        color: console.color,
    };
    for row in rows {
        writeln!(console.out, "\n=== {} ===\n", row.target.label())?;
        match &row.planned {
            Ok(p) => render::render_text(&p.plan, &mut console.out, opts)?,
            Err(e) => writeln!(console.out, "Error: {}", one_line(e))?,
        }
    }
    writeln!(console.out)?;
    let mut table = vec![[
        "ACCOUNT".to_string(),
        "REGION".into(),
        "ADD".into(),
        "CHANGE".into(),
        "DESTROY".into(),
        "WARNINGS".into(),
        "ERROR".into(),
    ]];
    for row in rows {
        let (account, region) = (row.target.account.label(), row.target.region.clone());
        table.push(match &row.planned {
            Ok(p) => [
                account,
                region,
                p.plan.summary.add.to_string(),
                p.plan.summary.change.to_string(),
                p.plan.summary.destroy.to_string(),
                p.plan.warnings.len().to_string(),
                "-".into(),
            ],
            Err(e) => [
                account,
                region,
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                first_line(&one_line(e)),
            ],
        });
    }
    let numeric = [false, false, true, true, true, true, false];
    print_table(&table, numeric, console.out)?;
    let (failed, changes) = tally(rows);
    writeln!(
        console.out,
        "\n{} target(s): {changes} with changes, {} up to date, {failed} failed.",
        rows.len(),
        rows.len() - changes - failed
    )?;
    console.out.flush()?;
    Ok(())
}

/// An error for the table: its first 100 characters.
fn first_line(text: &str) -> String {
    let mut line: String = text.chars().take(100).collect();
    if text.chars().count() > 100 {
        line.push_str("...");
    }
    line
}

/// Columns padded to their widest cell, the `numeric` ones right-aligned;
/// the last column is not padded.
fn print_table<const N: usize>(
    table: &[[String; N]],
    numeric: [bool; N],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let widths: Vec<usize> = (0..N)
        .map(|i| {
            table
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in table {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if numeric[i] {
                line.push_str(&format!("{cell:>width$}  ", width = widths[i]));
            } else if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

#[derive(Serialize)]
struct JsonRun<'a> {
    format_version: u32,
    kind: &'static str,
    targets: Vec<JsonTarget<'a>>,
    summary: JsonSummary,
}

#[derive(Serialize)]
struct JsonTarget<'a> {
    name: &'a str,
    account_id: &'a str,
    region: &'a str,
    tags: &'a [String],
    plan: Option<&'a crate::plan::Plan>,
    error: Option<String>,
}

#[derive(Serialize)]
struct JsonSummary {
    targets: usize,
    with_changes: usize,
    up_to_date: usize,
    failed: usize,
}

fn print_json(rows: &[Row], console: &mut Console<'_>) -> anyhow::Result<()> {
    let (failed, with_changes) = tally(rows);
    let doc = JsonRun {
        format_version: 1,
        kind: "a2i-fix-accounts-plan",
        targets: rows
            .iter()
            .map(|r| JsonTarget {
                name: &r.target.account.name,
                account_id: &r.target.account.account_id,
                region: &r.target.region,
                tags: &r.target.account.tags,
                plan: r.planned.as_ref().ok().map(|p| &p.plan),
                error: r.planned.as_ref().err().map(one_line),
            })
            .collect(),
        summary: JsonSummary {
            targets: rows.len(),
            with_changes,
            up_to_date: rows.len() - with_changes - failed,
            failed,
        },
    };
    serde_json::to_writer_pretty(&mut console.out, &doc)?;
    writeln!(console.out)?;
    console.out.flush()?;
    Ok(())
}

/// Save each planned target as `DIR/ACCOUNT-REGION.plan.json`, after
/// removing the saved plans an earlier run left there (so `apply DIR`
/// never applies a plan this run did not make). How many were saved.
pub(super) fn save_plans(dir: &Path, rows: &[Row]) -> anyhow::Result<usize> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the plan directory `{}`", dir.display()))?;
    for old in saved_plan_files(dir)? {
        std::fs::remove_file(&old)
            .with_context(|| format!("removing the earlier plan `{}`", old.display()))?;
    }
    let mut saved = 0;
    for row in rows {
        if let Ok(p) = &row.planned {
            let file = dir.join(format!("{}{PLAN_SUFFIX}", row.target.key()));
            saved::write_saved_plan(&file, &p.plan)?;
            saved += 1;
        }
    }
    Ok(saved)
}

/// The saved plans of a plan directory, sorted.
pub(super) fn saved_plan_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "cannot read the plan directory `{}`: give the directory `plan --accounts ... --out DIR` wrote",
            dir.display()
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(PLAN_SUFFIX))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// What `BACKUP_DIR/runs/STAMP-PID/run.json` holds.
#[derive(Debug, Serialize, Deserialize)]
struct RunRecord {
    kind: String,
    format_version: u32,
    pid: u32,
    started_at: String,
    /// Each target's backup directory, relative to the backup directory.
    targets: Vec<RunTarget>,
}

#[derive(Debug, Serialize, Deserialize)]
struct RunTarget {
    name: String,
    account_id: String,
    region: String,
    backup_dir: String,
}

const RUN_KIND: &str = "a2i-fix-run";

/// Record the run before its first write; the run directory.
pub(super) fn start_run(backup_dir: &Path, rows: &[Row]) -> anyhow::Result<PathBuf> {
    let now = std::time::SystemTime::now();
    let dir = backup_dir.join("runs").join(format!(
        "{}-{}",
        journal::compact_timestamp(now),
        std::process::id()
    ));
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating the run directory `{}`", dir.display()))?;
    let record = RunRecord {
        kind: RUN_KIND.into(),
        format_version: 1,
        pid: std::process::id(),
        started_at: journal::utc_timestamp(now),
        targets: rows
            .iter()
            .filter(|r| r.has_changes())
            .map(|r| RunTarget {
                name: r.target.account.name.clone(),
                account_id: r.target.account.account_id.clone(),
                region: r.target.region.clone(),
                backup_dir: r.target.key(),
            })
            .collect(),
    };
    let path = dir.join(RUN_FILE_NAME);
    let text = serde_json::to_string_pretty(&record)? + "\n";
    std::fs::write(&path, text).with_context(|| format!("writing `{}`", path.display()))?;
    Ok(dir)
}

/// The journals a run wrote: in each target's backup directory, the apply
/// journals of the run's process started since the run began.
pub(super) fn run_journals(run_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let path = run_dir.join(RUN_FILE_NAME);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "`{}` is not the directory of a run (no readable `{RUN_FILE_NAME}`): give a journal, or a directory under `BACKUP_DIR/runs/`",
            run_dir.display()
        )
    })?;
    let record: RunRecord = serde_json::from_str(&text)
        .ok()
        .filter(|r: &RunRecord| r.kind == RUN_KIND)
        .ok_or_else(|| anyhow!("`{}` is not a run record of a2i-fix", path.display()))?;
    let backup_dir = run_dir
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| anyhow!("`{}` is not inside a backup directory", run_dir.display()))?;
    let mut journals = Vec::new();
    for target in &record.targets {
        let dir = backup_dir.join(&target.backup_dir);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .filter(|p| {
                journal::read_journal(p).is_ok_and(|c| {
                    !c.header.rollback
                        && c.header.pid == record.pid
                        && c.header.started_at >= record.started_at
                        && c.header.account_id == target.account_id
                        && c.header.region == target.region
                })
            })
            .collect();
        found.sort();
        journals.extend(found);
    }
    Ok(journals)
}

/// One target's apply (or rollback).
pub(super) struct Applied {
    pub result: anyhow::Result<()>,
    pub journal: Option<PathBuf>,
    /// The report as the single-account command prints it.
    pub report: String,
    /// Changes planned (0: nothing to do).
    pub changes: usize,
}

impl Applied {
    pub fn nothing() -> Applied {
        Applied {
            result: Ok(()),
            journal: None,
            report: String::new(),
            changes: 0,
        }
    }
}

/// Each target's report under its header, then a table of results.
pub(super) fn print_applied(
    rows: &[Row],
    results: &[Option<Applied>],
    run: Option<&Path>,
    accounts_file: &Path,
    console: &mut Console<'_>,
) -> anyhow::Result<()> {
    for (row, applied) in rows.iter().zip(results) {
        if let Some(a) = applied.as_ref().filter(|a| a.changes > 0) {
            writeln!(console.out, "\n=== {} ===", row.target.label())?;
            // The report's rollback command must reach this account too.
            let mut report = a.report.clone();
            if let Some(journal) = &a.journal {
                let command = format!("a2i-fix rollback {}", journal.display());
                report = report.replace(
                    &format!("{command}`"),
                    &format!("{command} --accounts {}`", accounts_file.display()),
                );
            }
            write!(console.out, "{report}")?;
            if let Err(e) = &a.result {
                writeln!(console.out, "Error: {}", one_line(e))?;
            }
        }
    }
    writeln!(console.out)?;
    let mut table = vec![[
        "ACCOUNT".to_string(),
        "REGION".into(),
        "RESULT".into(),
        "JOURNAL".into(),
    ]];
    for (row, applied) in rows.iter().zip(results) {
        let result = match (&row.planned, applied) {
            (Err(e), _) => format!("not reached or not planned: {}", first_line(&one_line(e))),
            (Ok(_), Some(a)) if a.changes == 0 => "nothing to do".into(),
            (Ok(_), Some(a)) => match &a.result {
                Ok(()) => format!("{} change(s) applied", a.changes),
                Err(_) => "failed (see its report above)".into(),
            },
            (Ok(_), None) => "-".into(),
        };
        let journal = applied
            .as_ref()
            .and_then(|a| a.journal.as_ref())
            .map(|j| j.display().to_string())
            .unwrap_or_else(|| "-".into());
        table.push([
            row.target.account.label(),
            row.target.region.clone(),
            result,
            journal,
        ]);
    }
    print_table(&table, [false; 4], console.out)?;
    if let Some(run) = run {
        writeln!(
            console.out,
            "\nTo put back everything this run wrote: a2i-fix rollback {} --accounts {}",
            run.display(),
            accounts_file.display()
        )?;
    }
    console.out.flush()?;
    Ok(())
}

/// Write (or print, for `-`) the accounts file of the organization.
pub fn organization_file(
    command: &FromOrganization,
    listed: &[OrgAccount],
    console: &mut Console<'_>,
) -> anyhow::Result<Outcome> {
    let text = organization::accounts_file(
        listed,
        &FileDefaults {
            role: command.role.clone(),
            external_id: command.external_id.clone(),
            regions: command.regions.clone(),
            spec: command.spec.clone(),
        },
    );
    let active = listed.iter().filter(|a| a.status == "ACTIVE").count();
    if command.out == Path::new("-") {
        console.out.write_all(text.as_bytes())?;
        console.out.flush()?;
        return Ok(Outcome::Success);
    }
    if command.out.exists() && !command.force {
        bail!(
            "`{}` exists: review and edit it by hand, write elsewhere with `--out FILE` (or `--out -`), or replace it with `--force`",
            command.out.display()
        );
    }
    std::fs::write(&command.out, &text)
        .with_context(|| format!("writing `{}`", command.out.display()))?;
    writeln!(
        console.out,
        "Wrote {active} active account(s) of the organization to `{}`. Review it, then run: a2i-fix plan --accounts {}",
        command.out.display(),
        command.out.display()
    )?;
    Ok(Outcome::Success)
}
