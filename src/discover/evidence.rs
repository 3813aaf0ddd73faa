//! Pure judgements of `discover`: which input buckets a human-loop result
//! names, and which requirement a failure reason points at.

use serde_json::Value;

use super::RequestSource;

/// The input buckets named by one result (`output.json`) of a flow:
/// its `inputContent` (an object, or JSON text) holds the input. Textract:
/// `aiServiceRequest.document.s3Object.bucket`; Rekognition:
/// `aiServiceRequest.image.s3Object.bucket`; and, for every source, any
/// `s3://` URL or S3 HTTPS URL in its strings (custom task types put
/// their input anywhere). Only valid bucket names are returned, each once,
/// in the order found.
pub fn buckets_in_output(result: &Value, source: &RequestSource) -> Vec<String> {
    let mut found = Vec::new();
    let Some(input) = result.get("inputContent") else {
        return found;
    };
    let parsed;
    let input = match input {
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(value) => {
                parsed = value;
                &parsed
            }
            Err(_) => input,
        },
        _ => input,
    };
    let managed = match source {
        RequestSource::Textract => Some("/aiServiceRequest/document/s3Object/bucket"),
        RequestSource::Rekognition => Some("/aiServiceRequest/image/s3Object/bucket"),
        _ => None,
    };
    if let Some(bucket) = managed
        .and_then(|pointer| input.pointer(pointer))
        .and_then(Value::as_str)
    {
        push_bucket(&mut found, bucket);
    }
    walk_strings(input, &mut |s| {
        for bucket in buckets_in_text(s) {
            push_bucket(&mut found, &bucket);
        }
    });
    found
}

fn push_bucket(found: &mut Vec<String>, bucket: &str) {
    if crate::spec::check_bucket_name(bucket).is_ok() && !found.iter().any(|b| b == bucket) {
        found.push(bucket.to_string());
    }
}

fn walk_strings(value: &Value, f: &mut dyn FnMut(&str)) {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|v| walk_strings(v, f)),
        Value::Object(map) => map.values().for_each(|v| walk_strings(v, f)),
        _ => {}
    }
}

/// Bucket names of the `s3://BUCKET/...` and S3 HTTPS URLs in `text`
/// (virtual-hosted `https://BUCKET.s3[.-]REGION.amazonaws.com/...` and
/// path-style `https://s3[.-]REGION.amazonaws.com/BUCKET/...`).
pub(super) fn buckets_in_text(text: &str) -> Vec<String> {
    let mut buckets = Vec::new();
    let ends = |c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == '"';
    for (at, _) in text.match_indices("s3://") {
        let rest = &text[at + "s3://".len()..];
        let bucket = rest.split(ends).next().unwrap_or_default();
        if !bucket.is_empty() {
            buckets.push(bucket.to_string());
        }
    }
    for (at, _) in text.match_indices("https://") {
        let rest = &text[at + "https://".len()..];
        let host = rest.split(ends).next().unwrap_or_default();
        let host = host
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let Some(base) = host
            .strip_suffix(".amazonaws.com")
            .or_else(|| host.strip_suffix(".amazonaws.com.cn"))
        else {
            continue;
        };
        let is_s3 = |label: &str| label == "s3" || label.starts_with("s3-");
        let path_style = base.split('.').next().is_some_and(is_s3);
        if path_style {
            let path = &rest[host.len()..];
            let path = path.strip_prefix('/').unwrap_or_default();
            let bucket = path.split(ends).next().unwrap_or_default();
            if !bucket.is_empty() {
                buckets.push(bucket.to_string());
            }
            continue;
        }
        // Virtual-hosted: the bucket is everything before `.s3.` / `.s3-`.
        let labels: Vec<&str> = base.split('.').collect();
        if let Some(s3_at) = labels.iter().position(|l| is_s3(l))
            && s3_at > 0
        {
            buckets.push(labels[..s3_at].join("."));
        }
    }
    buckets
}

/// What a `Failed` flow definition's `FailureReason` says a2i-fix can fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureHint {
    /// The requirements (`R2`...) the reason points at.
    pub requirements: Vec<&'static str>,
    /// In words.
    pub what: &'static str,
}

/// The permission problem a failure reason describes, when it is one
/// a2i-fix fixes; `None` otherwise. Judged on words AWS uses in these
/// reasons (assume, S3 and its calls, KMS and keys), case-insensitively.
pub fn failure_hint(reason: &str) -> Option<FailureHint> {
    let r = reason.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| r.contains(w));
    if has(&["assume", "trust"]) {
        return Some(FailureHint {
            requirements: vec!["R4"],
            what: "SageMaker cannot assume the flow definition's role (its trust policy)",
        });
    }
    if has(&["kms", "encrypt", "decrypt", "generatedatakey", " key "]) {
        return Some(FailureHint {
            requirements: vec!["R5"],
            what: "the flow definition's role cannot use the output's KMS key",
        });
    }
    let s3 = has(&["s3", "bucket", "object"]);
    if s3 && has(&["putobject", "write", "output", "upload"]) {
        return Some(FailureHint {
            requirements: vec!["R3"],
            what: "the flow definition's role cannot write to the output path",
        });
    }
    if s3 && has(&["getobject", "read", "input", "download"]) {
        return Some(FailureHint {
            requirements: vec!["R2"],
            what: "the flow definition's role cannot read the input",
        });
    }
    if s3
        && has(&[
            "access denied",
            "accessdenied",
            "not authorized",
            "permission",
        ])
    {
        return Some(FailureHint {
            requirements: vec!["R2", "R3"],
            what: "the flow definition's role cannot read or write S3",
        });
    }
    None
}
