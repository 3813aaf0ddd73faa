//! S3 CORS configurations.

use super::PolicyError;

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
    pub fn parse(_text: &str) -> Result<Self, PolicyError> {
        todo!()
    }
    /// Pretty JSON with a stable key order.
    pub fn to_pretty_json(&self) -> String {
        todo!()
    }
}
