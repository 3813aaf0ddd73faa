//! The fault proxy's answers: each fault as IAM and STS (query protocol),
//! S3 (rest-xml) and KMS (json 1.1) send it (see the parent module for the
//! service models they were checked against).

use super::{FaultKind, Request, Rng, Service};

/// The answer AWS gives for `kind` on `service`.
pub(super) fn error_answer(service: Service, kind: FaultKind, req: &Request, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(req.identity() ^ seed.rotate_left(29));
    let ns = if service == Service::Sts {
        "https://sts.amazonaws.com/doc/2011-06-15/"
    } else {
        "https://iam.amazonaws.com/doc/2010-05-08/"
    };
    let query_error = |kind: &str, code: &str, message: &str, id: &str| {
        format!(
            "<ErrorResponse xmlns=\"{ns}\"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{id}</RequestId></ErrorResponse>"
        )
    };
    let request_id = format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        rng.next() as u32,
        rng.next() as u16,
        rng.next() as u16,
        rng.next() as u16,
        rng.next() & 0xffff_ffff_ffff
    );
    // The 503 variant of an internal error, for a quarter of them.
    let unavailable = rng.unit() < 0.25;
    let (status, content_type, body) = match (service, kind) {
        (Service::Iam | Service::Sts, FaultKind::Throttled) => (
            400,
            "text/xml",
            query_error("Sender", "Throttling", "Rate exceeded", &request_id),
        ),
        (Service::Iam | Service::Sts, _) if unavailable => (
            503,
            "text/xml",
            query_error(
                "Receiver",
                "ServiceUnavailable",
                "Service is unable to handle request.",
                &request_id,
            ),
        ),
        (Service::Iam, _) => (
            500,
            "text/xml",
            query_error(
                "Receiver",
                "ServiceFailure",
                "The request processing has failed because of an unknown error, exception or failure.",
                &request_id,
            ),
        ),
        (Service::Sts, _) => (
            500,
            "text/xml",
            query_error(
                "Receiver",
                "InternalFailure",
                "The request processing has failed because of an unknown error, exception or failure.",
                &request_id,
            ),
        ),
        (Service::S3, FaultKind::Throttled) => (
            503,
            "application/xml",
            s3_error("SlowDown", "Please reduce your request rate.", &request_id),
        ),
        (Service::S3, _) if unavailable => (
            503,
            "application/xml",
            s3_error(
                "ServiceUnavailable",
                "Service is unable to handle request.",
                &request_id,
            ),
        ),
        (Service::S3, _) => (
            500,
            "application/xml",
            s3_error(
                "InternalError",
                "We encountered an internal error. Please try again.",
                &request_id,
            ),
        ),
        (Service::Kms, FaultKind::Throttled) => (
            400,
            "application/x-amz-json-1.1",
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_string(),
        ),
        (Service::Kms, _) => (
            500,
            "application/x-amz-json-1.1",
            r#"{"__type":"KMSInternalException","message":"An internal error occurred."}"#
                .to_string(),
        ),
    };
    let reason = match status {
        400 => "Bad Request",
        500 => "Internal Server Error",
        _ => "Service Unavailable",
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nx-amzn-RequestId: {request_id}\r\nx-amz-request-id: {request_id}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// S3's `503 SlowDown`, as a whole HTTP answer.
pub fn s3_slow_down() -> Vec<u8> {
    let body = s3_error(
        "SlowDown",
        "Please reduce your request rate.",
        "0000000000000000",
    );
    format!(
        "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nx-amz-request-id: 0000000000000000\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn s3_error(code: &str, message: &str, request_id: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId><HostId>a2i-fix-fault-proxy</HostId></Error>"
    )
}

/// IAM's or STS's `403 AccessDenied` (query protocol), as AWS words it
/// for a caller whose policies do not allow `action` on `resource`.
pub(super) fn access_denied(service: Service, action: &str, resource: &str) -> Vec<u8> {
    let ns = if service == Service::Sts {
        "https://sts.amazonaws.com/doc/2011-06-15/"
    } else {
        "https://iam.amazonaws.com/doc/2010-05-08/"
    };
    let request_id = "c0ffee00-0000-4000-8000-000000000403";
    let body = format!(
        "<ErrorResponse xmlns=\"{ns}\"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/testing is not authorized to perform: {action} on resource: {resource}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    );
    format!(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/xml\r\nx-amzn-RequestId: {request_id}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
