//! Unit tests of the parts that need no AWS: error mapping, decoding, and
//! `current_from_state` on an empty state.

use super::errors::{call_error, code_from_raw};
use super::iam::decode;
use super::*;
use aws_sdk_s3::error::ErrorMetadata;
use aws_sdk_s3::operation::get_bucket_cors::GetBucketCorsError;
use aws_sdk_s3::primitives::SdkBody;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::{Response, StatusCode};

#[test]
fn error_code_is_found_in_an_unparsed_xml_body() {
    let debug = r#"raw: Response { body: b"<?xml version=\"1.0\"?>\n<ErrorResponse><Errors><Error><Code>InvalidClientTokenId</Code><Message>x</Message></Error></Errors></ErrorResponse>" }"#;
    assert_eq!(
        code_from_raw(debug).as_deref(),
        Some("InvalidClientTokenId")
    );
    assert_eq!(code_from_raw("no body"), None);
    assert_eq!(code_from_raw("<Code></Code>"), None);
}

fn service_error(code: &str, status: u16) -> SdkError<GetBucketCorsError, Response> {
    let meta = ErrorMetadata::builder()
        .code(code)
        .message("from the test")
        .build();
    let status = StatusCode::try_from(status).expect("a valid status code");
    SdkError::service_error(
        GetBucketCorsError::generic(meta),
        Response::new(status, SdkBody::empty()),
    )
}

#[test]
fn access_denied_names_the_call_the_resource_and_the_iam_action() {
    let error = call_error(
        "s3",
        "GetBucketCors",
        "bucket `x`".into(),
        service_error("AccessDenied", 403),
    );
    assert_eq!(
        error,
        StateError::AccessDenied {
            call: "GetBucketCors".into(),
            resource: "bucket `x`".into(),
            action: "s3:GetBucketCORS".into(),
        }
    );
    assert_eq!(
        error.to_string(),
        "access denied calling `GetBucketCors` on bucket `x`: a2i-fix needs `s3:GetBucketCORS`"
    );
}

#[test]
fn kms_access_denied_exception_is_access_denied_too() {
    let error = call_error(
        "kms",
        "GetKeyPolicy",
        "key `k`".into(),
        service_error("AccessDeniedException", 400),
    );
    assert!(
        matches!(&error, StateError::AccessDenied { action, .. } if action == "kms:GetKeyPolicy"),
        "{error:?}"
    );
}

#[test]
fn rejected_credentials_say_how_to_configure_them() {
    let error = call_error(
        "sts",
        "GetCallerIdentity",
        "the caller".into(),
        service_error("InvalidClientTokenId", 403),
    );
    assert!(matches!(error, StateError::Credentials { .. }), "{error:?}");
    assert!(error.to_string().contains("aws configure"), "{error}");
}

#[test]
fn other_errors_name_the_call_and_keep_the_aws_message() {
    let error = call_error(
        "s3",
        "GetBucketCors",
        "bucket `x`".into(),
        service_error("InternalError", 500),
    );
    let text = error.to_string();
    assert!(
        text.starts_with("calling `GetBucketCors` on bucket `x` failed: "),
        "{text}"
    );
    assert!(text.contains("InternalError"), "{text}");
}

#[test]
fn iam_actions_use_the_s3_names_where_they_differ_from_the_call() {
    assert_eq!(
        iam_action("s3", "GetBucketEncryption"),
        "s3:GetEncryptionConfiguration"
    );
    assert_eq!(
        iam_action("iam", "ListAttachedRolePolicies"),
        "iam:ListAttachedRolePolicies"
    );
}

#[test]
fn documents_are_url_decoded_per_rfc_3986() {
    let decoded = decode("%7B%22a%22%3A%22b+c%20d%25%22%7D", || "test".into()).expect("decodes");
    // `+` stays a plus sign: IAM encodes a space as %20.
    assert_eq!(decoded, r#"{"a":"b+c d%"}"#);
    assert!(matches!(
        decode("%FF", || "doc".into()),
        Err(StateError::Decode { .. })
    ));
}

#[test]
fn current_from_state_of_unread_things_is_none() {
    let state = AccountState::default();
    let targets = [
        Target::BucketCors { bucket: "b".into() },
        Target::Role {
            name: "r".into(),
            path: "/".into(),
        },
        Target::TrustPolicy { role: "r".into() },
        Target::InlinePolicy {
            role: "r".into(),
            policy_name: "p".into(),
        },
        Target::KeyPolicy {
            key_id: "k".into(),
            key_arn: "arn".into(),
        },
        Target::Attachment {
            kind: PrincipalKind::User,
            name: "u".into(),
            policy_arn: "arn".into(),
        },
    ];
    for target in targets {
        assert_eq!(current_from_state(&state, &target), None, "{target:?}");
    }
}
