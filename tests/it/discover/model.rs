//! The fake SageMaker checked against botocore's SageMaker service model
//! (installed with moto, found through the same virtual environment as the
//! moto server the tests start): every request the SDK sent it and every
//! answer it gave must fit the model's shapes, member by member.

use std::process::Command;

use serde_json::Value;

use crate::support::fake_sagemaker::{Exchange, FakeSageMaker};
use crate::support::moto::moto_binary;

/// botocore's `sagemaker` service model, loaded by botocore itself from the
/// moto server's virtual environment; the test fails, saying how to
/// install it, when it is missing.
pub fn sagemaker_model() -> Value {
    let moto = moto_binary();
    let python = moto.with_file_name("python");
    assert!(
        python.is_file(),
        "no `python` beside the moto server `{}`: botocore's SageMaker service model is read through moto's virtual environment; install moto with `python3 -m venv .venv && .venv/bin/pip install \"moto[server]\"` or point `MOTO_SERVER` at a venv's `moto_server`",
        moto.display()
    );
    let output = Command::new(&python)
        .arg("-c")
        .arg(
            "import json, sys, botocore.loaders\n\
             json.dump(botocore.loaders.Loader().load_service_model('sagemaker', 'service-2'), sys.stdout)",
        )
        .output()
        .expect("running the venv's python");
    assert!(
        output.status.success(),
        "botocore's SageMaker service model (`botocore/data/sagemaker/*/service-2.json.gz`) could not be loaded with `{}`: {}",
        python.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the service model is JSON")
}

/// Every way `value` does not fit `shape` (empty: it fits).
pub fn check(model: &Value, shape: &str, value: &Value, path: &str, wrong: &mut Vec<String>) {
    let Some(def) = model["shapes"].get(shape) else {
        wrong.push(format!("{path}: shape `{shape}` is not in the model"));
        return;
    };
    let kind = def["type"].as_str().unwrap_or_default();
    match kind {
        "structure" => {
            let Some(object) = value.as_object() else {
                wrong.push(format!("{path}: `{shape}` must be an object, is {value}"));
                return;
            };
            let members = def["members"].as_object().cloned().unwrap_or_default();
            for name in def["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap_or_default();
                if !object.contains_key(name) {
                    wrong.push(format!(
                        "{path}: required member `{name}` of `{shape}` is missing"
                    ));
                }
            }
            for (name, member_value) in object {
                match members.get(name) {
                    Some(member) => {
                        let member_shape = member["shape"].as_str().unwrap_or_default();
                        check(
                            model,
                            member_shape,
                            member_value,
                            &format!("{path}.{name}"),
                            wrong,
                        );
                    }
                    None => wrong.push(format!("{path}: `{name}` is not a member of `{shape}`")),
                }
            }
        }
        "list" => match value.as_array() {
            Some(items) => {
                let member = def["member"]["shape"].as_str().unwrap_or_default();
                for (i, item) in items.iter().enumerate() {
                    check(model, member, item, &format!("{path}[{i}]"), wrong);
                }
            }
            None => wrong.push(format!("{path}: `{shape}` must be a list")),
        },
        "string" => match value.as_str() {
            Some(s) => {
                if let Some(allowed) = def["enum"].as_array()
                    && !allowed.iter().any(|a| a.as_str() == Some(s))
                {
                    wrong.push(format!("{path}: `{s}` is not one of `{shape}`'s values"));
                }
                let len = s.chars().count() as u64;
                if def["min"].as_u64().is_some_and(|m| len < m)
                    || def["max"].as_u64().is_some_and(|m| len > m)
                {
                    wrong.push(format!("{path}: length {len} is out of `{shape}`'s range"));
                }
            }
            None => wrong.push(format!("{path}: `{shape}` must be a string")),
        },
        "integer" | "long" => match value.as_i64() {
            Some(n) => {
                if def["min"].as_i64().is_some_and(|m| n < m)
                    || def["max"].as_i64().is_some_and(|m| n > m)
                {
                    wrong.push(format!("{path}: {n} is out of `{shape}`'s range"));
                }
            }
            None => wrong.push(format!("{path}: `{shape}` must be an integer")),
        },
        // awsJson sends timestamps as epoch seconds.
        "timestamp" => {
            if !value.is_number() {
                wrong.push(format!(
                    "{path}: timestamp `{shape}` must be epoch seconds (a number)"
                ));
            }
        }
        "boolean" => {
            if !value.is_boolean() {
                wrong.push(format!("{path}: `{shape}` must be a boolean"));
            }
        }
        other => wrong.push(format!(
            "{path}: the check does not know type `{other}` of `{shape}`"
        )),
    }
}

/// Every way the exchanges do not fit the model.
pub fn check_exchanges(model: &Value, log: &[Exchange]) -> Vec<String> {
    let mut wrong = Vec::new();
    for (i, e) in log.iter().enumerate() {
        let Some(op) = model["operations"].get(&e.operation) else {
            wrong.push(format!(
                "#{i}: `{}` is not a SageMaker operation",
                e.operation
            ));
            continue;
        };
        let input = op["input"]["shape"].as_str().unwrap_or_default();
        check(
            model,
            input,
            &e.request,
            &format!("#{i} {} request", e.operation),
            &mut wrong,
        );
        if e.status == 200 {
            let output = op["output"]["shape"].as_str().unwrap_or_default();
            check(
                model,
                output,
                &e.response,
                &format!("#{i} {} response", e.operation),
                &mut wrong,
            );
            continue;
        }
        let code = e.response["__type"].as_str().unwrap_or_default();
        let modelled: Vec<&str> = op["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x["shape"].as_str())
            .collect();
        if modelled.contains(&code) {
            let mut body = e.response.clone();
            if let Some(o) = body.as_object_mut() {
                o.remove("__type");
            }
            check(
                model,
                code,
                &body,
                &format!("#{i} {} error", e.operation),
                &mut wrong,
            );
        } else if ![
            "AccessDeniedException",
            "ThrottlingException",
            "ValidationException",
        ]
        .contains(&code)
        {
            // AWS's common errors are not in each service's model.
            wrong.push(format!(
                "#{i}: `{}` answered `{code}`, neither modelled nor a common AWS error",
                e.operation
            ));
        }
    }
    wrong
}

/// The fake's log, checked; panics listing every misfit.
pub fn assert_fits_model(fake: &FakeSageMaker) {
    let model = sagemaker_model();
    assert_eq!(
        model["metadata"]["protocol"], "json",
        "SageMaker speaks awsJson"
    );
    assert_eq!(model["metadata"]["jsonVersion"], "1.1");
    assert_eq!(model["metadata"]["targetPrefix"], "SageMaker");
    let log = fake.log();
    assert!(!log.is_empty(), "the fake saw no request");
    let wrong = check_exchanges(&model, &log);
    assert!(
        wrong.is_empty(),
        "the fake SageMaker does not fit the service model:\n{}",
        wrong.join("\n")
    );
}
