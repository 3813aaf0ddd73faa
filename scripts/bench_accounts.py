"""Many accounts in one run: `a2i-fix plan --accounts` through the AWS-like proxy.

An AWS Organization in moto with A accounts (default 50), each with F flow
definitions (default 4: own role with one inline policy, two input buckets,
one output bucket, one key, one caller), each reached by assuming a role.
The proxy of bench_aws_like.py adds the latency and keeps a token bucket per
(access key, operation): each account's assumed credentials have their own
buckets, as each AWS account has its own rate limits.

It prints the whole run's time next to the slowest single account's (the
same binary, `--only NAME`, one account per run, every account measured),
their ratio (goal: at most 1.5x), throttles and peak memory. It measures;
it asserts nothing. Run it with scripts/bench.sh --accounts.
"""

import argparse
import os
import sys
import tempfile
import time

import boto3
from botocore.config import Config

from bench_aws_like import KEY_ID, REGION, SECRET, LAMBDA_TRUST, OTHER_INLINE, Proxy, run_tool, start_moto

FIX_ROLE = "A2IFixRole"


def member_clients(endpoint, base_sts, account_id):
    creds = base_sts.assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/{FIX_ROLE}",
                                 RoleSessionName="bench-seed")["Credentials"]
    cfg = Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 10})
    kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id=creds["AccessKeyId"],
              aws_secret_access_key=creds["SecretAccessKey"],
              aws_session_token=creds["SessionToken"], config=cfg)
    return {s: boto3.client(s, **kw) for s in ("iam", "s3", "kms")}


def seed_member(c, account_id, flows):
    """F broken flows in one member account; returns its spec."""
    key = c["kms"].create_key(Description="bench key")["KeyMetadata"]["KeyId"]
    lines = [f'account_id = "{account_id}"', ""]
    for i in range(flows):
        role = f"bench-flow-{i}"
        c["iam"].create_role(RoleName=role, AssumeRolePolicyDocument=LAMBDA_TRUST)
        c["iam"].put_role_policy(RoleName=role, PolicyName="app", PolicyDocument=OTHER_INLINE)
        buckets = [f"b{account_id}-{i}-in-a", f"b{account_id}-{i}-in-b", f"b{account_id}-{i}-out"]
        for b in buckets:
            c["s3"].create_bucket(Bucket=b)
        lines += ["[[flow_definition]]", f'name = "flow-{i}"', f'role = "{role}"',
                  f'input_buckets = ["{buckets[0]}", "{buckets[1]}"]',
                  f'output = "s3://{buckets[2]}/out/"', f'kms_key = "{key}"', ""]
    c["iam"].create_user(UserName="bench-caller")
    lines += ["[[human_loop_caller]]", f'principal = "arn:aws:iam::{account_id}:user/bench-caller"',
              'uses = ["custom"]', ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--moto-server", required=True)
    ap.add_argument("--accounts", type=int, default=50)
    ap.add_argument("--flows", type=int, default=4)
    ap.add_argument("--latency-ms", type=float, default=30)
    args = ap.parse_args()
    latency = args.latency_ms / 1000
    moto, port = start_moto(args.moto_server)
    try:
        direct = f"http://127.0.0.1:{port}"
        kw = dict(endpoint_url=direct, region_name=REGION, aws_access_key_id=KEY_ID,
                  aws_secret_access_key=SECRET)
        org = boto3.client("organizations", **kw)
        sts = boto3.client("sts", **kw)
        org.create_organization(FeatureSet="ALL")
        work = tempfile.mkdtemp()
        names = []
        lines = ["[defaults]", f'role = "{FIX_ROLE}"', f'regions = ["{REGION}"]', ""]
        for a in range(args.accounts):
            name = f"bench-{a:02d}"
            req = org.create_account(AccountName=name, Email=f"{name}@example.com")
            status = org.describe_create_account_status(
                CreateAccountRequestId=req["CreateAccountStatus"]["Id"])
            account_id = status["CreateAccountStatus"]["AccountId"]
            spec = seed_member(member_clients(direct, sts, account_id), account_id, args.flows)
            with open(os.path.join(work, f"{name}.toml"), "w") as f:
                f.write(spec)
            lines += ["[[account]]", f'account_id = "{account_id}"', f'name = "{name}"',
                      f'spec = "{name}.toml"', ""]
            names.append(name)
        accounts = os.path.join(work, "accounts.toml")
        with open(accounts, "w") as f:
            f.write("\n".join(lines))
        proxy = Proxy(port, latency)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{proxy.port}", AWS_ACCESS_KEY_ID=KEY_ID,
                   AWS_SECRET_ACCESS_KEY=SECRET, AWS_REGION=REGION,
                   AWS_EC2_METADATA_DISABLED="true", NO_COLOR="1",
                   AWS_CONFIG_FILE=os.path.join(work, "none"),
                   AWS_SHARED_CREDENTIALS_FILE=os.path.join(work, "none"))
        cpu_before = os.times()
        whole, rss, _, calls, throttled = run_tool(
            args.binary, ["plan", "--accounts", accounts], env, proxy)
        cpu_after = os.times()
        # The tool's own CPU time (user + system) over the whole run: when it
        # nears wall time x cores, the run is bound by this machine's CPU
        # (moto and the proxy share it), not by AWS's limits.
        cpu = (cpu_after.children_user - cpu_before.children_user
               + cpu_after.children_system - cpu_before.children_system)
        singles = []
        for name in names:
            wall, _, _, _, _ = run_tool(
                args.binary, ["plan", "--accounts", accounts, "--only", name], env, proxy)
            singles.append((wall, name))
        slowest, slowest_name = max(singles)
        median = sorted(w for w, _ in singles)[len(singles) // 2]
        print(f"\n{args.accounts} accounts x {args.flows} flow definitions, latency "
              f"{args.latency_ms:.0f} ms; times in seconds; memory in MiB\n")
        print("| accounts | whole run | slowest single account | median single | whole/slowest | a2i-fix CPU (whole run) | calls | throttled | peak RSS |")
        print("|---|---|---|---|---|---|---|---|---|")
        print(f"| {args.accounts} | {whole:.2f} | {slowest:.2f} ({slowest_name}) | {median:.2f} | "
              f"{whole / slowest:.2f}x | {cpu:.2f} | {sum(calls.values())} | "
              f"{sum(throttled.values())} | {rss:.1f} |")
    finally:
        moto.kill()
        moto.wait()


if __name__ == "__main__":
    main()
