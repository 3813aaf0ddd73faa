//! A fake KMS endpoint (awsJson1_1 over plain HTTP on loopback) for what
//! moto cannot do: reject PutKeyPolicy with `MalformedPolicyDocumentException`
//! ("invalid principals") a given number of times, as real KMS does while a
//! new IAM role is not yet visible to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

#[derive(Debug)]
struct Inner {
    policy: String,
    /// PutKeyPolicy calls still to reject.
    rejections_left: u32,
    /// The rejection message.
    message: String,
    put_calls: u32,
}

/// The fake; the server thread stops when the test process ends.
#[derive(Clone)]
pub struct FakeKms {
    inner: Arc<Mutex<Inner>>,
    pub endpoint: String,
}

impl FakeKms {
    /// Start a fake whose key has `policy` and which rejects the first
    /// `rejections` PutKeyPolicy calls with `message`.
    pub fn start(policy: &str, rejections: u32, message: &str) -> FakeKms {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let endpoint = format!("http://{}", listener.local_addr().expect("local address"));
        let inner = Arc::new(Mutex::new(Inner {
            policy: policy.to_string(),
            rejections_left: rejections,
            message: message.to_string(),
            put_calls: 0,
        }));
        let shared = inner.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let shared = shared.clone();
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        FakeKms { inner, endpoint }
    }

    pub fn put_calls(&self) -> u32 {
        self.inner.lock().map(|i| i.put_calls).unwrap_or(0)
    }

    /// Someone else writes the key policy (no rejection for them).
    pub fn set_policy(&self, policy: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.policy = policy.to_string();
        }
    }

    pub fn policy(&self) -> String {
        self.inner
            .lock()
            .map(|i| i.policy.clone())
            .unwrap_or_default()
    }
}

fn serve(stream: std::net::TcpStream, shared: &Mutex<Inner>) {
    let mut reader = BufReader::new(stream.try_clone().expect("cloning the stream"));
    let mut stream = stream;
    loop {
        let mut target = String::new();
        let mut length = 0usize;
        let mut line = String::new();
        // Request line.
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((name, value)) = l.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "x-amz-target" => target = value.trim().to_string(),
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let (status, response) = {
            let mut inner = shared.lock().expect("fake state");
            match target.as_str() {
                "TrentService.GetKeyPolicy" => (
                    200,
                    serde_json::json!({"Policy": inner.policy, "PolicyName": "default"}),
                ),
                "TrentService.PutKeyPolicy" => {
                    inner.put_calls += 1;
                    if inner.rejections_left > 0 {
                        inner.rejections_left -= 1;
                        (
                            400,
                            serde_json::json!({"__type": "MalformedPolicyDocumentException", "message": inner.message}),
                        )
                    } else {
                        inner.policy = request["Policy"].as_str().unwrap_or_default().to_string();
                        (200, serde_json::json!({}))
                    }
                }
                other => (
                    400,
                    serde_json::json!({"__type": "UnsupportedOperationException", "message": format!("fake KMS: {other}")}),
                ),
            }
        };
        let body = response.to_string();
        let reply = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\n\r\n{body}",
            if status == 200 { "OK" } else { "Bad Request" },
            body.len()
        );
        if stream.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}
