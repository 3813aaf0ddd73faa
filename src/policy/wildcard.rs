//! IAM `*` / `?` wildcard matching.

/// Match `value` against an IAM pattern with `*` and `?`.
pub fn matches(_pattern: &str, _value: &str, _case_insensitive: bool) -> bool {
    todo!()
}
