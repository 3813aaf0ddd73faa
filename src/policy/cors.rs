//! S3 CORS configurations.
//!
//! # What the parser accepts
//!
//! `{"CORSRules": [rule, ...]}` (the shape of `aws s3api get-bucket-cors`),
//! where a rule has `AllowedMethods` and `AllowedOrigins` (required, non-empty
//! lists of strings), and optionally `AllowedHeaders`, `ExposeHeaders` (lists
//! of strings), `ID` (string) and `MaxAgeSeconds` (an integer that fits in
//! 32 bits). Any other key is an error naming the rule (`CORSRules[2].Foo`);
//! duplicate keys are errors as for policies.
//!
//! # Decisions
//!
//! - A list field given as a single string is accepted as a one-element list
//!   (what the policy grammar does; harmless, and S3 itself only speaks XML).
//! - Method names are not checked against S3's five (`GET`, `PUT`, `HEAD`,
//!   `POST`, `DELETE`): a configuration read from S3 is valid by construction,
//!   and the rule a2i-fix adds uses `GET` only.
//! - Unlike policy statements, rules are typed, so they are written back in
//!   the fixed key order `ID, AllowedHeaders, AllowedMethods, AllowedOrigins,
//!   ExposeHeaders, MaxAgeSeconds` (S3 itself stores XML, so no key order was
//!   ever preserved there).

use serde_json::Value;

use super::PolicyError;
use super::document::{kind, parse_json_strict};

/// One CORS rule. Missing list fields are empty lists.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct CorsRule {
    #[serde(rename = "ID", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(
        rename = "AllowedHeaders",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub allowed_headers: Vec<String>,
    #[serde(rename = "AllowedMethods", default)]
    pub allowed_methods: Vec<String>,
    #[serde(rename = "AllowedOrigins", default)]
    pub allowed_origins: Vec<String>,
    #[serde(
        rename = "ExposeHeaders",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub expose_headers: Vec<String>,
    #[serde(
        rename = "MaxAgeSeconds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_age_seconds: Option<i32>,
}

/// A bucket's CORS configuration: `{"CORSRules": [...]}`. No configuration
/// at all (`NoSuchCORSConfiguration`) is an empty rule list.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct CorsConfiguration {
    #[serde(rename = "CORSRules")]
    pub rules: Vec<CorsRule>,
}

impl CorsConfiguration {
    /// Parse `{"CORSRules": [...]}`; unknown keys are errors naming the rule index.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let value = parse_json_strict(text)?;
        let Value::Object(map) = &value else {
            return Err(PolicyError::at(
                "(document)",
                format!(
                    "expected a JSON object `{{\"CORSRules\": [...]}}`, found {}",
                    kind(&value)
                ),
            ));
        };
        let mut rules = None;
        for (key, v) in map {
            match key.as_str() {
                "CORSRules" => {
                    let Value::Array(items) = v else {
                        return Err(PolicyError::at(
                            "CORSRules",
                            format!("expected a list of rules, found {}", kind(v)),
                        ));
                    };
                    rules = Some(
                        items
                            .iter()
                            .enumerate()
                            .map(|(i, r)| parse_rule(r, &format!("CORSRules[{i}]")))
                            .collect::<Result<Vec<_>, _>>()?,
                    );
                }
                other => {
                    return Err(PolicyError::at(
                        other,
                        "unknown key: a CORS configuration has only `CORSRules`",
                    ));
                }
            }
        }
        let rules = rules.ok_or_else(|| PolicyError::at("(document)", "missing `CORSRules`"))?;
        Ok(CorsConfiguration { rules })
    }

    /// Pretty JSON with a stable key order.
    pub fn to_pretty_json(&self) -> String {
        format!("{:#}", self.to_value())
    }

    /// The configuration as JSON, keys in the order of module docs.
    pub fn to_value(&self) -> Value {
        let rules: Vec<Value> = self.rules.iter().map(CorsRule::to_value).collect();
        let mut m = serde_json::Map::new();
        m.insert("CORSRules".into(), Value::Array(rules));
        Value::Object(m)
    }
}

impl CorsRule {
    /// The rule as JSON (empty optional lists left out).
    pub fn to_value(&self) -> Value {
        let mut m = serde_json::Map::new();
        let list = |v: &[String]| Value::Array(v.iter().cloned().map(Value::String).collect());
        if let Some(id) = &self.id {
            m.insert("ID".into(), Value::String(id.clone()));
        }
        if !self.allowed_headers.is_empty() {
            m.insert("AllowedHeaders".into(), list(&self.allowed_headers));
        }
        m.insert("AllowedMethods".into(), list(&self.allowed_methods));
        m.insert("AllowedOrigins".into(), list(&self.allowed_origins));
        if !self.expose_headers.is_empty() {
            m.insert("ExposeHeaders".into(), list(&self.expose_headers));
        }
        if let Some(age) = self.max_age_seconds {
            m.insert("MaxAgeSeconds".into(), Value::from(age));
        }
        Value::Object(m)
    }

    /// A short description for plans: `GET from *` (with the ID when there is one).
    pub fn describe(&self) -> String {
        let what = format!(
            "{} from {}",
            self.allowed_methods.join(", "),
            self.allowed_origins.join(", ")
        );
        match &self.id {
            Some(id) => format!("{what} (`{id}`)"),
            None => what,
        }
    }
}

fn parse_rule(v: &Value, at: &str) -> Result<CorsRule, PolicyError> {
    let Value::Object(map) = v else {
        return Err(PolicyError::at(
            at,
            format!("a CORS rule must be an object, found {}", kind(v)),
        ));
    };
    let mut rule = CorsRule::default();
    let (mut methods, mut origins) = (false, false);
    for (key, v) in map {
        let here = format!("{at}.{key}");
        match key.as_str() {
            "ID" => {
                let s = v.as_str().ok_or_else(|| {
                    PolicyError::at(&here, format!("expected a string, found {}", kind(v)))
                })?;
                rule.id = Some(s.to_string());
            }
            "AllowedHeaders" => rule.allowed_headers = strings(v, &here)?,
            "AllowedMethods" => {
                rule.allowed_methods = strings(v, &here)?;
                methods = true;
            }
            "AllowedOrigins" => {
                rule.allowed_origins = strings(v, &here)?;
                origins = true;
            }
            "ExposeHeaders" => rule.expose_headers = strings(v, &here)?,
            "MaxAgeSeconds" => {
                let n = v
                    .as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or_else(|| {
                        PolicyError::at(
                            &here,
                            "expected a whole number of seconds that fits in 32 bits",
                        )
                    })?;
                rule.max_age_seconds = Some(n);
            }
            other => {
                return Err(PolicyError::at(
                    &here,
                    format!(
                        "unknown CORS rule key `{other}`: a rule has only `ID`, `AllowedHeaders`, `AllowedMethods`, `AllowedOrigins`, `ExposeHeaders` and `MaxAgeSeconds`"
                    ),
                ));
            }
        }
    }
    if !methods || rule.allowed_methods.is_empty() {
        return Err(PolicyError::at(at, "missing or empty `AllowedMethods`"));
    }
    if !origins || rule.allowed_origins.is_empty() {
        return Err(PolicyError::at(at, "missing or empty `AllowedOrigins`"));
    }
    Ok(rule)
}

fn strings(v: &Value, at: &str) -> Result<Vec<String>, PolicyError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str().map(str::to_string).ok_or_else(|| {
                    PolicyError::at(
                        format!("{at}[{i}]"),
                        format!("expected a string, found {}", kind(item)),
                    )
                })
            })
            .collect(),
        other => Err(PolicyError::at(
            at,
            format!("expected a list of strings, found {}", kind(other)),
        )),
    }
}
