//! Figures for the policy engine on realistic and large documents:
//! `cargo bench --bench policy`. Prints time per operation; asserts nothing
//! (the machines are shared and noisy: figures are for reading, not gating).

use std::hint::black_box;
use std::time::{Duration, Instant};

use a2i_fix::policy::{
    LabeledDocument, PolicyDocument, Requirement, a2i, equivalent, evaluate, merge_statements,
};

/// A key policy with `n` statements of the shapes seen in real accounts.
fn key_policy(n: usize) -> String {
    let mut statements = vec![
        r#"{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"}"#.to_string(),
    ];
    for i in 0..n {
        statements.push(format!(
            r#"{{"Sid":"App{i}","Effect":"Allow","Principal":{{"AWS":["arn:aws:iam::123456789012:role/app-{i}","arn:aws:iam::123456789012:role/ops-{i}"]}},"Action":["kms:Decrypt","kms:GenerateDataKey*"],"Resource":"*","Condition":{{"StringEquals":{{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}}}}}"#
        ));
    }
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    )
}

fn time<T>(label: &str, iterations: u32, mut f: impl FnMut() -> T) {
    let start = Instant::now();
    for _ in 0..iterations {
        black_box(f());
    }
    let per = start.elapsed() / iterations;
    println!("{label:<55} {:>10.1} µs/op", as_micros(per));
}

fn as_micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    for n in [5usize, 50, 150] {
        let text = key_policy(n);
        println!(
            "-- key policy with {} statements, {} bytes",
            n + 1,
            text.len()
        );
        time("parse", 200, || PolicyDocument::parse(&text));
        let doc = PolicyDocument::parse(&text).expect("bench document parses");
        let reparsed = PolicyDocument::parse(&doc.to_pretty_json()).expect("round trip parses");
        time("equivalent (pretty round trip)", 200, || {
            equivalent(&doc, &reparsed)
        });
        let req = Requirement::KeyGrant {
            principal_arn: "arn:aws:iam::123456789012:role/A2IFlowRole".into(),
            actions: a2i::KMS_ACTIONS.iter().map(|s| s.to_string()).collect(),
        };
        let docs = [LabeledDocument {
            label: "key policy",
            document: &doc,
        }];
        time("evaluate KeyGrant (not met: scans all)", 200, || {
            evaluate(&req, &docs, "123456789012")
        });
        let statement = a2i::key_statement(&["arn:aws:iam::123456789012:role/A2IFlowRole".into()]);
        time("merge AllowUseOfKmsKey", 200, || {
            merge_statements(&doc, std::slice::from_ref(&statement))
        });
    }
}
