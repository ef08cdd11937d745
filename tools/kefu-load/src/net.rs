//! Client-side links to a kefu server, the same for every transport.
//!
//! Owns: opening TCP connections from a rotating set of loopback source addresses, the
//! WebSocket client (small buffers), the small keep-alive HTTP/1.1 client of the
//! long-poll and JSONP links (hand-written: it is on the measured path, see
//! `HttpConn`), and [`Link`]:
//! one open WebSocket, long-poll channel or JSONP channel, with frames coming down an
//! mpsc queue fed by a reader task (decoded into [`Frame`]s) and frames going up through
//! [`Link::send`] (the protocol's own `ClientFrame`s). Knows the framing of
//! `docs/protocol.md` §6, not what frames mean.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{SplitSink, StreamExt};
use futures_util::SinkExt;
use kefu::protocol::ClientFrame;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::frames::Frame;

/// A transport, as named in `docs/protocol.md` §6.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tr {
    Ws,
    Lp,
    Jsonp,
}

impl Tr {
    pub fn parse(s: &str) -> Option<Tr> {
        match s {
            "ws" => Some(Tr::Ws),
            "lp" => Some(Tr::Lp),
            "jsonp" => Some(Tr::Jsonp),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Tr::Ws => "ws",
            Tr::Lp => "lp",
            Tr::Jsonp => "jsonp",
        }
    }
}

/// Where to connect, and from which source addresses.
pub struct Target {
    /// The server; with a router, the node it last named.
    addr: std::sync::Mutex<SocketAddr>,
    /// Ask this router which node serves this site before each link (`/v1/route`).
    router: Option<(Arc<Target>, String)>,
    sources: Vec<IpAddr>,
    next: AtomicUsize,
    /// How long a request may take past the server's poll timeout before the link is
    /// taken for dead.
    pub request_timeout: Duration,
}

impl Target {
    /// `addr` and every source must be loopback.
    pub fn new(
        addr: SocketAddr,
        sources: Vec<IpAddr>,
        request_timeout: Duration,
    ) -> Result<Arc<Target>, String> {
        if !addr.ip().is_loopback() {
            return Err(format!("{addr} is not a loopback address; refusing"));
        }
        if let Some(s) = sources.iter().find(|s| !s.is_loopback()) {
            return Err(format!("source {s} is not a loopback address; refusing"));
        }
        Ok(Arc::new(Target {
            addr: std::sync::Mutex::new(addr),
            router: None,
            sources,
            next: AtomicUsize::new(0),
            request_timeout,
        }))
    }

    /// Clients of `site` on a cluster: before each link, ask `router` (any node, or a
    /// routing server) which node serves the site, and connect there.
    pub fn routed(
        router: SocketAddr,
        site: &str,
        sources: Vec<IpAddr>,
        request_timeout: Duration,
    ) -> Result<Arc<Target>, String> {
        let r = Target::new(router, Vec::new(), request_timeout)?;
        Ok(Arc::new(Target {
            addr: std::sync::Mutex::new(router),
            router: Some((r, site.to_string())),
            sources,
            next: AtomicUsize::new(0),
            request_timeout,
        }))
    }

    /// Where links go now.
    pub fn addr(&self) -> SocketAddr {
        *self.addr.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// With a router: ask it which node serves the site now, and go there. A router that
    /// does not answer leaves the address as it was.
    pub async fn reroute(&self) {
        let Some((router, site)) = &self.router else {
            return;
        };
        let mut c = crate::http::Conn::new(router.clone());
        let path = format!("/v1/route?site={site}");
        let Ok((200, body)) = c
            .request("GET", &path, &[], "", Duration::from_secs(3))
            .await
        else {
            return;
        };
        let url = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["url"].as_str().map(str::to_string));
        if let Some(a) = url.and_then(|u| u.strip_prefix("http://")?.parse::<SocketAddr>().ok()) {
            if a.ip().is_loopback() {
                *self.addr.lock().unwrap_or_else(|p| p.into_inner()) = a;
            }
        }
    }

    /// A TCP connection, bound to the next source address in turn.
    pub async fn tcp(&self) -> io::Result<TcpStream> {
        let addr = self.addr();
        let sock = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if !self.sources.is_empty() {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % self.sources.len();
            sock.bind(SocketAddr::new(self.sources[i], 0))?;
        }
        let s = tokio::time::timeout(Duration::from_secs(10), sock.connect(addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        s.set_nodelay(true)?;
        Ok(s)
    }
}

/// Small client buffers: 4 KiB read buffer, no write buffer, bounded pending writes.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(64 * 1024)
        .max_message_size(Some(1 << 20))
}

pub type Ws = WebSocketStream<TcpStream>;

/// A WebSocket to `path` on the target.
pub async fn ws_connect(t: &Target, path: &str) -> io::Result<Ws> {
    let tcp = t.tcp().await?;
    let url = format!("ws://{}{}", t.addr(), path);
    let fut = tokio_tungstenite::client_async_with_config(url, tcp, Some(ws_config()));
    match tokio::time::timeout(Duration::from_secs(10), fut).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(e)) => Err(io::Error::other(e.to_string())),
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "handshake")),
    }
}

/// One keep-alive HTTP/1.1 connection, reopened when it breaks: the client of the
/// long-poll and JSONP links only (every other request goes through hyper's client,
/// `crate::http`).
///
/// Hand-written because it is on the measured path: every poll and send of the
/// HTTP-transport benchmarks goes through it, and `polls` parks up to 19,000 polls in one
/// process on the same two cores as the server. Measured against hyper's
/// `client::conn::http1` in its place (release builds, same server): 3,000 parked polls
/// held 48 MB of tool RSS with this client and 87 MB with hyper's (about 13 KB more per
/// poll: a connection task and hyper's buffers); a 60-visitor long-poll `throughput` run
/// of 120,000 messages cost the tool 1.4–1.5 s of user CPU with it and 1.5–1.9 s with
/// hyper's. It reads only what kefu answers: a status line, headers with
/// `content-length`, a body.
struct HttpConn {
    target: Arc<Target>,
    stream: Option<BufReader<TcpStream>>,
}

impl HttpConn {
    fn new(target: Arc<Target>) -> HttpConn {
        HttpConn {
            target,
            stream: None,
        }
    }

    /// Close the connection (the next request opens a new one).
    fn close(&mut self) {
        self.stream = None;
    }

    /// One request; any failure drops the connection and is returned.
    async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
        timeout: Duration,
    ) -> io::Result<(u16, String)> {
        let r = tokio::time::timeout(timeout, self.request_inner(method, path, headers, body))
            .await
            .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "request")));
        if r.is_err() {
            self.stream = None;
        }
        r
    }

    async fn request_inner(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> io::Result<(u16, String)> {
        if self.stream.is_none() {
            self.stream = Some(BufReader::with_capacity(4096, self.target.tcp().await?));
        }
        let s = self.stream.as_mut().expect("just set");
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\ncontent-length: {}\r\n",
            self.target.addr(),
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.get_mut().write_all(req.as_bytes()).await?;
        let mut line = String::new();
        s.read_line(&mut line).await?;
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|x| x.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
        let (mut len, mut close) = (None, false);
        loop {
            line.clear();
            if s.read_line(&mut line).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let lower = l.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                len = v.trim().parse::<usize>().ok();
            } else if lower.starts_with("connection:") && lower.contains("close") {
                close = true;
            }
        }
        let len = len.ok_or_else(|| io::Error::other("response without content-length"))?;
        let mut buf = vec![0u8; len];
        s.read_exact(&mut buf).await?;
        if close {
            self.stream = None;
        }
        Ok((status, String::from_utf8_lossy(&buf).into_owned()))
    }
}

/// Percent-encode a query value.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `/**/cb(…);` → the JSON text inside.
fn unwrap_jsonp(body: &str) -> io::Result<&str> {
    body.strip_prefix("/**/cb(")
        .and_then(|b| b.strip_suffix(");"))
        .ok_or_else(|| io::Error::other(format!("not a JSONP answer: {body:.80}")))
}

/// The answer to a channel's `open` (`docs/protocol.md` §6.1).
#[derive(Deserialize)]
struct Opened {
    chan: String,
}

/// The answer to a poll: frames numbered from `from` (0: not numbered, e.g. a `bye` for
/// an unknown channel). Each frame is decoded on its own.
#[derive(Deserialize)]
struct Polled<'a> {
    #[serde(default)]
    from: u64,
    #[serde(borrow, default)]
    frames: Vec<&'a RawValue>,
}

fn json<'a, T: Deserialize<'a>>(text: &'a str) -> io::Result<T> {
    serde_json::from_str(text).map_err(io::Error::other)
}

/// A client frame encoded once: its JSON text, and its cid (a message's, which names its
/// parts when it goes over JSONP in pieces).
#[derive(Debug, Clone)]
pub struct Encoded {
    text: String,
    cid: Option<String>,
}

impl Encoded {
    pub fn new(f: &ClientFrame) -> Encoded {
        Encoded {
            // Client frames hold no maps with non-string keys and no floats.
            text: serde_json::to_string(f).expect("client frames always serialize"),
            cid: f.cid().map(str::to_string),
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

/// What comes down a link.
#[derive(Debug)]
pub enum Down {
    /// A frame, and when it arrived: latencies are measured to its arrival, not to when
    /// the peer got round to it (a peer busy sending a long JSONP message in parts reads
    /// its link late).
    Frame(Frame, tokio::time::Instant),
    /// A poll came back (maybe empty): the channel is alive.
    Alive,
    /// The link ended; the close code if the server gave one (WebSocket close or `bye`).
    Closed(Option<u16>),
}

enum Up {
    Ws(SplitSink<Ws, Message>),
    Http {
        tr: Tr,
        conn: HttpConn,
        chan: String,
    },
}

/// One open connection or channel.
pub struct Link {
    up: Up,
    pub rx: mpsc::Receiver<Down>,
    reader: JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Link {
    /// Open a link of kind `tr` and send `hello` as its first frame.
    pub async fn open(t: &Arc<Target>, tr: Tr, hello: &ClientFrame) -> io::Result<Link> {
        t.reroute().await;
        let (tx, rx) = mpsc::channel(512);
        let h = Encoded::new(hello).text;
        match tr {
            Tr::Ws => {
                let ws = ws_connect(t, "/v1/ws").await?;
                let (mut sink, mut stream) = ws.split();
                sink.send(Message::text(h))
                    .await
                    .map_err(io::Error::other)?;
                let reader = tokio::spawn(async move {
                    let mut code = None;
                    while let Some(m) = stream.next().await {
                        match m {
                            Ok(Message::Text(s)) => {
                                let f = Frame::decode(s.as_str());
                                if tx
                                    .send(Down::Frame(f, tokio::time::Instant::now()))
                                    .await
                                    .is_err()
                                {
                                    return;
                                }
                            }
                            Ok(Message::Close(c)) => {
                                code = c.map(|c| u16::from(c.code));
                                break;
                            }
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                    let _ = tx.send(Down::Closed(code)).await;
                });
                Ok(Link {
                    up: Up::Ws(sink),
                    rx,
                    reader,
                })
            }
            Tr::Lp | Tr::Jsonp => {
                let mut conn = HttpConn::new(t.clone());
                let to = t.request_timeout;
                let opened: Opened = if tr == Tr::Lp {
                    let (s, b) = conn
                        .request(
                            "POST",
                            "/v1/lp/open?tr=lp",
                            &[("content-type", "text/plain")],
                            &h,
                            to,
                        )
                        .await?;
                    if s != 200 {
                        return Err(io::Error::other(format!("open: {s} {b}")));
                    }
                    json(&b).map_err(|_| io::Error::other(format!("open answered {b:.120}")))?
                } else {
                    let path = format!("/v1/jsonp/open?cb=cb&f={}", enc(&h));
                    let (s, b) = conn.request("GET", &path, &[], "", to).await?;
                    if s != 200 {
                        return Err(io::Error::other(format!("open: {s} {b}")));
                    }
                    json(unwrap_jsonp(&b)?)
                        .map_err(|_| io::Error::other(format!("open answered {b:.120}")))?
                };
                let chan = opened.chan;
                // Sends are rare for most clients: do not hold a second socket open.
                conn.close();
                let reader = tokio::spawn(poll_loop(t.clone(), tr, chan.clone(), tx));
                Ok(Link {
                    up: Up::Http { tr, conn, chan },
                    rx,
                    reader,
                })
            }
        }
    }

    /// The channel id of an HTTP link (none for a WebSocket).
    pub fn chan(&self) -> Option<&str> {
        match &self.up {
            Up::Http { chan, .. } => Some(chan),
            Up::Ws(_) => None,
        }
    }

    /// Send frames in order. An error means the link is broken.
    pub async fn send(&mut self, frames: &[ClientFrame]) -> io::Result<()> {
        if frames.is_empty() {
            return Ok(());
        }
        let encoded: Vec<Encoded> = frames.iter().map(Encoded::new).collect();
        self.send_encoded(&encoded).await
    }

    /// [`Link::send`] of frames encoded already (by a caller that sends the same frames
    /// again and again).
    pub async fn send_encoded(&mut self, frames: &[Encoded]) -> io::Result<()> {
        if frames.is_empty() {
            return Ok(());
        }
        match &mut self.up {
            Up::Ws(sink) => {
                for f in frames {
                    let fut = sink.send(Message::text(f.text.as_str()));
                    match tokio::time::timeout(Duration::from_secs(10), fut).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return Err(io::Error::other(e)),
                        Err(_) => return Err(io::ErrorKind::TimedOut.into()),
                    }
                }
                Ok(())
            }
            Up::Http { tr, conn, chan } => {
                let to = conn.target.request_timeout;
                if *tr == Tr::Lp {
                    let mut body = String::from("[");
                    for (i, f) in frames.iter().enumerate() {
                        if i > 0 {
                            body.push(',');
                        }
                        body.push_str(&f.text);
                    }
                    body.push(']');
                    let path = format!("/v1/lp/send?chan={chan}");
                    let (s, b) = conn
                        .request("POST", &path, &[("content-type", "text/plain")], &body, to)
                        .await?;
                    check_send(s, &b)
                } else {
                    for f in frames {
                        jsonp_send(conn, chan, f, to).await?;
                    }
                    Ok(())
                }
            }
        }
    }
}

fn check_send(status: u16, body: &str) -> io::Result<()> {
    if status == 200 && body.contains("\"ok\":true") {
        Ok(())
    } else {
        Err(io::Error::other(format!("send: {status} {body:.120}")))
    }
}

/// One frame over JSONP, in parts when its URL would be too long.
async fn jsonp_send(conn: &mut HttpConn, chan: &str, f: &Encoded, to: Duration) -> io::Result<()> {
    let text = &f.text;
    let whole = enc(text);
    if whole.len() <= 1800 {
        let path = format!("/v1/jsonp/send?cb=cb&chan={chan}&f={whole}");
        let (s, b) = conn.request("GET", &path, &[], "", to).await?;
        return check_send(s, &b);
    }
    let pid = f.cid.as_deref().unwrap_or("p");
    let chars: Vec<char> = text.chars().collect();
    let pieces: Vec<String> = chars.chunks(200).map(|c| c.iter().collect()).collect();
    for (i, p) in pieces.iter().enumerate() {
        let path = format!(
            "/v1/jsonp/send?cb=cb&chan={chan}&pid={pid}&i={i}&n={}&d={}",
            pieces.len(),
            enc(p)
        );
        let (s, b) = conn.request("GET", &path, &[], "", to).await?;
        check_send(s, &b)?;
    }
    Ok(())
}

/// Poll a channel until it ends, pushing frames in sequence order, each once.
async fn poll_loop(t: Arc<Target>, tr: Tr, chan: String, tx: mpsc::Sender<Down>) {
    let mut conn = HttpConn::new(t.clone());
    let mut ack = 0u64;
    let mut n = 0u64;
    let code = loop {
        n += 1;
        let r = if tr == Tr::Lp {
            let path = format!("/v1/lp/poll?chan={chan}&ack={ack}&_={n}");
            conn.request("GET", &path, &[], "", t.request_timeout)
                .await
                .and_then(|(s, b)| {
                    if s == 200 {
                        Ok(b)
                    } else {
                        Err(io::Error::other(format!("poll: {s}")))
                    }
                })
        } else {
            let path = format!("/v1/jsonp/poll?cb=cb&chan={chan}&ack={ack}&_={n}");
            conn.request("GET", &path, &[], "", t.request_timeout)
                .await
                .map(|(_, b)| b)
        };
        let Ok(body) = r else { break None };
        let text = if tr == Tr::Lp {
            Ok(body.as_str())
        } else {
            unwrap_jsonp(&body)
        };
        let Ok(polled) = text.and_then(json::<Polled>) else {
            break None;
        };
        let at = tokio::time::Instant::now();
        if tx.send(Down::Alive).await.is_err() {
            return;
        }
        let from = polled.from;
        let mut bye = None;
        for (i, raw) in polled.frames.into_iter().enumerate() {
            let seq = from + i as u64;
            if from != 0 && seq <= ack {
                continue; // a repeat of an answer we already had
            }
            if from != 0 {
                ack = seq;
            }
            let f = Frame::decode(raw.get());
            if let Frame::Bye { code } = f {
                bye = Some(code);
            }
            if tx.send(Down::Frame(f, at)).await.is_err() {
                return;
            }
        }
        if bye.is_some() {
            break bye;
        }
    };
    let _ = tx.send(Down::Closed(code)).await;
}
