//! Merging A2I's additions into an existing document without losing anything.

use super::{CorsConfiguration, CorsRule, PolicyDocument, Statement};

#[derive(Debug, Clone, PartialEq)]
pub struct MergeOutcome<T> {
    pub document: T,
    /// Sids (or CORS rule descriptions) that were appended.
    pub added: Vec<String>,
    /// Sids of existing statements that were replaced (same Sid, different content).
    pub replaced: Vec<String>,
}

impl<T> MergeOutcome<T> {
    pub fn changed(&self) -> bool {
        !self.added.is_empty() || !self.replaced.is_empty()
    }
}

/// Add `additions` (each with a Sid) to `existing`: statements already present
/// (equivalent) are left alone; a statement with the same Sid but different
/// content is replaced in place; others are appended in order.
pub fn merge_statements(
    _existing: &PolicyDocument,
    _additions: &[Statement],
) -> MergeOutcome<PolicyDocument> {
    todo!()
}

/// Append `rule` unless an equivalent rule is already present.
pub fn merge_cors(
    _existing: &CorsConfiguration,
    _rule: &CorsRule,
) -> MergeOutcome<CorsConfiguration> {
    todo!()
}
