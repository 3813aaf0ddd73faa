//! The file `discover` writes: a commented `a2i.toml`, new or merged into
//! an existing one with `toml_edit`, which keeps every entry, comment and
//! blank line it does not change.
//!
//! Merging, per discovered flow definition (matched by `name`):
//! - `role`, `output` and `kms_key` are set from AWS (a flow definition
//!   cannot be changed in place, so AWS is right); a `kms_key` the flow no
//!   longer has is removed;
//! - `input_buckets` keeps the buckets already listed and adds the ones
//!   found;
//! - the comments discover writes (lines starting `# from `, `# UNKNOWN` and
//!   `# discovered `) are replaced, every other comment is kept.
//!
//! Flow definitions in the file but not in the account, `[[human_loop_caller]]`
//! and `[[template_preview]]` tables, and everything else stay as they are.

use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, Value};

use super::{Discovered, Evidence, FlowFound, failure_hint};

/// What merging did, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeNotes {
    pub added: Vec<String>,
    pub updated: Vec<String>,
    /// In the file, not in the account: kept as they were.
    pub not_in_account: Vec<String>,
    /// Discovered but not written, with why (a value the spec refuses).
    pub left_out: Vec<(String, String)>,
    /// The file had no `[[human_loop_caller]]` table.
    pub no_callers: bool,
}

/// Whether a comment line is one discover writes (and replaces).
fn ours(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with("# from ")
        || line.starts_with("# UNKNOWN")
        || line.starts_with("# discovered ")
}

/// `prefix` without discover's comment lines, then `lines`.
fn replace_our_lines(prefix: &str, lines: &[String]) -> String {
    let mut kept: String = prefix.split_inclusive('\n').filter(|l| !ours(l)).collect();
    for line in lines {
        kept.push_str(line);
        kept.push('\n');
    }
    kept
}

fn set_key_comments(table: &mut Table, key: &str, lines: &[String]) {
    if let Some(mut k) = table.key_mut(key) {
        let decor = k.leaf_decor_mut();
        let old = decor
            .prefix()
            .and_then(|p| p.as_str())
            .unwrap_or_default()
            .to_string();
        decor.set_prefix(replace_our_lines(&old, lines));
    }
}

/// Set `key` to `value`, keeping the key's comments and the value's
/// trailing comment.
fn set_value(table: &mut Table, key: &str, value: Value, lines: &[String]) {
    match table.get_mut(key) {
        Some(item) => {
            let mut value = value;
            if let Some(old) = item.as_value() {
                *value.decor_mut() = old.decor().clone();
            }
            *item = Item::Value(value);
        }
        None => {
            table.insert(key, Item::Value(value));
        }
    }
    set_key_comments(table, key, lines);
}

fn string_list(table: &Table, key: &str) -> Vec<String> {
    table
        .get(key)
        .and_then(Item::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The header of a new file.
fn skeleton(d: &Discovered) -> String {
    let account = d
        .account_id
        .as_deref()
        .map(|a| format!("account {a}"))
        .unwrap_or_else(|| "the account".to_string());
    format!(
        "# a2i.toml, written by `a2i-fix discover` on {date} from the flow definitions\n\
         # of {account} in region {region}. Check it, then run `a2i-fix plan`.\n\
         # Each value says where it came from; running `discover` again updates\n\
         # them and keeps every entry and comment you add.\n",
        date = d.date,
        region = d.region
    )
}

/// A commented-out caller table for a file that has none: callers cannot
/// be read from a flow definition.
fn caller_template(d: &Discovered) -> String {
    let mut uses: Vec<&str> = d
        .flows
        .iter()
        .filter_map(|f| f.source.caller_use())
        .collect();
    uses.sort();
    uses.dedup();
    let uses = uses
        .iter()
        .map(|u| format!("\"{u}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let account = d.account_id.as_deref().unwrap_or("ACCOUNT_ID");
    let mut text = format!(
        "\n# Callers cannot be read from the account: add a table for each principal\n\
         # that starts human loops or calls Textract AnalyzeDocument / Rekognition\n\
         # DetectModerationLabels with a human loop, for example:\n\
         #\n\
         # [[human_loop_caller]]\n\
         # principal = \"arn:aws:iam::{account}:role/YOUR-APP\"\n\
         # uses = [{uses}]\n"
    );
    if d.flows.iter().any(FlowFound::public_workforce) {
        text.push_str(
            "# public_workforce = true  # for principals that create flow definitions with the public workforce\n",
        );
    }
    text
}

/// The comments above `[[flow_definition]]` for `flow`.
fn header_lines(flow: &FlowFound, date: &str) -> Vec<String> {
    let mut lines = vec![format!(
        "# discovered {date}: flow definition `{}` ({}), serving {}",
        flow.name,
        flow.status,
        flow.source.describe()
    )];
    match flow.source.caller_use() {
        Some(u) => lines.push(format!(
            "# discovered {date}: its callers need `uses = [\"{u}\"]` in [[human_loop_caller]]"
        )),
        None => lines.push(format!(
            "# discovered {date}: a2i-fix does not know which managed policy its callers need"
        )),
    }
    if flow.public_workforce() {
        lines.push(format!(
            "# discovered {date}: public workforce (Amazon Mechanical Turk): principals that create it need `public_workforce = true`"
        ));
    }
    if let Some(key) = flow.kms_key.as_deref().filter(|k| is_aws_managed(k)) {
        lines.push(format!(
            "# discovered {date}: output encrypted with AWS managed key `{key}`, whose policy cannot be changed: no `kms_key`"
        ));
    }
    if flow.status == "Failed" {
        let reason = flow.failure_reason.as_deref().unwrap_or("no reason given");
        let reason = reason.replace(['\n', '\r'], " ");
        lines.push(format!("# discovered {date}: Failed: {reason}"));
        match failure_hint(&reason) {
            Some(hint) => lines.push(format!(
                "# discovered {date}: {} ({}): `a2i-fix plan` fixes it; then create the flow definition again",
                hint.what,
                hint.requirements.join(", ")
            )),
            None => lines.push(format!(
                "# discovered {date}: not a permission a2i-fix fixes"
            )),
        }
    }
    lines
}

fn is_aws_managed(key: &str) -> bool {
    key.starts_with("alias/aws/") || key.contains(":alias/aws/")
}

/// The `kms_key` to write: none for an AWS managed key.
fn kms_key(flow: &FlowFound) -> Option<&str> {
    flow.kms_key.as_deref().filter(|k| !is_aws_managed(k))
}

/// The comments above `input_buckets`, and the buckets to write.
fn input_lines(flow: &FlowFound, existing: &[String], date: &str) -> (Vec<String>, Vec<String>) {
    let mut buckets: Vec<String> = existing.to_vec();
    let mut lines = Vec::new();
    for (bucket, evidence) in &flow.input_buckets {
        if !buckets.contains(bucket) {
            buckets.push(bucket.clone());
        }
        lines.push(match evidence {
            Evidence::Sample { key } => {
                format!("# from a result of the flow ({key}), {date}: {bucket}")
            }
            Evidence::Flag => format!("# from --input-bucket, {date}: {bucket}"),
        });
    }
    if buckets.is_empty() {
        let why = flow
            .samples_note
            .clone()
            .unwrap_or_else(|| "results not read (run `discover --sample-output`)".to_string());
        lines.push(format!(
            "# UNKNOWN: input buckets not found ({why}); list them here or run `discover --input-bucket {}=BUCKET`: until then R1/R2 are not checked for this flow",
            flow.name
        ));
    }
    (lines, buckets)
}

/// Fill or update one `[[flow_definition]]` table from `flow`.
fn fill(table: &mut Table, flow: &FlowFound, date: &str) {
    let from = |member: &str| {
        vec![format!(
            "# from DescribeFlowDefinition {} ({member}), {date}",
            flow.name
        )]
    };
    let old_prefix = table
        .decor()
        .prefix()
        .and_then(|p| p.as_str())
        .unwrap_or("\n")
        .to_string();
    table
        .decor_mut()
        .set_prefix(replace_our_lines(&old_prefix, &header_lines(flow, date)));
    if table.get("name").is_none() {
        table.insert("name", toml_edit::value(flow.name.as_str()));
    }
    set_value(
        table,
        "role",
        Value::from(flow.role_arn.as_str()),
        &from("RoleArn"),
    );
    let existing = string_list(table, "input_buckets");
    let (lines, buckets) = input_lines(flow, &existing, date);
    let array: Array = buckets.iter().map(String::as_str).collect();
    set_value(table, "input_buckets", Value::Array(array), &lines);
    set_value(
        table,
        "output",
        Value::from(flow.output.as_str()),
        &from("OutputConfig.S3OutputPath"),
    );
    match kms_key(flow) {
        Some(key) => set_value(
            table,
            "kms_key",
            Value::from(key),
            &from("OutputConfig.KmsKeyId"),
        ),
        None => {
            table.remove("kms_key");
        }
    }
}

/// Whether `flow` alone makes a valid spec (with `account_id`); the
/// spec's message when not.
fn check_alone(flow: &FlowFound, account_id: Option<&str>) -> Result<(), String> {
    let mut doc = DocumentMut::new();
    if let Some(a) = account_id {
        doc.insert("account_id", toml_edit::value(a));
    }
    let mut table = Table::new();
    fill(&mut table, flow, "");
    let mut aot = ArrayOfTables::new();
    aot.push(table);
    doc.insert("flow_definition", Item::ArrayOfTables(aot));
    crate::spec::parse(&doc.to_string(), "discovered")
        .map(drop)
        .map_err(|e| match e {
            crate::spec::SpecError::Invalid { key, message, .. } => format!("`{key}`: {message}"),
            other => other.to_string(),
        })
}

/// The file's text: `existing` (an `a2i.toml` already there) with the
/// discovered flow definitions merged in, or a new file.
pub fn render(existing: Option<&str>, d: &Discovered) -> Result<(String, MergeNotes), String> {
    let mut notes = MergeNotes::default();
    let mut doc: DocumentMut = existing
        .unwrap_or_default()
        .parse()
        .map_err(|e: toml_edit::TomlError| format!("it is not valid TOML: {e}"))?;
    if let Some(account) = &d.account_id {
        match doc.get("account_id").and_then(Item::as_str) {
            Some(written) if written != account => {
                return Err(format!(
                    "its `account_id` is `{written}`, but these credentials see the flow definitions of account `{account}`: use the profile of account `{written}`, or write to another file with `--out`"
                ));
            }
            Some(_) => {}
            None => {
                doc.insert("account_id", toml_edit::value(account.as_str()));
                if let Some(mut k) = doc.key_mut("account_id") {
                    k.leaf_decor_mut()
                        .set_prefix(format!("\n# from the flow definitions' ARNs, {}\n", d.date));
                }
            }
        }
    }
    notes.no_callers = doc.get("human_loop_caller").is_none();
    if doc.get("flow_definition").is_none() {
        doc.insert("flow_definition", Item::ArrayOfTables(ArrayOfTables::new()));
    }
    let Some(flows) = doc
        .get_mut("flow_definition")
        .and_then(Item::as_array_of_tables_mut)
    else {
        return Err(
            "its `flow_definition` is not a list of `[[flow_definition]]` tables".to_string(),
        );
    };
    for flow in &d.flows {
        if let Err(why) = check_alone(flow, d.account_id.as_deref()) {
            notes.left_out.push((flow.name.clone(), why));
            continue;
        }
        let at = flows
            .iter()
            .position(|t| t.get("name").and_then(Item::as_str) == Some(flow.name.as_str()));
        match at.and_then(|i| flows.get_mut(i)) {
            Some(table) => {
                fill(table, flow, &d.date);
                notes.updated.push(flow.name.clone());
            }
            None => {
                let mut table = Table::new();
                fill(&mut table, flow, &d.date);
                flows.push(table);
                notes.added.push(flow.name.clone());
            }
        }
    }
    for table in flows.iter() {
        if let Some(name) = table.get("name").and_then(Item::as_str)
            && !d.flows.iter().any(|f| f.name == name)
        {
            notes.not_in_account.push(name.to_string());
        }
    }
    if existing.is_some() {
        return Ok((doc.to_string(), notes));
    }
    doc.set_trailing(caller_template(d));
    Ok((format!("{}{doc}", skeleton(d)), notes))
}

/// The flow definitions of a spec's text whose input buckets are unknown:
/// `input_buckets = []` marked with a `# UNKNOWN` comment (above it, or
/// after it on its line). Text that is not TOML has none.
pub fn unknown_input_flows(text: &str) -> Vec<String> {
    let Ok(doc) = text.parse::<DocumentMut>() else {
        return Vec::new();
    };
    let Some(flows) = doc
        .get("flow_definition")
        .and_then(Item::as_array_of_tables)
    else {
        return Vec::new();
    };
    let marked = |s: Option<&str>| {
        s.is_some_and(|s| s.lines().any(|l| l.trim_start().starts_with("# UNKNOWN")))
    };
    flows
        .iter()
        .filter_map(|t| {
            let (key, item) = t.get_key_value("input_buckets")?;
            let array = item.as_array()?;
            if !array.is_empty() {
                return None;
            }
            let above = key.leaf_decor().prefix().and_then(|p| p.as_str());
            let after = array.decor().suffix().and_then(|p| p.as_str());
            (marked(above) || marked(after))
                .then(|| t.get("name").and_then(Item::as_str).map(str::to_string))
                .flatten()
        })
        .collect()
}
