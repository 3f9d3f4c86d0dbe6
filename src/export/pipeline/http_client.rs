//! A small HTTP/1.1 `POST` client over one kept-alive plain-TCP
//! connection, for `http://` endpoints: the request head is built once,
//! the body is written from the caller's buffer, and an attempt in
//! progress can be aborted from another thread (shutdown's deadline cuts
//! a hanging request short instead of waiting for its timeout).
//! `https://` endpoints go through ureq instead.

use super::transport::{FailReason, Outcome};
use crate::sync::{lock, Mutex};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Most response-body bytes kept (partial success, error message).
const MAX_BODY: usize = 64 * 1024;
/// Most response-head bytes accepted.
const MAX_HEAD: usize = 16 * 1024;

/// A response.
#[derive(Debug, Default)]
pub(crate) struct Response {
    pub status: u16,
    pub retry_after: Option<String>,
    pub content_type: Option<String>,
    /// Remote-Write 2.0 `X-Prometheus-Remote-Write-{Samples,Histograms,Exemplars}-Written`.
    pub written: [Option<u64>; 3],
    pub body: Vec<u8>,
}

/// A failed attempt: classification and message.
pub(crate) type Failure = (FailReason, String);

struct Conn {
    r: BufReader<TcpStream>,
}

/// The client; one attempt at a time (the pipeline has one worker).
pub(crate) struct HttpClient {
    authority: String,
    /// `POST … HTTP/1.1` and every fixed header, without Content-Length
    /// and the blank line.
    head: Vec<u8>,
    conn: Mutex<Option<Conn>>,
    /// A clone of the socket in use, for `abort`.
    live: Mutex<Option<TcpStream>>,
    aborted: AtomicBool,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

/// Splits `http://host[:port]/path` into (authority with port, host header,
/// path). `None` for anything else (https, userinfo, no host).
fn parse_http_url(url: &str) -> Option<(String, String, String)> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("HTTP://"))?;
    let (auth, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_owned()),
    };
    if auth.is_empty() || auth.contains('@') {
        return None;
    }
    let has_port = match auth.rfind(':') {
        Some(i) => !auth[i..].contains(']'),
        None => false,
    };
    let with_port = if has_port {
        auth.to_owned()
    } else {
        format!("{auth}:80")
    };
    Some((with_port, auth.to_owned(), path))
}

impl HttpClient {
    /// A client for a plain `http://` URL, sending these headers with
    /// every request (`None` for other URLs).
    pub(crate) fn new(url: &str, headers: &[(&str, &str)]) -> Option<HttpClient> {
        let (authority, host, path) = parse_http_url(url)?;
        let mut head = format!("POST {path} HTTP/1.1\r\nHost: {host}\r\n");
        for (k, v) in headers {
            head.push_str(k);
            head.push_str(": ");
            head.push_str(v);
            head.push_str("\r\n");
        }
        Some(HttpClient {
            authority,
            head: head.into_bytes(),
            conn: Mutex::new(None),
            live: Mutex::new(None),
            aborted: AtomicBool::new(false),
        })
    }

    /// Cuts the attempt in progress (its socket is shut down) and makes
    /// every later attempt fail at once.
    pub(crate) fn abort(&self) {
        self.aborted.store(true, Ordering::SeqCst);
        if let Some(s) = lock(&self.live).as_ref() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// True once [`abort`](Self::abort) was called.
    pub(crate) fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::SeqCst)
    }

    /// The outcome of a [`post`](Self::post) that failed with `class`,
    /// described by `message`: a failure of the request itself
    /// (`FailReason::Other`) is permanent, unless this client was aborted;
    /// timeouts, connection failures and aborts are retryable.
    pub(crate) fn failure_outcome(&self, class: FailReason, message: String) -> Outcome {
        if class == FailReason::Other && !self.is_aborted() {
            Outcome::Permanent {
                reason: class,
                message,
            }
        } else {
            Outcome::Retryable {
                reason: class,
                message,
                retry_after: None,
            }
        }
    }

    /// One `POST` of `body`, within `timeout`.
    pub(crate) fn post(&self, body: &[u8], timeout: Duration) -> Result<Response, Failure> {
        let deadline = Instant::now() + timeout;
        let mut slot = lock(&self.conn);
        // A kept-alive connection the server closed meanwhile fails before
        // any response byte: then try once more on a new connection.
        let reused = slot.is_some();
        match self.once(&mut slot, body, deadline) {
            Ok(r) => Ok(r),
            Err((true, _)) if reused && !self.aborted.load(Ordering::SeqCst) => {
                self.once(&mut slot, body, deadline).map_err(|(_, f)| f)
            }
            Err((_, f)) => Err(f),
        }
    }

    fn connect(&self, deadline: Instant) -> Result<Conn, Failure> {
        let addrs = self
            .authority
            .to_socket_addrs()
            .map_err(|e| (FailReason::Connection, format!("{}: {e}", self.authority)))?;
        let mut last = (
            FailReason::Connection,
            format!("{}: no address", self.authority),
        );
        for a in addrs {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err((FailReason::Timeout, "connect timed out".into()));
            }
            match TcpStream::connect_timeout(&a, left) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    return Ok(Conn {
                        r: BufReader::with_capacity(8 * 1024, s),
                    });
                }
                Err(e) => last = (io_reason(&e), format!("connect to {a}: {e}")),
            }
        }
        Err(last)
    }

    /// One try. The bool of an error says whether it may be retried on a
    /// fresh connection (nothing of a response was received).
    fn once(
        &self,
        slot: &mut Option<Conn>,
        body: &[u8],
        deadline: Instant,
    ) -> Result<Response, (bool, Failure)> {
        if self.aborted.load(Ordering::SeqCst) {
            return Err((false, (FailReason::Other, "aborted by shutdown".into())));
        }
        let mut conn = match slot.take() {
            Some(c) => c,
            None => self.connect(deadline).map_err(|f| (false, f))?,
        };
        *lock(&self.live) = conn.r.get_ref().try_clone().ok();
        if self.aborted.load(Ordering::SeqCst) {
            return Err((false, (FailReason::Other, "aborted by shutdown".into())));
        }
        let res = self.exchange(&mut conn, body, deadline);
        *lock(&self.live) = None;
        match res {
            Ok((resp, keep)) => {
                if keep {
                    *slot = Some(conn);
                }
                Ok(resp)
            }
            Err(e) => {
                let _ = conn.r.get_ref().shutdown(Shutdown::Both);
                Err(e)
            }
        }
    }

    /// One request and its response on `conn`: the request head and body
    /// written, the response head read and parsed, the body read as
    /// framed. `Ok((response, keep_alive))`; an error says whether the
    /// request may be retried on a fresh connection (a kept-alive one the
    /// server closed before answering) and why it failed.
    fn exchange(
        &self,
        conn: &mut Conn,
        body: &[u8],
        deadline: Instant,
    ) -> Result<(Response, bool), ExchangeError> {
        self.send_request(conn, body, deadline)?;
        let head = self.read_head(conn, deadline)?;
        let (mut resp, framing, keep) = parse_head(&head)?;
        let keep = self.read_body(conn, &mut resp, framing, deadline)? && keep;
        Ok((resp, keep))
    }

    /// The failure of an I/O step `what`; `fresh`: nothing of the response
    /// was read yet, so a connection error may be a stale keep-alive
    /// connection (retried on a new one).
    fn io_failure(&self, e: std::io::Error, what: &str, fresh: bool) -> ExchangeError {
        let r = if self.aborted.load(Ordering::SeqCst) {
            FailReason::Other
        } else {
            io_reason(&e)
        };
        (
            fresh && r == FailReason::Connection,
            (r, format!("{what}: {e}")),
        )
    }

    /// Writes the request head (with its `Content-Length`) and `body`.
    fn send_request(
        &self,
        conn: &mut Conn,
        body: &[u8],
        deadline: Instant,
    ) -> Result<(), ExchangeError> {
        let s = conn.r.get_mut();
        s.set_write_timeout(Some(time_left(deadline, "sending")?))
            .map_err(|e| self.io_failure(e, "socket", false))?;
        let mut cl = [0u8; 48];
        let n = {
            let mut w = &mut cl[..];
            let _ = write!(w, "Content-Length: {}\r\n\r\n", body.len());
            48 - w.len()
        };
        let bufs = [
            std::io::IoSlice::new(&self.head),
            std::io::IoSlice::new(&cl[..n]),
        ];
        write_all_vectored(s, &bufs)
            .map_err(|e| self.io_failure(e, "sending the request", true))?;
        s.write_all(body)
            .map_err(|e| self.io_failure(e, "sending the request body", true))
    }

    /// Reads the response head, up to its blank line (at most `MAX_HEAD`
    /// bytes).
    fn read_head(&self, conn: &mut Conn, deadline: Instant) -> Result<Vec<u8>, ExchangeError> {
        let mut head: Vec<u8> = Vec::with_capacity(256);
        loop {
            conn.r
                .get_ref()
                .set_read_timeout(Some(time_left(deadline, "waiting for the response")?))
                .map_err(|e| self.io_failure(e, "socket", false))?;
            let n = conn
                .r
                .read_until(b'\n', &mut head)
                .map_err(|e| self.io_failure(e, "reading the response", head.is_empty()))?;
            if n == 0 {
                return Err((
                    head.is_empty(),
                    (
                        FailReason::Connection,
                        "the server closed the connection without a response".into(),
                    ),
                ));
            }
            if head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
                return Ok(head);
            }
            if head.len() > MAX_HEAD {
                return Err((false, (FailReason::Other, "response head too large".into())));
            }
        }
    }

    /// Reads the body as `framing` says into `resp.body`; false when the
    /// connection cannot be kept (the body ran to its end).
    fn read_body(
        &self,
        conn: &mut Conn,
        resp: &mut Response,
        framing: Framing,
        deadline: Instant,
    ) -> Result<bool, ExchangeError> {
        let rd = |e: std::io::Error| self.io_failure(e, "reading the response body", false);
        conn.r
            .get_ref()
            .set_read_timeout(Some(time_left(deadline, "reading the response body")?))
            .map_err(|e| self.io_failure(e, "socket", false))?;
        match framing {
            Framing::Chunked => read_chunked(&mut conn.r, &mut resp.body).map_err(|e| match e {
                ChunkError::Io(e) => rd(e),
                ChunkError::BadSize => (false, (FailReason::Other, "bad chunk size".to_owned())),
            })?,
            Framing::Length(n) => read_part(&mut conn.r, n, &mut resp.body).map_err(rd)?,
            Framing::Empty => {}
            Framing::ToClose => {
                let mut rest = Vec::new();
                let _ = (&mut conn.r).take(MAX_BODY as u64).read_to_end(&mut rest);
                resp.body = rest;
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// A failed exchange: whether it may be retried on a fresh connection,
/// and the failure.
type ExchangeError = (bool, Failure);

/// How a response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Framing {
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// `Content-Length` bytes.
    Length(usize),
    /// No body (204, 304 without a length).
    Empty,
    /// No length: the body runs to the end of the connection.
    ToClose,
}

/// The time left before `deadline`, or a timeout failure naming `what`.
fn time_left(deadline: Instant, what: &str) -> Result<Duration, ExchangeError> {
    let d = deadline.saturating_duration_since(Instant::now());
    if d.is_zero() {
        Err((false, (FailReason::Timeout, format!("timed out {what}"))))
    } else {
        Ok(d)
    }
}

/// Parses a response head: the response (status and the headers the
/// exporters read), the body's framing, and whether the server keeps the
/// connection (HTTP/1.1 unless `Connection: close`).
fn parse_head(head: &[u8]) -> Result<(Response, Framing, bool), ExchangeError> {
    let mut hdrs = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut hdrs);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => {
            return Err((false, (FailReason::Other, "malformed response head".into())));
        }
    }
    let mut resp = Response {
        status: parsed.code.unwrap_or(0),
        ..Default::default()
    };
    let mut len: Option<usize> = None;
    let mut chunked = false;
    let mut keep = parsed.version == Some(1);
    for h in parsed.headers.iter() {
        let v = std::str::from_utf8(h.value).unwrap_or("").trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            len = v.parse().ok();
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = v.to_ascii_lowercase().contains("chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            if v.eq_ignore_ascii_case("close") {
                keep = false;
            } else if v.eq_ignore_ascii_case("keep-alive") {
                keep = true;
            }
        } else if h.name.eq_ignore_ascii_case("retry-after") {
            resp.retry_after = Some(v.to_owned());
        } else if h.name.eq_ignore_ascii_case("content-type") {
            resp.content_type = Some(v.to_owned());
        } else if let Some(i) = written_header(h.name) {
            resp.written[i] = v.parse().ok();
        }
    }
    let framing = match (chunked, len) {
        (true, _) => Framing::Chunked,
        (false, Some(n)) => Framing::Length(n),
        (false, None) if resp.status == 204 || resp.status == 304 => Framing::Empty,
        (false, None) => Framing::ToClose,
    };
    Ok((resp, framing, keep))
}

/// Why a chunked body could not be read.
enum ChunkError {
    Io(std::io::Error),
    BadSize,
}

impl From<std::io::Error> for ChunkError {
    fn from(e: std::io::Error) -> Self {
        ChunkError::Io(e)
    }
}

/// Reads a chunked body into `out` (each chunk at most up to the body
/// limit, see [`read_part`]), then its trailers up to the blank line.
fn read_chunked(r: &mut impl BufRead, out: &mut Vec<u8>) -> Result<(), ChunkError> {
    loop {
        let mut line = Vec::new();
        r.read_until(b'\n', &mut line)?;
        let size = std::str::from_utf8(&line)
            .ok()
            .and_then(|l| usize::from_str_radix(l.trim().split(';').next()?, 16).ok())
            .ok_or(ChunkError::BadSize)?;
        if size == 0 {
            // Trailers up to the blank line.
            loop {
                line.clear();
                let n = r.read_until(b'\n', &mut line)?;
                if n == 0 || line == b"\r\n" || line == b"\n" {
                    return Ok(());
                }
            }
        }
        read_part(r, size, out)?;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf)?;
    }
}

/// The index in [`Response::written`] of a Remote-Write 2.0 response
/// header.
pub(crate) fn written_header(name: &str) -> Option<usize> {
    const NAMES: [&str; 3] = [
        "x-prometheus-remote-write-samples-written",
        "x-prometheus-remote-write-histograms-written",
        "x-prometheus-remote-write-exemplars-written",
    ];
    NAMES.iter().position(|n| name.eq_ignore_ascii_case(n))
}

/// Reads `n` bytes, keeping at most [`MAX_BODY`] of them in `out`.
fn read_part(r: &mut impl Read, n: usize, out: &mut Vec<u8>) -> std::io::Result<()> {
    let keep = n.min(MAX_BODY.saturating_sub(out.len()));
    let start = out.len();
    out.resize(start + keep, 0);
    r.read_exact(&mut out[start..])?;
    let skip = (n - keep) as u64;
    if skip > 0 {
        let copied = std::io::copy(&mut r.take(skip), &mut std::io::sink())?;
        if copied < skip {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(())
}

fn write_all_vectored(s: &mut TcpStream, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<()> {
    let total: usize = bufs.iter().map(|b| b.len()).sum();
    let mut done = s.write_vectored(bufs)?;
    if done == total {
        return Ok(());
    }
    // Rare: finish piece by piece.
    for b in bufs {
        if done >= b.len() {
            done -= b.len();
            continue;
        }
        s.write_all(&b[done..])?;
        done = 0;
    }
    Ok(())
}

fn io_reason(e: &std::io::Error) -> FailReason {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::TimedOut | K::WouldBlock => FailReason::Timeout,
        _ => FailReason::Connection,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_http_url("http://127.0.0.1:4318/v1/metrics"),
            Some((
                "127.0.0.1:4318".into(),
                "127.0.0.1:4318".into(),
                "/v1/metrics".into()
            ))
        );
        assert_eq!(
            parse_http_url("http://collector"),
            Some(("collector:80".into(), "collector".into(), "/".into()))
        );
        assert_eq!(
            parse_http_url("http://[::1]/x?y"),
            Some(("[::1]:80".into(), "[::1]".into(), "/x?y".into()))
        );
        assert_eq!(parse_http_url("https://c/v1/metrics"), None);
        assert_eq!(parse_http_url("http://u:p@c/"), None);
    }

    #[test]
    fn response_heads_give_status_headers_framing_and_keep_alive() {
        let (r, f, keep) = parse_head(
            b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.status, 503);
        assert_eq!(r.retry_after.as_deref(), Some("7"));
        assert_eq!(r.content_type.as_deref(), Some("text/plain"));
        assert_eq!((f, keep), (Framing::Length(12), true));

        let (_, f, keep) = parse_head(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
        assert_eq!((f, keep), (Framing::Chunked, false));

        let (_, f, keep) = parse_head(b"HTTP/1.0 200 OK\r\n\r\n").unwrap();
        assert_eq!((f, keep), (Framing::ToClose, false));
        let (_, f, keep) =
            parse_head(b"HTTP/1.0 204 No Content\r\nConnection: keep-alive\r\n\r\n").unwrap();
        assert_eq!((f, keep), (Framing::Empty, true));

        let (r, _, _) = parse_head(
            b"HTTP/1.1 204 No Content\r\nX-Prometheus-Remote-Write-Samples-Written: 5\r\nX-Prometheus-Remote-Write-Exemplars-Written: 1\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.written, [Some(5), None, Some(1)]);

        let e = parse_head(b"HTTP/1.1 OK\r\n\r\n").unwrap_err();
        assert_eq!((e.0, e.1 .0), (false, FailReason::Other));
    }

    #[test]
    fn chunked_bodies_are_joined_and_their_trailers_consumed() {
        let mut r = std::io::Cursor::new(
            b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT".to_vec(),
        );
        let mut body = Vec::new();
        assert!(read_chunked(&mut r, &mut body).is_ok());
        assert_eq!(body, b"hello world");
        let mut rest = String::new();
        r.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "NEXT");

        let mut bad = std::io::Cursor::new(b"zz\r\nhello\r\n".to_vec());
        assert!(matches!(
            read_chunked(&mut bad, &mut Vec::new()),
            Err(ChunkError::BadSize)
        ));
        let mut cut = std::io::Cursor::new(b"5\r\nhel".to_vec());
        assert!(matches!(
            read_chunked(&mut cut, &mut Vec::new()),
            Err(ChunkError::Io(_))
        ));
    }
}
