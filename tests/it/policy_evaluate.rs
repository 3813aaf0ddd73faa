//! "Already met": each row is a requirement, the documents that exist, and the
//! verdict a careful reader of IAM would give. The reason of every decision
//! must name the requirement and, when a statement decided, that statement.

use a2i_fix::policy::evaluate::CORS_LABEL;
use a2i_fix::policy::{
    CorsConfiguration, LabeledDocument, PolicyDocument, Requirement, StatementRef, Verdict, a2i,
    evaluate, evaluate_cors,
};

const ACCT: &str = "111122223333";
const ROLE: &str = "arn:aws:iam::111122223333:role/A2IFlowRole";

/// The expected verdict, by kind and deciding statement (document, index).
#[derive(Debug)]
enum Want {
    Met(&'static str, usize),
    NotMet,
    Blocked(&'static str, usize, bool),
    Conditional(&'static str, usize, &'static str),
}

fn read_input() -> Requirement {
    Requirement::Identity {
        action: "s3:GetObject".into(),
        resource: "arn:aws:s3:::in/*".into(),
    }
}
fn write_output() -> Requirement {
    Requirement::Identity {
        action: "s3:PutObject".into(),
        resource: "arn:aws:s3:::out/reviews/*".into(),
    }
}
fn trust() -> Requirement {
    Requirement::Trust {
        service: "sagemaker.amazonaws.com".into(),
        action: "sts:AssumeRole".into(),
    }
}
fn key() -> Requirement {
    Requirement::KeyGrant {
        principal_arn: ROLE.into(),
        actions: a2i::KMS_ACTIONS.iter().map(|a| a.to_string()).collect(),
    }
}

fn bucket() -> Requirement {
    Requirement::Resource {
        principal_arn: ROLE.into(),
        action: "s3:GetObject".into(),
        resource: "arn:aws:s3:::in/*".into(),
    }
}
fn key_of_another_account() -> Requirement {
    Requirement::KeyGrant {
        principal_arn: "arn:aws:iam::444455556666:role/A2IFlowRole".into(),
        actions: vec!["kms:Decrypt".into()],
    }
}

fn stmts(statements: &[&str]) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    )
}

struct Row {
    name: &'static str,
    requirement: Requirement,
    /// (label, document text)
    documents: Vec<(&'static str, String)>,
    want: Want,
    /// Text the reason must contain (besides the statement reference).
    reason_has: &'static str,
}

fn row(
    name: &'static str,
    requirement: Requirement,
    documents: Vec<(&'static str, String)>,
    want: Want,
) -> Row {
    Row {
        name,
        requirement,
        documents,
        want,
        reason_has: "",
    }
}

fn rows() -> Vec<Row> {
    const P: &str = "inline policy P";
    const Q: &str = "managed policy Q";
    const T: &str = "trust policy";
    const K: &str = "key policy";
    let allow = |action: &str, resource: &str| {
        format!(r#"{{"Effect":"Allow","Action":"{action}","Resource":"{resource}"}}"#)
    };
    let mut rows = vec![
        // ----- identity grants (R2, R3, R9) -----
        row(
            "exact grant",
            read_input(),
            vec![(P, stmts(&[&allow("s3:GetObject", "arn:aws:s3:::in/*")]))],
            Want::Met(P, 0),
        ),
        row(
            "s3:* on the bucket",
            read_input(),
            vec![(P, stmts(&[&allow("s3:*", "arn:aws:s3:::in/*")]))],
            Want::Met(P, 0),
        ),
        row(
            "s3:Get* on arn:aws:s3:::*",
            read_input(),
            vec![(P, stmts(&[&allow("s3:Get*", "arn:aws:s3:::*")]))],
            Want::Met(P, 0),
        ),
        row(
            "* on *",
            read_input(),
            vec![(P, stmts(&[&allow("*", "*")]))],
            Want::Met(P, 0),
        ),
        row(
            "? wildcard in the action",
            read_input(),
            vec![(P, stmts(&[&allow("s3:Get?bject", "arn:aws:s3:::in/*")]))],
            Want::Met(P, 0),
        ),
        row(
            "action case does not matter",
            read_input(),
            vec![(P, stmts(&[&allow("S3:GETOBJECT", "arn:aws:s3:::in/*")]))],
            Want::Met(P, 0),
        ),
        row(
            "resource case matters",
            read_input(),
            vec![(P, stmts(&[&allow("s3:GetObject", "arn:aws:s3:::IN/*")]))],
            Want::NotMet,
        ),
        row(
            "a narrower prefix does not cover the bucket",
            read_input(),
            vec![(
                P,
                stmts(&[&allow("s3:GetObject", "arn:aws:s3:::in/images/*")]),
            )],
            Want::NotMet,
        ),
        row(
            "the bucket itself is not its objects",
            read_input(),
            vec![(P, stmts(&[&allow("s3:GetObject", "arn:aws:s3:::in")]))],
            Want::NotMet,
        ),
        row(
            "a whole-bucket grant covers the output prefix",
            write_output(),
            vec![(P, stmts(&[&allow("s3:PutObject", "arn:aws:s3:::out/*")]))],
            Want::Met(P, 0),
        ),
        row(
            "another action does not count",
            read_input(),
            vec![(P, stmts(&[&allow("s3:PutObject", "arn:aws:s3:::in/*")]))],
            Want::NotMet,
        ),
        row(
            "NotAction not naming it grants it",
            read_input(),
            vec![(
                P,
                stmts(&[r#"{"Effect":"Allow","NotAction":["iam:*","kms:*"],"Resource":"*"}"#]),
            )],
            Want::Met(P, 0),
        ),
        row(
            "NotAction naming it does not",
            read_input(),
            vec![(
                P,
                stmts(&[r#"{"Effect":"Allow","NotAction":"s3:*","Resource":"*"}"#]),
            )],
            Want::NotMet,
        ),
        row(
            "NotResource elsewhere grants it",
            read_input(),
            vec![(
                P,
                stmts(&[
                    r#"{"Effect":"Allow","Action":"s3:GetObject","NotResource":"arn:aws:s3:::private/*"}"#,
                ]),
            )],
            Want::Met(P, 0),
        ),
        row(
            "NotResource excluding part of the bucket does not",
            read_input(),
            vec![(
                P,
                stmts(&[
                    r#"{"Effect":"Allow","Action":"s3:GetObject","NotResource":"arn:aws:s3:::in/secret/*"}"#,
                ]),
            )],
            Want::NotMet,
        ),
        row(
            "the grant may come from a second document",
            read_input(),
            vec![
                (P, stmts(&[&allow("s3:PutObject", "*")])),
                (Q, stmts(&[&allow("s3:GetObject", "arn:aws:s3:::in/*")])),
            ],
            Want::Met(Q, 0),
        ),
        row(
            "explicit deny overrides allow",
            read_input(),
            vec![(
                P,
                stmts(&[
                    &allow("s3:*", "*"),
                    r#"{"Sid":"NoS3","Effect":"Deny","Action":"s3:*","Resource":"*"}"#,
                ]),
            )],
            Want::Blocked(P, 1, false),
        ),
        row(
            "a deny in another document blocks too",
            read_input(),
            vec![
                (P, stmts(&[&allow("s3:GetObject", "arn:aws:s3:::in/*")])),
                (
                    Q,
                    stmts(&[r#"{"Effect":"Deny","Action":"s3:Get*","Resource":"arn:aws:s3:::*"}"#]),
                ),
            ],
            Want::Blocked(Q, 0, false),
        ),
        row(
            "a deny on part of the bucket blocks",
            read_input(),
            vec![(
                P,
                stmts(&[
                    &allow("s3:GetObject", "arn:aws:s3:::in/*"),
                    r#"{"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::in/secret/*"}"#,
                ]),
            )],
            Want::Blocked(P, 1, false),
        ),
        Row {
            reason_has: "aws:SecureTransport",
            ..row(
                "a deny with a condition blocks conditionally",
                read_input(),
                vec![(
                    P,
                    stmts(&[
                        &allow("s3:GetObject", "arn:aws:s3:::in/*"),
                        r#"{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#,
                    ]),
                )],
                Want::Blocked(P, 1, true),
            )
        },
        row(
            "an unconditional deny is reported before a conditional one",
            read_input(),
            vec![(
                P,
                stmts(&[
                    r#"{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#,
                    r#"{"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::in/*"}"#,
                ]),
            )],
            Want::Blocked(P, 1, false),
        ),
        row(
            "a deny NotAction naming it does not block",
            read_input(),
            vec![(
                P,
                stmts(&[
                    &allow("s3:GetObject", "arn:aws:s3:::in/*"),
                    r#"{"Effect":"Deny","NotAction":"s3:GetObject","Resource":"*"}"#,
                ]),
            )],
            Want::Met(P, 0),
        ),
        row(
            "a deny on another bucket does not block",
            read_input(),
            vec![(
                P,
                stmts(&[
                    &allow("s3:GetObject", "arn:aws:s3:::in/*"),
                    r#"{"Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::other/*"}"#,
                ]),
            )],
            Want::Met(P, 0),
        ),
        row(
            "an allow with a condition is conditional",
            read_input(),
            vec![(
                P,
                stmts(&[
                    r#"{"Sid":"VpcOnly","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::in/*","Condition":{"StringEquals":{"aws:SourceVpc":"vpc-1"}}}"#,
                ]),
            )],
            Want::Conditional(P, 0, "StringEquals on `aws:SourceVpc`"),
        ),
        row(
            "an unconditional allow wins over a conditional one",
            read_input(),
            vec![(
                P,
                stmts(&[
                    r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::in/*","Condition":{"StringEquals":{"aws:SourceVpc":"vpc-1"}}}"#,
                    &allow("s3:GetObject", "arn:aws:s3:::in/*"),
                ]),
            )],
            Want::Met(P, 1),
        ),
        row(
            "a principal in an identity policy is not trusted",
            read_input(),
            vec![(
                P,
                stmts(&[
                    r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::in/*"}"#,
                ]),
            )],
            Want::NotMet,
        ),
        row("no document, no grant", read_input(), vec![], Want::NotMet),
        row(
            "an empty document grants nothing",
            read_input(),
            vec![(P, stmts(&[]))],
            Want::NotMet,
        ),
        // ----- trust (R4) -----
        row(
            "service principal",
            trust(),
            vec![(
                T,
                stmts(&[
                    r#"{"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}"#,
                ]),
            )],
            Want::Met(T, 0),
        ),
        row(
            "one of several services",
            trust(),
            vec![(
                T,
                stmts(&[
                    r#"{"Effect":"Allow","Principal":{"Service":["lambda.amazonaws.com","sagemaker.amazonaws.com"]},"Action":["sts:AssumeRole","sts:TagSession"]}"#,
                ]),
            )],
            Want::Met(T, 0),
        ),
        row(
            "only Lambda",
            trust(),
            vec![(
                T,
                stmts(&[
                    r#"{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}"#,
                ]),
            )],
            Want::NotMet,
        ),
        Row {
            reason_has: "open to any principal",
            ..row(
                "Principal * lets SageMaker in (and everyone else)",
                trust(),
                vec![(
                    T,
                    stmts(&[r#"{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}"#]),
                )],
                Want::Met(T, 0),
            )
        },
        row(
            "AWS * lets SageMaker in",
            trust(),
            vec![(
                T,
                stmts(&[r#"{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}"#]),
            )],
            Want::Met(T, 0),
        ),
        row(
            "the account root is not SageMaker",
            trust(),
            vec![(
                T,
                stmts(&[
                    r#"{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}"#,
                ]),
            )],
            Want::NotMet,
        ),
        row(
            "sts:* covers AssumeRole",
            trust(),
            vec![(
                T,
                stmts(&[
                    r#"{"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:*"}"#,
                ]),
            )],
            Want::Met(T, 0),
        ),
        row(
            "AssumeRoleWithWebIdentity is another action",
            trust(),
            vec![(
                T,
                stmts(&[
                    r#"{"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRoleWithWebIdentity"}"#,
                ]),
            )],
            Want::NotMet,
        ),
        Row {
            reason_has: "aws:SourceAccount",
            ..row(
                "confused-deputy condition makes it conditional",
                trust(),
                vec![(
                    T,
                    stmts(&[
                        r#"{"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"}}}"#,
                    ]),
                )],
                Want::Conditional(T, 0, "StringEquals on `aws:SourceAccount`"),
            )
        },
        row(
            "a deny to SageMaker blocks",
            trust(),
            vec![(
                T,
                stmts(&[
                    r#"{"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}"#,
                    r#"{"Effect":"Deny","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:*"}"#,
                ]),
            )],
            Want::Blocked(T, 1, false),
        ),
        row(
            "a deny NotPrincipal sparing SageMaker does not block",
            trust(),
            vec![(
                T,
                stmts(&[
                    r#"{"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}"#,
                    r#"{"Effect":"Deny","NotPrincipal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}"#,
                ]),
            )],
            Want::Met(T, 0),
        ),
        row(
            "a deny NotPrincipal sparing someone else blocks",
            trust(),
            vec![(
                T,
                stmts(&[
                    r#"{"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}"#,
                    r#"{"Effect":"Deny","NotPrincipal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}"#,
                ]),
            )],
            Want::Blocked(T, 1, false),
        ),
        row(
            "an allow NotPrincipal is not trusted",
            trust(),
            vec![(
                T,
                stmts(&[
                    r#"{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"sts:AssumeRole"}"#,
                ]),
            )],
            Want::NotMet,
        ),
        // ----- key grants (R5) -----
        row(
            "the A2I statement",
            key(),
            vec![(
                K,
                stmts(&[&a2i::key_statement(&[ROLE.to_string()])
                    .to_value()
                    .to_string()]),
            )],
            Want::Met(K, 0),
        ),
        row(
            "kms:* to the role",
            key(),
            vec![(
                K,
                stmts(&[
                    r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/A2IFlowRole"},"Action":"kms:*","Resource":"*"}"#,
                ]),
            )],
            Want::Met(K, 0),
        ),
        Row {
            reason_has: "account root",
            ..row(
                "the account root only delegates to IAM",
                key(),
                vec![(
                    K,
                    stmts(&[
                        r#"{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}"#,
                    ]),
                )],
                Want::NotMet,
            )
        },
        row(
            "the account id only delegates to IAM",
            key(),
            vec![(
                K,
                stmts(&[
                    r#"{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}"#,
                ]),
            )],
            Want::NotMet,
        ),
        Row {
            reason_has: "open to any principal",
            ..row(
                "Principal * grants the role (wide open)",
                key(),
                vec![(
                    K,
                    stmts(&[
                        r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}"#,
                    ]),
                )],
                Want::Met(K, 0),
            )
        },
        row(
            "two statements together",
            key(),
            vec![(
                K,
                stmts(&[
                    r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/A2IFlowRole"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}"#,
                    r#"{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/Other","arn:aws:iam::111122223333:role/A2IFlowRole"]},"Action":["kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"}"#,
                ]),
            )],
            Want::Met(K, 0),
        ),
        Row {
            reason_has: "`kms:DescribeKey`",
            ..row(
                "one action missing",
                key(),
                vec![(
                    K,
                    stmts(&[
                        r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/A2IFlowRole"},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*"],"Resource":"*"}"#,
                    ]),
                )],
                Want::NotMet,
            )
        },
        row(
            "today's concrete actions do not cover a wildcard need",
            key(),
            vec![(
                K,
                stmts(&[
                    r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/A2IFlowRole"},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncryptFrom","kms:ReEncryptTo","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"}"#,
                ]),
            )],
            Want::NotMet,
        ),
        row(
            "a conditional deny to everyone blocks conditionally",
            key(),
            vec![(
                K,
                stmts(&[
                    r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/A2IFlowRole"},"Action":"kms:*","Resource":"*"}"#,
                    r#"{"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalOrgID":"o-123"}}}"#,
                ]),
            )],
            Want::Blocked(K, 1, true),
        ),
        row(
            "a deny to another role does not block",
            key(),
            vec![(
                K,
                stmts(&[
                    r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/A2IFlowRole"},"Action":"kms:*","Resource":"*"}"#,
                    r#"{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:role/Intern"},"Action":"kms:*","Resource":"*"}"#,
                ]),
            )],
            Want::Met(K, 0),
        ),
        row(
            "a deny to the account root may apply",
            key(),
            vec![(
                K,
                stmts(&[
                    r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/A2IFlowRole"},"Action":"kms:*","Resource":"*"}"#,
                    r#"{"Effect":"Deny","Principal":{"AWS":"111122223333"},"Action":"kms:Encrypt","Resource":"*"}"#,
                ]),
            )],
            Want::Blocked(K, 1, true),
        ),
        row(
            "a specific key ARN as resource is not trusted",
            key(),
            vec![(
                K,
                stmts(&[
                    r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/A2IFlowRole"},"Action":"kms:*","Resource":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}"#,
                ]),
            )],
            Want::NotMet,
        ),
        row(
            "another role is not the flow role",
            key(),
            vec![(
                K,
                stmts(&[
                    r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/A2IFlowRole2"},"Action":"kms:*","Resource":"*"}"#,
                ]),
            )],
            Want::NotMet,
        ),
        row(
            "some actions only under a condition make the grant conditional",
            key(),
            vec![(
                K,
                stmts(&[
                    r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/A2IFlowRole"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}"#,
                    r#"{"Sid":"ViaS3","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/A2IFlowRole"},"Action":["kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}}"#,
                ]),
            )],
            Want::Conditional(K, 1, "StringEquals on `kms:ViaService`"),
        ),
        row(
            "a deleted role's unique id is not the role",
            key(),
            vec![(
                K,
                stmts(&[
                    r#"{"Effect":"Allow","Principal":{"AWS":"AROAEXAMPLEID1234567"},"Action":"kms:*","Resource":"*"}"#,
                ]),
            )],
            Want::NotMet,
        ),
    ];
    rows.extend(variable_rows());
    rows.extend(account_condition_rows());
    rows.extend(bucket_policy_rows());
    rows
}

/// Policy variables (`${aws:username}`) in resources: an unknown part.
fn variable_rows() -> Vec<Row> {
    const P: &str = "inline policy P";
    let granted = r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::in/*"}"#;
    let with = |effect: &str, element: &str, resource: &str| {
        format!(r#"{{"Effect":"{effect}","Action":"s3:GetObject","{element}":{resource}}}"#)
    };
    vec![
        Row {
            reason_has: "may apply",
            ..row(
                "a deny with a variable may apply",
                read_input(),
                vec![(
                    P,
                    stmts(&[
                        granted,
                        &with("Deny", "Resource", r#""arn:aws:s3:::in/${aws:username}/*""#),
                    ]),
                )],
                Want::Blocked(P, 1, true),
            )
        },
        row(
            "a deny with a variable on another bucket does not block",
            read_input(),
            vec![(
                P,
                stmts(&[
                    granted,
                    &with(
                        "Deny",
                        "Resource",
                        r#""arn:aws:s3:::other/${aws:username}/*""#,
                    ),
                ]),
            )],
            Want::Met(P, 0),
        ),
        row(
            "a deny with a variable in the bucket name may apply",
            read_input(),
            vec![(
                P,
                stmts(&[
                    granted,
                    &with(
                        "Deny",
                        "Resource",
                        r#""arn:aws:s3:::${aws:PrincipalTag/bucket}/*""#,
                    ),
                ]),
            )],
            Want::Blocked(P, 1, true),
        ),
        row(
            "a deny whose plain resource applies blocks, whatever its variable",
            read_input(),
            vec![(
                P,
                stmts(&[
                    granted,
                    &with(
                        "Deny",
                        "Resource",
                        r#"["arn:aws:s3:::x/${aws:username}","arn:aws:s3:::in/*"]"#,
                    ),
                ]),
            )],
            Want::Blocked(P, 1, false),
        ),
        Row {
            reason_has: "policy variable",
            ..row(
                "an allow with a variable grants nothing certain",
                read_input(),
                vec![(
                    P,
                    stmts(&[&with(
                        "Allow",
                        "Resource",
                        r#""arn:aws:s3:::in/${aws:username}/*""#,
                    )]),
                )],
                Want::NotMet,
            )
        },
        row(
            "an allow whose variable would cover everything still does not grant",
            read_input(),
            vec![(
                P,
                stmts(&[&with(
                    "Allow",
                    "Resource",
                    r#""arn:aws:s3:::in/*${aws:username}""#,
                )]),
            )],
            Want::NotMet,
        ),
        row(
            "an escaped star is a literal star: no grant of the bucket",
            read_input(),
            vec![(
                P,
                stmts(&[&with("Allow", "Resource", r#""arn:aws:s3:::in/${*}""#)]),
            )],
            Want::NotMet,
        ),
        row(
            "an escaped star is a literal star: a deny of that one object blocks",
            read_input(),
            vec![(
                P,
                stmts(&[
                    granted,
                    &with("Deny", "Resource", r#""arn:aws:s3:::in/${*}""#),
                ]),
            )],
            Want::Blocked(P, 1, false),
        ),
        row(
            "escapes are not variables",
            read_input(),
            vec![(
                P,
                stmts(&[
                    granted,
                    &with("Deny", "Resource", r#""arn:aws:s3:::in/${$}{x}${?}""#),
                ]),
            )],
            Want::Blocked(P, 1, false),
        ),
        row(
            "an escaped star grants a wider allow nothing more",
            read_input(),
            vec![(
                P,
                stmts(&[&with("Allow", "Resource", r#""arn:aws:s3:::in${*}""#)]),
            )],
            Want::NotMet,
        ),
        row(
            "a deny NotResource with a variable may spare it, or not",
            read_input(),
            vec![(
                P,
                stmts(&[
                    granted,
                    &with(
                        "Deny",
                        "NotResource",
                        r#""arn:aws:s3:::in/${aws:username}/*""#,
                    ),
                ]),
            )],
            Want::Blocked(P, 1, true),
        ),
        row(
            "a deny NotResource sparing the bucket plainly does not block",
            read_input(),
            vec![(
                P,
                stmts(&[
                    granted,
                    &with(
                        "Deny",
                        "NotResource",
                        r#"["arn:aws:s3:::in/*","arn:aws:s3:::${aws:username}/*"]"#,
                    ),
                ]),
            )],
            Want::Met(P, 0),
        ),
        row(
            "an allow NotResource with a variable may exclude it",
            read_input(),
            vec![(
                P,
                stmts(&[&with(
                    "Allow",
                    "NotResource",
                    r#""arn:aws:s3:::${aws:username}/*""#,
                )]),
            )],
            Want::NotMet,
        ),
        row(
            "an allow NotResource whose variable is elsewhere grants it",
            read_input(),
            vec![(
                P,
                stmts(&[&with(
                    "Allow",
                    "NotResource",
                    r#""arn:aws:s3:::other/${aws:username}""#,
                )]),
            )],
            Want::Met(P, 0),
        ),
    ]
}

/// Conditions on `aws:PrincipalAccount` / `aws:ResourceAccount`, which
/// a2i-fix settles itself when the principal and the resource are in the
/// account.
fn account_condition_rows() -> Vec<Row> {
    const P: &str = "inline policy P";
    const T: &str = "trust policy";
    const K: &str = "key policy";
    let granted = r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::in/*"}"#;
    let identity = |effect: &str, condition: &str| {
        format!(
            r#"{{"Effect":"{effect}","Action":"s3:GetObject","Resource":"arn:aws:s3:::in/*","Condition":{condition}}}"#
        )
    };
    let key_allow = |condition: &str| {
        format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":"{ROLE}"}},"Action":"kms:*","Resource":"*","Condition":{condition}}}"#
        )
    };
    vec![
        Row {
            reason_has: "always holds",
            ..row(
                "an allow on the resource account is met",
                read_input(),
                vec![(
                    P,
                    stmts(&[&identity(
                        "Allow",
                        r#"{"StringEquals":{"aws:ResourceAccount":"111122223333"}}"#,
                    )]),
                )],
                Want::Met(P, 0),
            )
        },
        row(
            "key names without case, IfExists, StringLike",
            read_input(),
            vec![(
                P,
                stmts(&[&identity(
                    "Allow",
                    r#"{"StringLikeIfExists":{"AWS:PRINCIPALACCOUNT":"1111*"},"StringEqualsIgnoreCase":{"aws:resourceaccount":"${aws:PrincipalAccount}"}}"#,
                )]),
            )],
            Want::Met(P, 0),
        ),
        Row {
            reason_has: "never holds",
            ..row(
                "an allow for another account does not apply",
                read_input(),
                vec![(
                    P,
                    stmts(&[&identity(
                        "Allow",
                        r#"{"StringEquals":{"aws:ResourceAccount":"444455556666"}}"#,
                    )]),
                )],
                Want::NotMet,
            )
        },
        row(
            "a perimeter deny of other accounts' resources does not apply",
            read_input(),
            vec![(
                P,
                stmts(&[
                    granted,
                    r#"{"Sid":"Perimeter","Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"StringNotEquals":{"aws:ResourceAccount":"111122223333"}}}"#,
                ]),
            )],
            Want::Met(P, 0),
        ),
        Row {
            reason_has: "always holds",
            ..row(
                "a deny of the account's own resources blocks unconditionally",
                read_input(),
                vec![(
                    P,
                    stmts(&[
                        granted,
                        &identity(
                            "Deny",
                            r#"{"StringNotEquals":{"aws:ResourceAccount":"444455556666"}}"#,
                        ),
                    ]),
                )],
                Want::Blocked(P, 1, false),
            )
        },
        row(
            "a deny with an account key and another key stays conditional",
            read_input(),
            vec![(
                P,
                stmts(&[
                    granted,
                    &identity(
                        "Deny",
                        r#"{"StringEquals":{"aws:ResourceAccount":"111122223333","aws:SourceVpce":"vpce-1"}}"#,
                    ),
                ]),
            )],
            Want::Blocked(P, 1, true),
        ),
        row(
            "a deny with an account key false and another key does not apply",
            read_input(),
            vec![(
                P,
                stmts(&[
                    granted,
                    &identity(
                        "Deny",
                        r#"{"StringNotEquals":{"aws:ResourceAccount":"111122223333"},"Bool":{"aws:SecureTransport":"false"}}"#,
                    ),
                ]),
            )],
            Want::Met(P, 0),
        ),
        row(
            "ForAnyValue is not settled",
            read_input(),
            vec![(
                P,
                stmts(&[&identity(
                    "Allow",
                    r#"{"ForAnyValue:StringEquals":{"aws:ResourceAccount":"111122223333"}}"#,
                )]),
            )],
            Want::Conditional(P, 0, "ForAnyValue:StringEquals on `aws:ResourceAccount`"),
        ),
        row(
            "another operator is not settled",
            read_input(),
            vec![(
                P,
                stmts(&[&identity(
                    "Allow",
                    r#"{"ArnEquals":{"aws:ResourceAccount":"111122223333"}}"#,
                )]),
            )],
            Want::Conditional(P, 0, "ArnEquals on `aws:ResourceAccount`"),
        ),
        row(
            "a service principal has no principal account",
            trust(),
            vec![(
                T,
                stmts(&[
                    r#"{"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalAccount":"111122223333"}}}"#,
                ]),
            )],
            Want::Conditional(T, 0, "StringEquals on `aws:PrincipalAccount`"),
        ),
        row(
            "a key grant to a role of the account is met",
            key(),
            vec![(
                K,
                stmts(&[&key_allow(
                    r#"{"StringEquals":{"aws:PrincipalAccount":"111122223333"}}"#,
                )]),
            )],
            Want::Met(K, 0),
        ),
        row(
            "a key perimeter deny does not apply to the account's roles",
            key(),
            vec![(
                K,
                stmts(&[
                    &key_allow("{}"),
                    r#"{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalAccount":"111122223333"}}}"#,
                ]),
            )],
            Want::Met(K, 0),
        ),
        row(
            "a key grant to another account's role is not settled",
            key_of_another_account(),
            vec![(
                K,
                stmts(&[
                    r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:role/A2IFlowRole"},"Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalAccount":"111122223333"}}}"#,
                ]),
            )],
            Want::Conditional(K, 0, "StringEquals on `aws:PrincipalAccount`"),
        ),
    ]
}

/// `Requirement::Resource`: bucket policies, where data-perimeter Denies live.
fn bucket_policy_rows() -> Vec<Row> {
    const B: &str = "bucket policy of in";
    let deny = |principal: &str, condition: &str| {
        format!(
            r#"{{"Effect":"Deny",{principal},"Action":"s3:*","Resource":["arn:aws:s3:::in","arn:aws:s3:::in/*"]{condition}}}"#
        )
    };
    let role_allow = format!(
        r#"{{"Effect":"Allow","Principal":{{"AWS":"{ROLE}"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::in/*"}}"#
    );
    vec![
        Row {
            reason_has: "aws:SourceVpce",
            ..row(
                "a deny outside a VPC endpoint blocks conditionally",
                bucket(),
                vec![(
                    B,
                    stmts(&[&deny(
                        r#""Principal":"*""#,
                        r#","Condition":{"StringNotEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"}}"#,
                    )]),
                )],
                Want::Blocked(B, 0, true),
            )
        },
        Row {
            reason_has: "aws:SourceIp",
            ..row(
                "a deny outside an IP range blocks conditionally",
                bucket(),
                vec![(
                    B,
                    stmts(&[
                        &role_allow,
                        &deny(
                            r#""Principal":{"AWS":"*"}"#,
                            r#","Condition":{"NotIpAddress":{"aws:SourceIp":"192.0.2.0/24"}}"#,
                        ),
                    ]),
                )],
                Want::Blocked(B, 1, true),
            )
        },
        row(
            "a plain deny to everyone blocks",
            bucket(),
            vec![(B, stmts(&[&role_allow, &deny(r#""Principal":"*""#, "")]))],
            Want::Blocked(B, 1, false),
        ),
        row(
            "a deny to the role blocks",
            bucket(),
            vec![(
                B,
                stmts(&[&deny(&format!(r#""Principal":{{"AWS":"{ROLE}"}}"#), "")]),
            )],
            Want::Blocked(B, 0, false),
        ),
        row(
            "a deny to another role does not block",
            bucket(),
            vec![(
                B,
                stmts(&[
                    &role_allow,
                    &deny(
                        r#""Principal":{"AWS":"arn:aws:iam::111122223333:role/Intern"}"#,
                        "",
                    ),
                ]),
            )],
            Want::Met(B, 0),
        ),
        row(
            "a deny NotPrincipal sparing the role does not block",
            bucket(),
            vec![(
                B,
                stmts(&[
                    &role_allow,
                    &deny(&format!(r#""NotPrincipal":{{"AWS":"{ROLE}"}}"#), ""),
                ]),
            )],
            Want::Met(B, 0),
        ),
        row(
            "a deny NotPrincipal sparing someone else blocks",
            bucket(),
            vec![(
                B,
                stmts(&[
                    &role_allow,
                    &deny(
                        r#""NotPrincipal":{"AWS":"arn:aws:iam::111122223333:role/Admin"}"#,
                        "",
                    ),
                ]),
            )],
            Want::Blocked(B, 1, false),
        ),
        row(
            "a deny NotPrincipal sparing only the account root may apply",
            bucket(),
            vec![(
                B,
                stmts(&[
                    &role_allow,
                    &deny(r#""NotPrincipal":{"AWS":"111122223333"}"#, ""),
                ]),
            )],
            Want::Blocked(B, 1, true),
        ),
        row(
            "a deny of other accounts' principals does not apply",
            bucket(),
            vec![(
                B,
                stmts(&[
                    &role_allow,
                    &deny(
                        r#""Principal":"*""#,
                        r#","Condition":{"StringNotEquals":{"aws:PrincipalAccount":"111122223333"}}"#,
                    ),
                ]),
            )],
            Want::Met(B, 0),
        ),
        row(
            "a deny of another bucket does not block",
            bucket(),
            vec![(
                B,
                stmts(&[
                    &role_allow,
                    r#"{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::other/*"}"#,
                ]),
            )],
            Want::Met(B, 0),
        ),
        row(
            "an allow to the role is met",
            bucket(),
            vec![(B, stmts(&[&role_allow]))],
            Want::Met(B, 0),
        ),
        Row {
            reason_has: "account root",
            ..row(
                "an allow to the account root only delegates",
                bucket(),
                vec![(
                    B,
                    stmts(&[
                        r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"s3:*","Resource":"arn:aws:s3:::in/*"}"#,
                    ]),
                )],
                Want::NotMet,
            )
        },
        row(
            "an allow on a prefix does not cover the bucket",
            bucket(),
            vec![(
                B,
                stmts(&[&format!(
                    r#"{{"Effect":"Allow","Principal":{{"AWS":"{ROLE}"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::in/a/*"}}"#
                )]),
            )],
            Want::NotMet,
        ),
    ]
}

fn check(row: &Row) -> Result<(), String> {
    let docs: Vec<PolicyDocument> = row
        .documents
        .iter()
        .map(|(label, text)| {
            PolicyDocument::parse(text).map_err(|e| format!("{label} does not parse: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let labeled: Vec<LabeledDocument<'_>> = row
        .documents
        .iter()
        .zip(&docs)
        .map(|((label, _), document)| LabeledDocument { label, document })
        .collect();
    let d = evaluate(&row.requirement, &labeled, ACCT);
    let statement_ref = |doc: &str, index: usize| -> StatementRef {
        let i = row
            .documents
            .iter()
            .position(|(l, _)| *l == doc)
            .unwrap_or(usize::MAX);
        let sid = docs
            .get(i)
            .and_then(|d| d.statements.get(index))
            .and_then(|s| s.sid.clone());
        StatementRef {
            document: doc.to_string(),
            index,
            sid,
        }
    };
    let ok = match (&row.want, &d.verdict) {
        (Want::Met(doc, i), Verdict::Met { by }) => *by == statement_ref(doc, *i),
        (Want::NotMet, Verdict::NotMet) => true,
        (Want::Blocked(doc, i, c), Verdict::Blocked { by, conditional }) => {
            *by == statement_ref(doc, *i) && conditional == c
        }
        (Want::Conditional(doc, i, cond), Verdict::Conditional { by, condition }) => {
            *by == statement_ref(doc, *i) && condition == cond
        }
        _ => false,
    };
    if !ok {
        return Err(format!(
            "expected {:?}, got {:?} ({})",
            row.want, d.verdict, d.reason
        ));
    }
    if !d.reason.contains(row.reason_has) {
        return Err(format!(
            "reason `{}` does not mention `{}`",
            d.reason, row.reason_has
        ));
    }
    if let Verdict::Met { by } | Verdict::Blocked { by, .. } | Verdict::Conditional { by, .. } =
        &d.verdict
        && !d.reason.contains(&by.to_string())
    {
        return Err(format!("reason `{}` does not name {by}", d.reason));
    }
    if d.requirement != row.requirement || !d.reason.contains(&row.requirement.to_string()) {
        return Err(format!(
            "reason `{}` does not name the requirement",
            d.reason
        ));
    }
    Ok(())
}

#[test]
fn already_met_table() {
    let rows = rows();
    assert!(rows.len() >= 20);
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|r| check(r).err().map(|e| format!("{}: {e}", r.name)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

#[test]
fn a_bucket_policy_requirement_reads_as_one_sentence() {
    assert_eq!(
        bucket().to_string(),
        "`s3:GetObject` on `arn:aws:s3:::in/*` by `arn:aws:iam::111122223333:role/A2IFlowRole` (bucket policy)"
    );
}

#[test]
fn account_conditions_are_not_settled_without_the_account() {
    let doc = PolicyDocument::parse(&stmts(&[
        r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::in/*","Condition":{"StringEquals":{"aws:ResourceAccount":"111122223333"}}}"#,
    ]))
    .unwrap_or_else(|e| panic!("{e}"));
    let docs = [LabeledDocument {
        label: "inline policy P",
        document: &doc,
    }];
    let d = evaluate(&read_input(), &docs, "");
    assert!(
        matches!(d.verdict, Verdict::Conditional { .. }),
        "{}",
        d.reason
    );
    let d = evaluate(&read_input(), &docs, "444455556666");
    assert_eq!(d.verdict, Verdict::NotMet, "{}", d.reason);
}

#[test]
fn cors_get_from_any_origin_table() {
    let cases: &[(&str, &str, Option<usize>)] = &[
        ("no rules", r#"{"CORSRules":[]}"#, None),
        (
            "the A2I rule",
            r#"{"CORSRules":[{"AllowedMethods":["GET"],"AllowedOrigins":["*"]}]}"#,
            Some(0),
        ),
        (
            "a broader rule",
            r#"{"CORSRules":[{"AllowedMethods":["PUT","GET"],"AllowedOrigins":["https://a.example","*"],"AllowedHeaders":["*"]}]}"#,
            Some(0),
        ),
        (
            "method in lower case",
            r#"{"CORSRules":[{"AllowedMethods":["get"],"AllowedOrigins":["*"]}]}"#,
            Some(0),
        ),
        (
            "GET from one origin only",
            r#"{"CORSRules":[{"AllowedMethods":["GET"],"AllowedOrigins":["https://a.example"]}]}"#,
            None,
        ),
        (
            "PUT from anywhere",
            r#"{"CORSRules":[{"AllowedMethods":["PUT","HEAD"],"AllowedOrigins":["*"]}]}"#,
            None,
        ),
        (
            "an origin pattern is not any origin",
            r#"{"CORSRules":[{"AllowedMethods":["GET"],"AllowedOrigins":["https://*"]}]}"#,
            None,
        ),
        (
            "after unrelated rules",
            r#"{"CORSRules":[{"AllowedMethods":["GET"],"AllowedOrigins":["https://a.example"]},{"AllowedMethods":["PUT"],"AllowedOrigins":["*"]},{"ID":"a2i","AllowedMethods":["GET"],"AllowedOrigins":["*"]}]}"#,
            Some(2),
        ),
    ];
    for (name, text, want) in cases {
        let config = CorsConfiguration::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let d = evaluate_cors(&config);
        match (want, &d.verdict) {
            (Some(i), Verdict::Met { by }) => {
                assert_eq!(by.index, *i, "{name}");
                assert_eq!(by.document, CORS_LABEL, "{name}");
                assert!(d.reason.contains(&by.to_string()), "{name}: {}", d.reason);
            }
            (None, Verdict::NotMet) => {}
            _ => panic!(
                "{name}: expected {want:?}, got {:?} ({})",
                d.verdict, d.reason
            ),
        }
        assert!(d.reason.contains("GET"), "{name}: {}", d.reason);
    }
}

#[test]
fn cors_not_met_reason_names_the_narrower_rule() {
    let config = CorsConfiguration::parse(
        r#"{"CORSRules":[{"ID":"site","AllowedMethods":["GET"],"AllowedOrigins":["https://a.example"]}]}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let d = evaluate_cors(&config);
    assert_eq!(d.verdict, Verdict::NotMet);
    assert!(
        d.reason.contains("rule 0 (`site`)") && d.reason.contains("`https://a.example`"),
        "{}",
        d.reason
    );
}

#[test]
fn a_key_grant_to_the_account_root_is_met_by_the_account_id_or_its_root_arn() {
    let root = format!("arn:aws:iam::{ACCT}:root");
    let req = Requirement::KeyGrant {
        principal_arn: root,
        actions: vec!["kms:Decrypt".into()],
    };
    for principal in [ACCT.to_string(), format!("arn:aws:iam::{ACCT}:root")] {
        let doc = PolicyDocument::parse(&stmts(&[&format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":"kms:*","Resource":"*"}}"#
        )]))
        .unwrap_or_else(|e| panic!("{e}"));
        let d = evaluate(
            &req,
            &[LabeledDocument {
                label: "key policy",
                document: &doc,
            }],
            ACCT,
        );
        assert!(
            matches!(d.verdict, Verdict::Met { .. }),
            "{principal}: {}",
            d.reason
        );
    }
}
