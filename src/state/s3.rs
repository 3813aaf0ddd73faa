//! S3 reads: a bucket's CORS configuration (input buckets only), its
//! default encryption, which also proves the bucket exists, and its bucket
//! policy, whose Denies can block what A2I does.

use crate::policy::{CorsConfiguration, CorsRule};

use super::errors::{call_error, code};
use super::{BucketEncryption, BucketState, Reader, StateError};

/// The text form of a CORS configuration used for fingerprints: compact JSON
/// of the serde derive of [`CorsConfiguration`].
pub fn cors_text(config: &CorsConfiguration) -> String {
    // Serialising plain strings, lists and integers cannot fail.
    serde_json::to_string(config).unwrap_or_default()
}

fn cors_rule(rule: &aws_sdk_s3::types::CorsRule) -> CorsRule {
    CorsRule {
        id: rule.id.clone(),
        allowed_headers: rule.allowed_headers.clone().unwrap_or_default(),
        allowed_methods: rule.allowed_methods.clone(),
        allowed_origins: rule.allowed_origins.clone(),
        expose_headers: rule.expose_headers.clone().unwrap_or_default(),
        max_age_seconds: rule.max_age_seconds,
    }
}

impl Reader<'_> {
    /// `None`: the bucket has no CORS configuration.
    pub(super) async fn bucket_cors(
        &self,
        bucket: &str,
    ) -> Result<Option<CorsConfiguration>, StateError> {
        match self
            .call_s3(|| self.clients.s3.get_bucket_cors().bucket(bucket).send())
            .await
        {
            Ok(out) => Ok(Some(CorsConfiguration {
                rules: out.cors_rules().iter().map(cors_rule).collect(),
            })),
            Err(e) => match code(&e) {
                Some("NoSuchCORSConfiguration") => Ok(None),
                Some("NoSuchBucket") => Err(StateError::BucketNotFound {
                    bucket: bucket.to_string(),
                }),
                _ => Err(call_error(
                    "s3",
                    "GetBucketCors",
                    format!("bucket `{bucket}`"),
                    e,
                )),
            },
        }
    }

    /// `None`: no default encryption configured.
    async fn bucket_encryption(
        &self,
        bucket: &str,
    ) -> Result<Option<BucketEncryption>, StateError> {
        match self
            .call_s3(|| {
                self.clients
                    .s3
                    .get_bucket_encryption()
                    .bucket(bucket)
                    .send()
            })
            .await
        {
            Ok(out) => Ok(out
                .server_side_encryption_configuration()
                .and_then(|c| {
                    c.rules()
                        .iter()
                        .find_map(|r| r.apply_server_side_encryption_by_default.as_ref())
                })
                .map(|d| BucketEncryption {
                    algorithm: d.sse_algorithm.as_str().to_string(),
                    kms_key_id: d.kms_master_key_id.clone(),
                })),
            Err(e) => match code(&e) {
                Some("ServerSideEncryptionConfigurationNotFoundError") => Ok(None),
                Some("NoSuchBucket") => Err(StateError::BucketNotFound {
                    bucket: bucket.to_string(),
                }),
                _ => Err(call_error(
                    "s3",
                    "GetBucketEncryption",
                    format!("bucket `{bucket}`"),
                    e,
                )),
            },
        }
    }

    /// The bucket policy's text; `None` when the bucket has none.
    async fn bucket_policy(&self, bucket: &str) -> Result<Option<String>, StateError> {
        match self
            .call_s3(|| self.clients.s3.get_bucket_policy().bucket(bucket).send())
            .await
        {
            Ok(out) => Ok(out.policy),
            Err(e) => match code(&e) {
                Some("NoSuchBucketPolicy") => Ok(None),
                Some("NoSuchBucket") => Err(StateError::BucketNotFound {
                    bucket: bucket.to_string(),
                }),
                _ => Err(call_error(
                    "s3",
                    "GetBucketPolicy",
                    format!("bucket `{bucket}`"),
                    e,
                )),
            },
        }
    }

    /// An input bucket: CORS, encryption and policy; an output bucket:
    /// encryption and policy.
    pub(super) async fn bucket(
        &self,
        bucket: &str,
        input: bool,
    ) -> Result<BucketState, StateError> {
        let cors = async {
            if input {
                self.bucket_cors(bucket).await
            } else {
                Ok(None)
            }
        };
        let (cors, encryption, policy) = futures::try_join!(
            cors,
            self.bucket_encryption(bucket),
            self.bucket_policy(bucket)
        )?;
        Ok(BucketState {
            name: bucket.to_string(),
            cors,
            encryption,
            policy,
        })
    }
}
