//! The SDK write calls: the only place in a2i-fix that changes AWS.
//!
//! One change is one API call (a rollback plan lists the inline policies
//! and attachments of a role to delete as changes of their own), so what
//! `--dry-run` prints is exactly what runs. Calls are counted by the
//! clients' interceptor (`aws`), once per attempt of PutKeyPolicy's retry.

use std::time::{Duration, Instant};

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::operation::put_key_policy::PutKeyPolicyError;
use backon::{ExponentialBuilder, Retryable};

use super::{Interrupt, PlannedCall, settled};
use crate::aws::Clients;
use crate::model::{Action, PrincipalKind, Target, fingerprint};
use crate::plan::Change;
use crate::policy::CorsConfiguration;

/// A failed write: the AWS error and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteError {
    /// The AWS error code, if AWS answered.
    pub code: Option<String>,
    pub message: String,
    /// What it means and what to do.
    pub meaning: String,
    /// The call may have taken effect anyway (see
    /// `state::outcome_uncertain`): journaled as `unknown`, not `failed`.
    pub uncertain: bool,
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
            uncertain: false,
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

/// What a write that did not fail did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// AWS accepted the call.
    Done,
    /// AWS answered with an error that shows the call's effect already
    /// holds (see `settled`): why, in one line for the report.
    AlreadyHeld(String),
}

/// What an AWS error code means for a write, in words that say what to do.
/// `rollback`: the write is part of a rollback, whose advice differs (there
/// is no plan to make again; the journal holds what was there).
pub fn meaning(operation: &str, code: &str, rollback: bool) -> String {
    let command = if rollback { "rollback" } else { "apply" };
    let m = match (code, rollback) {
        ("KMSInvalidStateException", false) => {
            "the key is pending deletion or disabled: cancel the deletion (`aws kms cancel-key-deletion`) \
             or enable the key, or choose another key, then plan again"
        }
        ("KMSInvalidStateException", true) => {
            "the key is pending deletion or disabled: cancel the deletion (`aws kms cancel-key-deletion`) \
             or enable the key before its policy can be put back"
        }
        ("NotFoundException", false) => {
            "the key does not exist (any more): correct the spec, then plan again"
        }
        ("NotFoundException", true) => {
            "the key does not exist (any more): its policy cannot be put back"
        }
        ("NoSuchBucket", false) => {
            "the bucket does not exist (any more): create it or remove it from the spec, then plan again"
        }
        ("NoSuchBucket", true) => {
            "the bucket does not exist (any more): its CORS configuration cannot be put back"
        }
        ("NoSuchEntity", false) => {
            "the role, user or policy does not exist (any more): correct the spec or create it, then plan again"
        }
        ("NoSuchEntity", true) => {
            "the role, user or policy does not exist (any more): what the journal holds for it cannot be put back \
             until it exists again"
        }
        ("EntityAlreadyExists", false) => {
            "the role was created by someone else since the plan: plan again"
        }
        ("EntityAlreadyExists", true) => {
            "the role was created by someone else since the rollback was planned"
        }
        ("DeleteConflict", _) => {
            "the role still has inline or attached policies that a2i-fix did not add: remove them first"
        }
        ("LimitExceeded" | "LimitExceededException", _) => {
            "an AWS quota was reached (inline policy size, attached policies per principal, or request rate): \
             make room or ask for a quota increase"
        }
        ("MalformedPolicyDocument" | "MalformedPolicyDocumentException", _) => {
            "AWS rejected the document: a principal, action or resource in it is not valid"
        }
        ("AccessDenied" | "AccessDeniedException" | "AccessDeniedError", _) => {
            return format!(
                "the credentials in use may not call `{operation}`: grant that action and run {command} again"
            );
        }
        ("UnmodifiableEntity", _) => {
            "the role is managed by AWS (a service-linked role) and cannot be changed"
        }
        ("InvalidInput" | "ValidationError" | "InvalidArnException", _) => {
            "AWS rejected a parameter of the call"
        }
        (
            "ServiceFailure"
            | "InternalFailure"
            | "ServiceUnavailable"
            | "KMSInternalException"
            | "DependencyTimeoutException"
            | "InternalError",
            _,
        ) => return format!("AWS had an internal error: run {command} again"),
        (
            "Throttling"
            | "ThrottlingException"
            | "SlowDown"
            | "RequestLimitExceeded"
            | "TooManyRequestsException",
            _,
        ) => {
            return format!(
                "AWS throttled the call even after retries: wait a minute and run {command} again"
            );
        }
        _ => "",
    };
    m.to_string()
}

fn sdk_error<E, R>(operation: &str, err: &SdkError<E, R>, rollback: bool) -> WriteError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = err.code().map(str::to_string);
    // Without AWS's own words (no answer, a timeout, a lost connection):
    // the fault in one line, as every read says it, never a debug dump.
    let message = err
        .message()
        .map(str::to_string)
        .unwrap_or_else(|| crate::state::describe_fault(err, code.as_deref()));
    let command = if rollback { "rollback" } else { "apply" };
    let mut meaning = match &code {
        Some(c) => meaning(operation, c, rollback),
        None => format!(
            "no answer from AWS (network or credentials): check the connection and run {command} again"
        ),
    };
    let uncertain = crate::state::outcome_uncertain(err, code.as_deref());
    if uncertain {
        let next = if rollback {
            "running rollback again checks the live document"
        } else {
            "a new plan shows what is left, and rollback checks the live document"
        };
        meaning = format!(
            "{meaning}; an earlier attempt may have taken effect before its answer was lost, so the journal records the outcome as unknown: {next}"
        );
    }
    WriteError {
        code,
        message,
        meaning,
        uncertain,
    }
}

/// Timing knobs of the writes, and what they are part of.
#[derive(Debug, Clone)]
pub struct WriteSettings {
    /// How long to keep retrying PutKeyPolicy's "invalid principals".
    pub kms_retry_budget: Duration,
    /// The writes undo an apply (a rollback plan): shapes the advice in errors.
    pub rollback: bool,
}

/// The outcome of a call whose success is its only good answer.
fn done<O, E, R>(
    op: &str,
    result: Result<O, SdkError<E, R>>,
    rollback: bool,
) -> Result<Written, WriteError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    result
        .map(|_| Written::Done)
        .map_err(|e| sdk_error(op, &e, rollback))
}

/// The outcome of a delete of `target`: "it does not exist" is done too
/// (see `settled`).
fn deleted<O, E, R>(
    op: &str,
    target: &Target,
    result: Result<O, SdkError<E, R>>,
    rollback: bool,
) -> Result<Written, WriteError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(Written::Done),
        Err(e) => match settled::already_gone(target, e.code()) {
            Some(note) => Ok(Written::AlreadyHeld(note)),
            None => Err(sdk_error(op, &e, rollback)),
        },
    }
}

/// CreateRole; `EntityAlreadyExists` is done when the role that exists is
/// the one planned (see `settled`).
async fn create_role(
    clients: &Clients,
    op: &str,
    (name, path, trust): (&str, &str, &str),
    rollback: bool,
) -> Result<Written, WriteError> {
    let result = clients
        .iam
        .create_role()
        .role_name(name)
        .path(path)
        .assume_role_policy_document(trust)
        .description(settled::ROLE_DESCRIPTION)
        .send()
        .await;
    match result {
        Ok(_) => Ok(Written::Done),
        Err(e) if e.code() == Some("EntityAlreadyExists") => {
            let mut error = sdk_error(op, &e, rollback);
            match settled::role_as_planned(clients, name, path, trust).await {
                Ok(note) => Ok(Written::AlreadyHeld(note)),
                Err(why) => {
                    error.meaning = format!("{}; {why}", error.meaning);
                    Err(error)
                }
            }
        }
        Err(e) => Err(sdk_error(op, &e, rollback)),
    }
}

/// Perform one change's API call.
pub async fn perform(
    clients: &Clients,
    change: &Change,
    call: &PlannedCall,
    settings: &WriteSettings,
    interrupt: &Interrupt,
) -> Result<Written, WriteError> {
    let op = call.operation;
    let rb = settings.rollback;
    // IAM writes are paced per API like its reads, so a large apply is not
    // throttled (see `aws::Pace`).
    if op.starts_with("iam:") {
        clients.iam_pace.ready(op).await;
    }
    let after = change.after.as_deref();
    let doc = || {
        after.ok_or_else(|| {
            WriteError::local(
                "the change has no document to write",
                "this is a bug in a2i-fix",
            )
        })
    };
    let target = &change.target;
    match (target, change.action) {
        (Target::Role { name, path }, Action::Create) => {
            create_role(clients, op, (name, path, doc()?), rb).await
        }
        (Target::Role { name, .. }, Action::Delete) => {
            let r = clients.iam.delete_role().role_name(name).send().await;
            deleted(op, target, r, rb)
        }
        (Target::TrustPolicy { role }, _) => {
            let r = clients
                .iam
                .update_assume_role_policy()
                .role_name(role)
                .policy_document(doc()?)
                .send()
                .await;
            done(op, r, rb)
        }
        (Target::InlinePolicy { role, policy_name }, Action::Delete) => {
            let r = clients
                .iam
                .delete_role_policy()
                .role_name(role)
                .policy_name(policy_name)
                .send()
                .await;
            deleted(op, target, r, rb)
        }
        (Target::InlinePolicy { role, policy_name }, _) => {
            let r = clients
                .iam
                .put_role_policy()
                .role_name(role)
                .policy_name(policy_name)
                .policy_document(doc()?)
                .send()
                .await;
            done(op, r, rb)
        }
        (
            Target::Attachment {
                kind,
                name,
                policy_arn,
            },
            action,
        ) => {
            let iam = &clients.iam;
            match (kind, action == Action::Delete) {
                (PrincipalKind::Role, false) => {
                    let r = iam
                        .attach_role_policy()
                        .role_name(name)
                        .policy_arn(policy_arn)
                        .send()
                        .await;
                    done(op, r, rb)
                }
                (PrincipalKind::Role, true) => {
                    let r = iam
                        .detach_role_policy()
                        .role_name(name)
                        .policy_arn(policy_arn)
                        .send()
                        .await;
                    deleted(op, target, r, rb)
                }
                (PrincipalKind::User, false) => {
                    let r = iam
                        .attach_user_policy()
                        .user_name(name)
                        .policy_arn(policy_arn)
                        .send()
                        .await;
                    done(op, r, rb)
                }
                (PrincipalKind::User, true) => {
                    let r = iam
                        .detach_user_policy()
                        .user_name(name)
                        .policy_arn(policy_arn)
                        .send()
                        .await;
                    deleted(op, target, r, rb)
                }
            }
        }
        (Target::KeyPolicy { key_id, key_arn }, _) => {
            let key = if key_id.is_empty() { key_arn } else { key_id };
            put_key_policy(clients, key, doc()?, change, settings, interrupt)
                .await
                .map(|()| Written::Done)
        }
        (Target::BucketCors { bucket }, Action::Delete) => {
            let r = clients.s3.delete_bucket_cors().bucket(bucket).send().await;
            deleted(op, target, r, rb)
        }
        (Target::BucketCors { bucket }, _) => {
            let config = to_sdk_cors(doc()?)?;
            let r = clients
                .s3
                .put_bucket_cors()
                .bucket(bucket)
                .cors_configuration(config)
                .send()
                .await;
            done(op, r, rb)
        }
        (Target::Role { .. }, Action::Update) => Err(WriteError::local(
            "a role itself cannot be updated (its trust policy is a change of its own)",
            "this is a bug in a2i-fix",
        )),
    }
}

/// Why one PutKeyPolicy attempt did not succeed.
enum KeyPolicyAttempt {
    Rejected(Box<SdkError<PutKeyPolicyError>>),
    /// Interrupted while waiting to retry: no further call was made.
    Interrupted,
    /// The key policy changed since the plan while a retry was pending.
    Changed,
    /// The key policy could not be read back before a retry.
    Unreadable(String),
}

/// KMS rejects a key policy naming a principal it cannot see yet (IAM is
/// eventually consistent, and KMS sees a new role some seconds later).
fn invalid_principal(err: &SdkError<PutKeyPolicyError>) -> bool {
    err.code() == Some("MalformedPolicyDocumentException")
        && err
            .message()
            .is_some_and(|m| m.to_ascii_lowercase().contains("principal"))
}

/// PutKeyPolicy, retrying "invalid principals" (IAM not yet visible to KMS)
/// with exponential backoff (1 s, 2 s, ... up to 16 s) while the next
/// attempt would still start within the budget. An interrupt cuts the wait
/// short and makes no further call; a call in flight is always finished.
/// `BypassPolicyLockoutSafetyCheck` is never set.
async fn put_key_policy(
    clients: &Clients,
    key: &str,
    policy: &str,
    change: &Change,
    settings: &WriteSettings,
    interrupt: &Interrupt,
) -> Result<(), WriteError> {
    const OP: &str = "kms:PutKeyPolicy";
    let started = Instant::now();
    let deadline = started + settings.kms_retry_budget;
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(1))
        .with_max_delay(Duration::from_secs(16))
        .with_factor(2.0)
        .without_max_times();
    let mut attempts = 0u32;
    let mut last_rejection = None;
    let attempt = || {
        attempts += 1;
        let retrying = attempts > 1;
        async move {
            if retrying && interrupt.is_triggered() {
                return Err(KeyPolicyAttempt::Interrupted);
            }
            // The document was checked against the plan once, before the
            // writes; a retry may come minutes later. Someone who changed
            // it meanwhile must not have that change overwritten.
            if retrying {
                let current = crate::state::read_current(clients, &change.target)
                    .await
                    .map_err(|e| KeyPolicyAttempt::Unreadable(e.to_string()))?;
                if fingerprint(current.as_deref()) != change.before_fingerprint {
                    return Err(KeyPolicyAttempt::Changed);
                }
            }
            clients
                .kms
                .put_key_policy()
                .key_id(key)
                .policy_name("default")
                .policy(policy)
                .send()
                .await
                .map(drop)
                .map_err(|e| KeyPolicyAttempt::Rejected(Box::new(e)))
        }
    };
    let sleeper = interrupt.clone();
    let result = attempt
        .retry(backoff)
        .sleep(move |pause| sleeper.sleep(pause))
        .when(|e| matches!(e, KeyPolicyAttempt::Rejected(err) if invalid_principal(err)))
        .adjust(|_, pause| pause.filter(|p| Instant::now() + *p <= deadline))
        .notify(|e, _| {
            if let KeyPolicyAttempt::Rejected(err) = e {
                last_rejection = Some(sdk_error(OP, err, settings.rollback));
            }
        })
        .await;
    match result {
        Ok(()) => Ok(()),
        Err(KeyPolicyAttempt::Interrupted) => {
            let mut e = last_rejection
                .unwrap_or_else(|| WriteError::local("interrupted", "this is a bug in a2i-fix"));
            e.meaning =
                "interrupted while waiting to retry: the key policy was not changed".to_string();
            Err(e)
        }
        Err(KeyPolicyAttempt::Changed) => Err(WriteError::local(
            "the key policy was changed by someone else while a2i-fix waited to retry",
            format!(
                "refused: the change was not written, so theirs is kept; plan again (or run {} again) to see what is needed now",
                if settings.rollback {
                    "rollback"
                } else {
                    "apply"
                }
            ),
        )),
        Err(KeyPolicyAttempt::Unreadable(message)) => Err(WriteError::local(
            format!("the key policy could not be read back before a retry: {message}"),
            "nothing was written by the retry; run again",
        )),
        Err(KeyPolicyAttempt::Rejected(err)) => {
            let mut e = sdk_error(OP, &err, settings.rollback);
            if invalid_principal(&err) {
                e.meaning = format!(
                    "KMS still rejects a principal of the key policy after {attempts} attempts over {}s: \
                     the role may not exist, or IAM has not made it visible to KMS yet; \
                     check the role, wait a few minutes and run {} again",
                    started.elapsed().as_secs(),
                    if settings.rollback {
                        "rollback"
                    } else {
                        "apply"
                    }
                );
            }
            Err(e)
        }
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
