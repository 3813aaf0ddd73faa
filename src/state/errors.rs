//! Turning a failed SDK call into a [`StateError`] that says what to do:
//! AccessDenied names the call, the resource and the IAM action to grant;
//! rejected credentials say how to configure them; anything else keeps the
//! AWS message.

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_smithy_runtime_api::client::result::SdkError;

use crate::aws::CREDENTIALS_HELP;

/// Why the state could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The credentials may not make this call.
    #[error("access denied calling `{call}` on {resource}: a2i-fix needs `{action}`")]
    AccessDenied {
        call: String,
        /// What it was called on, e.g. ``bucket `acme-a2i-input` ``.
        resource: String,
        /// The IAM action to grant, e.g. `s3:GetBucketCORS`.
        action: String,
    },
    /// AWS rejected the credentials themselves.
    #[error("AWS rejected the credentials calling `{call}`: {message}; {help}", help = CREDENTIALS_HELP)]
    Credentials { call: String, message: String },
    #[error(
        "bucket `{bucket}` does not exist or is not visible to these credentials: check the bucket names in the spec"
    )]
    BucketNotFound { bucket: String },
    #[error(
        "KMS key `{key_ref}` not found in region `{region}`: check `kms_key` in the spec (a key id, key ARN or `alias/NAME`) and the region"
    )]
    KeyNotFound { key_ref: String, region: String },
    #[error(
        "caller `{arn}` does not exist: check `principal` of the `human_loop_caller` in the spec"
    )]
    CallerNotFound { arn: String },
    /// Any other failure of a call.
    #[error("calling `{call}` on {resource} failed: {message}")]
    Aws {
        call: String,
        resource: String,
        message: String,
    },
    /// A document AWS returned could not be URL-decoded.
    #[error("cannot decode {what}: {message}")]
    Decode { what: String, message: String },
}

/// The IAM action that allows an API call, for AccessDenied messages.
/// Mostly `service:Call`; S3 has a few names of its own.
pub fn iam_action(service: &str, call: &str) -> String {
    let action = match (service, call) {
        ("s3", "GetBucketCors") => "GetBucketCORS",
        ("s3", "PutBucketCors") => "PutBucketCORS",
        ("s3", "DeleteBucketCors") => "PutBucketCORS",
        ("s3", "GetBucketEncryption") => "GetEncryptionConfiguration",
        _ => call,
    };
    format!("{service}:{action}")
}

/// Error codes that mean "the caller may not do this".
const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
];
/// Error codes that mean "these credentials are not valid".
const BAD_CREDENTIALS_CODES: &[&str] = &[
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
];

/// The error code of a failed call, if AWS sent one.
pub(super) fn code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    match error {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// Turn a failed call into a [`StateError`] naming the call and the resource.
pub(super) fn call_error<E, R>(
    service: &str,
    call: &str,
    resource: String,
    error: SdkError<E, R>,
) -> StateError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    // Some emulators (moto's STS) wrap error bodies in `<Errors>`, which the
    // SDK does not parse: then the code is taken from the raw body, so that
    // whichever concurrent read fails first is reported the same way.
    let code = code(&error)
        .map(str::to_string)
        .or_else(|| code_from_raw(&format!("{error:?}")));
    let code = code.as_deref();
    if code.is_some_and(|c| ACCESS_DENIED_CODES.contains(&c)) {
        return StateError::AccessDenied {
            call: call.to_string(),
            resource,
            action: iam_action(service, call),
        };
    }
    let message = describe_fault(&error, code);
    if code.is_some_and(|c| BAD_CREDENTIALS_CODES.contains(&c)) {
        return StateError::Credentials {
            call: call.to_string(),
            message,
        };
    }
    StateError::Aws {
        call: call.to_string(),
        resource,
        message,
    }
}

/// Codes AWS answers when it throttles.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "SlowDown",
    "RequestLimitExceeded",
    "TooManyRequestsException",
];
/// Codes of AWS's own internal failures.
const SERVER_CODES: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "ServiceFailure",
    "ServiceUnavailable",
    "KMSInternalException",
    "DependencyTimeoutException",
];

/// Whether a failed call may still have taken effect. The SDK retries
/// throttles, internal errors, timeouts and lost connections; the error it
/// finally returns is only the last attempt's, and an earlier attempt may
/// have landed before its answer was lost. Only an error AWS answered on
/// purpose (access denied, a malformed document, no such entity...) or a
/// request never built proves nothing was written.
pub fn outcome_uncertain<E, R>(error: &SdkError<E, R>, code: Option<&str>) -> bool {
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(_) => {
            code.is_none_or(|c| THROTTLING_CODES.contains(&c) || SERVER_CODES.contains(&c))
        }
        _ => false,
    }
}

/// What went wrong with a call, in one line: the fault (throttled, server
/// error, connection lost, timed out), AWS's own words, and what to do. The
/// SDK's debug rendering of the raw response is never shown.
pub fn describe_fault<E, R>(error: &SdkError<E, R>, code: Option<&str>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let aws_words = || {
        let message = match error {
            SdkError::ServiceError(s) => s.err().message().map(str::to_string),
            _ => None,
        };
        match (code, message) {
            (Some(c), Some(m)) => format!("`{c}`: {m}"),
            (Some(c), None) => format!("`{c}`"),
            (None, Some(m)) => m,
            (None, None) => "no details".to_string(),
        }
    };
    match error {
        SdkError::TimeoutError(_) => "timed out: AWS did not answer within the time allowed (`--attempt-timeout`, `--operation-timeout`); check the network or endpoint, or raise them".to_string(),
        SdkError::DispatchFailure(d) if d.is_timeout() => "timed out connecting to AWS; check the network or endpoint".to_string(),
        SdkError::DispatchFailure(d) => {
            let why = d
                .as_connector_error()
                .map(|e| DisplayErrorContext(e).to_string())
                .unwrap_or_else(|| "no connection".to_string());
            format!("the connection to AWS failed ({why}); check the network or endpoint and run again")
        }
        SdkError::ResponseError(_) => "the connection was lost or AWS's answer could not be read; run again".to_string(),
        SdkError::ServiceError(_) if code.is_some_and(|c| THROTTLING_CODES.contains(&c)) => format!(
            "throttled by AWS even after retries ({}); wait a minute, lower `--iam-concurrency`, or raise `AWS_MAX_ATTEMPTS`",
            aws_words()
        ),
        SdkError::ServiceError(_) if code.is_some_and(|c| SERVER_CODES.contains(&c)) => format!(
            "AWS had an internal error even after retries ({}); run again",
            aws_words()
        ),
        SdkError::ServiceError(_) => aws_words(),
        _ => DisplayErrorContext(error).to_string(),
    }
}

/// The `<Code>...</Code>` of an XML error body found in a debug rendering
/// of an SDK error.
pub(super) fn code_from_raw(debug: &str) -> Option<String> {
    let start = debug.find("<Code>")? + "<Code>".len();
    let len = debug[start..].find("</Code>")?;
    let code = &debug[start..start + len];
    (!code.is_empty() && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'))
        .then(|| code.to_string())
}
