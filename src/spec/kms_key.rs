//! The grammar of `kms_key`: a key id, key ARN, `alias/NAME` or alias ARN.

use super::names::{AccountId, GrammarError, PARTITIONS};

/// A KMS key id: a UUID, or `mrk-` and 32 hex digits for a multi-Region key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// `None` when `s` is not a key id; callers word the error for their
    /// context.
    pub fn parse(s: &str) -> Option<Self> {
        let mrk = s
            .strip_prefix("mrk-")
            .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        (is_uuid(s) || mrk).then(|| KeyId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return false;
    };
    parts.len() >= 3
        && first.len() == 2
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && middle
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
}

/// What `kms_key` holds: a key id, key ARN, `alias/NAME` or alias ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmsKeyRef {
    KeyId(KeyId),
    /// `alias/NAME`.
    Alias(String),
    KeyArn {
        account: AccountId,
        key: KeyId,
    },
    AliasArn {
        account: AccountId,
        alias: String,
    },
}

impl KmsKeyRef {
    pub fn parse(s: &str) -> Result<Self, GrammarError> {
        if let Some(id) = KeyId::parse(s) {
            return Ok(KmsKeyRef::KeyId(id));
        }
        if s.starts_with("alias/") {
            check_alias(s, s)?;
            return Ok(KmsKeyRef::Alias(s.to_string()));
        }
        let value = || s.to_string();
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        let [head, partition, service, region, account, resource] = parts[..] else {
            return Err(GrammarError::NotAKmsKey { value: value() });
        };
        if head != "arn" || service != "kms" {
            return Err(GrammarError::NotAKmsKey { value: value() });
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
        if !is_region(region) {
            return Err(GrammarError::Region {
                value: value(),
                region: region.to_string(),
            });
        }
        let account = AccountId::parse(account).map_err(|_| GrammarError::ArnAccount {
            value: value(),
            account: account.to_string(),
        })?;
        if let Some(id) = resource.strip_prefix("key/") {
            let key = KeyId::parse(id).ok_or_else(|| GrammarError::KeyId {
                value: value(),
                id: id.to_string(),
            })?;
            Ok(KmsKeyRef::KeyArn { account, key })
        } else if resource.starts_with("alias/") {
            check_alias(resource, s)?;
            Ok(KmsKeyRef::AliasArn {
                account,
                alias: resource.to_string(),
            })
        } else {
            Err(GrammarError::NotAKmsKey { value: value() })
        }
    }

    /// The account of a key or alias ARN.
    pub fn account(&self) -> Option<&AccountId> {
        match self {
            KmsKeyRef::KeyId(_) | KmsKeyRef::Alias(_) => None,
            KmsKeyRef::KeyArn { account, .. } | KmsKeyRef::AliasArn { account, .. } => {
                Some(account)
            }
        }
    }
}

/// `alias` starts with `alias/`; `whole` is the value as written, for the
/// message. An `alias/aws/...` names an AWS managed key, whose policy cannot
/// be changed.
fn check_alias(alias: &str, whole: &str) -> Result<(), GrammarError> {
    let name = alias.strip_prefix("alias/").unwrap_or(alias);
    if name.is_empty()
        || alias.len() > 256
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b))
    {
        return Err(GrammarError::AliasName {
            value: whole.to_string(),
        });
    }
    if name.starts_with("aws/") {
        return Err(GrammarError::ManagedKey {
            value: whole.to_string(),
        });
    }
    Ok(())
}
