//! The tests' fake SageMaker (flow definitions only) as a process, for
//! `scripts/demo.sh`: it serves the flow definitions of a JSON file on a
//! loopback port and prints its endpoint on one line.
//!
//! ```text
//! cargo run --example fake_sagemaker -- FLOWS.json [PORT]
//! ```
//!
//! FLOWS.json is a list of `{"name", "role_arn", "output", "kms_key"?,
//! "managed_source"?, "workteam_arn"?, "status"?, "failure_reason"?}`.
//! It is the same code the integration tests use
//! (`tests/it/support/fake_sagemaker.rs`), checked there against botocore's
//! SageMaker service model.

#[path = "../tests/it/support/fake_sagemaker.rs"]
#[allow(dead_code)]
mod fake_sagemaker;

use std::io::Write;
use std::process::ExitCode;

use fake_sagemaker::{FakeFlow, FakeSageMaker};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(file) = args.first() else {
        eprintln!("usage: fake_sagemaker FLOWS.json [PORT]");
        return ExitCode::from(1);
    };
    let port = args.get(1).map(String::as_str).unwrap_or("0");
    let flows = match std::fs::read_to_string(file)
        .map_err(|e| e.to_string())
        .and_then(|text| {
            serde_json::from_str::<Vec<serde_json::Value>>(&text).map_err(|e| e.to_string())
        }) {
        Ok(list) => list,
        Err(e) => {
            eprintln!("error: cannot read flow definitions from `{file}`: {e}");
            return ExitCode::from(1);
        }
    };
    let mut parsed = Vec::new();
    for (i, v) in flows.iter().enumerate() {
        match FakeFlow::from_json(v) {
            Some(flow) => parsed.push(flow),
            None => {
                eprintln!("error: `{file}`: entry {i} needs `name`, `role_arn` and `output`");
                return ExitCode::from(1);
            }
        }
    }
    let fake = match FakeSageMaker::start_on(&format!("127.0.0.1:{port}"), parsed) {
        Ok(fake) => fake,
        Err(e) => {
            eprintln!("error: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::from(1);
        }
    };
    println!("{}", fake.endpoint);
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}
