//! `discover`: read the account's A2I set-up (its flow definitions) and
//! write it as an `a2i.toml` that `plan` reads.
//!
//! | file | what it holds |
//! |---|---|
//! | `mod.rs` | the discovered values ([`Discovered`], [`FlowFound`]) and [`discover`], the reads in order |
//! | `sagemaker.rs` | the SageMaker reads: `ListFlowDefinitions` (paginated), `DescribeFlowDefinition` |
//! | `samples.rs` | the S3 reads of recent human-loop results (`ListObjectsV2`, `GetObject`) |
//! | `evidence.rs` | pure: input buckets out of a result's `inputContent`, failure reasons into requirements |
//! | `toml_file.rs` | pure: the commented file, new or merged into an existing one (`toml_edit`), and the `# UNKNOWN` marker |
//!
//! # Where each value comes from
//!
//! - `role` is the flow definition's `RoleArn`, `output` its
//!   `OutputConfig.S3OutputPath`, `kms_key` its `OutputConfig.KmsKeyId`
//!   (`DescribeFlowDefinition`).
//! - The integrated service (`HumanLoopRequestSource.AwsManagedHumanLoopRequestSource`)
//!   and the public workforce (`HumanLoopConfig.WorkteamArn` containing
//!   `workteam/public-crowd/`) concern the callers, which a flow definition
//!   does not name: they are written as comments, for the user's
//!   `[[human_loop_caller]]` tables.
//! - Input buckets are not stored on a flow definition. They come from
//!   evidence, each bucket with its source: recent results the flow wrote
//!   (`S3OutputPath/<flow name>/.../output.json`, whose `inputContent` holds
//!   the input), read only when the user agrees since they hold task data,
//!   and `--input-bucket FLOW=BUCKET`. A flow with none is written with
//!   `input_buckets = []` and a `# UNKNOWN` comment, which `plan` and `apply`
//!   warn about.
//! - `account_id` is the account of the flow definitions' ARNs.
//!
//! Every SageMaker failure is an error naming the call and what to do (the
//! file is the account's A2I set-up: half of it would be wrong); a sample
//! that cannot be read only leaves that flow's input buckets unknown, and
//! says why.

use std::collections::BTreeMap;

use crate::aws::Clients;

mod evidence;
mod sagemaker;
mod samples;
mod toml_file;

#[cfg(test)]
mod tests;

pub use evidence::{FailureHint, buckets_in_output, failure_hint};
pub use sagemaker::DiscoverError;
pub use samples::MAX_SAMPLES;
pub use toml_file::{MergeNotes, render, unknown_input_flows};

/// The integrated AWS service a flow definition serves, from its
/// `HumanLoopRequestSource.AwsManagedHumanLoopRequestSource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestSource {
    /// No managed source: a custom task type, started with `StartHumanLoop`.
    Custom,
    /// `AWS/Textract/AnalyzeDocument/Forms/V1`.
    Textract,
    /// `AWS/Rekognition/DetectModerationLabels/Image/V3`.
    Rekognition,
    /// A source a2i-fix does not know yet, as AWS wrote it.
    Other(String),
}

impl RequestSource {
    /// From the `AwsManagedHumanLoopRequestSource` value, if any.
    pub fn from_managed(value: Option<&str>) -> RequestSource {
        match value {
            None => RequestSource::Custom,
            Some(v) if v.starts_with("AWS/Textract/") => RequestSource::Textract,
            Some(v) if v.starts_with("AWS/Rekognition/") => RequestSource::Rekognition,
            Some(v) => RequestSource::Other(v.to_string()),
        }
    }

    /// The `uses` value of `[[human_loop_caller]]` that fits.
    pub fn caller_use(&self) -> Option<&'static str> {
        match self {
            RequestSource::Custom => Some("custom"),
            RequestSource::Textract => Some("textract"),
            RequestSource::Rekognition => Some("rekognition"),
            RequestSource::Other(_) => None,
        }
    }

    /// In words, for comments and the report.
    pub fn describe(&self) -> String {
        match self {
            RequestSource::Custom => "a custom task type (StartHumanLoop)".to_string(),
            RequestSource::Textract => "Textract AnalyzeDocument".to_string(),
            RequestSource::Rekognition => "Rekognition DetectModerationLabels".to_string(),
            RequestSource::Other(v) => format!("the AWS managed source `{v}`"),
        }
    }
}

/// Where an input bucket was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// In the `inputContent` of a result the flow wrote (the object's key).
    Sample { key: String },
    /// `--input-bucket FLOW=BUCKET`.
    Flag,
}

/// One flow definition, as described by SageMaker, with what was found
/// about its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowFound {
    pub name: String,
    pub arn: String,
    /// `Initializing`, `Active`, `Failed` or `Deleting`.
    pub status: String,
    pub failure_reason: Option<String>,
    pub role_arn: String,
    /// `OutputConfig.S3OutputPath`.
    pub output: String,
    /// `OutputConfig.KmsKeyId`, as AWS returned it.
    pub kms_key: Option<String>,
    pub source: RequestSource,
    /// `HumanLoopConfig.WorkteamArn`.
    pub workteam_arn: Option<String>,
    /// Input buckets, each with its first evidence, in the order found.
    pub input_buckets: Vec<(String, Evidence)>,
    /// Why samples gave nothing (not read, none written yet, unreadable).
    pub samples_note: Option<String>,
}

impl FlowFound {
    /// The workteam is the public workforce (Amazon Mechanical Turk): an
    /// AWS-owned workteam whose ARN holds `workteam/public-crowd/` (never
    /// judged by its account).
    pub fn public_workforce(&self) -> bool {
        self.workteam_arn
            .as_deref()
            .is_some_and(|arn| arn.contains(":workteam/public-crowd/"))
    }

    /// Add an input bucket unless already known.
    pub fn add_input(&mut self, bucket: &str, evidence: Evidence) {
        if !self.input_buckets.iter().any(|(b, _)| b == bucket) {
            self.input_buckets.push((bucket.to_string(), evidence));
        }
    }
}

/// What discovery found in one account and region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// From the flow definitions' ARNs; `None` when there are none.
    pub account_id: Option<String>,
    pub region: String,
    /// `YYYY-MM-DD` (UTC), written beside each value.
    pub date: String,
    /// Sorted by name.
    pub flows: Vec<FlowFound>,
    /// Flow definitions left out (being deleted), with why.
    pub skipped: Vec<(String, String)>,
}

/// What the user allowed and gave.
#[derive(Debug, Clone, Default)]
pub struct DiscoverOptions {
    /// Read recent results of each flow to find its input buckets.
    pub read_samples: bool,
    /// `--input-bucket FLOW=BUCKET`, by flow name.
    pub input_buckets: BTreeMap<String, Vec<String>>,
}

/// Parse `FLOW=BUCKET` (`--input-bucket`); the bucket name is checked.
pub fn parse_input_bucket(text: &str) -> Result<(String, String), String> {
    let Some((flow, bucket)) = text.split_once('=') else {
        return Err(format!(
            "`{text}` is not `FLOW=BUCKET`: give a flow definition name and a bucket, e.g. `invoice-review=acme-a2i-input`"
        ));
    };
    let (flow, bucket) = (flow.trim(), bucket.trim());
    if flow.is_empty() {
        return Err(format!("`{text}` names no flow definition before `=`"));
    }
    crate::spec::check_bucket_name(bucket)
        .map_err(|e| format!("`{text}`: bucket `{bucket}`: {e}"))?;
    Ok((flow.to_string(), bucket.to_string()))
}

/// Read the flow definitions, then (when allowed) samples of their output,
/// and add the user's input buckets. A `--input-bucket` naming a flow
/// definition that does not exist is an error (a typo would otherwise be
/// silently dropped).
pub async fn discover(
    clients: &Clients,
    options: &DiscoverOptions,
) -> Result<Discovered, DiscoverError> {
    let (mut flows, skipped) = sagemaker::read_flow_definitions(clients).await?;
    for name in options.input_buckets.keys() {
        if !flows.iter().any(|f| &f.name == name) {
            let known: Vec<String> = flows.iter().map(|f| format!("`{}`", f.name)).collect();
            return Err(DiscoverError::UnknownFlow {
                name: name.clone(),
                region: clients.region.clone(),
                known: if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                },
            });
        }
    }
    if options.read_samples {
        samples::read_samples(clients, &mut flows).await;
    }
    for flow in &mut flows {
        if let Some(buckets) = options.input_buckets.get(&flow.name) {
            for bucket in buckets {
                flow.add_input(bucket, Evidence::Flag);
            }
        }
    }
    let account_id = flows.iter().find_map(|f| arn_account(&f.arn));
    Ok(Discovered {
        account_id,
        region: clients.region.clone(),
        date: today(),
        flows,
        skipped,
    })
}

/// The account id of an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:...`).
fn arn_account(arn: &str) -> Option<String> {
    let account = arn.split(':').nth(4)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
        .then(|| account.to_string())
}

/// Today's date (UTC), `YYYY-MM-DD`.
fn today() -> String {
    let now = aws_sdk_sagemaker::primitives::DateTime::from(std::time::SystemTime::now());
    now.fmt(aws_sdk_sagemaker::primitives::DateTimeFormat::DateTime)
        .map(|s| s.chars().take(10).collect())
        .unwrap_or_else(|_| "unknown date".to_string())
}
