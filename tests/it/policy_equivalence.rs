//! When two documents mean the same thing (the section of that name in
//! `docs/requirements.md`). Each row is a
//! pair of documents and whether they must be judged equivalent; every row is
//! checked in both directions.

use a2i_fix::policy::{
    CorsConfiguration, PolicyDocument, cors_equivalent, equivalent, statements_equivalent,
};

fn parse(text: &str) -> PolicyDocument {
    PolicyDocument::parse(text)
        .unwrap_or_else(|e| panic!("test document does not parse: {e}\n{text}"))
}

/// A one-statement document around `statement`.
fn one(statement: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{statement}]}}"#)
}

const EQUAL: bool = true;
const DIFFERENT: bool = false;

#[test]
fn policy_documents_equivalence_table() {
    let rows: Vec<(&str, String, String, bool)> = vec![
        // --- the same thing, written differently ---
        ("action string = one-element list",
            one(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}"#),
            one(r#"{"Effect":"Allow","Action":["s3:GetObject"],"Resource":"arn:aws:s3:::b/*"}"#), EQUAL),
        ("resource string = one-element list",
            one(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}"#),
            one(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":["arn:aws:s3:::b/*"]}"#), EQUAL),
        ("NotAction string = one-element list",
            one(r#"{"Effect":"Deny","NotAction":"iam:*","Resource":"*"}"#),
            one(r#"{"Effect":"Deny","NotAction":["iam:*"],"Resource":"*"}"#), EQUAL),
        ("NotResource string = one-element list",
            one(r#"{"Effect":"Allow","Action":"s3:*","NotResource":"arn:aws:s3:::private/*"}"#),
            one(r#"{"Effect":"Allow","Action":"s3:*","NotResource":["arn:aws:s3:::private/*"]}"#), EQUAL),
        ("service principal string = one-element list",
            one(r#"{"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}"#),
            one(r#"{"Effect":"Allow","Principal":{"Service":["sagemaker.amazonaws.com"]},"Action":"sts:AssumeRole"}"#), EQUAL),
        ("condition value string = one-element list",
            one(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"}}}"#),
            one(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:SourceAccount":["111122223333"]}}}"#), EQUAL),
        ("statement order does not matter",
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:GetObject","Resource":"*"},{"Sid":"B","Effect":"Deny","Action":"s3:PutObject","Resource":"*"}]}"#.into(),
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"B","Effect":"Deny","Action":"s3:PutObject","Resource":"*"},{"Sid":"A","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#.into(), EQUAL),
        ("action order does not matter",
            one(r#"{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}"#),
            one(r#"{"Effect":"Allow","Action":["kms:Decrypt","kms:Encrypt"],"Resource":"*"}"#), EQUAL),
        ("resource order does not matter",
            one(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":["arn:aws:s3:::a/*","arn:aws:s3:::b/*"]}"#),
            one(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":["arn:aws:s3:::b/*","arn:aws:s3:::a/*"]}"#), EQUAL),
        ("principal value order does not matter",
            one(r#"{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/A","arn:aws:iam::111122223333:role/B"]},"Action":"kms:Decrypt","Resource":"*"}"#),
            one(r#"{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/B","arn:aws:iam::111122223333:role/A"]},"Action":"kms:Decrypt","Resource":"*"}"#), EQUAL),
        ("principal type order does not matter",
            one(r#"{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com","AWS":"arn:aws:iam::111122223333:role/A"},"Action":"sts:AssumeRole"}"#),
            one(r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/A","Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}"#), EQUAL),
        ("condition value order does not matter",
            one(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpc":["vpc-1","vpc-2"]}}}"#),
            one(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpc":["vpc-2","vpc-1"]}}}"#), EQUAL),
        ("action names in any case",
            one(r#"{"Effect":"Allow","Action":"S3:GetObject","Resource":"*"}"#),
            one(r#"{"Effect":"Allow","Action":"s3:getobject","Resource":"*"}"#), EQUAL),
        ("Effect in any case",
            one(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#),
            one(r#"{"Effect":"allow","Action":"s3:GetObject","Resource":"*"}"#), EQUAL),
        ("account id = root ARN",
            one(r#"{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}"#),
            one(r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}"#), EQUAL),
        ("account id in a list = root ARN string",
            one(r#"{"Effect":"Allow","Principal":{"AWS":["111122223333"]},"Action":"kms:*","Resource":"*"}"#),
            one(r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}"#), EQUAL),
        ("Principal * = AWS *",
            one(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}"#),
            one(r#"{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"*"}"#), EQUAL),
        ("statement key order does not matter",
            one(r#"{"Sid":"S","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#),
            one(r#"{"Resource":"*","Action":"s3:GetObject","Effect":"Allow","Sid":"S"}"#), EQUAL),
        ("top-level key order does not matter",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#.into(),
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}],"Version":"2012-10-17"}"#.into(), EQUAL),
        ("single statement object = one-element list",
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#.into(),
            one(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#), EQUAL),
        ("missing Version = 2012-10-17 when no policy variable is used",
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#.into(),
            one(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#), EQUAL),
        ("missing Version = 2008-10-17 even with a policy variable",
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:username}/*"}]}"#.into(),
            r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:username}/*"}]}"#.into(), EQUAL),
        ("duplicate values count once",
            one(r#"{"Effect":"Allow","Action":["s3:GetObject","s3:getObject"],"Resource":["*","*"]}"#),
            one(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#), EQUAL),
        ("condition key names in any case",
            one(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"AWS:SourceAccount":"111122223333"}}}"#),
            one(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:sourceaccount":"111122223333"}}}"#), EQUAL),
        ("condition boolean = its text",
            one(r#"{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":false}}}"#),
            one(r#"{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#), EQUAL),
        ("condition number = its text",
            one(r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"NumericLessThanEquals":{"s3:max-keys":10}}}"#),
            one(r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"NumericLessThanEquals":{"s3:max-keys":"10"}}}"#), EQUAL),
        ("empty Condition = no Condition",
            one(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{}}"#),
            one(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#), EQUAL),
        ("a repeated statement counts once",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"},{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#.into(),
            one(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#), EQUAL),
        ("empty Sid = no Sid",
            one(r#"{"Sid":"","Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}"#),
            one(r#"{"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}"#), EQUAL),
        // --- different meanings ---
        ("Effect differs",
            one(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#),
            one(r#"{"Effect":"Deny","Action":"s3:GetObject","Resource":"*"}"#), DIFFERENT),
        ("an extra action",
            one(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#),
            one(r#"{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"*"}"#), DIFFERENT),
        ("a different resource",
            one(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::a/*"}"#),
            one(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}"#), DIFFERENT),
        ("resource ARNs are case-sensitive",
            one(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::Bucket/*"}"#),
            one(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket/*"}"#), DIFFERENT),
        ("a different principal",
            one(r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/A"},"Action":"kms:Decrypt","Resource":"*"}"#),
            one(r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/B"},"Action":"kms:Decrypt","Resource":"*"}"#), DIFFERENT),
        ("another account's id is not this root",
            one(r#"{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"kms:*","Resource":"*"}"#),
            one(r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}"#), DIFFERENT),
        ("a different service principal",
            one(r#"{"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}"#),
            one(r#"{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}"#), DIFFERENT),
        ("a condition value differs",
            one(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"}}}"#),
            one(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:SourceAccount":"444455556666"}}}"#), DIFFERENT),
        ("a condition operator differs",
            one(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:SourceArn":"arn:aws:x"}}}"#),
            one(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringLike":{"aws:SourceArn":"arn:aws:x"}}}"#), DIFFERENT),
        ("a condition is added",
            one(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*"}"#),
            one(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}"#), DIFFERENT),
        ("Action is not NotAction",
            one(r#"{"Effect":"Allow","Action":"iam:*","Resource":"*"}"#),
            one(r#"{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}"#), DIFFERENT),
        ("Principal is not NotPrincipal",
            one(r#"{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:role/A"},"Action":"kms:*","Resource":"*"}"#),
            one(r#"{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:role/A"},"Action":"kms:*","Resource":"*"}"#), DIFFERENT),
        ("an extra statement",
            one(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#),
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"},{"Effect":"Allow","Action":"s3:PutObject","Resource":"*"}]}"#.into(), DIFFERENT),
        ("missing Version != 2012-10-17 when a policy variable is used",
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:username}/*"}]}"#.into(),
            one(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:username}/*"}"#), DIFFERENT),
        ("Sid differs",
            one(r#"{"Sid":"A","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#),
            one(r#"{"Sid":"B","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#), DIFFERENT),
        ("Resource * is not a missing Resource",
            one(r#"{"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole","Resource":"*"}"#),
            one(r#"{"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}"#), DIFFERENT),
        ("Principal * is not the account root",
            one(r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}"#),
            one(r#"{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}"#), DIFFERENT),
    ];
    assert!(rows.len() >= 30);
    let mut failures = Vec::new();
    for (name, a, b, want) in &rows {
        let (da, db) = (parse(a), parse(b));
        if equivalent(&da, &db) != *want || equivalent(&db, &da) != *want {
            failures.push(format!(
                "{name}: expected {}",
                if *want { "equivalent" } else { "different" }
            ));
        }
        if da.statements.len() == 1 && db.statements.len() == 1 {
            let s = statements_equivalent(&da.statements[0], &db.statements[0]);
            let version_only = name.contains("Version");
            if !version_only && s != *want {
                failures.push(format!("{name}: statements_equivalent gave {s}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn cors_equivalence_table() {
    let rule = |r: &str| format!(r#"{{"CORSRules":[{r}]}}"#);
    let rows: Vec<(&str, String, String, bool)> = vec![
        ("missing AllowedHeaders = empty",
            rule(r#"{"AllowedMethods":["GET"],"AllowedOrigins":["*"]}"#),
            rule(r#"{"AllowedHeaders":[],"AllowedMethods":["GET"],"AllowedOrigins":["*"]}"#), EQUAL),
        ("missing ExposeHeaders = empty",
            rule(r#"{"AllowedMethods":["GET"],"AllowedOrigins":["*"]}"#),
            rule(r#"{"ExposeHeaders":[],"AllowedMethods":["GET"],"AllowedOrigins":["*"]}"#), EQUAL),
        ("method order does not matter",
            rule(r#"{"AllowedMethods":["GET","PUT"],"AllowedOrigins":["*"]}"#),
            rule(r#"{"AllowedMethods":["PUT","GET"],"AllowedOrigins":["*"]}"#), EQUAL),
        ("origin order does not matter",
            rule(r#"{"AllowedMethods":["GET"],"AllowedOrigins":["https://a.example","https://b.example"]}"#),
            rule(r#"{"AllowedMethods":["GET"],"AllowedOrigins":["https://b.example","https://a.example"]}"#), EQUAL),
        ("method case does not matter",
            rule(r#"{"AllowedMethods":["get"],"AllowedOrigins":["*"]}"#),
            rule(r#"{"AllowedMethods":["GET"],"AllowedOrigins":["*"]}"#), EQUAL),
        ("header name case does not matter",
            rule(r#"{"AllowedHeaders":["Content-Type"],"AllowedMethods":["GET"],"AllowedOrigins":["*"]}"#),
            rule(r#"{"AllowedHeaders":["content-type"],"AllowedMethods":["GET"],"AllowedOrigins":["*"]}"#), EQUAL),
        ("rule order matters",
            r#"{"CORSRules":[{"AllowedMethods":["GET"],"AllowedOrigins":["*"]},{"AllowedMethods":["PUT"],"AllowedOrigins":["https://a.example"]}]}"#.into(),
            r#"{"CORSRules":[{"AllowedMethods":["PUT"],"AllowedOrigins":["https://a.example"]},{"AllowedMethods":["GET"],"AllowedOrigins":["*"]}]}"#.into(), DIFFERENT),
        ("an extra method",
            rule(r#"{"AllowedMethods":["GET"],"AllowedOrigins":["*"]}"#),
            rule(r#"{"AllowedMethods":["GET","PUT"],"AllowedOrigins":["*"]}"#), DIFFERENT),
        ("a different origin",
            rule(r#"{"AllowedMethods":["GET"],"AllowedOrigins":["*"]}"#),
            rule(r#"{"AllowedMethods":["GET"],"AllowedOrigins":["https://a.example"]}"#), DIFFERENT),
        ("MaxAgeSeconds differs",
            rule(r#"{"AllowedMethods":["GET"],"AllowedOrigins":["*"],"MaxAgeSeconds":3000}"#),
            rule(r#"{"AllowedMethods":["GET"],"AllowedOrigins":["*"]}"#), DIFFERENT),
        ("ID differs",
            rule(r#"{"ID":"a","AllowedMethods":["GET"],"AllowedOrigins":["*"]}"#),
            rule(r#"{"ID":"b","AllowedMethods":["GET"],"AllowedOrigins":["*"]}"#), DIFFERENT),
        ("an extra rule",
            rule(r#"{"AllowedMethods":["GET"],"AllowedOrigins":["*"]}"#),
            r#"{"CORSRules":[{"AllowedMethods":["GET"],"AllowedOrigins":["*"]},{"AllowedMethods":["GET"],"AllowedOrigins":["*"]}]}"#.into(), DIFFERENT),
    ];
    let mut failures = Vec::new();
    for (name, a, b, want) in &rows {
        let parse = |t: &str| CorsConfiguration::parse(t).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (ca, cb) = (parse(a), parse(b));
        if cors_equivalent(&ca, &cb) != *want || cors_equivalent(&cb, &ca) != *want {
            failures.push(format!(
                "{name}: expected {}",
                if *want { "equivalent" } else { "different" }
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn aws_reserialisation_of_a_trust_policy_is_equivalent() {
    // What a2i-fix writes, and what IAM gives back from GetRole (decoded).
    let written = parse(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"AllowSageMakerToAssumeRole","Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
    );
    let returned = parse(
        r#"{"Statement":[{"Action":["sts:AssumeRole"],"Principal":{"Service":["sagemaker.amazonaws.com"]},"Effect":"Allow","Sid":"AllowSageMakerToAssumeRole"}],"Version":"2012-10-17"}"#,
    );
    assert!(equivalent(&written, &returned));
}
