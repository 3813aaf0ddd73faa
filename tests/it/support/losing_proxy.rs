//! A TCP proxy in front of moto that loses the answer to one chosen
//! request: the request is forwarded and takes effect, but the client
//! never hears moto's answer. What a connection reset after the request was
//! sent looks like to the SDK, which then retries the call.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// Which requests lose their answer: called with the whole request (head
/// and body).
pub type Chooser = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// Requests of the AWS query protocol (IAM, STS) for `action`:
/// `Action=CreateRole&...` in the form body.
pub fn query_action(action: &str) -> Chooser {
    let field = format!("Action={action}");
    Arc::new(move |request: &[u8]| {
        let text = String::from_utf8_lossy(request);
        let Some((_, body)) = text.split_once("\r\n\r\n") else {
            return false;
        };
        body.split('&').any(|f| f == field)
    })
}

/// The requests a2i-fix writes with (IAM query actions, S3 PutBucketCors,
/// KMS PutKeyPolicy), numbered from 1 in the order they reach the proxy:
/// picks the `n`th write and every write after it.
pub fn from_nth_write(n: usize) -> Chooser {
    let seen = Arc::new(AtomicUsize::new(0));
    Arc::new(move |request: &[u8]| {
        let text = String::from_utf8_lossy(request);
        let iam = [
            "CreateRole",
            "PutRolePolicy",
            "UpdateAssumeRolePolicy",
            "AttachRolePolicy",
            "AttachUserPolicy",
        ]
        .iter()
        .any(|a| query_action(a)(request));
        let kms = text.contains("TrentService.PutKeyPolicy");
        if iam || kms || s3_put_cors()(request) {
            seen.fetch_add(1, Ordering::SeqCst) + 1 >= n
        } else {
            false
        }
    })
}

/// S3 PutBucketCors requests: `PUT /BUCKET?cors` (path-style).
pub fn s3_put_cors() -> Chooser {
    Arc::new(|request: &[u8]| {
        let text = String::from_utf8_lossy(request);
        let line = text.lines().next().unwrap_or_default();
        line.starts_with("PUT ") && line.split(' ').nth(1).is_some_and(|p| p.ends_with("?cors"))
    })
}

/// What the client gets instead of moto's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// The connection is closed as moto starts answering.
    Close,
    /// An empty HTTP answer with this (5xx) status, then the connection is
    /// closed.
    Status(u16),
    /// The request is forwarded and takes effect; its answer is held for
    /// good (the client waits, as for a hung AWS, until it is killed).
    HoldAnswer,
    /// The request is held for good and never reaches moto.
    HoldRequest,
}

/// A TCP proxy in front of moto that forwards everything, except that the
/// first `times` requests `choose` picks lose their answer (see [`Loss`]).
/// Loopback only; it never changes the bytes it forwards.
pub struct LosingProxy {
    pub endpoint: String,
    lost: Arc<AtomicUsize>,
    held: Arc<AtomicUsize>,
    shutdown: Arc<AtomicBool>,
}

/// What a chosen request meets once `times` answers were lost.
#[derive(Clone)]
enum After {
    /// It is forwarded, like any other.
    Forward,
    /// It never reaches moto: the client gets this answer instead.
    Refuse(Arc<[u8]>),
    /// It never reaches moto and is never answered.
    Hold,
}

#[derive(Clone)]
struct Shared {
    choose: Chooser,
    loss: Loss,
    times: usize,
    /// What happens to chosen requests once `times` answers were lost.
    after: After,
    lost: Arc<AtomicUsize>,
    /// How many requests or answers are being held ([`Loss::HoldAnswer`],
    /// [`Loss::HoldRequest`]).
    held: Arc<AtomicUsize>,
    shutdown: Arc<AtomicBool>,
}

impl LosingProxy {
    pub fn start(upstream_port: u16, choose: Chooser, loss: Loss, times: usize) -> LosingProxy {
        LosingProxy::start_with(upstream_port, choose, loss, times, After::Forward)
    }

    /// The first chosen request meets `loss`; every later chosen request is
    /// held for good without reaching moto, so nothing chosen after the
    /// first can take effect.
    pub fn start_then_holding(upstream_port: u16, choose: Chooser, loss: Loss) -> LosingProxy {
        LosingProxy::start_with(upstream_port, choose, loss, 1, After::Hold)
    }

    /// Like [`LosingProxy::start`], then every later chosen request is
    /// answered with `refusal` (a whole HTTP answer, e.g. a throttle)
    /// without reaching moto: the first attempt took effect, the retries
    /// all fail, and the SDK gives up.
    pub fn start_then_refusing(
        upstream_port: u16,
        choose: Chooser,
        times: usize,
        refusal: Vec<u8>,
    ) -> LosingProxy {
        LosingProxy::start_with(
            upstream_port,
            choose,
            Loss::Close,
            times,
            After::Refuse(refusal.into()),
        )
    }

    fn start_with(
        upstream_port: u16,
        choose: Chooser,
        loss: Loss,
        times: usize,
        after: After,
    ) -> LosingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let shared = Shared {
            choose,
            loss,
            times,
            after,
            lost: Arc::new(AtomicUsize::new(0)),
            held: Arc::new(AtomicUsize::new(0)),
            shutdown: Arc::new(AtomicBool::new(false)),
        };
        let proxy = LosingProxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            lost: shared.lost.clone(),
            held: shared.held.clone(),
            shutdown: shared.shutdown.clone(),
        };
        std::thread::spawn(move || {
            while !shared.shutdown.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let shared = shared.clone();
                        std::thread::spawn(move || serve(client, upstream_port, &shared));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => return,
                }
            }
        });
        proxy
    }

    /// How many answers have been lost so far.
    pub fn lost(&self) -> usize {
        self.lost.load(Ordering::SeqCst)
    }

    /// How many requests (or answers) are being held: with
    /// [`Loss::HoldAnswer`], one means the chosen write took effect in moto
    /// and the client is waiting for its answer.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }
}

impl Drop for LosingProxy {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::SeqCst);
    }
}

/// One client connection: requests go up one by one (the SDK does not
/// pipeline), answers come back as they are. When a chosen request has
/// been sent up, the next bytes from moto are its answer: they are dropped.
fn serve(client: TcpStream, upstream_port: u16, shared: &Shared) {
    let _ = client.set_nonblocking(false);
    let Ok(upstream) = TcpStream::connect(("127.0.0.1", upstream_port)) else {
        return;
    };
    let (Ok(client_in), Ok(upstream_in)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let losing = Arc::new(AtomicBool::new(false));
    let (l, s) = (losing.clone(), shared.clone());
    std::thread::spawn(move || answers(upstream_in, client, &l, &s));
    requests(client_in, upstream, &losing, shared);
}

fn requests(mut from: TcpStream, mut to: TcpStream, losing: &AtomicBool, shared: &Shared) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = Vec::new();
    loop {
        let Some(length) = whole_request(&mut from, &mut buf, &shared.shutdown) else {
            let _ = to.shutdown(Shutdown::Write);
            return;
        };
        let request: Vec<u8> = buf.drain(..length).collect();
        let chosen = (shared.choose)(&request);
        if chosen && shared.lost.load(Ordering::SeqCst) >= shared.times {
            match &shared.after {
                After::Forward => {}
                After::Refuse(refusal) => {
                    if from.write_all(refusal).is_err() {
                        return;
                    }
                    continue;
                }
                After::Hold => {
                    hold_until_shutdown(shared);
                    return;
                }
            }
        }
        if chosen
            && shared
                .lost
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    (n < shared.times).then_some(n + 1)
                })
                .is_ok()
        {
            if shared.loss == Loss::HoldRequest {
                shared.held.fetch_add(1, Ordering::SeqCst);
                hold_until_shutdown(shared);
                return;
            }
            losing.store(true, Ordering::SeqCst);
        }
        if to.write_all(&request).is_err() {
            return;
        }
    }
}

fn answers(mut from: TcpStream, mut to: TcpStream, losing: &AtomicBool, shared: &Shared) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = [0u8; 16 * 1024];
    while !shared.shutdown.load(Ordering::SeqCst) {
        match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                if losing.load(Ordering::SeqCst) {
                    // moto has done the work and started answering.
                    if shared.loss == Loss::HoldAnswer {
                        shared.held.fetch_add(1, Ordering::SeqCst);
                        hold_until_shutdown(shared);
                        return;
                    }
                    if let Loss::Status(code) = shared.loss {
                        let answer = format!(
                            "HTTP/1.1 {code} Lost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        );
                        let _ = to.write_all(answer.as_bytes());
                    }
                    let _ = to.shutdown(Shutdown::Both);
                    let _ = from.shutdown(Shutdown::Both);
                    return;
                }
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

fn hold_until_shutdown(shared: &Shared) {
    while !shared.shutdown.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Read from `from` into `buf` until it holds one whole request; its length.
/// `None` when the client is gone (or the proxy shuts down) first.
fn whole_request(from: &mut TcpStream, buf: &mut Vec<u8>, shutdown: &AtomicBool) -> Option<usize> {
    loop {
        if let Some(length) = request_length(buf) {
            return Some(length);
        }
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if shutdown.load(Ordering::SeqCst) {
                return None;
            }
            match from.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    break;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return None,
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The length of the first request in `buf`, when it is all there: its head,
/// then a body of `Content-Length` bytes or chunked.
fn request_length(buf: &[u8]) -> Option<usize> {
    let head_end = find(buf, b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            (n.trim() == name).then(|| v.trim().to_string())
        })
    };
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        return chunked_length(&buf[head_end..]).map(|n| head_end + n);
    }
    let body = header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    (buf.len() >= head_end + body).then_some(head_end + body)
}

/// The length of a chunked body at the start of `data`, when it is all there.
fn chunked_length(data: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let line_end = at + find(&data[at..], b"\r\n")?;
        let size_text = std::str::from_utf8(&data[at..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        at = line_end + 2;
        if size == 0 {
            // Trailers, up to an empty line.
            loop {
                let end = at + find(&data[at..], b"\r\n")?;
                let empty = end == at;
                at = end + 2;
                if empty {
                    return Some(at);
                }
            }
        }
        at += size + 2;
        if data.len() < at {
            return None;
        }
    }
}
