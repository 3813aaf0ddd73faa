//! The statements and rules A2I needs (DOMAIN.md section 1), least privilege.

use super::{CorsRule, Statement};

pub const SID_TRUST: &str = "AllowSageMakerToAssumeRole";
pub const SID_KMS: &str = "AllowUseOfKmsKey";
pub const SID_READ_INPUT: &str = "AllowA2IReadInput";
pub const SID_WRITE_OUTPUT: &str = "AllowA2IWriteOutput";
pub const SAGEMAKER_SERVICE: &str = "sagemaker.amazonaws.com";
pub const KMS_ACTIONS: [&str; 5] = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
];

/// `Allow sts:AssumeRole` to `Service: sagemaker.amazonaws.com`.
pub fn trust_statement() -> Statement {
    todo!()
}
/// `Allow s3:GetObject` on `resources` (e.g. `arn:aws:s3:::bucket/*`).
pub fn read_input_statement(_resources: &[String]) -> Statement {
    todo!()
}
/// `Allow s3:PutObject` on `resources` (e.g. `arn:aws:s3:::bucket/prefix/*`).
pub fn write_output_statement(_resources: &[String]) -> Statement {
    todo!()
}
/// `Allow` the five KMS actions to `Principal {"AWS": role_arns}`, `Resource "*"`.
pub fn key_statement(_role_arns: &[String]) -> Statement {
    todo!()
}
/// `AllowedMethods [GET]`, `AllowedOrigins [*]`.
pub fn cors_rule() -> CorsRule {
    todo!()
}
