//! The SDK write calls: the only place in a2i-fix that changes AWS.
//!
//! One change is one API call (a rollback plan lists the inline policies
//! and attachments of a role to delete as changes of their own), so what
//! `--dry-run` prints is exactly what runs. Calls are counted by the
//! clients' interceptor (`aws`), once per attempt of PutKeyPolicy's retry.

use std::time::{Duration, Instant};

use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use super::{Interrupt, PlannedCall};
use crate::aws::Clients;
use crate::model::PrincipalKind;
use crate::plan::{Action, Change, Target};
use crate::policy::CorsConfiguration;

/// A failed write: the AWS error and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteError {
    /// The AWS error code, if AWS answered.
    pub code: Option<String>,
    pub message: String,
    /// What it means and what to do.
    pub meaning: String,
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{code}: {}", self.message)?,
            None => write!(f, "{}", self.message)?,
        }
        if !self.meaning.is_empty() {
            write!(f, " ({})", self.meaning)?;
        }
        Ok(())
    }
}

impl WriteError {
    fn local(message: impl Into<String>, meaning: impl Into<String>) -> Self {
        WriteError {
            code: None,
            message: message.into(),
            meaning: meaning.into(),
        }
    }

    pub fn to_recorded(&self) -> crate::journal::RecordedError {
        crate::journal::RecordedError {
            code: self.code.clone(),
            message: self.message.clone(),
            meaning: self.meaning.clone(),
        }
    }
}

/// What an AWS error code means for a write, in words that say what to do.
pub fn meaning(operation: &str, code: &str) -> String {
    let m = match code {
        "KMSInvalidStateException" => {
            "the key is pending deletion or disabled: cancel the deletion (`aws kms cancel-key-deletion`) \
             or enable the key, or choose another key, then plan again"
        }
        "NotFoundException" => {
            "the key does not exist (any more): correct the spec, then plan again"
        }
        "NoSuchBucket" => {
            "the bucket does not exist (any more): create it or remove it from the spec, then plan again"
        }
        "NoSuchEntity" => {
            "the role, user or policy does not exist (any more): correct the spec or create it, then plan again"
        }
        "EntityAlreadyExists" => "the role was created by someone else since the plan: plan again",
        "DeleteConflict" => {
            "the role still has inline or attached policies that a2i-fix did not add: remove them first"
        }
        "LimitExceeded" | "LimitExceededException" => {
            "an AWS quota was reached (inline policy size, attached policies per principal, or request rate): \
             make room or ask for a quota increase"
        }
        "MalformedPolicyDocument" | "MalformedPolicyDocumentException" => {
            "AWS rejected the document: a principal, action or resource in it is not valid"
        }
        "AccessDenied" | "AccessDeniedException" | "AccessDeniedError" => {
            return format!(
                "the credentials in use may not call `{operation}`: grant that action and run apply again"
            );
        }
        "UnmodifiableEntity" => {
            "the role is managed by AWS (a service-linked role) and cannot be changed"
        }
        "InvalidInput" | "ValidationError" | "InvalidArnException" => {
            "AWS rejected a parameter of the call"
        }
        "ServiceFailure"
        | "KMSInternalException"
        | "DependencyTimeoutException"
        | "InternalError" => "AWS had an internal error: run apply again",
        "Throttling" | "ThrottlingException" | "SlowDown" => {
            "AWS throttled the call even after retries: wait a minute and run apply again"
        }
        _ => "",
    };
    m.to_string()
}

fn sdk_error<E, R>(operation: &str, err: &SdkError<E, R>) -> WriteError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = err.code().map(str::to_string);
    let message = err
        .message()
        .map(str::to_string)
        .unwrap_or_else(|| DisplayErrorContext(err).to_string());
    let meaning = match &code {
        Some(c) => meaning(operation, c),
        None => {
            "no answer from AWS (network or credentials): check the connection and run apply again"
                .to_string()
        }
    };
    WriteError {
        code,
        message,
        meaning,
    }
}

/// Timing knobs of the writes.
#[derive(Debug, Clone)]
pub struct WriteSettings {
    /// How long to keep retrying PutKeyPolicy's "invalid principals".
    pub kms_retry_budget: Duration,
}

/// Perform one change's API call.
pub async fn perform(
    clients: &Clients,
    change: &Change,
    call: &PlannedCall,
    settings: &WriteSettings,
    interrupt: &Interrupt,
) -> Result<(), WriteError> {
    let op = call.operation;
    let after = change.after.as_deref();
    let doc = || {
        after.ok_or_else(|| {
            WriteError::local(
                "the change has no document to write",
                "this is a bug in a2i-fix",
            )
        })
    };
    match (&change.target, change.action) {
        (Target::Role { name, path }, Action::Create) => clients
            .iam
            .create_role()
            .role_name(name)
            .path(path)
            .assume_role_policy_document(doc()?)
            .description("Created by a2i-fix for Amazon Augmented AI")
            .send()
            .await
            .map(drop)
            .map_err(|e| sdk_error(op, &e)),
        (Target::Role { name, .. }, Action::Delete) => clients
            .iam
            .delete_role()
            .role_name(name)
            .send()
            .await
            .map(drop)
            .map_err(|e| sdk_error(op, &e)),
        (Target::TrustPolicy { role }, _) => clients
            .iam
            .update_assume_role_policy()
            .role_name(role)
            .policy_document(doc()?)
            .send()
            .await
            .map(drop)
            .map_err(|e| sdk_error(op, &e)),
        (Target::InlinePolicy { role, policy_name }, Action::Delete) => clients
            .iam
            .delete_role_policy()
            .role_name(role)
            .policy_name(policy_name)
            .send()
            .await
            .map(drop)
            .map_err(|e| sdk_error(op, &e)),
        (Target::InlinePolicy { role, policy_name }, _) => clients
            .iam
            .put_role_policy()
            .role_name(role)
            .policy_name(policy_name)
            .policy_document(doc()?)
            .send()
            .await
            .map(drop)
            .map_err(|e| sdk_error(op, &e)),
        (
            Target::Attachment {
                kind,
                name,
                policy_arn,
            },
            action,
        ) => {
            let delete = action == Action::Delete;
            match (kind, delete) {
                (PrincipalKind::Role, false) => clients
                    .iam
                    .attach_role_policy()
                    .role_name(name)
                    .policy_arn(policy_arn)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| sdk_error(op, &e)),
                (PrincipalKind::Role, true) => clients
                    .iam
                    .detach_role_policy()
                    .role_name(name)
                    .policy_arn(policy_arn)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| sdk_error(op, &e)),
                (PrincipalKind::User, false) => clients
                    .iam
                    .attach_user_policy()
                    .user_name(name)
                    .policy_arn(policy_arn)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| sdk_error(op, &e)),
                (PrincipalKind::User, true) => clients
                    .iam
                    .detach_user_policy()
                    .user_name(name)
                    .policy_arn(policy_arn)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| sdk_error(op, &e)),
            }
        }
        (Target::KeyPolicy { key_id, key_arn }, _) => {
            let key = if key_id.is_empty() { key_arn } else { key_id };
            put_key_policy(clients, key, doc()?, settings, interrupt).await
        }
        (Target::BucketCors { bucket }, Action::Delete) => clients
            .s3
            .delete_bucket_cors()
            .bucket(bucket)
            .send()
            .await
            .map(drop)
            .map_err(|e| sdk_error(op, &e)),
        (Target::BucketCors { bucket }, _) => {
            let config = to_sdk_cors(doc()?)?;
            clients
                .s3
                .put_bucket_cors()
                .bucket(bucket)
                .cors_configuration(config)
                .send()
                .await
                .map(drop)
                .map_err(|e| sdk_error(op, &e))
        }
        (Target::Role { .. }, Action::Update) => Err(WriteError::local(
            "a role itself cannot be updated (its trust policy is a change of its own)",
            "this is a bug in a2i-fix",
        )),
    }
}

/// PutKeyPolicy, retrying "invalid principals" (IAM not yet visible to KMS)
/// with exponential backoff within the budget. `BypassPolicyLockoutSafetyCheck`
/// is never set.
async fn put_key_policy(
    clients: &Clients,
    key: &str,
    policy: &str,
    settings: &WriteSettings,
    interrupt: &Interrupt,
) -> Result<(), WriteError> {
    const OP: &str = "kms:PutKeyPolicy";
    let started = Instant::now();
    let deadline = started + settings.kms_retry_budget;
    let mut delay = Duration::from_secs(1);
    let mut attempts = 1u32;
    loop {
        let result = clients
            .kms
            .put_key_policy()
            .key_id(key)
            .policy_name("default")
            .policy(policy)
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let invalid_principal = err.code() == Some("MalformedPolicyDocumentException")
            && err
                .message()
                .is_some_and(|m| m.to_ascii_lowercase().contains("principal"));
        if !invalid_principal {
            return Err(sdk_error(OP, &err));
        }
        let now = Instant::now();
        if now + delay > deadline {
            let mut e = sdk_error(OP, &err);
            e.meaning = format!(
                "KMS still rejects a principal of the key policy after {attempts} attempts over {}s: \
                 the role may not exist, or IAM has not made it visible to KMS yet; \
                 check the role, wait a few minutes and run apply again",
                started.elapsed().as_secs()
            );
            return Err(e);
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = interrupt.triggered() => {
                let mut e = sdk_error(OP, &err);
                e.meaning = "interrupted while waiting to retry: the key policy was not changed".to_string();
                return Err(e);
            }
        }
        delay = (delay * 2).min(Duration::from_secs(16));
        attempts += 1;
    }
}

/// Convert `{"CORSRules": [...]}` to the SDK's type.
pub fn to_sdk_cors(text: &str) -> Result<aws_sdk_s3::types::CorsConfiguration, WriteError> {
    let config = CorsConfiguration::parse(text).map_err(|e| {
        WriteError::local(
            format!("invalid CORS configuration: {e}"),
            "this is a bug in a2i-fix",
        )
    })?;
    let mut rules = Vec::new();
    for rule in &config.rules {
        let non_empty = |v: &Vec<String>| if v.is_empty() { None } else { Some(v.clone()) };
        let built = aws_sdk_s3::types::CorsRule::builder()
            .set_id(rule.id.clone())
            .set_allowed_headers(non_empty(&rule.allowed_headers))
            .set_allowed_methods(Some(rule.allowed_methods.clone()))
            .set_allowed_origins(Some(rule.allowed_origins.clone()))
            .set_expose_headers(non_empty(&rule.expose_headers))
            .set_max_age_seconds(rule.max_age_seconds)
            .build()
            .map_err(|e| {
                WriteError::local(
                    format!("invalid CORS rule: {e}"),
                    "this is a bug in a2i-fix",
                )
            })?;
        rules.push(built);
    }
    aws_sdk_s3::types::CorsConfiguration::builder()
        .set_cors_rules(Some(rules))
        .build()
        .map_err(|e| {
            WriteError::local(
                format!("invalid CORS configuration: {e}"),
                "this is a bug in a2i-fix",
            )
        })
}
