//! The vocabulary every layer shares: what a change writes to ([`Target`]),
//! how ([`Action`]), which kind of IAM principal ([`PrincipalKind`]), the
//! Terraform-like [`address`] of a target, and the [`digest`] /
//! [`fingerprint`] forms that saved plans, journals and staleness checks
//! compare.
//!
//! This module is a leaf: it imports nothing of the crate, so `spec`,
//! `state`, `plan`, `journal`, `render` and `apply` can all use it without
//! depending on one another.

/// The inline policy a2i-fix owns on each role it grants S3 access to.
pub const OWNED_POLICY_NAME: &str = "a2i-fix-permissions";

/// Which kind of IAM principal.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum PrincipalKind {
    Role,
    User,
}

/// What a change writes to.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Target {
    /// A bucket's CORS configuration.
    BucketCors { bucket: String },
    /// A role itself (create with the trust policy as `after`; delete on rollback).
    Role { name: String, path: String },
    /// A role's trust policy.
    TrustPolicy { role: String },
    /// One inline policy of a role.
    InlinePolicy { role: String, policy_name: String },
    /// The `default` key policy of a KMS key.
    KeyPolicy { key_id: String, key_arn: String },
    /// A managed policy attached to a role or a user.
    Attachment {
        kind: PrincipalKind,
        name: String,
        policy_arn: String,
    },
}

/// What a change does to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    /// Only in rollback plans: delete what did not exist before.
    Delete,
}

/// The Terraform-like address of a target, e.g.
/// `aws_s3_bucket_cors_configuration.acme-a2i-input`.
pub fn address(target: &Target) -> String {
    match target {
        Target::BucketCors { bucket } => format!("aws_s3_bucket_cors_configuration.{bucket}"),
        Target::Role { name, .. } | Target::TrustPolicy { role: name } => {
            format!("aws_iam_role.{name}")
        }
        Target::InlinePolicy { role, policy_name } => {
            format!("aws_iam_role_policy.{role}:{policy_name}")
        }
        Target::KeyPolicy { key_id, .. } => format!("aws_kms_key_policy.{key_id}"),
        Target::Attachment {
            kind,
            name,
            policy_arn,
        } => {
            let short = policy_arn.rsplit('/').next().unwrap_or(policy_arn);
            match kind {
                PrincipalKind::Role => format!("aws_iam_role_policy_attachment.{name}:{short}"),
                PrincipalKind::User => format!("aws_iam_user_policy_attachment.{name}:{short}"),
            }
        }
    }
}

/// Fingerprint of a current document as read from AWS: `sha256:HEX` of the
/// exact text, or `absent` when there is none.
pub fn fingerprint(current: Option<&str>) -> String {
    match current {
        None => "absent".to_string(),
        Some(text) => digest(text),
    }
}

/// `sha256:HEX` of a text.
pub fn digest(text: &str) -> String {
    digest_bytes(text.as_bytes())
}

/// `sha256:HEX` of some bytes (a spec file, say).
pub fn digest_bytes(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_follow_terraform_resource_names() {
        let cases = [
            (
                Target::BucketCors {
                    bucket: "in".into(),
                },
                "aws_s3_bucket_cors_configuration.in",
            ),
            (
                Target::Role {
                    name: "R".into(),
                    path: "/".into(),
                },
                "aws_iam_role.R",
            ),
            (Target::TrustPolicy { role: "R".into() }, "aws_iam_role.R"),
            (
                Target::InlinePolicy {
                    role: "R".into(),
                    policy_name: "p".into(),
                },
                "aws_iam_role_policy.R:p",
            ),
            (
                Target::KeyPolicy {
                    key_id: "k".into(),
                    key_arn: "arn:aws:kms:us-east-1:111122223333:key/k".into(),
                },
                "aws_kms_key_policy.k",
            ),
            (
                Target::Attachment {
                    kind: PrincipalKind::Role,
                    name: "R".into(),
                    policy_arn: "arn:aws:iam::aws:policy/AmazonAugmentedAIFullAccess".into(),
                },
                "aws_iam_role_policy_attachment.R:AmazonAugmentedAIFullAccess",
            ),
            (
                Target::Attachment {
                    kind: PrincipalKind::User,
                    name: "u".into(),
                    policy_arn: "arn:aws:iam::aws:policy/service-role/X".into(),
                },
                "aws_iam_user_policy_attachment.u:X",
            ),
        ];
        for (target, want) in cases {
            assert_eq!(address(&target), want);
        }
    }

    #[test]
    fn fingerprint_of_nothing_is_absent_and_of_text_its_digest() {
        assert_eq!(fingerprint(None), "absent");
        assert_eq!(fingerprint(Some("{}")), digest("{}"));
        assert_eq!(
            digest(""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(digest("abc"), digest_bytes(b"abc"));
    }
}
