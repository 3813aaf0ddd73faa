//! Bucket policies: a Deny in the policy of the bucket A2I reads or writes
//! blocks the need whatever the role's own policies allow (a Deny unless the
//! request comes through a VPC endpoint, or from given addresses: A2I's
//! workers' browsers and SageMaker never satisfy such conditions). a2i-fix
//! never changes a bucket policy: such a Deny is a warning on the
//! requirement it blocks.

use super::builder::Builder;
use crate::policy::{self, LabeledDocument, PolicyDocument, Requirement, Verdict};

impl Builder<'_> {
    /// The Deny of the bucket policy that blocks `action` on `resource` (an
    /// `arn:aws:s3:::BUCKET/...` pattern) for the role `role_arn`, as a
    /// verdict and reason; `None` when the bucket has no policy or nothing
    /// in it denies.
    pub(super) fn bucket_policy_deny(
        &self,
        role_arn: &str,
        action: &str,
        resource: &str,
    ) -> Option<(Verdict, String)> {
        let bucket = resource.strip_prefix("arn:aws:s3:::")?.split('/').next()?;
        let text = self.state.buckets.get(bucket)?.policy.as_ref()?;
        // A policy a2i-fix cannot parse cannot be judged; it is never
        // written either, so it does not stop the plan.
        let document = PolicyDocument::parse(text).ok()?;
        let label = format!("the bucket policy of {bucket}");
        let decision = policy::evaluate(
            &Requirement::Resource {
                principal_arn: role_arn.to_string(),
                action: action.to_string(),
                resource: resource.to_string(),
            },
            &[LabeledDocument {
                label: &label,
                document: &document,
            }],
            &self.state.account_id,
        );
        match decision.verdict {
            Verdict::Blocked { .. } => Some((
                decision.verdict,
                format!(
                    "{}. A2I's workers' browsers and SageMaker never satisfy network conditions such as `aws:SourceVpce` or `aws:SourceIp`: exempt role `{role_arn}` from that Deny (for example with an `aws:PrincipalArn` condition)",
                    decision.reason
                ),
            )),
            _ => None,
        }
    }
}
