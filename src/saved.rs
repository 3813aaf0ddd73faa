//! Saved plans (`plan --out FILE`, `show FILE`, `apply FILE`).
//!
//! The file is the plan's JSON (the same fields as `plan --json`: format
//! version, account, region, spec hash, changes with address, action,
//! target, the exact document to write, the fingerprint of the document it
//! replaces and the digest of the document to write), plus two fields:
//! `"kind": "a2i-fix saved plan"` and `"plan_digest"`, the digest of the
//! compact JSON of everything else.
//!
//! Decisions:
//! - Loading checks, in order: the file is JSON; its `format_version` is one
//!   this build knows (checked before anything else is interpreted, so an
//!   old binary gives a clear message about a newer file); every change's
//!   `after` matches its `after_digest` (names the first change that does
//!   not: the precise message for the common hand edit); then the plan
//!   digest (catches edits of anything else: a target, an address, an
//!   action, a fingerprint).
//! - For a `Delete` change (`after` is `None`), `after_digest` is
//!   `model::fingerprint(None)`, i.e. `absent`.
//! - The digests catch accidental and careless edits. They are not a
//!   signature: anyone who can write the file can recompute them. Protect a
//!   saved plan like the change it describes (review it where it is stored).
//! - The account and region are checked against the account apply is
//!   connected to ([`check_account`]), not at load time: `show` must work
//!   without AWS.

use std::io::Write;
use std::path::Path;

use crate::model::fingerprint;
use crate::plan::{self, Plan};

/// Marks a saved plan file.
pub const SAVED_PLAN_KIND: &str = "a2i-fix saved plan";

#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    #[error("cannot write saved plan `{file}`: {source}")]
    Write {
        file: String,
        source: std::io::Error,
    },
    #[error("cannot read saved plan `{file}`: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("saved plan `{file}` is not valid JSON: {message}")]
    NotJson { file: String, message: String },
    #[error("saved plan `{file}` has no `format_version`: it is not an a2i-fix saved plan")]
    NoVersion { file: String },
    #[error(
        "saved plan `{file}` has format version {found}, this a2i-fix knows version {known}: use the a2i-fix that wrote it, or plan again"
    )]
    UnknownVersion {
        file: String,
        found: u64,
        known: u32,
    },
    #[error("saved plan `{file}` does not have the expected shape: {message}")]
    Shape { file: String, message: String },
    #[error(
        "saved plan `{file}` was edited after it was written: change `{address}` no longer matches its digest; plan again"
    )]
    EditedChange { file: String, address: String },
    #[error(
        "saved plan `{file}` was edited after it was written: it no longer matches its plan digest; plan again"
    )]
    EditedPlan { file: String },
    #[error(
        "saved plan was made for account {planned}, but the credentials in use are for account {connected}: use the profile for account {planned}, or plan again"
    )]
    WrongAccount { planned: String, connected: String },
    #[error(
        "saved plan was made for region `{planned}`, but the region in use is `{connected}`: pass `--region {planned}`, or plan again"
    )]
    WrongRegion { planned: String, connected: String },
}

use crate::plan::plan_digest;

/// The saved-plan JSON text for `plan` (pretty, with a trailing newline).
pub fn to_saved_json(plan: &Plan) -> String {
    let mut map = serde_json::Map::new();
    map.insert("kind".to_string(), SAVED_PLAN_KIND.into());
    if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(plan) {
        map.extend(fields);
    }
    map.insert("plan_digest".to_string(), plan_digest(plan).into());
    let mut text =
        serde_json::to_string_pretty(&serde_json::Value::Object(map)).unwrap_or_default();
    text.push('\n');
    text
}

/// Write `plan` to `file` (written to a temporary file beside it, then renamed,
/// so a reader never sees half a plan; the temporary file is removed on error).
pub fn write_saved_plan(file: &Path, plan: &Plan) -> Result<(), SavedPlanError> {
    let werr = |source| SavedPlanError::Write {
        file: file.display().to_string(),
        source,
    };
    let dir = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".a2i-fix-plan-").suffix(".tmp");
    // The mode a plain file gets (0666 less the umask), not tempfile's 0600:
    // a saved plan is for review, like the spec it came from.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(werr)?;
    tmp.write_all(to_saved_json(plan).as_bytes())
        .map_err(werr)?;
    tmp.persist(file).map_err(|e| werr(e.error))?;
    Ok(())
}

/// Read and check a saved plan (see module docs for the checks).
pub fn load_saved_plan(file: &Path) -> Result<Plan, SavedPlanError> {
    let name = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|source| SavedPlanError::Read {
        file: name.clone(),
        source,
    })?;
    parse_saved_plan(&name, &text)
}

/// [`load_saved_plan`] on text; `file` is only used in messages.
pub fn parse_saved_plan(file: &str, text: &str) -> Result<Plan, SavedPlanError> {
    let file = file.to_string();
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| SavedPlanError::NotJson {
            file: file.clone(),
            message: e.to_string(),
        })?;
    let serde_json::Value::Object(mut map) = value else {
        return Err(SavedPlanError::Shape {
            file,
            message: "the top level is not an object".to_string(),
        });
    };
    let version = map
        .get("format_version")
        .ok_or_else(|| SavedPlanError::NoVersion { file: file.clone() })?;
    let version = version
        .as_u64()
        .ok_or_else(|| SavedPlanError::NoVersion { file: file.clone() })?;
    if version != u64::from(plan::FORMAT_VERSION) {
        return Err(SavedPlanError::UnknownVersion {
            file,
            found: version,
            known: plan::FORMAT_VERSION,
        });
    }
    match map.remove("kind") {
        Some(serde_json::Value::String(k)) if k == SAVED_PLAN_KIND => {}
        _ => {
            return Err(SavedPlanError::Shape {
                file,
                message: format!(
                    "`kind` is not `{SAVED_PLAN_KIND}` (a `plan --json` output is not a saved plan: use `plan --out FILE`)"
                ),
            });
        }
    }
    let recorded_plan_digest = match map.remove("plan_digest") {
        Some(serde_json::Value::String(d)) => d,
        _ => {
            return Err(SavedPlanError::Shape {
                file,
                message: "`plan_digest` is missing".to_string(),
            });
        }
    };
    let plan: Plan = serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| {
        SavedPlanError::Shape {
            file: file.clone(),
            message: e.to_string(),
        }
    })?;
    // Apply treats an empty spec hash as a rollback plan (which may remove
    // what an apply added); a plan saved by `plan --out` always has one.
    if !plan.spec_hash.starts_with("sha256:") {
        return Err(SavedPlanError::Shape {
            file,
            message: "`spec_hash` is not a `sha256:` digest of a spec".to_string(),
        });
    }
    for change in &plan.changes {
        if fingerprint(change.after.as_deref()) != change.after_digest {
            return Err(SavedPlanError::EditedChange {
                file,
                address: change.address.clone(),
            });
        }
    }
    if plan_digest(&plan) != recorded_plan_digest {
        return Err(SavedPlanError::EditedPlan { file });
    }
    Ok(plan)
}

/// Refuse a plan made for another account or region than the one connected.
pub fn check_account(plan: &Plan, account_id: &str, region: &str) -> Result<(), SavedPlanError> {
    if plan.account_id != account_id {
        return Err(SavedPlanError::WrongAccount {
            planned: plan.account_id.clone(),
            connected: account_id.to_string(),
        });
    }
    if plan.region != region {
        return Err(SavedPlanError::WrongRegion {
            planned: plan.region.clone(),
            connected: region.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, Target, digest};
    use crate::plan::{Change, Summary};

    fn sample() -> Plan {
        let after = "{\n  \"CORSRules\": [\n    {\n      \"AllowedMethods\": [\"GET\"],\n      \"AllowedOrigins\": [\"*\"]\n    }\n  ]\n}".to_string();
        Plan {
            format_version: plan::FORMAT_VERSION,
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            spec_hash: "sha256:abc".into(),
            changes: vec![Change {
                address: "aws_s3_bucket_cors_configuration.in".into(),
                action: Action::Create,
                target: Target::BucketCors {
                    bucket: "in".into(),
                },
                requirements: vec!["R1".into()],
                reason: "A2I workers load images from the bucket".into(),
                before: None,
                after_digest: digest(&after),
                after: Some(after),
                before_fingerprint: fingerprint(None),
                replaced_sids: vec![],
            }],
            summary: Summary {
                add: 1,
                change: 0,
                destroy: 0,
            },
            warnings: vec![],
            api_calls: Default::default(),
        }
    }

    #[test]
    fn a_saved_plan_loads_back_equal() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.json");
        write_saved_plan(&f, &sample()).unwrap();
        assert_eq!(load_saved_plan(&f).unwrap(), sample());
    }

    #[test]
    fn a_saved_plan_posing_as_a_rollback_plan_is_refused() {
        // An empty spec hash would switch off the nothing-lost guard, even
        // with every digest recomputed.
        let mut plan = sample();
        plan.spec_hash = String::new();
        let err = parse_saved_plan("p.json", &to_saved_json(&plan)).unwrap_err();
        assert!(err.to_string().contains("spec_hash"), "{err}");
    }

    #[test]
    fn an_edited_document_is_refused_naming_the_change() {
        let text = to_saved_json(&sample()).replace("\\\"GET\\\"", "\\\"PUT\\\"");
        assert!(text.contains("PUT"));
        let err = parse_saved_plan("p.json", &text).unwrap_err();
        assert_eq!(
            err.to_string(),
            "saved plan `p.json` was edited after it was written: change `aws_s3_bucket_cors_configuration.in` no longer matches its digest; plan again"
        );
    }

    #[test]
    fn an_edited_target_is_refused_by_the_plan_digest() {
        let text = to_saved_json(&sample()).replace("\"bucket\": \"in\"", "\"bucket\": \"other\"");
        assert!(text.contains("other"));
        assert!(matches!(
            parse_saved_plan("p.json", &text),
            Err(SavedPlanError::EditedPlan { .. })
        ));
    }

    #[test]
    fn an_unknown_format_version_is_refused() {
        let text =
            to_saved_json(&sample()).replace("\"format_version\": 1", "\"format_version\": 99");
        assert!(matches!(
            parse_saved_plan("p.json", &text),
            Err(SavedPlanError::UnknownVersion { found: 99, .. })
        ));
    }

    #[test]
    fn plan_json_without_kind_is_not_a_saved_plan() {
        let text = serde_json::to_string(&sample()).unwrap();
        assert!(matches!(
            parse_saved_plan("p.json", &text),
            Err(SavedPlanError::Shape { .. })
        ));
    }

    #[test]
    fn another_account_or_region_is_refused() {
        let p = sample();
        assert!(check_account(&p, "123456789012", "us-east-1").is_ok());
        assert!(matches!(
            check_account(&p, "210987654321", "us-east-1"),
            Err(SavedPlanError::WrongAccount { .. })
        ));
        assert!(matches!(
            check_account(&p, "123456789012", "eu-west-1"),
            Err(SavedPlanError::WrongRegion { .. })
        ));
    }
}
