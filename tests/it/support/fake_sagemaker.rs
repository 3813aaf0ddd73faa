//! A fake of SageMaker's flow-definition calls, for what moto does not
//! implement: `ListFlowDefinitions` (paginated) and
//! `DescribeFlowDefinition`, over plain HTTP on loopback, in SageMaker's
//! protocol (awsJson1.1: `POST /`, `X-Amz-Target: SageMaker.<Op>`,
//! `Content-Type: application/x-amz-json-1.1`, timestamps as epoch
//! seconds). The binary reaches it through `AWS_ENDPOINT_URL_SAGEMAKER`,
//! beside moto for everything else.
//!
//! Errors are awsJson errors: `{"__type": CODE, "Message": TEXT}` with HTTP
//! 400 (`ResourceNotFound`, as modelled for DescribeFlowDefinition;
//! `AccessDeniedException` and `ThrottlingException`, AWS's common errors,
//! which a test can make a call answer every time).
//!
//! `discover::fake_sagemaker_matches_the_service_model` checks every request
//! the SDK sent and every answer given against botocore's SageMaker service
//! model, so the fake cannot drift from the real API.
//!
//! The file uses only `std` and `serde_json`: `examples/fake_sagemaker.rs`
//! includes it to run the same fake as a process for `scripts/demo.sh`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// The AWS-owned public workforce (Amazon Mechanical Turk) of us-east-1.
pub const PUBLIC_CROWD: &str =
    "arn:aws:sagemaker:us-east-1:394669845002:workteam/public-crowd/default";

/// One flow definition, as `CreateFlowDefinition` would have made it.
#[derive(Debug, Clone)]
pub struct FakeFlow {
    pub name: String,
    pub role_arn: String,
    pub output: String,
    pub kms_key: Option<String>,
    /// `AWS/Textract/AnalyzeDocument/Forms/V1`, ...; `None` for a custom task type.
    pub managed_source: Option<String>,
    pub workteam_arn: String,
    pub status: String,
    pub failure_reason: Option<String>,
    /// Epoch seconds.
    pub created: f64,
}

impl FakeFlow {
    /// An `Active` custom-task flow definition on a private workteam.
    pub fn new(name: &str, role_arn: &str, output: &str) -> FakeFlow {
        FakeFlow {
            name: name.to_string(),
            role_arn: role_arn.to_string(),
            output: output.to_string(),
            kms_key: None,
            managed_source: None,
            workteam_arn:
                "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/reviewers"
                    .to_string(),
            status: "Active".to_string(),
            failure_reason: None,
            created: 1_764_547_200.0,
        }
    }

    /// Reads one flow from JSON (`{"name": .., "role_arn": .., "output": ..,
    /// "kms_key"?, "managed_source"?, "workteam_arn"?, "status"?, "failure_reason"?}`).
    pub fn from_json(v: &Value) -> Option<FakeFlow> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let mut flow = FakeFlow::new(&s("name")?, &s("role_arn")?, &s("output")?);
        flow.kms_key = s("kms_key");
        flow.managed_source = s("managed_source");
        if let Some(w) = s("workteam_arn") {
            flow.workteam_arn = w;
        }
        if let Some(st) = s("status") {
            flow.status = st;
        }
        flow.failure_reason = s("failure_reason");
        Some(flow)
    }

    /// In the account of its role (a flow definition and the role it
    /// names live in one account), moto's account when the role says none.
    fn arn(&self) -> String {
        let account = self
            .role_arn
            .split(':')
            .nth(4)
            .filter(|a| a.len() == 12)
            .unwrap_or("123456789012");
        format!(
            "arn:aws:sagemaker:us-east-1:{account}:flow-definition/{}",
            self.name
        )
    }

    fn summary(&self) -> Value {
        let mut v = json!({
            "FlowDefinitionName": self.name,
            "FlowDefinitionArn": self.arn(),
            "FlowDefinitionStatus": self.status,
            "CreationTime": self.created,
        });
        if let Some(r) = &self.failure_reason {
            v["FailureReason"] = json!(r);
        }
        v
    }

    fn describe(&self) -> Value {
        let mut output = json!({"S3OutputPath": self.output});
        if let Some(k) = &self.kms_key {
            output["KmsKeyId"] = json!(k);
        }
        let mut loop_config = json!({
            "WorkteamArn": self.workteam_arn,
            "HumanTaskUiArn": "arn:aws:sagemaker:us-east-1:123456789012:human-task-ui/review-ui",
            "TaskTitle": format!("Review for {}", self.name),
            "TaskDescription": "Check the machine's answer",
            "TaskCount": 1,
        });
        if self.workteam_arn.contains(":workteam/public-crowd/") {
            loop_config["PublicWorkforceTaskPrice"] =
                json!({"AmountInUsd": {"Dollars": 0, "Cents": 3, "TenthFractionsOfACent": 6}});
        }
        let mut v = json!({
            "FlowDefinitionArn": self.arn(),
            "FlowDefinitionName": self.name,
            "FlowDefinitionStatus": self.status,
            "CreationTime": self.created,
            "HumanLoopConfig": loop_config,
            "OutputConfig": output,
            "RoleArn": self.role_arn,
        });
        if let Some(source) = &self.managed_source {
            v["HumanLoopRequestSource"] = json!({"AwsManagedHumanLoopRequestSource": source});
            v["HumanLoopActivationConfig"] = json!({
                "HumanLoopActivationConditionsConfig": {
                    "HumanLoopActivationConditions": "{\"Conditions\":[{\"ConditionType\":\"Sampling\",\"ConditionParameters\":{\"RandomSamplingPercentage\":5}}]}"
                }
            });
        }
        if let Some(r) = &self.failure_reason {
            v["FailureReason"] = json!(r);
        }
        v
    }
}

/// How the fake answers an operation instead of doing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeFault {
    Denied,
    Throttled,
}

/// One exchange, for the service-model check.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// `ListFlowDefinitions`, ...
    pub operation: String,
    pub request: Value,
    pub status: u16,
    pub response: Value,
}

#[derive(Default)]
struct State {
    flows: BTreeMap<String, FakeFlow>,
    faults: BTreeMap<String, FakeFault>,
    /// Summaries per ListFlowDefinitions page (AWS may return fewer than
    /// `MaxResults`): small, so that pagination is exercised.
    page_size: usize,
    log: Vec<Exchange>,
}

/// The fake; its thread ends with the process.
#[derive(Clone)]
pub struct FakeSageMaker {
    state: Arc<Mutex<State>>,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
}

impl FakeSageMaker {
    /// Serve `flows` on a free loopback port.
    pub fn start(flows: Vec<FakeFlow>) -> FakeSageMaker {
        Self::start_on("127.0.0.1:0", flows)
            .expect("binding a loopback port for the fake SageMaker")
    }

    /// Serve `flows` on `address`.
    pub fn start_on(address: &str, flows: Vec<FakeFlow>) -> std::io::Result<FakeSageMaker> {
        let listener = TcpListener::bind(address)?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(Mutex::new(State {
            flows: flows.into_iter().map(|f| (f.name.clone(), f)).collect(),
            page_size: 2,
            ..State::default()
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let shared = shared.clone();
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        Ok(FakeSageMaker { state, endpoint })
    }

    /// Answer every call of `operation` with `fault`.
    pub fn fail(&self, operation: &str, fault: FakeFault) {
        if let Ok(mut s) = self.state.lock() {
            s.faults.insert(operation.to_string(), fault);
        }
    }

    /// Every exchange so far.
    pub fn log(&self) -> Vec<Exchange> {
        self.state.lock().map(|s| s.log.clone()).unwrap_or_default()
    }

    /// How many calls of `operation` were made.
    pub fn calls(&self, operation: &str) -> usize {
        self.log()
            .iter()
            .filter(|e| e.operation == operation)
            .count()
    }
}

/// The answer to one request.
fn answer(state: &mut State, operation: &str, request: &Value) -> (u16, Value) {
    let error = |code: &str, message: &str| (400, json!({"__type": code, "Message": message}));
    match state.faults.get(operation) {
        Some(FakeFault::Denied) => {
            return error(
                "AccessDeniedException",
                &format!(
                    "User: arn:aws:iam::123456789012:user/tester is not authorized to perform: sagemaker:{operation} because no identity-based policy allows the sagemaker:{operation} action"
                ),
            );
        }
        Some(FakeFault::Throttled) => return error("ThrottlingException", "Rate exceeded"),
        None => {}
    }
    match operation {
        "ListFlowDefinitions" => {
            let max = request
                .get("MaxResults")
                .and_then(Value::as_u64)
                .map(|m| m as usize)
                .unwrap_or(10);
            let size = max.min(state.page_size).max(1);
            let start: usize = match request.get("NextToken").and_then(Value::as_str) {
                None => 0,
                Some(token) => match token.strip_prefix("page-").and_then(|n| n.parse().ok()) {
                    Some(n) => n,
                    None => return error("ValidationException", "Invalid pagination token"),
                },
            };
            // Newest first, as SageMaker's default `SortOrder` (Descending).
            let mut flows: Vec<&FakeFlow> = state.flows.values().collect();
            flows.sort_by(|a, b| b.created.total_cmp(&a.created).then(a.name.cmp(&b.name)));
            if request.get("SortOrder").and_then(Value::as_str) == Some("Ascending") {
                flows.reverse();
            }
            let page: Vec<Value> = flows
                .iter()
                .skip(start)
                .take(size)
                .map(|f| f.summary())
                .collect();
            let mut body = json!({"FlowDefinitionSummaries": page});
            if start + size < flows.len() {
                body["NextToken"] = json!(format!("page-{}", start + size));
            }
            (200, body)
        }
        "DescribeFlowDefinition" => {
            let name = request
                .get("FlowDefinitionName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            match state.flows.get(name) {
                Some(flow) => (200, flow.describe()),
                None => error(
                    "ResourceNotFound",
                    &format!("Could not find flow definition with name \"{name}\""),
                ),
            }
        }
        other => error(
            "UnknownOperationException",
            &format!("the fake SageMaker does not implement `{other}`"),
        ),
    }
}

fn serve(stream: TcpStream, shared: &Mutex<State>) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut stream = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut target = String::new();
        let mut length = 0usize;
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((name, value)) = l.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "x-amz-target" => target = value.trim().to_string(),
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let operation = target
            .strip_prefix("SageMaker.")
            .unwrap_or(&target)
            .to_string();
        let (status, response) = match shared.lock() {
            Ok(mut state) => {
                let (status, response) = answer(&mut state, &operation, &request);
                state.log.push(Exchange {
                    operation: operation.clone(),
                    request,
                    status,
                    response: response.clone(),
                });
                (status, response)
            }
            Err(_) => return,
        };
        let body = response.to_string();
        let reply = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-RequestId: fake-{}\r\nContent-Length: {}\r\n\r\n{body}",
            if status == 200 { "OK" } else { "Bad Request" },
            body.len(),
            body.len()
        );
        if stream.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}
