//! `discover` (write the account's flow definitions as `a2i.toml`) and the
//! discovery half of `plan --discover` (the same, in memory).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};

use super::progress::Spinner;
use super::{Console, Outcome};
use crate::aws::Clients;
use crate::discover::{self, DiscoverOptions, Discovered, MAX_SAMPLES, MergeNotes};
use crate::spec;

/// What the user asked of discovery (`discover` and `plan --discover`).
#[derive(Debug, Clone, Default)]
pub struct DiscoverFlags {
    /// `--sample-output`: read recent results without asking.
    pub sample_output: bool,
    /// `--input-bucket FLOW=BUCKET`, as given.
    pub input_buckets: Vec<String>,
}

/// `discover` options.
#[derive(Debug, Clone)]
pub struct DiscoverCommand {
    /// The file to write (and merge into when it exists); `-` prints it.
    pub out: PathBuf,
    pub flags: DiscoverFlags,
}

/// The discovered spec, as text, with what discovery found.
pub(super) struct DiscoveredSpec {
    pub text: String,
    pub discovered: Discovered,
    pub notes: MergeNotes,
}

/// Parse `--input-bucket` values; an error names the bad one.
fn input_buckets(flags: &DiscoverFlags) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for text in &flags.input_buckets {
        let (flow, bucket) =
            discover::parse_input_bucket(text).map_err(|e| anyhow!("`--input-bucket` {e}"))?;
        map.entry(flow).or_default().push(bucket);
    }
    Ok(map)
}

/// Whether recent results may be read: `--sample-output`, or a yes on a
/// terminal.
fn may_read_samples(flags: &DiscoverFlags, console: &Console<'_>) -> anyhow::Result<bool> {
    if flags.sample_output {
        return Ok(true);
    }
    if !console.stdin_is_terminal {
        return Ok(false);
    }
    let term = console::Term::stderr();
    let answer = dialoguer::Confirm::new()
        .with_prompt(format!(
            "Read up to {MAX_SAMPLES} recent human-loop results of each flow definition (they hold task data) to find its input buckets?"
        ))
        .default(false)
        .interact_on(&term)?;
    Ok(answer)
}

/// Read an existing file to merge into; `None` when there is none.
fn existing(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| {
            anyhow!(
                "cannot merge into `{}`: it is not UTF-8 text; save it as UTF-8 or choose another file with `--out`",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow!(
            "cannot read `{}` to merge into it: {e}; check its permissions or choose another file with `--out`",
            path.display()
        )),
    }
}

/// Discover and render: the shared half of `discover` and `plan --discover`.
/// `merge_into` is the file whose entries are kept (`None`: from nothing).
pub(super) async fn discover_spec(
    clients: &Clients,
    flags: &DiscoverFlags,
    merge_into: Option<&Path>,
    console: &mut Console<'_>,
) -> anyhow::Result<DiscoveredSpec> {
    let input_buckets = input_buckets(flags)?;
    let existing = match merge_into {
        Some(path) => existing(path)?,
        None => None,
    };
    let read_samples = may_read_samples(flags, console)?;
    let spinner = Spinner::start("reading SageMaker flow definitions", console.spinner);
    let discovered = discover::discover(
        clients,
        &DiscoverOptions {
            read_samples,
            input_buckets,
        },
    )
    .await;
    spinner.stop();
    let discovered = discovered.map_err(anyhow::Error::new)?;
    if discovered.flows.is_empty() {
        return Err(anyhow!(
            "no flow definition found in region `{}`{}: check `--region` and the profile (SageMaker `ListFlowDefinitions` returned none); nothing written",
            discovered.region,
            if discovered.skipped.is_empty() {
                String::new()
            } else {
                format!(
                    " that is not being deleted ({} skipped)",
                    discovered.skipped.len()
                )
            }
        ));
    }
    let target = merge_into
        .map(|p| format!("`{}`", p.display()))
        .unwrap_or_else(|| "the new file".to_string());
    let (text, notes) = discover::render(existing.as_deref(), &discovered).map_err(|e| {
        anyhow!("cannot merge the flow definitions into {target}: {e}; nothing written")
    })?;
    Ok(DiscoveredSpec {
        text,
        discovered,
        notes,
    })
}

/// `discover`: read the flow definitions, write (or merge into) the file.
pub async fn discover(
    connection: &super::Connection,
    command: &DiscoverCommand,
    console: &mut Console<'_>,
) -> anyhow::Result<Outcome> {
    let to_stdout = command.out.as_os_str() == "-";
    // Bad flags are refused before any AWS call.
    input_buckets(&command.flags)?;
    let clients = connection.connect().await?;
    let merge_into = (!to_stdout).then_some(command.out.as_path());
    let found = discover_spec(&clients, &command.flags, merge_into, console).await?;
    let shown = command.out.display().to_string();
    spec::parse(&found.text, &shown).map_err(|e| {
        anyhow!("the file discover made does not load ({e}); nothing written: fix the entry it names in `{shown}`, or write to a new file with `--out`")
    })?;
    if to_stdout {
        console.out.write_all(found.text.as_bytes())?;
        console.out.flush()?;
        report(&found, None, console.err)?;
    } else {
        write_atomically(&command.out, &found.text)?;
        report(&found, Some(&command.out), console.out)?;
    }
    Ok(Outcome::Success)
}

/// Write `text` to `path` through a temporary file in the same directory,
/// so that a reader never sees half a file.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(&dir).with_context(|| {
        format!(
            "cannot write `{}`: cannot create a file in `{}`",
            path.display(),
            dir.display()
        )
    })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.as_file().sync_all())
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    file.persist(path)
        .map_err(|e| anyhow!("cannot write `{}`: {}", path.display(), e.error))?;
    Ok(())
}

/// What was found, what was written, and what is left to the user.
pub(super) fn report(
    found: &DiscoveredSpec,
    written: Option<&Path>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let d = &found.discovered;
    let account = d
        .account_id
        .as_deref()
        .map(|a| format!(", account {a}"))
        .unwrap_or_default();
    writeln!(
        out,
        "Found {} flow definition(s) in region {}{account}:",
        d.flows.len(),
        d.region
    )?;
    let width = d.flows.iter().map(|f| f.name.len()).max().unwrap_or(0);
    for flow in &d.flows {
        let mut serves = flow.source.describe();
        if flow.public_workforce() {
            serves.push_str(", public workforce");
        }
        let inputs = if flow.input_buckets.is_empty() {
            "input buckets UNKNOWN".to_string()
        } else {
            let list: Vec<String> = flow
                .input_buckets
                .iter()
                .map(|(b, e)| match e {
                    discover::Evidence::Sample { .. } => format!("{b} (from a result)"),
                    discover::Evidence::Flag => format!("{b} (from --input-bucket)"),
                })
                .collect();
            format!("input {}", list.join(", "))
        };
        writeln!(
            out,
            "  {:width$}  {:<12}  {serves}; {inputs}",
            flow.name, flow.status
        )?;
        if flow.status == "Failed" {
            let reason = flow.failure_reason.as_deref().unwrap_or("no reason given");
            writeln!(out, "      FailureReason: {reason}")?;
            match discover::failure_hint(reason) {
                Some(hint) => writeln!(
                    out,
                    "      {}: {}; `a2i-fix plan` shows the fix and `apply` makes it, then create the flow definition again",
                    hint.requirements.join(", "),
                    hint.what
                )?,
                None => writeln!(out, "      not a permission a2i-fix fixes")?,
            }
        }
    }
    for (name, why) in &d.skipped {
        writeln!(out, "  {name:width$}  skipped: {why}")?;
    }
    writeln!(out)?;
    let notes = &found.notes;
    if let Some(path) = written {
        writeln!(
            out,
            "Wrote `{}`: {} flow definition(s) added, {} updated.",
            path.display(),
            notes.added.len(),
            notes.updated.len()
        )?;
    }
    for (name, why) in &notes.left_out {
        writeln!(
            out,
            "Left out flow definition `{name}`: {why}. Add it by hand if a2i-fix should check it."
        )?;
    }
    if !notes.not_in_account.is_empty() {
        writeln!(
            out,
            "Kept, though not in the account: {}. Remove them if their flow definitions were deleted.",
            quoted(&notes.not_in_account)
        )?;
    }
    let unknown: Vec<String> = d
        .flows
        .iter()
        .filter(|f| f.input_buckets.is_empty())
        .map(|f| f.name.clone())
        .collect();
    if !unknown.is_empty() {
        writeln!(
            out,
            "Input buckets unknown for {} (marked `# UNKNOWN`): `plan` does not check R1/R2 for them.",
            quoted(&unknown)
        )?;
        for flow in d.flows.iter().filter(|f| f.input_buckets.is_empty()) {
            if let Some(note) = &flow.samples_note {
                writeln!(out, "  {}: {note}", flow.name)?;
            }
        }
        if d.flows.iter().all(|f| f.samples_note.is_none()) {
            writeln!(
                out,
                "  Their recent results were not read (they hold task data): run again with `--sample-output` to read up to {MAX_SAMPLES} per flow definition, or give `--input-bucket FLOW=BUCKET`."
            )?;
        } else {
            writeln!(out, "  Give them with `--input-bucket FLOW=BUCKET`.")?;
        }
    }
    writeln!(
        out,
        "Callers cannot be read from a flow definition: the principals that start human loops are yours to add as [[human_loop_caller]] tables{}.",
        if notes.no_callers {
            " (the file ends with an example)"
        } else {
            " (the ones in the file were kept)"
        }
    )?;
    if let Some(path) = written {
        writeln!(out, "Next: a2i-fix plan --spec {}", path.display())?;
    }
    Ok(())
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Warn, on `err`, about the flow definitions of a spec's text whose input
/// buckets are marked unknown.
pub(super) fn warn_unknown_inputs(
    text: &str,
    spec_name: &str,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    for name in discover::unknown_input_flows(text) {
        writeln!(
            err,
            "warning: flow definition `{name}`: its input buckets are unknown (`# UNKNOWN` in `{spec_name}`), so R1 (CORS on them) and R2 (its role reading them) are not checked; list them in `input_buckets`, or run `a2i-fix discover --sample-output` or `--input-bucket {name}=BUCKET`"
        )?;
    }
    Ok(())
}
