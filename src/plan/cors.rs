//! Input buckets (R1): the worker's browser loads the objects straight from
//! S3, so the bucket's CORS configuration must allow it.

use super::PlanError;
use super::builder::{Builder, limit_err, requirement_ids, who};
use crate::model::Target;
use crate::policy::{self, CorsConfiguration, a2i, limits};
use crate::requirements::Because;

impl Builder<'_> {
    /// R1 for one input bucket: A2I's rule is merged into its CORS
    /// configuration when the rules there do not already allow it.
    pub(super) fn plan_cors(&mut self, bucket: &str, because: &[Because]) -> Result<(), PlanError> {
        let Some(existing) = self.state.buckets.get(bucket) else {
            return Err(PlanError::Missing(format!(
                "bucket `{bucket}` was not found: create it or correct the spec"
            )));
        };
        let config: CorsConfiguration = existing.cors.clone().unwrap_or_default();
        let decision = policy::evaluate_cors(&config);
        let subject = format!("bucket `{bucket}`");
        if !self.needs_grant(&subject, "R1", &decision.verdict, &decision.reason) {
            return Ok(());
        }
        let merged = policy::merge_cors(&config, &a2i::cors_rule());
        limits::check_cors(bucket, &merged.document).map_err(limit_err)?;
        let reason = format!(
            "the worker's browser must read images from bucket `{bucket}` for {}: {}",
            who(because),
            decision.reason
        );
        let change = self.change(
            Target::BucketCors {
                bucket: bucket.to_string(),
            },
            requirement_ids(because),
            reason,
            existing
                .cors
                .as_ref()
                .map(CorsConfiguration::to_pretty_json),
            merged.document.to_pretty_json(),
            Vec::new(),
        );
        self.cors.push(change);
        Ok(())
    }
}
