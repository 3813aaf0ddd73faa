//! Parsing and serialising IAM policy documents and CORS configurations.

use a2i_fix::policy::{CorsConfiguration, Effect, PolicyDocument, PolicyError, Principal};

fn parse(text: &str) -> PolicyDocument {
    match PolicyDocument::parse(text) {
        Ok(d) => d,
        Err(e) => panic!("document should parse: {e}\n{text}"),
    }
}

fn location_of(text: &str) -> String {
    match PolicyDocument::parse(text) {
        Ok(_) => panic!("document should not parse:\n{text}"),
        Err(PolicyError::Invalid { location, .. }) => location,
    }
}

#[test]
fn statement_may_be_a_single_object_and_version_is_optional() {
    let d = parse(
        r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#,
    );
    assert_eq!(d.version, None);
    assert_eq!(d.statements.len(), 1);
    assert_eq!(
        d.statements[0].action,
        Some(vec!["s3:GetObject".to_string()])
    );
    assert_eq!(
        d.statements[0].resource,
        Some(vec!["arn:aws:s3:::b/*".to_string()])
    );
}

#[test]
fn principals_are_star_or_a_map_of_string_or_list() {
    let d = parse(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},
            {"Effect":"Allow","Principal":{"Service":["sagemaker.amazonaws.com","lambda.amazonaws.com"],"AWS":"123456789012"},"Action":"sts:AssumeRole"},
            {"Effect":"Deny","NotPrincipal":{"Federated":"cognito-identity.amazonaws.com"},"Action":"sts:AssumeRole"}
        ]}"#,
    );
    assert_eq!(d.statements[0].principal, Some(Principal::Any));
    assert_eq!(
        d.statements[1].principal,
        Some(Principal::Map(vec![
            (
                "Service".to_string(),
                vec![
                    "sagemaker.amazonaws.com".to_string(),
                    "lambda.amazonaws.com".to_string()
                ]
            ),
            ("AWS".to_string(), vec!["123456789012".to_string()]),
        ]))
    );
    assert_eq!(d.statements[2].effect, Effect::Deny);
    assert!(d.statements[2].not_principal.is_some());
}

#[test]
fn effect_is_accepted_in_any_case() {
    let d = parse(r#"{"Statement":[{"Effect":"deny","Action":"*","Resource":"*"}]}"#);
    assert_eq!(d.statements[0].effect, Effect::Deny);
}

#[test]
fn errors_name_the_statement_and_key() {
    let cases = [
        (r#"{"Statement":[],"Foo":1}"#, "Foo"),
        (r#"{"Version":"2012-10-17"}"#, "(document)"),
        (r#"[1]"#, "(document)"),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:*"},{"Effect":"Allow","Action":"s3:*","Resource":"*","Bogus":1}]}"#,
            "Statement[1].Bogus",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"a","NotAction":"b"}]}"#,
            "Statement[0]",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Resource":"*"}]}"#,
            "Statement[0]",
        ),
        (r#"{"Statement":[{"Action":"s3:*"}]}"#, "Statement[0]"),
        (
            r#"{"Statement":[{"Effect":"Maybe","Action":"s3:*"}]}"#,
            "Statement[0].Effect",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:*"},{"Effect":"Allow","Action":"s3:*"},{"Effect":"Allow","Action":"x","Principal":{"Aws":"*"}}]}"#,
            "Statement[2].Principal.Aws",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"x","Principal":"arn:aws:iam::123456789012:root"}]}"#,
            "Statement[0].Principal",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":["a",3]}]}"#,
            "Statement[0].Action[1]",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":[]}]}"#,
            "Statement[0].Action",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"a","Condition":{"StringEquals":{"k":{"x":1}}}}]}"#,
            "Statement[0].Condition.StringEquals.k",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"a","Condition":{"Bool":"true"}}]}"#,
            "Statement[0].Condition.Bool",
        ),
        (r#"{"Version":"2020-01-01","Statement":[]}"#, "Version"),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"a","Sid":7}}"#,
            "Statement.Sid",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(location_of(text), want, "{text}");
    }
}

#[test]
fn duplicate_keys_are_refused() {
    let err =
        PolicyDocument::parse(r#"{"Statement":[{"Effect":"Allow","Effect":"Deny","Action":"*"}]}"#);
    assert!(
        matches!(err, Err(PolicyError::Invalid { ref message, .. }) if message.contains("duplicate key `Effect`")),
        "{err:?}"
    );
}

#[test]
fn existing_document_is_written_back_exactly_as_read() {
    let text = r#"{
  "Statement": [
    {
      "Resource": "arn:aws:s3:::b/*",
      "Action": [
        "s3:GetObject"
      ],
      "Effect": "Allow"
    }
  ],
  "Version": "2012-10-17"
}"#;
    let d = parse(text);
    assert_eq!(d.to_pretty_json(), text);
    assert_eq!(
        d.to_compact_json(),
        r#"{"Statement":[{"Resource":"arn:aws:s3:::b/*","Action":["s3:GetObject"],"Effect":"Allow"}],"Version":"2012-10-17"}"#
    );
}

#[test]
fn cors_configuration_parses_and_missing_lists_are_empty() {
    let c = CorsConfiguration::parse(
        r#"{"CORSRules":[{"ID":"web","AllowedMethods":["GET","PUT"],"AllowedOrigins":["https://example.com"],"MaxAgeSeconds":3000},
                         {"AllowedHeaders":["*"],"AllowedMethods":["GET"],"AllowedOrigins":["*"],"ExposeHeaders":["ETag"]}]}"#,
    );
    let c = match c {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(c.rules.len(), 2);
    assert!(c.rules[0].allowed_headers.is_empty());
    assert_eq!(c.rules[0].max_age_seconds, Some(3000));
    assert_eq!(c.rules[1].expose_headers, vec!["ETag".to_string()]);
    let again = CorsConfiguration::parse(&c.to_pretty_json());
    assert_eq!(again, Ok(c));
}

#[test]
fn cors_errors_name_the_rule() {
    let cases = [
        (
            r#"{"CORSRules":[{"AllowedMethods":["GET"],"AllowedOrigins":["*"],"Foo":1}]}"#,
            "CORSRules[0].Foo",
        ),
        (
            r#"{"CORSRules":[{"AllowedMethods":["GET"],"AllowedOrigins":["*"]},{"AllowedMethods":["GET"]}]}"#,
            "CORSRules[1]",
        ),
        (
            r#"{"CORSRules":[{"AllowedMethods":["GET"],"AllowedOrigins":["*"],"MaxAgeSeconds":"x"}]}"#,
            "CORSRules[0].MaxAgeSeconds",
        ),
        (r#"{"Rules":[]}"#, "Rules"),
    ];
    for (text, want) in cases {
        match CorsConfiguration::parse(text) {
            Ok(_) => panic!("should not parse: {text}"),
            Err(PolicyError::Invalid { location, .. }) => assert_eq!(location, want, "{text}"),
        }
    }
}

#[test]
fn json_syntax_errors_name_line_and_column() {
    let err = PolicyDocument::parse("{\n  \"Statement\": [\n    {\"Effect\": \"Allow\",}\n  ]\n}");
    match err {
        Err(PolicyError::Invalid { location, message }) => {
            assert_eq!(location, "line 3, column 24");
            assert!(message.starts_with("not valid JSON"), "{message}");
        }
        Ok(_) => panic!("trailing comma accepted"),
    }
}

#[test]
fn error_messages_say_what_is_wrong_and_where() {
    let err = PolicyDocument::parse(
        r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Principal":{"aws":"*"}}]}"#,
    );
    let text = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(
        text,
        "invalid policy document at Statement[0].Principal.aws: unknown principal type `aws`: use `AWS`, `Service`, `Federated` or `CanonicalUser`"
    );
}
