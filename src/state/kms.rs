//! KMS reads: DescribeKey per key ref as written in the spec, then one
//! GetKeyPolicy (`default`) per distinct key id.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::try_join_all;

use super::errors::{call_error, code};
use super::{BucketKey, BucketState, KeyState, Reader, StateError};

impl Reader<'_> {
    async fn describe_key(
        &self,
        key_ref: &str,
    ) -> Result<aws_sdk_kms::types::KeyMetadata, StateError> {
        let not_found = || StateError::KeyNotFound {
            key_ref: key_ref.to_string(),
            region: self.clients.region.clone(),
        };
        match self
            .call_kms(|| self.clients.kms.describe_key().key_id(key_ref).send())
            .await
        {
            Ok(out) => out.key_metadata.ok_or_else(not_found),
            Err(e) if code(&e) == Some("NotFoundException") => Err(not_found()),
            Err(e) => Err(call_error(
                "kms",
                "DescribeKey",
                format!("key `{key_ref}`"),
                e,
            )),
        }
    }

    /// The `default` key policy; `None` when the key does not exist.
    pub(super) async fn key_policy(&self, key_id: &str) -> Result<Option<String>, StateError> {
        let request = self
            .clients
            .kms
            .get_key_policy()
            .key_id(key_id)
            .policy_name("default");
        match self.call_kms(|| request.send()).await {
            Ok(out) => Ok(Some(out.policy().unwrap_or_default().to_string())),
            Err(e) if code(&e) == Some("NotFoundException") => Ok(None),
            Err(e) => Err(call_error(
                "kms",
                "GetKeyPolicy",
                format!("key `{key_id}`"),
                e,
            )),
        }
    }

    /// Describe each key ref, then read each distinct key's policy once.
    pub(super) async fn keys<'k>(
        &self,
        key_refs: impl Iterator<Item = &'k String>,
    ) -> Result<BTreeMap<String, KeyState>, StateError> {
        let refs: Vec<&String> = key_refs.collect();
        let metadata = try_join_all(refs.iter().map(|r| self.describe_key(r))).await?;
        let key_ids: BTreeSet<&str> = metadata.iter().map(|m| m.key_id.as_str()).collect();
        let policies = try_join_all(
            key_ids
                .iter()
                .map(|id| async move { Ok::<_, StateError>((*id, self.key_policy(id).await?)) }),
        )
        .await?
        .into_iter()
        .collect::<BTreeMap<_, _>>();
        let mut keys = BTreeMap::new();
        for (key_ref, meta) in refs.into_iter().zip(&metadata) {
            let policy = policies
                .get(meta.key_id.as_str())
                .cloned()
                .flatten()
                .ok_or_else(|| StateError::KeyNotFound {
                    key_ref: key_ref.clone(),
                    region: self.clients.region.clone(),
                })?;
            keys.insert(
                key_ref.clone(),
                KeyState {
                    key_ref: key_ref.clone(),
                    key_id: meta.key_id.clone(),
                    arn: meta.arn.clone().unwrap_or_default(),
                    aws_managed: meta.key_manager == Some(aws_sdk_kms::types::KeyManagerType::Aws),
                    key_state: meta
                        .key_state
                        .as_ref()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    policy,
                },
            );
        }
        Ok(keys)
    }

    /// DescribeKey for each key a bucket's default encryption names that
    /// the spec's keys do not already describe. An `alias/aws/...` name is
    /// an AWS managed key without a call. A key that cannot be described
    /// (gone, or not visible to these credentials) is left out: the planner
    /// then warns about it as a key it cannot judge.
    pub(super) async fn bucket_keys(
        &self,
        buckets: &[BucketState],
        spec_keys: &BTreeMap<String, KeyState>,
    ) -> Result<BTreeMap<String, BucketKey>, StateError> {
        let known = |k: &str| {
            is_aws_managed_alias(k)
                || spec_keys
                    .values()
                    .any(|s| s.key_ref == k || s.key_id == k || s.arn == k)
        };
        let refs: BTreeSet<&str> = buckets
            .iter()
            .filter_map(|b| b.encryption.as_ref())
            .filter(|e| e.algorithm.starts_with("aws:kms"))
            .filter_map(|e| e.kms_key_id.as_deref())
            .filter(|k| !known(k))
            .collect();
        let described = try_join_all(refs.into_iter().map(|r| async move {
            match self.describe_key(r).await {
                Ok(meta) => Ok(Some((
                    r.to_string(),
                    BucketKey {
                        key_id: meta.key_id.clone(),
                        arn: meta.arn.clone().unwrap_or_default(),
                        aws_managed: meta.key_manager
                            == Some(aws_sdk_kms::types::KeyManagerType::Aws),
                    },
                ))),
                Err(StateError::KeyNotFound { .. } | StateError::AccessDenied { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        }))
        .await?;
        Ok(described.into_iter().flatten().collect())
    }
}

/// `alias/aws/...` or an alias ARN `arn:...:alias/aws/...`: an AWS managed
/// key's alias (AWS reserves the `aws/` prefix).
pub fn is_aws_managed_alias(key: &str) -> bool {
    key.starts_with("alias/aws/") || key.contains(":alias/aws/")
}
