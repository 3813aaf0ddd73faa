//! When two documents mean the same thing (DOMAIN.md section 3).

use super::{CorsConfiguration, PolicyDocument, Statement};

/// Whether two policy documents mean the same thing.
pub fn equivalent(_a: &PolicyDocument, _b: &PolicyDocument) -> bool {
    todo!()
}

/// Whether two statements mean the same thing (Sid included).
pub fn statements_equivalent(_a: &Statement, _b: &Statement) -> bool {
    todo!()
}

/// Whether two CORS configurations mean the same thing (rule order matters:
/// S3 uses the first matching rule).
pub fn cors_equivalent(_a: &CorsConfiguration, _b: &CorsConfiguration) -> bool {
    todo!()
}
