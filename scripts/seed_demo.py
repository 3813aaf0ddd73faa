"""Create a realistically broken A2I setup in a moto server (or any AWS
endpoint the standard AWS_* environment variables point at).

Used by scripts/demo.sh. What is broken, on purpose:
  - input bucket `acme-a2i-input` has a CORS rule already, for an unrelated
    upload page, but none that lets A2I's worker UI GET images (R1);
  - output bucket `acme-a2i-output` exists, nothing else;
  - role `A2IFlowRole` trusts only Lambda (R4) and has an unrelated inline
    policy for its logs, but no S3 access (R2, R3);
  - the KMS key behind `alias/a2i-output` has only the account-root
    statement (R5);
  - caller role `ml-app` has an unrelated managed policy, not A2I's (R6).
The names match plans/kms-output.toml.
"""

import json
import os
import sys

import boto3

ACCOUNT = "123456789012"


def client(service):
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return boto3.client(service, endpoint_url=os.environ.get("AWS_ENDPOINT_URL"), region_name=region)


def main():
    s3 = client("s3")
    iam = client("iam")
    kms = client("kms")

    s3.create_bucket(Bucket="acme-a2i-input")
    s3.put_bucket_cors(
        Bucket="acme-a2i-input",
        CORSConfiguration={
            "CORSRules": [
                {
                    "ID": "web-uploads",
                    "AllowedMethods": ["PUT", "POST"],
                    "AllowedOrigins": ["https://upload.acme.example"],
                    "AllowedHeaders": ["*"],
                    "MaxAgeSeconds": 3000,
                }
            ]
        },
    )
    s3.create_bucket(Bucket="acme-a2i-output")

    lambda_trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(RoleName="A2IFlowRole", AssumeRolePolicyDocument=json.dumps(lambda_trust))
    iam.put_role_policy(
        RoleName="A2IFlowRole",
        PolicyName="write-logs",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                        "Resource": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/acme/*",
                    }
                ],
            }
        ),
    )

    root_only = {
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    key = kms.create_key(Description="A2I output encryption", Policy=json.dumps(root_only))
    key_id = key["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/a2i-output", TargetKeyId=key_id)

    ec2_trust = dict(lambda_trust)
    ec2_trust["Statement"] = [dict(lambda_trust["Statement"][0], Principal={"Service": "ec2.amazonaws.com"})]
    iam.create_role(RoleName="ml-app", AssumeRolePolicyDocument=json.dumps(ec2_trust))
    iam.attach_role_policy(RoleName="ml-app", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")

    print(
        "seeded: buckets acme-a2i-input (unrelated CORS rule) and acme-a2i-output, "
        "role A2IFlowRole (trusts Lambda only), key alias/a2i-output "
        f"({key_id}, root-only policy), caller role ml-app",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
