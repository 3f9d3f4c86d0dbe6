//! A small, bounded HTTP/1.1 server for pull endpoints (transport only: it
//! knows bytes, not metrics).
//!
//! Request heads are parsed by `httparse` (hyper's parser); this module
//! only owns the sockets, which is where the limits a scrape endpoint
//! needs live:
//!
//! - every connection has its own thread, at most `max_connections` of
//!   them. When all are taken, a new connection takes the slot of the
//!   connection that has been waiting longest for a request without
//!   sending a byte of one (a fresh connection that sent nothing yet, or
//!   an idle keep-alive one), which is closed; only when every slot is
//!   reading or answering a request does the new connection get `503`.
//!   Sockets that send nothing therefore cannot starve scrapes: each new
//!   connection, a scrape's included, displaces the stalest silent one,
//!   and a scrape sends its request at once, so it is never the stalest.
//!   Threads stay bounded: an evicted connection's thread ends as soon as
//!   its socket is shut down, and at most `2 * max_connections` threads
//!   exist while such threads finish;
//! - the whole request head must arrive within `header_timeout` (a total
//!   deadline, not a per-read one, so a client trickling one byte at a
//!   time is cut off too); an idle keep-alive connection gets the same;
//! - request heads larger than `max_header_bytes` get `431`, malformed
//!   ones `400`, and the connection is closed; request bodies are never
//!   read (a request announcing one is answered and the connection closed);
//! - writes have a timeout, so a client that stops reading cannot hold a
//!   thread either;
//! - `stop` closes the listener and every open connection and joins all
//!   threads;
//! - with TLS (rustls), the handshake runs on the connection's own thread,
//!   never on the accept loop, and shares the request head's deadline:
//!   handshake plus first request head must complete within
//!   `header_timeout`. A connection in its handshake has not sent a byte
//!   of a request, so under pressure its slot goes to a new connection
//!   like any silent one: idle or slow TLS clients cannot starve scrapes
//!   either.
//!
//! tiny_http was considered first: version 0.12 sets no read or write
//! timeout on accepted sockets, buffers header lines without a size limit
//! and does not join its threads, which are exactly the properties this
//! endpoint must guarantee.

use crate::diagnostics::diag_warn;
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Connection limits.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub write_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_requests_per_connection: usize,
}

/// A parsed request head.
#[derive(Debug)]
pub(crate) struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// Values of a header (case-insensitive name), in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first value of a header.
    pub fn header<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.header_values(name).next()
    }
}

/// A response.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A plain-text response.
    pub fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", "text/plain; charset=utf-8".into())],
            body: body.as_bytes().to_vec(),
        }
    }
}

pub(crate) type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

struct Shared {
    stop: AtomicBool,
    conns: Mutex<HashMap<u64, Conn>>,
}

/// An open connection, as the accept loop sees it.
struct Conn {
    stream: TcpStream,
    /// Set while the connection waits for the first byte of a request
    /// (a slot that may be given to a new connection).
    waiting: Arc<AtomicBool>,
    /// When it started waiting.
    since: Arc<Mutex<Instant>>,
}

/// What a connection's thread reports to the accept loop.
struct ConnState {
    waiting: Arc<AtomicBool>,
    since: Arc<Mutex<Instant>>,
}

impl ConnState {
    fn wait_for_request(&self) {
        *lock(&self.since) = Instant::now();
        self.waiting.store(true, Ordering::Release);
    }

    fn request_started(&self) {
        self.waiting.store(false, Ordering::Release);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A connection's byte stream: plain TCP, or TLS over it.
enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => &t.sock,
        }
    }

    /// Ends the stream politely: a TLS `close_notify` (best effort, within
    /// 200 ms: a client that stopped reading already cost one write
    /// timeout).
    fn close(&mut self) {
        if let Stream::Tls(t) = self {
            let _ = t.sock.set_write_timeout(Some(Duration::from_millis(200)));
            t.conn.send_close_notify();
            while t.conn.wants_write() {
                if t.conn.write_tls(&mut t.sock).is_err() {
                    break;
                }
            }
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(t) => t.flush(),
        }
    }
}

/// Runs a TLS server handshake on `tcp`, reading with the time left until
/// `deadline` (one read at a time, so a client trickling handshake bytes is
/// cut off at the deadline too). None when the client goes away, stalls,
/// or fails the handshake (a bad client certificate gets its alert).
fn tls_handshake(
    mut tcp: TcpStream,
    config: &Arc<rustls::ServerConfig>,
    deadline: Instant,
) -> Option<Stream> {
    let mut conn = rustls::ServerConnection::new(config.clone()).ok()?;
    while conn.is_handshaking() {
        while conn.wants_write() {
            conn.write_tls(&mut tcp).ok()?;
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        tcp.set_read_timeout(Some(deadline - now)).ok()?;
        match conn.read_tls(&mut tcp) {
            Ok(0) => return None,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
        if conn.process_new_packets().is_err() {
            let _ = conn.write_tls(&mut tcp);
            return None;
        }
    }
    while conn.wants_write() {
        conn.write_tls(&mut tcp).ok()?;
    }
    Some(Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))))
}

/// A running server. Dropping it stops it.
pub(crate) struct HttpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl HttpServer {
    /// Binds `addr` and starts the accept thread; with `tls`, every
    /// connection speaks TLS.
    pub fn start(
        addr: SocketAddr,
        limits: Limits,
        handler: Handler,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> std::io::Result<HttpServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
        });
        let sh = shared.clone();
        let accept = std::thread::Builder::new()
            .name("fm-http-accept".into())
            .spawn(move || accept_loop(listener, limits, handler, tls, sh))?;
        Ok(HttpServer {
            addr,
            shared,
            accept: Mutex::new(Some(accept)),
        })
    }

    /// The bound address (with the real port when port 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes every connection and joins every thread.
    /// Idempotent.
    pub fn stop(&self) {
        let Some(h) = lock(&self.accept).take() else {
            return;
        };
        self.shared.stop.store(true, Ordering::Release);
        // Wake the blocking accept with a connection to ourselves.
        let ip = match self.addr.ip() {
            IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        match TcpStream::connect_timeout(
            &SocketAddr::new(ip, self.addr.port()),
            Duration::from_secs(2),
        ) {
            Ok(_) => {
                let _ = h.join();
            }
            Err(e) => diag_warn!(
                "http server on {}: cannot wake the accept thread ({e}); leaving it detached",
                self.addr
            ),
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(
    listener: TcpListener,
    limits: Limits,
    handler: Handler,
    tls: Option<Arc<rustls::ServerConfig>>,
    shared: Arc<Shared>,
) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    let mut next_id = 0u64;
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::Acquire) {
            break;
        }
        let stream = match conn {
            Ok(s) => s,
            Err(e) => {
                match e.kind() {
                    ErrorKind::ConnectionAborted
                    | ErrorKind::ConnectionReset
                    | ErrorKind::Interrupted
                    | ErrorKind::WouldBlock => {}
                    // Out of file descriptors and the like: back off.
                    _ => std::thread::sleep(Duration::from_millis(20)),
                }
                continue;
            }
        };
        workers.retain(|h| !h.is_finished());
        let open = lock(&shared.conns).len();
        if open >= limits.max_connections && !evict_stalest_waiting(&shared) {
            reject_busy(stream);
            continue;
        }
        // Evicted connections' threads are ending; never more than twice
        // the limit while they do.
        if workers.len() >= 2 * limits.max_connections {
            reject_busy(stream);
            continue;
        }
        let id = next_id;
        next_id += 1;
        let state = ConnState {
            waiting: Arc::new(AtomicBool::new(true)),
            since: Arc::new(Mutex::new(Instant::now())),
        };
        if let Ok(c) = stream.try_clone() {
            lock(&shared.conns).insert(
                id,
                Conn {
                    stream: c,
                    waiting: state.waiting.clone(),
                    since: state.since.clone(),
                },
            );
        }
        let (lim, h, sh, tls) = (limits.clone(), handler.clone(), shared.clone(), tls.clone());
        let spawned = std::thread::Builder::new()
            .name("fm-http-conn".into())
            .spawn(move || {
                serve(stream, &lim, &h, tls.as_ref(), &sh, &state);
                lock(&sh.conns).remove(&id);
            });
        match spawned {
            Ok(j) => workers.push(j),
            Err(_) => {
                lock(&shared.conns).remove(&id);
            }
        }
    }
    let open: Vec<TcpStream> = lock(&shared.conns).drain().map(|(_, c)| c.stream).collect();
    for s in open {
        let _ = s.shutdown(Shutdown::Both);
    }
    for w in workers {
        let _ = w.join();
    }
}

/// Closes the connection that has waited longest for a request without
/// receiving a byte of one, freeing its slot. False when every
/// connection is reading or answering a request.
fn evict_stalest_waiting(shared: &Shared) -> bool {
    let mut conns = lock(&shared.conns);
    let stalest = conns
        .iter()
        .filter(|(_, c)| c.waiting.load(Ordering::Acquire))
        .min_by_key(|(_, c)| *lock(&c.since))
        .map(|(id, _)| *id);
    let Some(id) = stalest else {
        return false;
    };
    if let Some(c) = conns.remove(&id) {
        // Its thread's read fails now and the thread ends. A request
        // whose first bytes arrived since the check above is cut off: the
        // client sees the connection close before a response, which is
        // what an idle keep-alive connection closed by a server means
        // (HTTP clients retry it on a new connection).
        let _ = c.stream.shutdown(Shutdown::Both);
    }
    true
}

fn reject_busy(mut s: TcpStream) {
    let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
    let _ = s.write_all(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n",
    );
    let _ = s.shutdown(Shutdown::Write);
    // Discard what the client already sent (without waiting), so closing
    // does not turn into a reset that could destroy the 503 in flight.
    if s.set_nonblocking(true).is_ok() {
        let mut sink = [0u8; 4096];
        let _ = s.read(&mut sink);
    }
}

enum HeadError {
    /// Nothing (more) to do: EOF, idle timeout, reset.
    Close,
    /// Answer with this status, then close.
    Status(u16),
}

fn serve(
    tcp: TcpStream,
    limits: &Limits,
    handler: &Handler,
    tls: Option<&Arc<rustls::ServerConfig>>,
    shared: &Shared,
    state: &ConnState,
) {
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_write_timeout(Some(limits.write_timeout));
    // The handshake and the first request head share one deadline.
    let deadline = Instant::now() + limits.header_timeout;
    let mut first_deadline = Some(deadline);
    let mut stream = match tls {
        None => Stream::Plain(tcp),
        Some(config) => match tls_handshake(tcp, config, deadline) {
            Some(s) => s,
            None => return,
        },
    };
    serve_requests(
        &mut stream,
        limits,
        handler,
        shared,
        state,
        &mut first_deadline,
    );
    stream.close();
}

fn serve_requests(
    stream: &mut Stream,
    limits: &Limits,
    handler: &Handler,
    shared: &Shared,
    state: &ConnState,
    first_deadline: &mut Option<Instant>,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut served = 0usize;
    loop {
        let deadline = first_deadline
            .take()
            .unwrap_or_else(|| Instant::now() + limits.header_timeout);
        if buf.is_empty() {
            state.wait_for_request();
        } else {
            state.request_started(); // pipelined: the next request is here
        }
        let (req, consumed, keep_alive, has_body) =
            match read_head(stream, &mut buf, deadline, limits.max_header_bytes, state) {
                Ok(x) => x,
                Err(HeadError::Close) => return,
                Err(HeadError::Status(s)) => {
                    let r = Response::text(s, reason(s));
                    let _ = write_response(stream, &r, false, false);
                    return;
                }
            };
        buf.drain(..consumed);
        served += 1;
        let keep_alive = keep_alive
            && !has_body
            && served < limits.max_requests_per_connection
            && !shared.stop.load(Ordering::Acquire);
        let resp = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(&req)))
            .unwrap_or_else(|_| Response::text(500, "internal error\n"));
        let head_only = req.method == "HEAD";
        if write_response(stream, &resp, head_only, keep_alive).is_err() || !keep_alive {
            return;
        }
    }
}

type Head = (Request, usize, bool, bool);

fn read_head(
    stream: &mut Stream,
    buf: &mut Vec<u8>,
    deadline: Instant,
    max: usize,
    state: &ConnState,
) -> Result<Head, HeadError> {
    let mut chunk = [0u8; 4096];
    loop {
        if !buf.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut r = httparse::Request::new(&mut headers);
            match r.parse(buf) {
                Ok(httparse::Status::Complete(n)) => return Ok(to_request(&r, n)),
                Ok(httparse::Status::Partial) => {
                    if buf.len() >= max {
                        return Err(HeadError::Status(431));
                    }
                }
                Err(httparse::Error::TooManyHeaders) => return Err(HeadError::Status(431)),
                Err(_) => return Err(HeadError::Status(400)),
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(if buf.is_empty() {
                HeadError::Close
            } else {
                HeadError::Status(408)
            });
        }
        if stream.tcp().set_read_timeout(Some(deadline - now)).is_err() {
            return Err(HeadError::Close);
        }
        let want = chunk.len().min(max + 1 - buf.len().min(max));
        match stream.read(&mut chunk[..want]) {
            Ok(0) => return Err(HeadError::Close),
            Ok(n) => {
                state.request_started();
                buf.extend_from_slice(&chunk[..n]);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(if buf.is_empty() {
                    HeadError::Close
                } else {
                    HeadError::Status(408)
                });
            }
            Err(_) => return Err(HeadError::Close),
        }
    }
}

fn to_request(r: &httparse::Request<'_, '_>, consumed: usize) -> Head {
    let target = r.path.unwrap_or("/");
    let path = target.split(['?', '#']).next().unwrap_or("/").to_owned();
    let headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).trim().to_owned(),
            )
        })
        .collect();
    let has = |name: &str, token: &str| {
        headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case(name)
                && v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    };
    let keep_alive = match r.version {
        Some(1) => !has("connection", "close"),
        _ => has("connection", "keep-alive"),
    };
    let has_body = headers.iter().any(|(n, v)| {
        (n.eq_ignore_ascii_case("content-length") && v.trim() != "0")
            || n.eq_ignore_ascii_case("transfer-encoding")
    });
    let req = Request {
        method: r.method.unwrap_or("").to_owned(),
        path,
        headers,
    };
    (req, consumed, keep_alive, has_body)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

fn write_response(
    stream: &mut Stream,
    r: &Response,
    head_only: bool,
    keep_alive: bool,
) -> std::io::Result<()> {
    use std::fmt::Write as _;
    let mut head = String::with_capacity(256);
    let _ = write!(
        head,
        "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: {}\r\n",
        r.status,
        reason(r.status),
        r.body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    for (k, v) in &r.headers {
        let _ = write!(head, "{k}: {v}\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(&r.body)?;
    }
    stream.flush()
}
