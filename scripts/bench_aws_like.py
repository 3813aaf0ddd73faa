"""The performance benchmark: a2i-fix against moto made to behave like AWS.

moto answers in a millisecond and never throttles; AWS takes tens of
milliseconds per call and throttles each account per API. This script puts
a loopback proxy between the client and moto that adds a fixed latency to
every request and keeps a token bucket per (access key, operation) at
AWS-like rates, answering exactly as AWS does when a bucket is empty (IAM and
STS `400 Throttling`, S3 `503 SlowDown`, KMS `400 ThrottlingException`).

For each N it seeds N flow definitions (each with its own role holding one
inline policy, two input buckets and one output bucket, one key for every
five flows, three callers), then prints side by side:
- `a2i-fix plan`: wall time, peak memory (RSS), calls by operation, how many
  were throttled, and the time from process start to its first request;
- the same reads made one after another by a plain boto3 script (what a
  user would write by hand);
- the floor: the slowest operation's calls over its rate (token buckets start
  full, so the first second's worth is free), or the critical path of
  dependent round trips times the latency, whichever is longer;
- `a2i-fix apply --yes` from nothing set up, with its own floor.
It measures; it asserts nothing. Run it with scripts/bench.sh.
"""

import argparse
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import boto3
from botocore.config import Config

ACCOUNT = "123456789012"
REGION = "us-east-1"
KEY_ID, SECRET = "testing", "testing"

# Requests per second per account and API (docs/requirements.md, "Speed and
# scale"). IAM's figures are the ones Steampipe's AWS plugin is tuned to
# (AWS does not publish IAM's); KMS publishes 2,000 DescribeKey, 1,000
# GetKeyPolicy and 15 PutKeyPolicy; S3's bucket-configuration APIs allow far
# more than a plan sends (100 here).
RATES = {
    "iam:GetRole": 15,
    "iam:ListRolePolicies": 15,
    "iam:ListAttachedRolePolicies": 15,
    "iam:GetRolePolicy": 15,
    "iam:ListAttachedUserPolicies": 15,
    "iam:ListUserPolicies": 15,
    "iam:GetUserPolicy": 15,
    "iam:GetPolicy": 35,
    "iam:GetPolicyVersion": 35,
    "iam:GetAccountAuthorizationDetails": 2,
    "iam:ListInstanceProfilesForRole": 15,
    "sts:GetCallerIdentity": 100,
    "kms:PutKeyPolicy": 15,
    "kms:DescribeKey": 2000,
    "kms:GetKeyPolicy": 1000,
}
DEFAULT_RATE = {"iam": 15, "sts": 100, "s3": 100, "kms": 100}


def rate_of(op):
    return RATES.get(op, DEFAULT_RATE[op.split(":")[0]])


class Bucket:
    """A token bucket holding up to one second of requests, starting full."""

    def __init__(self, rate):
        self.rate = float(rate)
        self.tokens = float(rate)
        self.at = time.monotonic()
        self.lock = threading.Lock()

    def take(self):
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


def operation(method, path, headers, body):
    target = headers.get("X-Amz-Target")
    if target:
        return "kms:" + target.split(".", 1)[1]
    if method == "POST" and urlsplit(path).path == "/" and body:
        form = parse_qs(body.decode("utf-8", "replace"))
        action = form.get("Action", ["?"])[0]
        service = "sts" if form.get("Version", [""])[0] == "2011-06-15" else "iam"
        return f"{service}:{action}"
    query = urlsplit(path).query
    sub = query.split("&")[0].split("=")[0] if query else ""
    names = {
        ("GET", "cors"): "GetBucketCors",
        ("PUT", "cors"): "PutBucketCors",
        ("GET", "encryption"): "GetBucketEncryption",
        ("GET", "policy"): "GetBucketPolicy",
        ("GET", "tagging"): "GetBucketTagging",
        ("GET", "list-type"): "ListObjectsV2",
    }
    return "s3:" + names.get((method, sub), f"{method}{'?' + sub if sub else ''}")


def throttle_answer(op):
    service = op.split(":")[0]
    rid = "00000000-0000-0000-0000-000000000000"
    if service in ("iam", "sts"):
        ns = ("https://sts.amazonaws.com/doc/2011-06-15/" if service == "sts"
              else "https://iam.amazonaws.com/doc/2010-05-08/")
        body = (f'<ErrorResponse xmlns="{ns}"><Error><Type>Sender</Type><Code>Throttling</Code>'
                f"<Message>Rate exceeded</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>")
        return 400, "text/xml", body
    if service == "s3":
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
                "<Message>Please reduce your request rate.</Message>"
                f"<RequestId>{rid}</RequestId><HostId>bench</HostId></Error>")
        return 503, "application/xml", body
    return 400, "application/x-amz-json-1.1", '{"__type":"ThrottlingException","message":"Rate exceeded"}'


class Proxy:
    """Loopback HTTP proxy in front of moto: latency and token buckets."""

    def __init__(self, upstream_port, latency):
        self.upstream_port = upstream_port
        self.latency = latency
        self.buckets = {}
        self.lock = threading.Lock()
        self.reset()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                # Headers and body go out in separate writes: without this,
                # Nagle's algorithm and delayed ACKs add 40 ms to answers.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def handle_one(self):
                length = int(self.headers.get("Content-Length") or 0)
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    body = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            break
                        body += self.rfile.read(size)
                        self.rfile.readline()
                else:
                    body = self.rfile.read(length) if length else b""
                proxy.serve(self, body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_one

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self):
        with self.lock:
            self.buckets = {}
            self.calls = {}
            self.throttled = {}
            self.first_request = None

    def bucket(self, who, op):
        with self.lock:
            key = (who, op)
            if key not in self.buckets:
                self.buckets[key] = Bucket(rate_of(op))
            return self.buckets[key]

    def serve(self, handler, body):
        op = operation(handler.command, handler.path, handler.headers, body)
        auth = handler.headers.get("Authorization", "")
        m = re.search(r"Credential=([^/]+)/", auth)
        who = m.group(1) if m else "anonymous"
        with self.lock:
            if self.first_request is None:
                self.first_request = time.monotonic()
        time.sleep(self.latency)
        if not self.bucket(who, op).take():
            with self.lock:
                self.throttled[op] = self.throttled.get(op, 0) + 1
            status, ctype, text = throttle_answer(op)
            data = text.encode()
            handler.send_response(status)
            handler.send_header("Content-Type", ctype)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            return
        with self.lock:
            self.calls[op] = self.calls.get(op, 0) + 1
        conn = getattr(handler, "upstream", None)
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=60)
            conn.connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            handler.upstream = conn
        headers = {k: v for k, v in handler.headers.items()
                   if k.lower() not in ("transfer-encoding", "connection", "content-length")}
        headers["Content-Length"] = str(len(body))
        try:
            conn.request(handler.command, handler.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except (http.client.HTTPException, OSError):
            handler.upstream = None
            handler.close_connection = True
            return
        handler.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length", "date", "server"):
                handler.send_header(k, v)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(data)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_moto(moto_server):
    port = free_port()
    env = dict(os.environ, MOTO_IAM_LOAD_MANAGED_POLICIES="true")
    proc = subprocess.Popen([moto_server, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit("error: moto server did not start")


def clients(endpoint):
    cfg = Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 10})
    kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id=KEY_ID,
              aws_secret_access_key=SECRET, config=cfg)
    return {s: boto3.client(s, **kw) for s in ("iam", "s3", "kms", "sts")}


LAMBDA_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
OTHER_INLINE = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "logs:CreateLogGroup", "Resource": "*"}]})


def seed_other_roles(c, m):
    """M roles the spec does not name (each with an inline policy): the rest
    of the account, which GetAccountAuthorizationDetails returns too."""
    for i in range(m):
        role = f"other-{i}"
        c["iam"].create_role(RoleName=role, AssumeRolePolicyDocument=LAMBDA_TRUST)
        c["iam"].put_role_policy(RoleName=role, PolicyName="app", PolicyDocument=OTHER_INLINE)


def seed(c, n):
    """N flows, broken: nothing A2I needs is granted yet. Returns the spec."""
    keys = []
    for k in range((n + 4) // 5):
        keys.append(c["kms"].create_key(Description=f"bench key {k}")["KeyMetadata"]["KeyId"])
    lines = [f'account_id = "{ACCOUNT}"', ""]
    for i in range(n):
        role = f"bench-flow-{i}"
        c["iam"].create_role(RoleName=role, AssumeRolePolicyDocument=LAMBDA_TRUST)
        c["iam"].put_role_policy(RoleName=role, PolicyName="app", PolicyDocument=OTHER_INLINE)
        for b in (f"bench-in-{i}-a", f"bench-in-{i}-b", f"bench-out-{i}"):
            c["s3"].create_bucket(Bucket=b)
        lines += ["[[flow_definition]]", f'name = "flow-{i}"', f'role = "{role}"',
                  f'input_buckets = ["bench-in-{i}-a", "bench-in-{i}-b"]',
                  f'output = "s3://bench-out-{i}/out/"', f'kms_key = "{keys[i // 5]}"', ""]
    for j in range(3):
        c["iam"].create_user(UserName=f"bench-caller-{j}")
        lines += ["[[human_loop_caller]]",
                  f'principal = "arn:aws:iam::{ACCOUNT}:user/bench-caller-{j}"',
                  'uses = ["custom"]', ""]
    return "\n".join(lines)


def sequential_reads(c, n):
    """The plan's reads, one after another, as a hand-written script would."""
    c["sts"].get_caller_identity()
    for i in range(n):
        for b in (f"bench-in-{i}-a", f"bench-in-{i}-b"):
            try:
                c["s3"].get_bucket_cors(Bucket=b)
            except c["s3"].exceptions.ClientError:
                pass
        for b in (f"bench-in-{i}-a", f"bench-in-{i}-b", f"bench-out-{i}"):
            for call in (c["s3"].get_bucket_encryption, c["s3"].get_bucket_policy):
                try:
                    call(Bucket=b)
                except c["s3"].exceptions.ClientError:
                    pass
    seen = set()
    for i in range(n):
        role = f"bench-flow-{i}"
        c["iam"].get_role(RoleName=role)
        for name in c["iam"].list_role_policies(RoleName=role)["PolicyNames"]:
            c["iam"].get_role_policy(RoleName=role, PolicyName=name)
        for p in c["iam"].list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
            if p["PolicyArn"] not in seen:
                seen.add(p["PolicyArn"])
                v = c["iam"].get_policy(PolicyArn=p["PolicyArn"])["Policy"]["DefaultVersionId"]
                c["iam"].get_policy_version(PolicyArn=p["PolicyArn"], VersionId=v)
    for key in c["kms"].list_keys()["Keys"]:
        c["kms"].describe_key(KeyId=key["KeyId"])
        c["kms"].get_key_policy(KeyId=key["KeyId"], PolicyName="default")
    for j in range(3):
        c["iam"].list_attached_user_policies(UserName=f"bench-caller-{j}")


def peak_rss_watcher(pid):
    """Follow a process's own peak memory (VmHWM) until it exits.

    Not wait4's ru_maxrss: Linux carries the high-water mark of the memory
    a process had before exec into it, and a child of this script starts
    as a (v)fork of it, so ru_maxrss reports this script's own memory (tens
    of MiB with boto3 loaded) whenever a2i-fix uses less. VmHWM belongs to
    the memory a2i-fix maps after exec. It is read every 2 ms: growth in
    the last 2 ms before exit can be missed."""
    peak = [0]

    def watch():
        path = f"/proc/{pid}/status"
        while True:
            try:
                with open(path) as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            peak[0] = max(peak[0], int(line.split()[1]))
                            break
                    else:
                        return  # a zombie: its memory is gone
            except OSError:
                return
            time.sleep(0.002)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread, peak


def run_tool(binary, args, env, proxy):
    """Run a2i-fix; its wall time, peak RSS (MiB), start-to-first-request."""
    proxy.reset()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen([binary] + args, env=env, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL)
        watcher, peak = peak_rss_watcher(proc.pid)
        proc.wait()
        wall = time.monotonic() - started
        watcher.join()
        rss = peak[0] / 1024
        first = (proxy.first_request - started) if proxy.first_request else float("nan")
        if proc.returncode not in (0, 2):
            err.seek(0)
            sys.stderr.write(err.read().decode(errors="replace"))
            sys.exit(f"error: a2i-fix {' '.join(args[:1])} exited {proc.returncode}")
    return wall, rss, first, dict(proxy.calls), dict(proxy.throttled)


def floor(calls, latency, depth):
    rate_floor = max((max(0, c - rate_of(op)) / rate_of(op) for op, c in calls.items()), default=0)
    return max(rate_floor, depth * latency)


def startup(binary, spec, env, runs=20):
    best = float("inf")
    for _ in range(runs):
        t = time.monotonic()
        subprocess.run([binary, "validate", "--spec", spec], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True)
        best = min(best, time.monotonic() - t)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--moto-server", required=True)
    ap.add_argument("--sizes", default="10,40,200")
    ap.add_argument("--latency-ms", type=float, default=30)
    ap.add_argument("--no-apply", action="store_true")
    ap.add_argument("--other-roles", type=int, default=0,
                    help="also seed this many roles the spec does not name (a larger account)")
    ap.add_argument("--no-sequential", action="store_true",
                    help="skip the sequential boto3 baseline (it takes minutes at N = 200)")
    ap.add_argument("--tool-args", default="", help="extra flags for a2i-fix (e.g. tuning)")
    args = ap.parse_args()
    latency = args.latency_ms / 1000
    rows = []
    for n in [int(x) for x in args.sizes.split(",")]:
        moto, port = start_moto(args.moto_server)
        try:
            direct = clients(f"http://127.0.0.1:{port}")
            spec_text = seed(direct, n)
            seed_other_roles(direct, args.other_roles)
            proxy = Proxy(port, latency)
            endpoint = f"http://127.0.0.1:{proxy.port}"
            work = tempfile.mkdtemp()
            spec = os.path.join(work, "a2i.toml")
            with open(spec, "w") as f:
                f.write(spec_text)
            env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            env.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID=KEY_ID,
                       AWS_SECRET_ACCESS_KEY=SECRET, AWS_REGION=REGION,
                       AWS_EC2_METADATA_DISABLED="true", NO_COLOR="1",
                       AWS_CONFIG_FILE=os.path.join(work, "none"),
                       AWS_SHARED_CREDENTIALS_FILE=os.path.join(work, "none"))
            extra = args.tool_args.split()
            wall, rss, first, calls, throttled = run_tool(
                args.binary, ["plan", "--spec", spec] + extra, env, proxy)
            seq, seq_throttled = float("nan"), 0
            if not args.no_sequential:
                by_hand = clients(endpoint)
                proxy.reset()
                t = time.monotonic()
                sequential_reads(by_hand, n)
                seq = time.monotonic() - t
                seq_throttled = sum(proxy.throttled.values())
            fl = floor(calls, latency, 3)
            row = dict(n=n, plan=wall, seq=seq, floor=fl, rss=rss, first=first,
                       calls=sum(calls.values()), throttled=sum(throttled.values()),
                       seq_throttled=seq_throttled, by_op=calls, throttled_by_op=throttled,
                       startup=startup(args.binary, spec, env))
            if not args.no_apply:
                backups = os.path.join(work, "backups")
                awall, arss, _, acalls, athrottled = run_tool(
                    args.binary, ["apply", "--yes", "--spec", spec, "--backup-dir", backups] + extra,
                    env, proxy)
                # Dependent round trips: the plan's three, the re-read before
                # writing, five ranks of writes, the verification read.
                row.update(apply=awall, apply_floor=floor(acalls, latency, 10), apply_rss=arss,
                           apply_calls=sum(acalls.values()),
                           apply_throttled=sum(athrottled.values()))
            rows.append(row)
            print(f"N={n}: calls by operation (plan): "
                  + ", ".join(f"{op} {c}" for op, c in sorted(calls.items())), file=sys.stderr)
            if throttled:
                print(f"N={n}: throttled (plan): "
                      + ", ".join(f"{op} {c}" for op, c in sorted(throttled.items())), file=sys.stderr)
        finally:
            moto.kill()
            moto.wait()
    print(f"\nlatency {args.latency_ms:.0f} ms per request; {args.other_roles} other roles in the "
          f"account; a2i-fix flags: {args.tool_args or '(none)'}; times in seconds; memory in MiB\n")
    print("| N | plan | sequential | floor | plan/sequential | plan/floor | calls | throttled (plan / sequential) | peak RSS | start-up (validate) | start to first request |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']} | {r['plan']:.2f} | {r['seq']:.2f} | {r['floor']:.2f} | "
              f"{r['plan'] / r['seq']:.2f}x | {r['plan'] / r['floor']:.2f}x | {r['calls']} | "
              f"{r['throttled']} / {r['seq_throttled']} | {r['rss']:.1f} | "
              f"{r['startup'] * 1000:.1f} ms | {r['first'] * 1000:.1f} ms |")
    if not args.no_apply:
        print("\n| N | apply | floor | apply/floor | calls | throttled | peak RSS |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['n']} | {r['apply']:.2f} | {r['apply_floor']:.2f} | "
                  f"{r['apply'] / r['apply_floor']:.2f}x | {r['apply_calls']} | "
                  f"{r['apply_throttled']} | {r['apply_rss']:.1f} |")


if __name__ == "__main__":
    main()
