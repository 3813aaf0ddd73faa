//! Who owns what the plan changes. A role, bucket or key that
//! infrastructure as code manages (its tags say so) gets a warning on each
//! change to it: a direct write drifts from that code, and the next deploy
//! puts the code's document back, taking A2I's grant with it.
//!
//! The tags that count, compared case-insensitively (README, "Resources
//! managed by infrastructure as code"):
//! - any key starting with `aws:cloudformation:` (CloudFormation sets
//!   `aws:cloudformation:stack-name` on what a stack creates; CDK deploys
//!   through CloudFormation, so CDK stacks show this too);
//! - a key `managed-by` or `provisioned-by`, in any case and with `-`, `_`,
//!   `.`, `:`, space or nothing between the words (`ManagedBy`,
//!   `managed_by`, `Provisioned By`), or ending in `/managed-by` (as in
//!   `app.kubernetes.io/managed-by`), whose value names a tool: a word
//!   `terraform`, `terragrunt`, `opentofu` or `tofu` (Terraform), `cdk` or
//!   `cdktf` (CDK), `pulumi` (Pulumi), `cloudformation` or `cfn`
//!   (CloudFormation). Any other value (`platform-team`, `manual`) is not
//!   infrastructure as code;
//! - a key `terraform` whose value is `true` or `yes` (a convention of
//!   widely used Terraform modules).
//!
//! Only roles, buckets and keys are judged: a user's tags are not read (a
//! user only ever gets an attachment). A created role has no owner yet.

use super::{Change, Warning};
use crate::model::{PrincipalKind, Target};
use crate::state::{AccountState, Tags};

/// What the tags say about who manages a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// `CloudFormation`, `Terraform`, `CDK` or `Pulumi`.
    pub tool: &'static str,
    /// The tag that tells, as `key = value`.
    pub tag: String,
}

/// The infrastructure-as-code tool that manages a resource with these
/// tags, if any (the rules are in the module documentation).
pub fn owner(tags: &[(String, String)]) -> Option<Owner> {
    let found = |tool, key: &str, value: &str| Owner {
        tool,
        tag: format!("{key} = {value}"),
    };
    if let Some(first) = tags
        .iter()
        .find(|(k, _)| k.to_ascii_lowercase().starts_with("aws:cloudformation:"))
    {
        // The stack name is the most useful of CloudFormation's tags.
        let (k, v) = tags
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("aws:cloudformation:stack-name"))
            .unwrap_or(first);
        return Some(found("CloudFormation", k, v));
    }
    for (k, v) in tags {
        if is_managed_by_key(k)
            && let Some(tool) = tool_named(v)
        {
            return Some(found(tool, k, v));
        }
    }
    tags.iter()
        .find(|(k, v)| {
            k.eq_ignore_ascii_case("terraform")
                && ["true", "yes"]
                    .iter()
                    .any(|t| v.trim().eq_ignore_ascii_case(t))
        })
        .map(|(k, v)| found("Terraform", k, v))
}

/// `managed-by`, `ManagedBy`, `provisioned_by`, `x/managed-by`...
fn is_managed_by_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    if lower.ends_with("/managed-by") {
        return true;
    }
    let squeezed: String = lower
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '.' | ':' | ' '))
        .collect();
    squeezed == "managedby" || squeezed == "provisionedby"
}

/// The tool a tag value names, by whole words.
fn tool_named(value: &str) -> Option<&'static str> {
    let lower = value.to_ascii_lowercase();
    lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find_map(|word| match word {
            "terraform" | "terragrunt" | "opentofu" | "tofu" => Some("Terraform"),
            "cdk" | "cdktf" => Some("CDK"),
            "pulumi" => Some("Pulumi"),
            "cloudformation" | "cfn" => Some("CloudFormation"),
            _ => None,
        })
}

/// The resource a change writes to and what its tags say, if its tags were
/// read: `None` for a created role, a user, or a resource not read.
fn tags_of<'s>(state: &'s AccountState, target: &Target) -> Option<(String, TagsRef<'s>)> {
    let role = |name: &str| {
        let role = state.roles.get(name)?.as_ref()?;
        Some((format!("role `{name}`"), TagsRef::Read(&role.tags)))
    };
    let read = |tags: &'s Tags| match tags {
        Tags::Read(t) => TagsRef::Read(t),
        Tags::Denied { action } => TagsRef::Denied(action),
    };
    match target {
        Target::Role { .. } => None,
        Target::TrustPolicy { role: name } | Target::InlinePolicy { role: name, .. } => role(name),
        Target::Attachment {
            kind: PrincipalKind::Role,
            name,
            ..
        } => role(name).or_else(|| {
            let caller = state
                .callers
                .values()
                .find(|c| c.kind == PrincipalKind::Role && &c.name == name)?;
            Some((format!("role `{name}`"), TagsRef::Read(&caller.tags)))
        }),
        Target::Attachment {
            kind: PrincipalKind::User,
            ..
        } => None,
        Target::BucketCors { bucket } => Some((
            format!("bucket `{bucket}`"),
            read(state.bucket_tags.get(bucket)?),
        )),
        Target::KeyPolicy { key_id, .. } => {
            Some((format!("key `{key_id}`"), read(state.key_tags.get(key_id)?)))
        }
    }
}

enum TagsRef<'s> {
    Read(&'s [(String, String)]),
    Denied(&'s str),
}

/// One warning per change to a resource that infrastructure as code
/// manages, or whose tags could not be read.
pub(super) fn ownership_warnings(state: &AccountState, changes: &[Change]) -> Vec<Warning> {
    let mut warnings = Vec::new();
    for change in changes {
        let Some((subject, tags)) = tags_of(state, &change.target) else {
            continue;
        };
        let export =
            "`a2i-fix export --format terraform` writes the change as Terraform configuration";
        let (managed_by, message) = match tags {
            TagsRef::Read(tags) => {
                let Some(owner) = owner(tags) else {
                    continue;
                };
                let (code, deploy, instead) = match owner.tool {
                    "Terraform" => (
                        "its Terraform configuration",
                        "the next `terraform apply`",
                        format!(
                            "put the change into that configuration instead: {export}, with the complete document and an import block"
                        ),
                    ),
                    "CloudFormation" => (
                        "its CloudFormation stack's template",
                        "the next update of the stack",
                        format!(
                            "put the change into the template (or the code that generates it) instead; {export}, with the complete document to copy"
                        ),
                    ),
                    _ => (
                        "the code that manages it",
                        "the next deploy",
                        format!(
                            "put the change into that code instead; {export}, with the complete document to copy"
                        ),
                    ),
                };
                (
                    owner.tool.to_string(),
                    format!(
                        "{subject} is managed by {} (tag `{}`): writing {} directly drifts from {code}, and {deploy} will revert it; {instead}.",
                        owner.tool, owner.tag, change.address
                    ),
                )
            }
            TagsRef::Denied(action) => (
                "unknown".to_string(),
                format!(
                    "whether infrastructure as code manages {subject} is unknown: its tags could not be read (grant `{action}` to know). If a deploy manages it, writing {} directly will drift and be reverted by the next deploy; {export}.",
                    change.address
                ),
            ),
        };
        warnings.push(Warning {
            subject,
            requirement: None,
            message,
            address: Some(change.address.clone()),
            managed_by: Some(managed_by),
        });
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn tool(pairs: &[(&str, &str)]) -> Option<&'static str> {
        owner(&tags(pairs)).map(|o| o.tool)
    }

    #[test]
    fn cloudformation_tags_name_the_stack() {
        let o = owner(&tags(&[
            ("aws:cloudformation:logical-id", "FlowRole"),
            ("AWS:CloudFormation:Stack-Name", "a2i"),
        ]))
        .expect("an owner");
        assert_eq!(o.tool, "CloudFormation");
        assert_eq!(o.tag, "AWS:CloudFormation:Stack-Name = a2i");
        assert_eq!(
            tool(&[("aws:cloudformation:stack-id", "arn:x")]),
            Some("CloudFormation")
        );
    }

    #[test]
    fn managed_by_keys_in_any_spelling_name_the_tool() {
        for key in [
            "managed-by",
            "ManagedBy",
            "managed_by",
            "MANAGED BY",
            "Provisioned-By",
            "app.kubernetes.io/managed-by",
        ] {
            assert_eq!(tool(&[(key, "Terraform")]), Some("Terraform"), "{key}");
        }
        assert_eq!(tool(&[("managedBy", "opentofu")]), Some("Terraform"));
        assert_eq!(tool(&[("managed-by", "aws-cdk")]), Some("CDK"));
        assert_eq!(tool(&[("managed-by", "Pulumi")]), Some("Pulumi"));
        assert_eq!(tool(&[("managed-by", "cfn")]), Some("CloudFormation"));
        assert_eq!(tool(&[("Terraform", "TRUE")]), Some("Terraform"));
    }

    #[test]
    fn other_tags_and_values_are_not_infrastructure_as_code() {
        assert_eq!(tool(&[]), None);
        assert_eq!(tool(&[("managed-by", "platform-team")]), None);
        assert_eq!(tool(&[("managed-by", "manual")]), None);
        // A word inside another word is not the tool.
        assert_eq!(tool(&[("managed-by", "terraformers-guild2")]), None);
        assert_eq!(tool(&[("owner", "terraform")]), None);
        assert_eq!(tool(&[("team", "pulumi")]), None);
        assert_eq!(tool(&[("terraform", "false")]), None);
        assert_eq!(tool(&[("cloudformation", "stack")]), None);
    }
}
