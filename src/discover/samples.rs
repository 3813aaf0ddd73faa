//! Reading a few recent results of each flow definition, to find its input
//! buckets. A2I writes each human loop's result to
//! `S3OutputPath/<flow name>/YYYY/MM/DD/hh/mm/ss/<loop>/output.json`: the
//! keys sort by time, so the newest results are found by walking down the
//! greatest prefix of each level (`ListObjectsV2` with `/` as delimiter and
//! a small page) instead of listing every result. At most [`MAX_SAMPLES`]
//! objects are read per flow, and at most [`MAX_LISTS`] listings made.
//!
//! A failure here never fails `discover`: the flow's input buckets stay
//! unknown, and the note says why.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::result::SdkError;

use super::{Evidence, FlowFound, buckets_in_output};
use crate::aws::Clients;
use crate::state::describe_fault;

/// Results read per flow definition.
pub const MAX_SAMPLES: usize = 3;
/// Listings per flow definition.
const MAX_LISTS: usize = 24;
/// Keys per listing page.
const PAGE: i32 = 50;
/// A result larger than this is not read.
const MAX_BYTES: i64 = 4 * 1024 * 1024;

pub(super) async fn read_samples(clients: &Clients, flows: &mut [FlowFound]) {
    for flow in flows.iter_mut() {
        if let Err(note) = sample_flow(clients, flow).await {
            flow.samples_note = Some(note);
        }
    }
}

/// Read the newest results of `flow` and add the buckets they name.
async fn sample_flow(clients: &Clients, flow: &mut FlowFound) -> Result<(), String> {
    let output = crate::spec::parse_s3_url(&flow.output)
        .map_err(|e| format!("its output path `{}` is not usable: {e}", flow.output))?;
    let root = format!("{}{}/", output.prefix, flow.name);
    let where_ = format!("s3://{}/{root}", output.bucket);
    let keys = newest_results(clients, &output.bucket, &root)
        .await
        .map_err(|e| format!("cannot list `{where_}`: {e}"))?;
    if keys.is_empty() {
        return Err(format!("no result written yet under `{where_}`"));
    }
    let mut read = 0;
    let mut problems = Vec::new();
    for key in &keys {
        match read_result(clients, &output.bucket, key).await {
            Ok(value) => {
                read += 1;
                for bucket in buckets_in_output(&value, &flow.source) {
                    flow.add_input(&bucket, Evidence::Sample { key: key.clone() });
                }
            }
            Err(e) => problems.push(format!("`s3://{}/{key}`: {e}", output.bucket)),
        }
    }
    if flow
        .input_buckets
        .iter()
        .any(|(_, e)| matches!(e, Evidence::Sample { .. }))
    {
        return Ok(());
    }
    match problems.first() {
        Some(first) if read == 0 => Err(format!("cannot read its results: {first}")),
        _ => Err(format!(
            "its {read} most recent result(s) under `{where_}` name no S3 input"
        )),
    }
}

/// The keys of the newest `output.json` objects below `root`, newest
/// first, at most [`MAX_SAMPLES`].
async fn newest_results(
    clients: &Clients,
    bucket: &str,
    root: &str,
) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_string()];
    let mut lists = 0;
    while let Some(prefix) = stack.pop() {
        if found.len() >= MAX_SAMPLES || lists >= MAX_LISTS {
            break;
        }
        let mut prefixes = Vec::new();
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            lists += 1;
            let page = clients
                .s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(&prefix)
                .delimiter("/")
                .max_keys(PAGE)
                .set_continuation_token(token.clone())
                .send()
                .await
                .map_err(|e| s3_error("ListObjectsV2", "s3:ListBucket", e))?;
            prefixes.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(str::to_string)),
            );
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .filter(|k| k.ends_with("/output.json"))
                    .map(str::to_string),
            );
            token = page
                .next_continuation_token()
                .filter(|_| page.is_truncated() == Some(true))
                .map(str::to_string);
            if token.is_none() || lists >= MAX_LISTS {
                break;
            }
        }
        keys.sort();
        found.extend(keys.into_iter().rev().take(MAX_SAMPLES - found.len()));
        // Popped greatest first: the newest time, then the next newest.
        prefixes.sort();
        stack.extend(prefixes);
    }
    Ok(found)
}

/// One result, parsed.
async fn read_result(
    clients: &Clients,
    bucket: &str,
    key: &str,
) -> Result<serde_json::Value, String> {
    let object = clients
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| s3_error("GetObject", "s3:GetObject", e))?;
    if object.content_length().is_some_and(|n| n > MAX_BYTES) {
        return Err(format!("larger than {MAX_BYTES} bytes, not read"));
    }
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| format!("reading the object failed: {e}"))?
        .into_bytes();
    serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))
}

fn s3_error<E, R>(call: &str, action: &str, error: SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = match &error {
        SdkError::ServiceError(s) => s.err().code().map(str::to_string),
        _ => None,
    };
    match code.as_deref() {
        Some("AccessDenied" | "AccessDeniedException") => {
            format!("access denied calling `{call}`: grant `{action}` to read samples")
        }
        Some("NoSuchBucket") => "the output bucket does not exist".to_string(),
        code => format!("`{call}` failed: {}", describe_fault(&error, code)),
    }
}
