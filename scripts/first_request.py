"""Time from process start to a2i-fix's first request, without an emulator.

A socket listens on a loopback port that AWS_ENDPOINT_URL points at
(`http://` or `https://`); the time is from spawning `a2i-fix plan` to
accepting its first connection. The binary is then killed. Prints the
minimum and the median of RUNS runs.

    python3 scripts/first_request.py BINARY http|https SPEC [RUNS]
"""

import os
import socket
import subprocess
import sys
import tempfile
import time


def main():
    binary, scheme, spec = sys.argv[1], sys.argv[2], sys.argv[3]
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 15
    home = tempfile.mkdtemp()
    times = []
    for _ in range(runs):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        port = listener.getsockname()[1]
        env = dict(PATH=os.environ["PATH"], HOME=home,
                   AWS_ENDPOINT_URL=f"{scheme}://127.0.0.1:{port}",
                   AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="y", AWS_REGION="us-east-1",
                   AWS_EC2_METADATA_DISABLED="true", AWS_MAX_ATTEMPTS="1",
                   AWS_CONFIG_FILE=os.path.join(home, "none"),
                   AWS_SHARED_CREDENTIALS_FILE=os.path.join(home, "none"))
        started = time.monotonic()
        proc = subprocess.Popen([binary, "plan", "--spec", spec], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        conn, _ = listener.accept()
        times.append(time.monotonic() - started)
        proc.kill()
        proc.wait()
        conn.close()
        listener.close()
    times.sort()
    print(f"{os.path.basename(binary)} {scheme} {os.path.basename(spec)}: "
          f"min {times[0] * 1000:.1f} ms, median {times[len(times) // 2] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
