//! Building the SDK clients: profile, region, endpoint (S3 path-style with a
//! custom endpoint), credentials that fail fast, and an API call counter.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Where to connect; `None` fields fall back to the standard AWS environment
/// variables and config files.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

/// Counts API calls by operation name (`s3:GetBucketCors`, ...).
#[derive(Debug, Clone, Default)]
pub struct ApiCounter(Arc<Mutex<BTreeMap<String, u64>>>);

impl ApiCounter {
    pub fn record(&self, operation: &str) {
        if let Ok(mut map) = self.0.lock() {
            *map.entry(operation.to_string()).or_insert(0) += 1;
        }
    }
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

/// The SDK clients a2i-fix uses, sharing one configuration.
#[derive(Debug, Clone)]
pub struct Clients {
    pub iam: aws_sdk_iam::Client,
    pub s3: aws_sdk_s3::Client,
    pub kms: aws_sdk_kms::Client,
    pub sts: aws_sdk_sts::Client,
    pub region: String,
    pub counter: ApiCounter,
}

/// Build the clients. Fails within about two seconds, with a message on how
/// to configure credentials, when none are configured.
pub async fn connect(_options: &AwsOptions) -> anyhow::Result<Clients> {
    todo!()
}
