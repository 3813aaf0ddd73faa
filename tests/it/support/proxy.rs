//! A TCP proxy in front of moto that holds requests, to freeze the binary
//! at a chosen moment (a hung AWS endpoint, as the binary sees it).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// A TCP proxy in front of moto that forwards every request until `hold`
/// returns true; from then on each new request (or chunk of one) is held
/// until [`HoldingProxy::release`]: the binary waits on it as on a hung AWS
/// endpoint. It never changes bytes.
pub struct HoldingProxy {
    pub endpoint: String,
    held: Arc<AtomicUsize>,
    flags: Flags,
}

/// `shutdown`: stop everything; `released`: forward what is held, and hold
/// nothing more.
#[derive(Clone)]
struct Flags {
    shutdown: Arc<AtomicBool>,
    released: Arc<AtomicBool>,
}

type Hold = Arc<dyn Fn() -> bool + Send + Sync>;

impl HoldingProxy {
    pub fn start(upstream_port: u16, hold: Hold) -> HoldingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let held = Arc::new(AtomicUsize::new(0));
        let flags = Flags {
            shutdown: Arc::new(AtomicBool::new(false)),
            released: Arc::new(AtomicBool::new(false)),
        };
        let (h, f) = (held.clone(), flags.clone());
        std::thread::spawn(move || {
            while !f.shutdown.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let (hold, h, f) = (hold.clone(), h.clone(), f.clone());
                        std::thread::spawn(move || serve(client, upstream_port, hold, h, f));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => return,
                }
            }
        });
        HoldingProxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            held,
            flags,
        }
    }

    /// How many requests have been held.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    /// Forward what is held and everything after it.
    pub fn release(&self) {
        self.flags.released.store(true, Ordering::SeqCst);
    }
}

impl Drop for HoldingProxy {
    fn drop(&mut self) {
        self.flags.shutdown.store(true, Ordering::SeqCst);
    }
}

fn serve(client: TcpStream, upstream_port: u16, hold: Hold, held: Arc<AtomicUsize>, flags: Flags) {
    let _ = client.set_nonblocking(false);
    let Ok(upstream) = TcpStream::connect(("127.0.0.1", upstream_port)) else {
        return;
    };
    let (Ok(client_in), Ok(upstream_in)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let f = flags.clone();
    std::thread::spawn(move || pump(upstream_in, client, &f, None));
    pump(client_in, upstream, &flags, Some((&*hold, &held)));
}

fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    flags: &Flags,
    hold: Option<(&(dyn Fn() -> bool + Send + Sync), &AtomicUsize)>,
) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = [0u8; 16 * 1024];
    while !flags.shutdown.load(Ordering::SeqCst) {
        match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                if let Some((hold, held)) = hold
                    && !flags.released.load(Ordering::SeqCst)
                    && hold()
                {
                    held.fetch_add(1, Ordering::SeqCst);
                    while !flags.released.load(Ordering::SeqCst) {
                        if flags.shutdown.load(Ordering::SeqCst) {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
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
