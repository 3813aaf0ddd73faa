//! The grammar of the names and ARNs a spec holds, as parsed newtypes.
//!
//! Each `parse` gives either a value known to follow AWS's rules or a
//! [`GrammarError`] that names the rule that failed. The error's text is the
//! message users see after `file:line: key:`, so the wording here is pinned
//! by `tests/it/spec_errors.rs`.

use std::fmt;

use crate::model::PrincipalKind;

use super::S3Url;

/// Why a name or ARN does not follow its grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrammarError {
    #[error("`{value}` is not an AWS account id; write the 12 digits, e.g. `123456789012`")]
    AccountId { value: String },
    #[error("`{value}` is not a valid S3 bucket name: {rule}")]
    BucketName { value: String, rule: BucketRule },
    /// A bare role name (the `role` key also takes an ARN, hence the text).
    #[error("`{value}` is not a role name or role ARN: {rule}")]
    RoleName { value: String, rule: IamNameRule },

    #[error("`{value}` is not an ARN")]
    NotAnArn { value: String },
    #[error(
        "`{value}`: unknown partition `{partition}` (expected `aws`, `aws-cn` or `aws-us-gov`)"
    )]
    UnknownPartition { value: String, partition: String },
    #[error(
        "`{value}`: only the `aws` partition is supported (not `{partition}`): the grants a2i-fix writes and the AWS managed policies it attaches are named in `aws`; run a2i-fix against an account in the `aws` partition"
    )]
    OtherPartition { value: String, partition: String },
    #[error("`{value}`: `{account}` is not a 12-digit account id")]
    ArnAccount { value: String, account: String },
    #[error(
        "`{value}` is a session, not a role; give the role's IAM ARN, `arn:{partition}:iam::{account}:role/{role}` (with its path if it has one)"
    )]
    Session {
        value: String,
        partition: String,
        account: String,
        role: String,
    },
    #[error("`{value}` is not an IAM ARN (service `{service}`, expected `iam`)")]
    NotIam { value: String, service: String },
    #[error("`{value}`: IAM ARNs have no region; write `arn:{partition}:iam::{account}:...`")]
    IamRegion {
        value: String,
        partition: String,
        account: String,
    },
    #[error(
        "`{value}` names no role or user (expected `role/NAME` or `user/NAME` after the account id)"
    )]
    NoIamResource { value: String },
    #[error("`{value}`: {rule}")]
    ArnName { value: String, rule: IamNameRule },
    #[error("`{value}`: `{path}` is not a valid IAM path")]
    IamPath { value: String, path: String },
    #[error("`{value}` is not a role ARN (expected `arn:aws:iam::ACCOUNT:role/NAME`)")]
    NotARoleArn { value: String },
    #[error(
        "`{value}` is not an ARN; give the caller's full ARN, e.g. `arn:aws:iam::123456789012:role/{value}` or `arn:aws:iam::123456789012:user/{value}`"
    )]
    CallerNotAnArn { value: String },
    #[error(
        "`{value}` is a `{kind}`; a caller must be a role or a user (`...:role/NAME` or `...:user/NAME`)"
    )]
    CallerKind { value: String, kind: String },

    #[error(
        "`{value}` is not an `s3://` URL; write the flow definition's S3OutputPath, e.g. `s3://acme-a2i-output/reviews/`"
    )]
    NotAnS3Url { value: String },
    #[error("`{value}` names no bucket; write `s3://BUCKET/PREFIX/`")]
    S3UrlNoBucket { value: String },
    #[error("in `{value}`: `{bucket}` is not a valid S3 bucket name: {rule}")]
    S3UrlBucket {
        value: String,
        bucket: String,
        rule: BucketRule,
    },
    #[error("`{value}` has an empty path segment (`//`); remove the extra `/`")]
    S3UrlEmptySegment { value: String },
    #[error(
        "`{value}`: the prefix must not contain `*`, `?` or `${{` (in an IAM resource they are wildcards or variables and would widen the grant)"
    )]
    S3UrlWildcard { value: String },
    #[error("`{value}`: the prefix contains control characters")]
    S3UrlControl { value: String },
    #[error("`{value}`: the prefix is too long")]
    S3UrlTooLong { value: String },

    #[error(
        "`{value}` is not a KMS key; expected a key id (`1234abcd-12ab-34cd-56ef-1234567890ab`), key ARN (`arn:aws:kms:REGION:ACCOUNT:key/ID`), alias (`alias/NAME`) or alias ARN"
    )]
    NotAKmsKey { value: String },
    #[error("`{value}`: `{region}` is not a region (e.g. `us-east-1`)")]
    Region { value: String, region: String },
    #[error(
        "`{value}`: `{id}` is not a key id (a UUID such as `1234abcd-12ab-34cd-56ef-1234567890ab`)"
    )]
    KeyId { value: String, id: String },
    #[error(
        "`{value}`: an alias name is `alias/` followed by letters, digits, `/`, `_` and `-` (256 characters at most)"
    )]
    AliasName { value: String },
    #[error(
        "`{value}` is an AWS managed key: its key policy cannot be changed; encrypt the output with a customer managed key"
    )]
    ManagedKey { value: String },
}

/// The S3 general purpose bucket naming rule a name breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketRule {
    /// An `s3://` URL or an ARN where the bare name belongs.
    NotBare,
    Length,
    Uppercase,
    Character(char),
    Ends,
    AdjacentDots,
    DotNextToHyphen,
    IpAddress,
    ReservedPrefix(&'static str),
    ReservedSuffix(&'static str),
}

impl fmt::Display for BucketRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BucketRule::NotBare => f.write_str("write the bare bucket name, e.g. `acme-a2i-input`"),
            BucketRule::Length => f.write_str("it must be 3 to 63 characters long"),
            BucketRule::Uppercase => f.write_str("it must be lowercase"),
            BucketRule::Character(c) => write!(
                f,
                "`{c}` is not allowed (only lowercase letters, digits, `.` and `-`)"
            ),
            BucketRule::Ends => f.write_str("it must start and end with a letter or digit"),
            BucketRule::AdjacentDots => f.write_str("it must not contain two adjacent dots"),
            BucketRule::DotNextToHyphen => f.write_str("a dot must not be next to a hyphen"),
            BucketRule::IpAddress => f.write_str("it must not look like an IP address"),
            BucketRule::ReservedPrefix(p) => write!(f, "it must not start with `{p}` (reserved)"),
            BucketRule::ReservedSuffix(s) => write!(f, "it must not end with `{s}` (reserved)"),
        }
    }
}

/// The IAM role or user naming rule a name breaks; `what` is `role` or `user`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IamNameRule {
    Length { what: &'static str },
    Character { what: &'static str, c: char },
}

impl fmt::Display for IamNameRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IamNameRule::Length { what } => {
                write!(f, "a {what} name must be 1 to 64 characters long")
            }
            IamNameRule::Character { what, c } => write!(
                f,
                "`{c}` is not allowed in a {what} name (letters, digits and `+=,.@_-` only)"
            ),
        }
    }
}

/// The partitions a caller or KMS ARN may name.
pub(super) const PARTITIONS: [&str; 3] = ["aws", "aws-cn", "aws-us-gov"];

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(s: &str) -> Result<Self, GrammarError> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(AccountId(s.to_string()))
        } else {
            Err(GrammarError::AccountId {
                value: s.to_string(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// An S3 general purpose bucket name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BucketName(String);

impl BucketName {
    pub fn parse(s: &str) -> Result<Self, GrammarError> {
        match bucket_rule_broken(s) {
            None => Ok(BucketName(s.to_string())),
            Some(rule) => Err(GrammarError::BucketName {
                value: s.to_string(),
                rule,
            }),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The first bucket naming rule `s` breaks, if any.
fn bucket_rule_broken(s: &str) -> Option<BucketRule> {
    if s.starts_with("s3://") || s.starts_with("arn:") {
        return Some(BucketRule::NotBare);
    }
    if s.len() < 3 || s.len() > 63 {
        return Some(BucketRule::Length);
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        return Some(if c.is_ascii_uppercase() {
            BucketRule::Uppercase
        } else {
            BucketRule::Character(c)
        });
    }
    let alphanumeric = |c: char| c.is_ascii_alphanumeric();
    if !s.starts_with(alphanumeric) || !s.ends_with(alphanumeric) {
        return Some(BucketRule::Ends);
    }
    if s.contains("..") {
        return Some(BucketRule::AdjacentDots);
    }
    if s.contains(".-") || s.contains("-.") {
        return Some(BucketRule::DotNextToHyphen);
    }
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Some(BucketRule::IpAddress);
    }
    if let Some(p) = ["xn--", "sthree-", "amzn-s3-demo-"]
        .into_iter()
        .find(|p| s.starts_with(p))
    {
        return Some(BucketRule::ReservedPrefix(p));
    }
    ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]
        .into_iter()
        .find(|x| s.ends_with(x))
        .map(BucketRule::ReservedSuffix)
}

/// IAM role and user names: 1-64 of `[A-Za-z0-9+=,.@_-]`.
fn iam_name_rule_broken(name: &str, what: &'static str) -> Option<IamNameRule> {
    if name.is_empty() || name.len() > 64 {
        return Some(IamNameRule::Length { what });
    }
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c)))
        .map(|c| IamNameRule::Character { what, c })
}

/// IAM paths: `/` or `/a/b/`, printable ASCII, at most 512 characters.
fn is_iam_path(path: &str) -> bool {
    path.len() <= 512
        && path.starts_with('/')
        && path.ends_with('/')
        && !path.contains("//")
        && path.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// An IAM role name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleName(String);

impl RoleName {
    pub fn parse(s: &str) -> Result<Self, GrammarError> {
        match iam_name_rule_broken(s, "role") {
            None => Ok(RoleName(s.to_string())),
            Some(rule) => Err(GrammarError::RoleName {
                value: s.to_string(),
                rule,
            }),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// An IAM role or user ARN, `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamPrincipalArn {
    pub partition: String,
    pub account: AccountId,
    pub kind: PrincipalKind,
    /// `/` or `/a/b/`.
    pub path: String,
    pub name: String,
}

/// The parts of an IAM ARN before its kind is known to be a role or user.
struct IamArn {
    partition: String,
    account: AccountId,
    kind: String,
    path: String,
    name: String,
}

impl IamArn {
    fn parse(s: &str) -> Result<Self, GrammarError> {
        let value = || s.to_string();
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        let [head, partition, service, region, account, resource] = parts[..] else {
            return Err(GrammarError::NotAnArn { value: value() });
        };
        if head != "arn" {
            return Err(GrammarError::NotAnArn { value: value() });
        }
        if !PARTITIONS.contains(&partition) {
            return Err(GrammarError::UnknownPartition {
                value: value(),
                partition: partition.to_string(),
            });
        }
        if partition != "aws" {
            return Err(GrammarError::OtherPartition {
                value: value(),
                partition: partition.to_string(),
            });
        }
        if service == "sts" && resource.starts_with("assumed-role/") {
            return Err(GrammarError::Session {
                value: value(),
                partition: partition.to_string(),
                account: account.to_string(),
                role: resource.split('/').nth(1).unwrap_or("NAME").to_string(),
            });
        }
        if service != "iam" {
            return Err(GrammarError::NotIam {
                value: value(),
                service: service.to_string(),
            });
        }
        if !region.is_empty() {
            return Err(GrammarError::IamRegion {
                value: value(),
                partition: partition.to_string(),
                account: account.to_string(),
            });
        }
        let account = AccountId::parse(account).map_err(|_| GrammarError::ArnAccount {
            value: value(),
            account: account.to_string(),
        })?;
        let Some((kind, rest)) = resource.split_once('/') else {
            return Err(GrammarError::NoIamResource { value: value() });
        };
        let (path, name) = match rest.rfind('/') {
            Some(i) => (format!("/{}", &rest[..=i]), &rest[i + 1..]),
            None => ("/".to_string(), rest),
        };
        Ok(IamArn {
            partition: partition.to_string(),
            account,
            kind: kind.to_string(),
            path,
            name: name.to_string(),
        })
    }

    /// Check the name (as a `what` name) and the path.
    fn checked(self, s: &str, what: &'static str) -> Result<Self, GrammarError> {
        if let Some(rule) = iam_name_rule_broken(&self.name, what) {
            return Err(GrammarError::ArnName {
                value: s.to_string(),
                rule,
            });
        }
        if !is_iam_path(&self.path) {
            return Err(GrammarError::IamPath {
                value: s.to_string(),
                path: self.path,
            });
        }
        Ok(self)
    }
}

impl IamPrincipalArn {
    /// A caller principal: a role or user ARN in any partition.
    pub fn parse(s: &str) -> Result<Self, GrammarError> {
        if !s.starts_with("arn:") {
            return Err(GrammarError::CallerNotAnArn {
                value: s.to_string(),
            });
        }
        let arn = IamArn::parse(s)?;
        let (kind, what) = match arn.kind.as_str() {
            "role" => (PrincipalKind::Role, "role"),
            "user" => (PrincipalKind::User, "user"),
            other => {
                return Err(GrammarError::CallerKind {
                    value: s.to_string(),
                    kind: other.to_string(),
                });
            }
        };
        let arn = arn.checked(s, what)?;
        Ok(IamPrincipalArn {
            partition: arn.partition,
            account: arn.account,
            kind,
            path: arn.path,
            name: arn.name,
        })
    }

    /// A role ARN in the `aws` partition (the S3 grants a2i-fix writes to a
    /// role are `arn:aws:s3:::...`).
    pub fn parse_role(s: &str) -> Result<Self, GrammarError> {
        let arn = IamArn::parse(s)?;
        if arn.kind != "role" {
            return Err(GrammarError::NotARoleArn {
                value: s.to_string(),
            });
        }
        let arn = arn.checked(s, "role")?;
        Ok(IamPrincipalArn {
            partition: arn.partition,
            account: arn.account,
            kind: PrincipalKind::Role,
            path: arn.path,
            name: arn.name,
        })
    }
}

/// What the `role` key holds: a bare role name or a role ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleNameOrArn {
    Name(RoleName),
    Arn(IamPrincipalArn),
}

impl RoleNameOrArn {
    pub fn parse(s: &str) -> Result<Self, GrammarError> {
        if s.starts_with("arn:") {
            IamPrincipalArn::parse_role(s).map(RoleNameOrArn::Arn)
        } else {
            RoleName::parse(s).map(RoleNameOrArn::Name)
        }
    }
}

impl S3Url {
    /// `s3://bucket`, `s3://bucket/`, `s3://bucket/a/b` or `s3://bucket/a/b/`.
    /// The prefix is normalised to end with `/` when not empty.
    pub fn parse(s: &str) -> Result<Self, GrammarError> {
        let value = || s.to_string();
        let Some(rest) = s.strip_prefix("s3://") else {
            return Err(GrammarError::NotAnS3Url { value: value() });
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(GrammarError::S3UrlNoBucket { value: value() });
        }
        if let Some(rule) = bucket_rule_broken(bucket) {
            return Err(GrammarError::S3UrlBucket {
                value: value(),
                bucket: bucket.to_string(),
                rule,
            });
        }
        let trimmed = prefix.trim_end_matches('/');
        if trimmed.starts_with('/') || trimmed.contains("//") {
            return Err(GrammarError::S3UrlEmptySegment { value: value() });
        }
        // In an IAM resource these are wildcards or policy variables.
        if trimmed.contains(['*', '?']) || trimmed.contains("${") {
            return Err(GrammarError::S3UrlWildcard { value: value() });
        }
        if trimmed.chars().any(char::is_control) {
            return Err(GrammarError::S3UrlControl { value: value() });
        }
        if trimmed.len() > 1000 {
            return Err(GrammarError::S3UrlTooLong { value: value() });
        }
        let prefix = if trimmed.is_empty() {
            String::new()
        } else {
            format!("{trimmed}/")
        };
        Ok(S3Url {
            bucket: bucket.to_string(),
            prefix,
        })
    }
}
