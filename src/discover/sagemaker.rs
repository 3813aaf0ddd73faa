//! The SageMaker reads of `discover`: `ListFlowDefinitions` (every page),
//! then `DescribeFlowDefinition` for each, a few at a time.

use aws_sdk_sagemaker::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::result::SdkError;
use futures::StreamExt;

use super::{FlowFound, RequestSource};
use crate::aws::{CREDENTIALS_HELP, Clients};
use crate::state::describe_fault;

/// Describes in flight at once: SageMaker's control plane throttles its
/// `Describe*` calls at a few per second per account.
const DESCRIBE_CONCURRENCY: usize = 4;

/// Why discovery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoverError {
    #[error(
        "access denied calling SageMaker `{call}`{on}: `discover` needs `sagemaker:{call}`; grant it to these credentials (or use a profile that has it), or write `a2i.toml` by hand"
    )]
    AccessDenied { call: String, on: String },
    #[error(
        "SageMaker throttled `{call}`{on} even after retries ({aws}); wait a minute and run `discover` again, or raise `AWS_MAX_ATTEMPTS`"
    )]
    Throttled {
        call: String,
        on: String,
        aws: String,
    },
    #[error("AWS rejected the credentials calling SageMaker `{call}`: {message}; {help}", help = CREDENTIALS_HELP)]
    Credentials { call: String, message: String },
    #[error("calling SageMaker `{call}`{on} failed: {message}")]
    Aws {
        call: String,
        on: String,
        message: String,
    },
    #[error(
        "SageMaker's answer to `{call}`{on} has no `{member}`; run again, and report it if it persists"
    )]
    Incomplete {
        call: String,
        on: String,
        member: String,
    },
    #[error(
        "`--input-bucket` names flow definition `{name}`, which is not in region `{region}`: the flow definitions there are {known}"
    )]
    UnknownFlow {
        name: String,
        region: String,
        known: String,
    },
}

const DENIED: &[&str] = &["AccessDeniedException", "AccessDenied"];
const THROTTLED: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
];
const BAD_CREDENTIALS: &[&str] = &[
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "ExpiredToken",
];

fn call_error<E, R>(call: &str, on: String, error: SdkError<E, R>) -> DiscoverError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = match &error {
        SdkError::ServiceError(service) => service.err().code().map(str::to_string),
        _ => None,
    };
    let code = code.as_deref();
    let call = call.to_string();
    if code.is_some_and(|c| DENIED.contains(&c)) {
        return DiscoverError::AccessDenied { call, on };
    }
    let message = describe_fault(&error, code);
    if code.is_some_and(|c| THROTTLED.contains(&c)) {
        let aws = match &error {
            SdkError::ServiceError(s) => match s.err().message() {
                Some(m) => format!("`{}`: {m}", code.unwrap_or_default()),
                None => format!("`{}`", code.unwrap_or_default()),
            },
            _ => message,
        };
        return DiscoverError::Throttled { call, on, aws };
    }
    if code.is_some_and(|c| BAD_CREDENTIALS.contains(&c)) {
        return DiscoverError::Credentials { call, message };
    }
    DiscoverError::Aws { call, on, message }
}

fn on_flow(name: &str) -> String {
    format!(" on flow definition `{name}`")
}

/// Every flow definition of the region, described, sorted by name; and
/// the ones left out, with why.
pub(super) async fn read_flow_definitions(
    clients: &Clients,
) -> Result<(Vec<FlowFound>, Vec<(String, String)>), DiscoverError> {
    let mut names = Vec::new();
    let mut pages = clients
        .sagemaker
        .list_flow_definitions()
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| call_error("ListFlowDefinitions", String::new(), e))?;
        for summary in page.flow_definition_summaries() {
            match summary.flow_definition_name().filter(|n| !n.is_empty()) {
                Some(name) => names.push(name.to_string()),
                None => {
                    return Err(DiscoverError::Incomplete {
                        call: "ListFlowDefinitions".to_string(),
                        on: String::new(),
                        member: "FlowDefinitionSummaries[].FlowDefinitionName".to_string(),
                    });
                }
            }
        }
    }
    names.sort();
    names.dedup();

    let described: Vec<Result<Option<FlowFound>, DiscoverError>> =
        futures::stream::iter(names.iter().map(|name| describe(clients, name)))
            .buffered(DESCRIBE_CONCURRENCY)
            .collect()
            .await;
    let mut flows = Vec::new();
    let mut skipped = Vec::new();
    for (name, result) in names.iter().zip(described) {
        match result? {
            Some(flow) if flow.status == "Deleting" => {
                skipped.push((name.clone(), "it is being deleted".to_string()));
            }
            Some(flow) => flows.push(flow),
            None => skipped.push((
                name.clone(),
                "it was deleted while a2i-fix read the account".to_string(),
            )),
        }
    }
    Ok((flows, skipped))
}

/// One flow definition; `None` when it no longer exists.
async fn describe(clients: &Clients, name: &str) -> Result<Option<FlowFound>, DiscoverError> {
    let call = "DescribeFlowDefinition";
    let out = match clients
        .sagemaker
        .describe_flow_definition()
        .flow_definition_name(name)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found()) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(call_error(call, on_flow(name), e)),
    };
    let missing = |member: &str| DiscoverError::Incomplete {
        call: call.to_string(),
        on: on_flow(name),
        member: member.to_string(),
    };
    let text = |value: Option<&str>, member: &str| {
        value
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .ok_or_else(|| missing(member))
    };
    let output_config = out.output_config().ok_or_else(|| missing("OutputConfig"))?;
    let role_arn = text(out.role_arn(), "RoleArn")?;
    let output = text(output_config.s3_output_path(), "OutputConfig.S3OutputPath")?;
    let arn = text(out.flow_definition_arn(), "FlowDefinitionArn")?;
    let status = text(
        out.flow_definition_status().map(|s| s.as_str()),
        "FlowDefinitionStatus",
    )?;
    let managed = out
        .human_loop_request_source()
        .and_then(|s| s.aws_managed_human_loop_request_source())
        .map(|m| m.as_str());
    Ok(Some(FlowFound {
        name: name.to_string(),
        arn,
        status,
        failure_reason: out
            .failure_reason()
            .filter(|r| !r.is_empty())
            .map(str::to_string),
        role_arn,
        output,
        kms_key: output_config
            .kms_key_id()
            .filter(|k| !k.is_empty())
            .map(str::to_string),
        source: RequestSource::from_managed(managed),
        workteam_arn: out
            .human_loop_config()
            .and_then(|c| c.workteam_arn())
            .filter(|w| !w.is_empty())
            .map(str::to_string),
        input_buckets: Vec::new(),
        samples_note: None,
    }))
}
