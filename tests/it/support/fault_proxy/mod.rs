//! An HTTP proxy in front of moto that injects the faults real AWS answers
//! with, as often as a test asks, from a seed: the binary talks to it
//! through `AWS_ENDPOINT_URL` as it would talk to AWS.
//!
//! Each request is read whole (HTTP/1.1, `Content-Length` or chunked body),
//! its service recognised (IAM and STS: a form-encoded POST with
//! `Action=...`, told apart by the credential scope of the `Authorization`
//! header, `.../iam/aws4_request` or `.../sts/aws4_request`; KMS:
//! `X-Amz-Target: TrentService.*`; S3: anything else, path-style), and then
//! either forwarded to moto (on a fresh connection, with
//! `Connection: close`, the answer relayed with a `Content-Length`) or
//! answered with a fault ([`FaultKind`]):
//!
//! | kind | IAM, STS (query protocol) | S3 (rest-xml) | KMS (json 1.1) |
//! |---|---|---|---|
//! | throttled | `400` `Throttling`, `Rate exceeded` | `503` `SlowDown`, `Please reduce your request rate.` | `400` `ThrottlingException`, `Rate exceeded` |
//! | internal error | `500` `ServiceFailure` (IAM) / `InternalFailure` (STS), or `503` `ServiceUnavailable` | `500` `InternalError`, or `503` `ServiceUnavailable` | `500` `KMSInternalException` |
//! | connection reset | the request is read, then the connection is reset (RST) without a byte of answer | same | same |
//! | lost answer (writes only) | forwarded to moto, moto's answer dropped, an internal error (`500`/`503` as above) sent instead: the write took effect, the client heard a failure | same | same |
//!
//! Writes are IAM `Create*`, `Put*`, `Update*`, `Attach*`, `Detach*`,
//! `Delete*`; KMS `PutKeyPolicy`; S3 `PUT`/`DELETE` of `?cors`.
//!
//! The bodies follow botocore's service models shipped with moto
//! (`botocore/data/{iam,sts,kms,s3}/*/service-2.json.gz`): IAM and STS use
//! the `query` protocol, whose errors are
//! `<ErrorResponse><Error><Type>Sender|Receiver</Type><Code>..</Code><Message>..</Message></Error><RequestId>..</RequestId></ErrorResponse>`
//! (IAM models `ServiceFailure` as HTTP 500; `InternalFailure`,
//! `ServiceUnavailable` and `Throttling` are AWS's common errors, and
//! botocore's `_retry.json` retries `Throttling` on a 400); KMS uses `json`
//! 1.1 (`{"__type":"..","message":".."}` with
//! `Content-Type: application/x-amz-json-1.1`; `KMSInternalException` is
//! modelled as a server fault); S3 uses `rest-xml`, whose errors are
//! `<Error><Code>..</Code><Message>..</Message><RequestId>..</RequestId><HostId>..</HostId></Error>`
//! (S3's errors are not modelled; `SlowDown` on a 503 is S3's documented
//! throttle).
//!
//! **Replay.** Whether a request is faulted is a function of the seed, of
//! the request (method, path and query, body) and of how many identical
//! requests came before it, never of the order in which concurrent
//! requests arrive: a run replays from its seed as long as the binary makes
//! the same calls.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod answers;
pub use answers::s3_slow_down;
use answers::{access_denied, error_answer};

/// The AWS service a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    Iam,
    Sts,
    S3,
    Kms,
}

/// What the proxy did instead of forwarding a request as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    Throttled,
    Internal,
    Reset,
    /// Forwarded, then answered with an internal error.
    LostAnswer,
}

/// How the proxy chooses faults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Faults {
    /// Forward everything.
    Off,
    /// Each request is faulted with probability `rate`: a throttle, an
    /// internal error, a reset, or (for writes) a lost answer.
    Random { rate: f64 },
    /// Every write's answer is lost the first time that exact write is
    /// made (forwarded, then a 500/503); nothing else is faulted.
    LoseEachWriteOnce,
    /// Every request gets `kind` (a lost answer only on writes; reads are
    /// forwarded then).
    Always(FaultKind),
}

/// One injected fault, for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    pub service: Service,
    /// `iam:GetRole`, `kms:PutKeyPolicy`, `s3:PUT /bucket?cors`.
    pub call: String,
    pub kind: FaultKind,
}

struct Shared {
    seed: u64,
    faults: Mutex<Faults>,
    /// How many times each request (by its hash) has been seen.
    seen: Mutex<HashMap<u64, u64>>,
    injected: Mutex<Vec<Injected>>,
    forwarded: Mutex<usize>,
    /// Calls answered `AccessDenied`: (call, form field, value).
    denied: Mutex<Vec<(String, String, String)>>,
    shutdown: AtomicBool,
}

/// The proxy; stops accepting when dropped.
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// A proxy in front of moto at `upstream_port`, faulting with `faults`
    /// from `seed`.
    pub fn start(upstream_port: u16, seed: u64, faults: Faults) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the fault proxy");
        let port = listener.local_addr().expect("proxy address").port();
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let shared = Arc::new(Shared {
            seed,
            faults: Mutex::new(faults),
            seen: Mutex::new(HashMap::new()),
            injected: Mutex::new(Vec::new()),
            forwarded: Mutex::new(0),
            denied: Mutex::new(Vec::new()),
            shutdown: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            while !s.shutdown.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let s = s.clone();
                        std::thread::spawn(move || serve(client, upstream_port, &s));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => return,
                }
            }
        });
        FaultProxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            shared,
        }
    }

    /// Change how faults are chosen from now on, and forget the requests
    /// seen so far (a story replays from its seed whatever ran before it).
    pub fn set(&self, faults: Faults) {
        *lock(&self.shared.faults) = faults;
        lock(&self.shared.seen).clear();
    }

    /// Every fault injected so far, in order.
    pub fn injected(&self) -> Vec<Injected> {
        lock(&self.shared.injected).clone()
    }

    /// How many faults of each kind were injected so far.
    pub fn counts(&self) -> BTreeMap<FaultKind, usize> {
        let mut m = BTreeMap::new();
        for i in lock(&self.shared.injected).iter() {
            *m.entry(i.kind).or_insert(0) += 1;
        }
        m
    }

    /// Answer every IAM or STS `call` (`sts:AssumeRole`) whose form field
    /// `field` is `value` with `403 AccessDenied`, as AWS does when the
    /// caller may not make it (moto allows everything).
    pub fn deny(&self, call: &str, field: &str, value: &str) {
        lock(&self.shared.denied).push((call.into(), field.into(), value.into()));
    }

    /// How many requests reached moto (lost answers included).
    pub fn forwarded(&self) -> usize {
        *lock(&self.shared.forwarded)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------
// Requests.

/// One HTTP request as read from the client.
struct Request {
    method: String,
    target: String,
    /// Header lines as received, without the line ends.
    headers: Vec<(String, String)>,
    /// The body exactly as received (chunked framing kept).
    raw_body: Vec<u8>,
    /// The body decoded.
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn service(&self) -> Service {
        if self
            .header("x-amz-target")
            .is_some_and(|t| t.starts_with("TrentService."))
        {
            return Service::Kms;
        }
        let scope = self.header("authorization").unwrap_or_default();
        let form = self.method == "POST" && form_value(&self.body, "Action").is_some();
        if scope.contains("/sts/aws4_request") {
            Service::Sts
        } else if scope.contains("/iam/aws4_request") || form {
            Service::Iam
        } else {
            Service::S3
        }
    }

    /// The call, as `service:Operation` (S3: `s3:METHOD /path?query`).
    fn call(&self, service: Service) -> String {
        match service {
            Service::Iam | Service::Sts => {
                let prefix = if service == Service::Iam {
                    "iam"
                } else {
                    "sts"
                };
                let action = form_value(&self.body, "Action").unwrap_or_default();
                format!("{prefix}:{action}")
            }
            Service::Kms => {
                let target = self.header("x-amz-target").unwrap_or_default();
                format!(
                    "kms:{}",
                    target.strip_prefix("TrentService.").unwrap_or(target)
                )
            }
            Service::S3 => format!("s3:{} {}", self.method, self.target),
        }
    }

    fn is_write(&self, service: Service, call: &str) -> bool {
        match service {
            Service::Iam => {
                let action = call.trim_start_matches("iam:");
                ["Create", "Put", "Update", "Attach", "Detach", "Delete"]
                    .iter()
                    .any(|p| action.starts_with(p))
            }
            Service::Sts => false,
            Service::Kms => call == "kms:PutKeyPolicy",
            Service::S3 => {
                let query = self.target.split_once('?').map(|(_, q)| q).unwrap_or("");
                matches!(self.method.as_str(), "PUT" | "DELETE")
                    && query
                        .split('&')
                        .any(|p| p == "cors" || p.starts_with("cors="))
            }
        }
    }

    /// A hash of what makes two requests the same call: method, target and
    /// body (never the signature or the date).
    fn identity(&self) -> u64 {
        let mut h = DefaultHasher::new();
        (&self.method, &self.target, &self.body).hash(&mut h);
        h.finish()
    }
}

/// The value of `name` in a form-encoded body.
fn form_value(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// Read one request; `None` when the client closed the connection.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let mut req = Request {
        method,
        target,
        headers,
        raw_body: Vec::new(),
        body: Vec::new(),
    };
    if req
        .header("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        let stream = reader.get_mut();
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").ok()?;
    }
    let chunked = req
        .header("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
    if chunked {
        let (raw, body) = read_chunked(reader)?;
        req.raw_body = raw;
        req.body = body;
    } else if let Some(len) = req.header("content-length") {
        let len: usize = len.parse().ok()?;
        let mut body = vec![0; len];
        reader.read_exact(&mut body).ok()?;
        req.raw_body = body.clone();
        req.body = body;
    }
    Some(req)
}

/// A chunked body: (as received, decoded).
fn read_chunked(reader: &mut impl BufRead) -> Option<(Vec<u8>, Vec<u8>)> {
    let (mut raw, mut body) = (Vec::new(), Vec::new());
    loop {
        let mut size_line = String::new();
        reader.read_line(&mut size_line).ok()?;
        raw.extend_from_slice(size_line.as_bytes());
        let size_hex = size_line.trim().split(';').next()?;
        let size = usize::from_str_radix(size_hex, 16).ok()?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let mut t = String::new();
                reader.read_line(&mut t).ok()?;
                raw.extend_from_slice(t.as_bytes());
                if t.trim().is_empty() {
                    return Some((raw, body));
                }
            }
        }
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).ok()?;
        raw.extend_from_slice(&chunk);
        body.extend_from_slice(&chunk[..size]);
    }
}

// ---------------------------------------------------------------------------
// Serving.

fn serve(client: TcpStream, upstream_port: u16, shared: &Shared) {
    let _ = client.set_nonblocking(false);
    let _ = client.set_read_timeout(Some(Duration::from_millis(200)));
    let Ok(reader_half) = client.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(reader_half);
    let mut client = client;
    loop {
        // Wait for the next request (or the end of the connection), waking
        // up to notice a shutdown.
        match reader.fill_buf() {
            Ok([]) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if shared.shutdown.load(Ordering::SeqCst) {
                    return;
                }
                continue;
            }
            Err(_) => return,
        }
        let _ = reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(30)));
        let Some(req) = read_request(&mut reader) else {
            return;
        };
        let _ = reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(200)));
        let service = req.service();
        let call = req.call(service);
        let write = req.is_write(service, &call);
        if let Some(resource) = denied(shared, &req, &call) {
            let action = call.clone();
            if client
                .write_all(&access_denied(service, &action, &resource))
                .is_err()
            {
                return;
            }
            continue;
        }
        let fault = choose(shared, &req, write);
        if let Some(kind) = fault {
            lock(&shared.injected).push(Injected {
                service,
                call: call.clone(),
                kind,
            });
        }
        let answer = match fault {
            None => forward(&req, upstream_port, shared),
            Some(FaultKind::Reset) => {
                reset(&client);
                return;
            }
            Some(FaultKind::LostAnswer) => {
                // The write reaches moto; its answer is dropped.
                let _ = forward(&req, upstream_port, shared);
                Some(error_answer(
                    service,
                    FaultKind::Internal,
                    &req,
                    shared.seed,
                ))
            }
            Some(kind) => Some(error_answer(service, kind, &req, shared.seed)),
        };
        let Some(answer) = answer else {
            reset(&client);
            return;
        };
        if client.write_all(&answer).is_err() {
            return;
        }
    }
}

/// Close `stream` with a reset (RST) instead of an orderly close.
/// (The linger of zero makes the close, when the last handle drops, an RST.)
fn reset(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
}

/// The value of the denied field when this request is denied.
fn denied(shared: &Shared, req: &Request, call: &str) -> Option<String> {
    lock(&shared.denied).iter().find_map(|(c, field, value)| {
        let got = form_value(&req.body, field)?;
        let got = percent_encoding::percent_decode_str(&got.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned();
        (c == call && &got == value).then_some(got)
    })
}

/// The fault for this request, if any.
fn choose(shared: &Shared, req: &Request, write: bool) -> Option<FaultKind> {
    let faults = *lock(&shared.faults);
    let identity = req.identity();
    let occurrence = {
        let mut seen = lock(&shared.seen);
        let n = seen.entry(identity).or_insert(0);
        *n += 1;
        *n
    };
    match faults {
        Faults::Off => None,
        Faults::LoseEachWriteOnce => (write && occurrence == 1).then_some(FaultKind::LostAnswer),
        Faults::Always(FaultKind::LostAnswer) => write.then_some(FaultKind::LostAnswer),
        Faults::Always(kind) => Some(kind),
        Faults::Random { rate } => {
            let mut rng = Rng::new(shared.seed ^ identity.rotate_left(17) ^ occurrence);
            if rng.unit() >= rate {
                return None;
            }
            // Throttles are the rarer kind: IAM's adaptive retry mode slows
            // the whole client down after one, which tests pay in seconds.
            let roll = rng.unit();
            Some(if roll < 0.15 {
                FaultKind::Throttled
            } else if roll < 0.55 {
                FaultKind::Internal
            } else if roll < 0.8 || !write {
                FaultKind::Reset
            } else {
                FaultKind::LostAnswer
            })
        }
    }
}

/// Forward `req` to moto and return the answer to relay; `None` when moto
/// could not be reached or answered nothing.
fn forward(req: &Request, upstream_port: u16, shared: &Shared) -> Option<Vec<u8>> {
    let mut upstream = TcpStream::connect(("127.0.0.1", upstream_port)).ok()?;
    let _ = upstream.set_read_timeout(Some(Duration::from_secs(60)));
    let mut head = format!("{} {} HTTP/1.1\r\n", req.method, req.target);
    for (k, v) in &req.headers {
        let k_lower = k.to_ascii_lowercase();
        if k_lower == "connection" || k_lower == "expect" || k_lower == "keep-alive" {
            continue;
        }
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    upstream.write_all(head.as_bytes()).ok()?;
    upstream.write_all(&req.raw_body).ok()?;
    let mut bytes = Vec::new();
    upstream.read_to_end(&mut bytes).ok()?;
    *lock(&shared.forwarded) += 1;
    relay(&bytes, req.method == "HEAD")
}

/// Moto's answer, re-framed with a `Content-Length` for a kept-alive
/// client connection.
fn relay(bytes: &[u8], head_only: bool) -> Option<Vec<u8>> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..end]).ok()?;
    let mut body = bytes[end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines.next()?;
    let mut out = format!("{status}\r\n");
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let (k, v) = line.split_once(':')?;
        match k.trim().to_ascii_lowercase().as_str() {
            "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
            "content-length" => length = v.trim().parse::<usize>().ok(),
            "connection" | "keep-alive" => {}
            _ => out.push_str(&format!("{line}\r\n")),
        }
    }
    if head_only {
        out.push_str(&format!("Content-Length: {}\r\n\r\n", length.unwrap_or(0)));
        return Some(out.into_bytes());
    }
    if chunked {
        body = read_chunked(&mut &body[..])?.1;
    } else if let Some(len) = length {
        body.truncate(len);
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut answer = out.into_bytes();
    answer.extend_from_slice(&body);
    Some(answer)
}

/// SplitMix64: small, seedable, good enough to spread faults.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}
