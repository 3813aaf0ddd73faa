//! Tag reads, to tell whether infrastructure as code manages a resource the
//! plan may change: GetBucketTagging per input bucket (only input buckets
//! get a change: their CORS) and ListResourceTags per key the spec names.
//! A role's tags come with GetRole at no extra call.
//!
//! Tags are advice, never part of a requirement: a read the credentials may
//! not make (AccessDenied) is recorded as [`Tags::Denied`] instead of
//! failing the plan, so that credentials scoped to the permissions of
//! earlier versions keep working; the planner then says ownership is
//! unknown. Every other failure fails like any read.

use super::errors::{call_error, code};
use super::{Reader, StateError, Tags};

impl Reader<'_> {
    /// GetBucketTagging; `NoSuchTagSet` means no tags.
    pub(super) async fn bucket_tags(&self, bucket: &str) -> Result<Tags, StateError> {
        match self
            .call_s3(|| self.clients.s3.get_bucket_tagging().bucket(bucket).send())
            .await
        {
            Ok(out) => Ok(Tags::Read(
                out.tag_set()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect(),
            )),
            Err(e) => match code(&e) {
                Some("NoSuchTagSet") => Ok(Tags::Read(Vec::new())),
                Some("NoSuchBucket") => Err(StateError::BucketNotFound {
                    bucket: bucket.to_string(),
                }),
                _ => degrade(call_error(
                    "s3",
                    "GetBucketTagging",
                    format!("bucket `{bucket}`"),
                    e,
                )),
            },
        }
    }

    /// ListResourceTags, every page (one call each).
    pub(super) async fn key_tags(&self, key_id: &str) -> Result<Tags, StateError> {
        let mut pages = self
            .clients
            .kms
            .list_resource_tags()
            .key_id(key_id)
            .into_paginator()
            .send();
        let mut tags = Vec::new();
        while let Some(page) = self.call_kms(|| pages.next()).await {
            match page {
                Ok(page) => tags.extend(
                    page.tags()
                        .iter()
                        .map(|t| (t.tag_key().to_string(), t.tag_value().to_string())),
                ),
                Err(e) => {
                    return degrade(call_error(
                        "kms",
                        "ListResourceTags",
                        format!("key `{key_id}`"),
                        e,
                    ));
                }
            }
        }
        Ok(Tags::Read(tags))
    }
}

/// A denied tag read becomes [`Tags::Denied`]; any other error stays one.
fn degrade(error: StateError) -> Result<Tags, StateError> {
    match error {
        StateError::AccessDenied { action, .. } => Ok(Tags::Denied { action }),
        other => Err(other),
    }
}
