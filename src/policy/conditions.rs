//! Conditions whose value a2i-fix knows without asking AWS.
//!
//! Most condition keys (`aws:SourceVpce`, `aws:SourceIp`, tags, ...) depend on
//! the request, so a statement with a `Condition` can only be judged "met
//! under a condition" or "may apply". Two keys are different for the requests
//! A2I makes: when the principal and the resource are both in the account
//! a2i-fix works in, `aws:PrincipalAccount` and `aws:ResourceAccount` are that
//! account, whatever the request. [`truth`] judges a statement's `Condition`
//! from them: [`Truth::True`] (it always holds: judge the statement as if it
//! had none), [`Truth::False`] (it never holds: the statement does not apply)
//! or [`Truth::Unknown`].
//!
//! Only these operators are judged, with `...IfExists` the same (both keys are
//! always present): `StringEquals`, `StringLike` (values may hold `*` and
//! `?`), `StringEqualsIgnoreCase`, which hold when some value names the
//! account, and `StringNotEquals`, `StringNotLike`, `StringNotEqualsIgnoreCase`,
//! their negation. A value names the account when it matches the account id or
//! is `${aws:PrincipalAccount}` / `${aws:ResourceAccount}` (both are the
//! account). A whole condition is true when each operator/key pair is true,
//! false when one is false, unknown otherwise.
//!
//! # Decisions
//!
//! - Key names are compared without case (AWS does so); operator names with
//!   case, as written in AWS's documentation: `stringequals` is unknown.
//! - A `ForAnyValue:` / `ForAllValues:` prefix, any other operator (`ArnLike`,
//!   `Null`, ...), any other key, a value list that is empty or holds
//!   something other than strings and numbers: unknown. Unknown is never
//!   wrong: it gives today's "conditional" answer.
//! - The variable names `${aws:PrincipalAccount}` / `${aws:ResourceAccount}`
//!   are compared without case, like the keys they name.

use serde_json::Value;

use super::Statement;
use super::evaluate::backticked;
use super::wildcard::matches;

/// What a condition is known to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Truth {
    True,
    False,
    Unknown,
}

/// The keys this module judges, in lower case.
const ACCOUNT_KEYS: [&str; 2] = ["aws:principalaccount", "aws:resourceaccount"];

/// The truth of `st`'s `Condition` for a request whose principal and resource
/// are both in `account` (`None` or empty: nothing is known). A statement with
/// no (or an empty) `Condition` is [`Truth::True`].
pub(crate) fn truth(st: &Statement, account: Option<&str>) -> Truth {
    let Some(condition) = &st.condition else {
        return Truth::True;
    };
    let account = account.filter(|a| !a.is_empty());
    let mut all = Truth::True;
    for (operator, keys) in condition {
        let Some(keys) = keys.as_object() else {
            all = Truth::Unknown;
            continue;
        };
        for (key, values) in keys {
            match pair_truth(operator, key, values, account) {
                Truth::False => return Truth::False,
                Truth::Unknown => all = Truth::Unknown,
                Truth::True => {}
            }
        }
    }
    all
}

/// The keys of `st`'s `Condition` this module knows the value of, as written
/// (for reasons).
pub(crate) fn known_keys(st: &Statement) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for keys in st.condition.iter().flat_map(|c| c.values()) {
        for key in keys.as_object().into_iter().flat_map(|k| k.keys()) {
            if ACCOUNT_KEYS.contains(&key.to_ascii_lowercase().as_str()) && !out.contains(key) {
                out.push(key.clone());
            }
        }
    }
    out
}

fn pair_truth(operator: &str, key: &str, values: &Value, account: Option<&str>) -> Truth {
    let Some(account) = account else {
        return Truth::Unknown;
    };
    if !ACCOUNT_KEYS.contains(&key.to_ascii_lowercase().as_str()) {
        return Truth::Unknown;
    }
    let base = operator.strip_suffix("IfExists").unwrap_or(operator);
    let (negated, compare): (bool, fn(&str, &str) -> bool) = match base {
        "StringEquals" => (false, |v, a| v == a),
        "StringNotEquals" => (true, |v, a| v == a),
        "StringEqualsIgnoreCase" => (false, |v, a| v.eq_ignore_ascii_case(a)),
        "StringNotEqualsIgnoreCase" => (true, |v, a| v.eq_ignore_ascii_case(a)),
        "StringLike" => (false, |v, a| matches(v, a, false)),
        "StringNotLike" => (true, |v, a| matches(v, a, false)),
        _ => return Truth::Unknown,
    };
    let Some(values) = texts(values) else {
        return Truth::Unknown;
    };
    let names_account = values
        .iter()
        .any(|v| is_account_variable(v) || compare(v, account));
    if names_account != negated {
        Truth::True
    } else {
        Truth::False
    }
}

/// The values as text: a string, a number, or a non-empty list of them.
fn texts(values: &Value) -> Option<Vec<String>> {
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match values {
        Value::Array(items) if !items.is_empty() => items.iter().map(one).collect(),
        Value::Array(_) => None,
        v => one(v).map(|t| vec![t]),
    }
}

fn is_account_variable(value: &str) -> bool {
    value
        .strip_prefix("${")
        .and_then(|v| v.strip_suffix('}'))
        .is_some_and(|name| ACCOUNT_KEYS.contains(&name.to_ascii_lowercase().as_str()))
}

/// `, whose condition on `aws:PrincipalAccount` always holds (...)`.
pub(super) fn push_holds(reason: &mut String, keys: &[String], known_account: Option<&str>) {
    if !keys.is_empty() {
        reason.push_str(&format!(
            " (its condition on {} always holds{})",
            backticked(keys),
            in_account(known_account)
        ));
    }
}

pub(super) fn in_account(known_account: Option<&str>) -> String {
    known_account
        .map(|a| format!(": the principal and the resource are in account `{a}`"))
        .unwrap_or_default()
}

pub(super) fn has_condition(st: &Statement) -> bool {
    st.condition.as_ref().is_some_and(|c| {
        c.values()
            .any(|keys| keys.as_object().is_none_or(|k| !k.is_empty()))
    })
}

/// `StringEquals on `aws:SourceAccount`; Bool on `aws:SecureTransport``.
pub(super) fn describe_condition(st: &Statement) -> Option<String> {
    if !has_condition(st) {
        return None;
    }
    let c = st.condition.as_ref()?;
    let parts: Vec<String> = c
        .iter()
        .map(|(op, keys)| match keys.as_object() {
            Some(keys) => {
                let names: Vec<String> = keys.keys().cloned().collect();
                format!("{op} on {}", backticked(&names))
            }
            None => op.clone(),
        })
        .collect();
    Some(parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PolicyDocument;

    const ACCT: &str = "111122223333";

    fn statement(condition: &str) -> Statement {
        let text = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{condition}}}]}}"#
        );
        match PolicyDocument::parse(&text) {
            Ok(mut d) => d.statements.remove(0),
            Err(e) => panic!("{e}\n{text}"),
        }
    }

    #[test]
    fn account_conditions_table() {
        use Truth::*;
        #[rustfmt::skip]
        let cases: &[(&str, Truth)] = &[
            (r#"{"StringEquals":{"aws:ResourceAccount":"111122223333"}}"#, True),
            (r#"{"StringEquals":{"aws:PrincipalAccount":"111122223333"}}"#, True),
            (r#"{"StringEquals":{"AWS:resourceaccount":"111122223333"}}"#, True),
            (r#"{"StringEquals":{"aws:ResourceAccount":["444455556666","111122223333"]}}"#, True),
            (r#"{"StringEquals":{"aws:ResourceAccount":111122223333}}"#, True),
            (r#"{"StringEquals":{"aws:ResourceAccount":"444455556666"}}"#, False),
            (r#"{"StringEqualsIfExists":{"aws:ResourceAccount":"111122223333"}}"#, True),
            (r#"{"StringEqualsIgnoreCase":{"aws:ResourceAccount":"111122223333"}}"#, True),
            (r#"{"StringLike":{"aws:ResourceAccount":"1111*"}}"#, True),
            (r#"{"StringLike":{"aws:ResourceAccount":"4444*"}}"#, False),
            (r#"{"StringLikeIfExists":{"aws:ResourceAccount":"11112222333?"}}"#, True),
            (r#"{"StringEquals":{"aws:ResourceAccount":"${aws:PrincipalAccount}"}}"#, True),
            (r#"{"StringEquals":{"aws:PrincipalAccount":"${aws:ResourceAccount}"}}"#, True),
            (r#"{"StringNotEquals":{"aws:ResourceAccount":"${aws:PrincipalAccount}"}}"#, False),
            (r#"{"StringNotEquals":{"aws:PrincipalAccount":"111122223333"}}"#, False),
            (r#"{"StringNotEquals":{"aws:PrincipalAccount":"444455556666"}}"#, True),
            (r#"{"StringNotEqualsIfExists":{"aws:PrincipalAccount":"444455556666"}}"#, True),
            (r#"{"StringNotLike":{"aws:PrincipalAccount":"1111*"}}"#, False),
            (r#"{"StringNotEqualsIgnoreCase":{"aws:PrincipalAccount":"444455556666"}}"#, True),
            (r#"{"ForAnyValue:StringEquals":{"aws:PrincipalAccount":"111122223333"}}"#, Unknown),
            (r#"{"ForAllValues:StringEquals":{"aws:PrincipalAccount":"111122223333"}}"#, Unknown),
            (r#"{"ArnLike":{"aws:PrincipalAccount":"111122223333"}}"#, Unknown),
            (r#"{"stringequals":{"aws:PrincipalAccount":"111122223333"}}"#, Unknown),
            (r#"{"StringEquals":{"aws:SourceAccount":"111122223333"}}"#, Unknown),
            (r#"{"StringEquals":{"aws:PrincipalAccount":[]}}"#, Unknown),
            (r#"{"StringEquals":{"aws:PrincipalAccount":true}}"#, Unknown),
            // Several pairs: all true, one false, one unknown.
            (r#"{"StringEquals":{"aws:PrincipalAccount":"111122223333","aws:ResourceAccount":"111122223333"}}"#, True),
            (r#"{"StringEquals":{"aws:PrincipalAccount":"111122223333"},"StringNotEquals":{"aws:ResourceAccount":"111122223333"}}"#, False),
            (r#"{"StringEquals":{"aws:PrincipalAccount":"111122223333"},"Bool":{"aws:SecureTransport":"true"}}"#, Unknown),
            (r#"{"Bool":{"aws:SecureTransport":"true"},"StringEquals":{"aws:PrincipalAccount":"4444"}}"#, False),
            (r#"{}"#, True),
        ];
        for (condition, want) in cases {
            let st = statement(condition);
            assert_eq!(truth(&st, Some(ACCT)), *want, "{condition}");
            let unknown = if *condition == "{}" { True } else { Unknown };
            assert_eq!(truth(&st, None), unknown, "{condition} without account");
            assert_eq!(
                truth(&st, Some("")),
                unknown,
                "{condition} with empty account"
            );
        }
    }

    #[test]
    fn known_keys_are_named_as_written() {
        let st = statement(
            r#"{"StringEquals":{"AWS:PrincipalAccount":"1","aws:SourceVpce":"v"},"StringNotEquals":{"aws:ResourceAccount":"2"}}"#,
        );
        assert_eq!(
            known_keys(&st),
            vec![
                "AWS:PrincipalAccount".to_string(),
                "aws:ResourceAccount".to_string()
            ]
        );
    }
}
