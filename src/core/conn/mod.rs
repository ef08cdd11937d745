//! One client connection, whatever carries it: the transport-neutral session logic.
//!
//! Owns: the order of a connection's life (hello → welcome → follow/msg/ack → close), the
//! per-stream cursors that make delivery gap-free and duplicate-free, acks only after
//! commit, the deadlines (a `hello` in time; after it, a link silent for too long is
//! dead), slow-client detection, the rule for answering a refused frame (`err` names the
//! frame; too many bad ones in a row close the link), and the graceful close on shutdown.
//! A transport only moves text frames (`Transport`); this file never sees a socket, and
//! tests drive it with a recording transport.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;

use super::hub::{AfterCommit, Hub, TransportKind};
use super::presence::AgentLink;
use super::session::VisitorSession;
use super::signal::Signal;
use super::stream::Stream;
use super::writer::AppendError;
use super::Shutdown;
use crate::ids::{ConversationId, Offset, SiteId};
use crate::protocol::{
    close, parse_client_frame, ClientFrame, ErrorCode, FrameError, Position, Role, ServerFrame,
};
use crate::store::{Agent, Appended};

/// What a transport delivers upward.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// One text frame.
    Text(String),
    /// A binary frame (not part of the protocol).
    Binary,
    /// A frame over `max_frame_bytes`.
    TooBig,
    /// A text frame that was not UTF-8.
    BadUtf8,
    /// The peer showed it is alive without sending a frame (an HTTP poll arrived).
    Alive,
    /// The peer went away (closed, reset, or the transport failed).
    Closed,
}

/// The peer is gone; nothing more can be written.
#[derive(Debug)]
pub(crate) struct TransportClosed;

/// The only thing the core asks of a transport: move text frames and close.
pub(crate) trait Transport: Send {
    fn kind(&self) -> TransportKind;
    /// `None`: the server sends `ping` every heartbeat and a link silent for
    /// 2 × heartbeat + 1 s is dead. `Some(d)`: the transport proves liveness itself (HTTP
    /// polls); no pings, and the link is dead after `d` without inbound activity.
    fn liveness(&self) -> Option<Duration> {
        None
    }
    /// The next inbound frame. Must be cancel-safe: it is raced against other events.
    fn recv(&mut self) -> impl Future<Output = Inbound> + Send;
    /// Write one frame (UTF-8 JSON text) and flush it.
    fn send(&mut self, frame: Bytes) -> impl Future<Output = Result<(), TransportClosed>> + Send;
    /// Queue one frame to go out with the next `flush` (or `send`); a transport may write
    /// it at once. The caller always flushes after a batch.
    fn feed(&mut self, frame: Bytes) -> impl Future<Output = Result<(), TransportClosed>> + Send {
        self.send(frame)
    }
    /// Write out every frame `feed` queued.
    fn flush(&mut self) -> impl Future<Output = Result<(), TransportClosed>> + Send {
        std::future::ready(Ok(()))
    }
    /// Close with a code from `protocol::close` (after a `bye` frame has been sent).
    fn close(&mut self, code: u16, reason: &str) -> impl Future<Output = ()> + Send;
}

/// What the connection knows from before its first frame (the HTTP request).
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnInfo {
    /// The `Origin` header, if the client sent one.
    pub origin: Option<String>,
    /// The peer address, for logs.
    pub peer: Option<std::net::SocketAddr>,
    /// The `User-Agent` header (at most 256 characters), shown to agents.
    pub user_agent: Option<String>,
}

impl ConnInfo {
    /// Read what the connection knows from its HTTP request headers.
    pub(crate) fn from_headers(
        headers: &http::HeaderMap,
        origin: bool,
        peer: std::net::SocketAddr,
    ) -> ConnInfo {
        let text = |h: http::header::HeaderName| {
            headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        ConnInfo {
            origin: if origin {
                text(http::header::ORIGIN)
            } else {
                None
            },
            peer: Some(peer),
            user_agent: text(http::header::USER_AGENT).map(|ua| ua.chars().take(256).collect()),
        }
    }
}

/// Why the loop ends.
enum End {
    /// The peer is gone.
    Gone,
    /// Close with this code and reason.
    Close(u16, &'static str),
    /// Another node serves the site: close with `MOVED`, sending the client to this base
    /// URL (empty: ask the router again).
    Moved(String),
}

type Flow = Result<(), End>;

/// What woke the connection's loop.
enum Event {
    /// An append was committed (or refused).
    Committed(Sent, Result<Appended, AppendError>),
    /// Its streams have entries, or its session or volatile queue changed.
    Signal,
    /// The transport delivered something.
    Inbound(Inbound),
    /// A heartbeat is due.
    Ping,
}

/// An append on its way to the writer: what to answer once it is committed, and what the
/// commit means beyond the ack.
struct Sent {
    /// The cid the `ack` (or the `err`) carries.
    cid: String,
    /// The frame that asked for it (`of` of an `err`).
    of: &'static str,
    /// Whether the client expects an `ack` (appends the server makes on the client's
    /// behalf, like an accepted invitation's message, get none).
    answer: bool,
    /// The conversation the frame named, if it named one.
    named: Option<ConversationId>,
    after: AfterCommit,
    /// When the frame that asked for it arrived (for the ack latency).
    at: Instant,
}

/// An append waiting for its commit.
type Pending = Pin<Box<dyn Future<Output = (Sent, Result<Appended, AppendError>)> + Send>>;

/// The appends of a connection waiting for their commits. The set exists only while one
/// is on its way: an idle connection holds none.
#[derive(Default)]
struct Inflight(Option<FuturesUnordered<Pending>>);

impl Inflight {
    fn push(&mut self, p: Pending) {
        self.0.get_or_insert_with(FuturesUnordered::new).push(p);
    }

    fn len(&self) -> usize {
        self.0.as_ref().map_or(0, FuturesUnordered::len)
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next append committed (or refused); `None` when none is on its way.
    /// Cancel-safe, as `FuturesUnordered::next` is.
    async fn next(&mut self) -> Option<(Sent, Result<Appended, AppendError>)> {
        let done = self.0.as_mut()?.next().await;
        if self.is_empty() {
            self.0 = None;
        }
        done
    }
}

/// Position of this connection in one followed stream.
struct Cursor {
    stream: Arc<Stream>,
    /// Last offset written to the transport: the next one sent is `sent + 1`.
    sent: Offset,
    /// Last offset the client acknowledged holding.
    acked: Offset,
}

/// Who a connection speaks for, once its hello was accepted.
enum Principal {
    /// A visitor: sees and writes only its own open conversation.
    Visitor(Arc<VisitorSession>),
    /// A signed-in agent: sees and writes every conversation of its site.
    Agent(Agent, Arc<AgentLink>),
}

struct Authed {
    principal: Principal,
    site: SiteId,
    role: Role,
}

/// Run a connection until the peer leaves, the link dies, or the server shuts down. Its
/// logs carry a `conn` span: transport and peer from the start, site, session and role
/// once `hello` is accepted (never a token).
///
/// The connection's state is built here, before the future: the task of an idle
/// connection holds a pointer to it and what waiting needs, nothing twice.
pub(crate) fn run<T: Transport>(
    hub: Hub,
    transport: T,
    info: ConnInfo,
    shutdown: Shutdown,
) -> impl Future<Output = ()> + Send {
    use tracing::Instrument;
    let span = tracing::info_span!(
        "conn",
        transport = transport.kind().as_str(),
        peer = ?info.peer,
        site = tracing::field::Empty,
        session = tracing::field::Empty,
        role = tracing::field::Empty,
    );
    let kind = transport.kind();
    let sig = Arc::new(Signal::new(hub.config().volatile_queue));
    let now = Instant::now();
    let hub_volatile = hub.config().volatile_per_sec;
    let frames = Frames::of(hub.metrics(), kind);
    let c = Box::new(Conn {
        hb: hub.config().heartbeat(),
        hub,
        t: transport,
        info,
        sig,
        authed: None,
        follows: HashMap::new(),
        pending: Inflight::default(),
        bad_frames: 0,
        refused: false,
        about: None,
        started: now,
        last_rx: now,
        last_typing: None,
        volatile: crate::core::budget::Rate::new(hub_volatile),
        frames,
    });
    serve(c, shutdown).instrument(span)
}

async fn serve<T: Transport>(mut c: Box<Conn<T>>, shutdown: Shutdown) {
    let end = c.main_loop(shutdown).await;
    // Closing happens once: its state lives in a future of its own, not in every
    // connection's task.
    match end {
        End::Gone => tracing::debug!(transport = c.t.kind().as_str(), "peer gone"),
        End::Close(code, reason) => Box::pin(c.bye(code, reason, None)).await,
        End::Moved(url) => {
            Box::pin(c.bye(close::MOVED, "another node serves this site", Some(&url))).await
        }
    }
    c.cleanup();
}

struct Conn<T> {
    hub: Hub,
    t: T,
    info: ConnInfo,
    sig: Arc<Signal>,
    authed: Option<Authed>,
    follows: HashMap<ConversationId, Cursor>,
    /// Appends waiting for commit, bounded by `max_inflight` (reading stops at the bound).
    pending: Inflight,
    /// Bad frames in a row (`max_bad_frames`).
    bad_frames: u32,
    /// The frame being handled was refused as bad.
    refused: bool,
    /// The frame being handled: its `t` and cid, which the `err` frames it causes name.
    about: Option<(&'static str, Option<String>)>,
    /// When the connection began: `hello` is due within `hello_timeout_ms` of it.
    started: Instant,
    /// When the last frame arrived (after `hello`, this proves the link alive).
    last_rx: Instant,
    hb: Duration,
    /// When the last `typing` frame was forwarded (`typing_interval_ms`).
    last_typing: Option<Instant>,
    /// Volatile frames (`typing`, `page`, `presence`) this connection may still send
    /// (`volatile_per_sec`); over it they are dropped, as a lost volatile frame would be.
    volatile: crate::core::budget::Rate,
    frames: Frames,
}

/// This connection's handles on its transport's frame counters: one atomic add a frame,
/// no label lookup.
struct Frames {
    received: prometheus_client::metrics::counter::Counter,
    written: prometheus_client::metrics::counter::Counter,
}

impl Frames {
    fn of(m: &crate::core::metrics::Metrics, kind: crate::vocab::TransportKind) -> Frames {
        let labels = crate::core::metrics::TransportLabels {
            transport: kind.as_str(),
        };
        Frames {
            received: m.frames_in.get_or_create(&labels).clone(),
            written: m.frames_out.get_or_create(&labels).clone(),
        }
    }
}

impl<T: Transport> Conn<T> {
    /// Say `bye` and close.
    /// A hello accepted, in the metrics.
    fn hello_counted(&self, role: &'static str) {
        self.hub
            .metrics()
            .hellos
            .get_or_create(&crate::core::metrics::HelloLabels {
                role,
                transport: self.t.kind().as_str(),
            })
            .inc();
    }

    async fn bye(&mut self, code: u16, reason: &'static str, url: Option<&str>) {
        tracing::debug!(transport = self.t.kind().as_str(), code, reason, "closing");
        self.hub
            .metrics()
            .closes
            .get_or_create(&crate::core::metrics::CloseLabels { code })
            .inc();
        let bye = ServerFrame::Bye { code, reason, url }.encode();
        self.frames.written.inc();
        let wait = self.hub.config().write_timeout();
        let _ = tokio::time::timeout(wait, self.t.send(Bytes::from(bye))).await;
        let _ = tokio::time::timeout(wait, self.t.close(code, reason)).await;
    }

    async fn main_loop(&mut self, mut shutdown: Shutdown) -> End {
        // One timer for both what is due: the next heartbeat `ping` and the deadline.
        let mut next_ping = Instant::now() + self.hb;
        let timer = tokio::time::sleep_until(self.deadline());
        tokio::pin!(timer);
        let max_inflight = self.hub.config().max_inflight;
        loop {
            let due = self.deadline();
            let ping = self.authed.is_some() && self.t.liveness().is_none();
            let wake = if ping { due.min(next_ping) } else { due };
            if timer.deadline() != wake {
                timer.as_mut().reset(wake);
            }
            let event = tokio::select! {
                biased;
                _ = shutdown.wait() => return Box::pin(self.drain_and_close()).await,
                Some((sent, r)) = self.pending.next(), if !self.pending.is_empty() => {
                    Event::Committed(sent, r)
                }
                _ = self.sig.notified() => Event::Signal,
                m = self.t.recv(), if self.pending.len() < max_inflight => Event::Inbound(m),
                _ = &mut timer => {
                    let now = Instant::now();
                    if now >= due {
                        return self.expired();
                    }
                    next_ping = now + self.hb;
                    Event::Ping
                }
            };
            // Handled in a future of its own: an idle connection's task holds only what
            // waiting needs, not the state of the largest handler (docs/benchmarks.md).
            if let Err(end) = Box::pin(self.on_event(event)).await {
                return end;
            }
        }
    }

    async fn on_event(&mut self, event: Event) -> Flow {
        match event {
            Event::Committed(sent, r) => self.answer_ready(sent, r).await,
            Event::Signal => self.on_signal().await,
            Event::Inbound(m) => self.on_inbound(m).await,
            Event::Ping => self.send_frame(ServerFrame::Ping).await,
        }
    }

    /// When the link is dead unless something arrives: before `hello`, `hello_timeout_ms`
    /// after the connection began (frames other than `hello` do not count); after it,
    /// 2 × heartbeat + 1 s after the last frame (or the transport's own limit).
    fn deadline(&self) -> Instant {
        let c = self.hub.config();
        if self.authed.is_none() {
            return self.started + Duration::from_millis(c.hello_timeout_ms);
        }
        self.last_rx + self.t.liveness().unwrap_or_else(|| c.dead_after())
    }

    fn expired(&self) -> End {
        if self.authed.is_none() {
            tracing::debug!(peer = ?self.info.peer, "no hello in time");
            return End::Close(close::HEARTBEAT_TIMEOUT, "no hello in time");
        }
        tracing::debug!(peer = ?self.info.peer, "heartbeat timeout");
        End::Close(close::HEARTBEAT_TIMEOUT, "heartbeat timeout")
    }

    /// Shutdown: stop reading, give pending appends a moment to be acked, then say bye.
    async fn drain_and_close(&mut self) -> End {
        let grace = self.hub.config().shutdown_grace();
        let _ = tokio::time::timeout(grace, async {
            while let Some((sent, r)) = self.pending.next().await {
                if self.answer_ready(sent, r).await.is_err() {
                    break;
                }
            }
        })
        .await;
        if self.hub.clustered() {
            // Its sites were released: the router sends the client to their new node.
            return End::Moved(String::new());
        }
        End::Close(close::RESTARTING, "server restarting")
    }

    fn cleanup(&mut self) {
        for (_, cur) in self.follows.drain() {
            self.hub.unfollow(&cur.stream, &self.sig);
        }
        // Appends still in flight are committed without us: what their commits mean (a
        // conversation opened, assigned) must still happen.
        let mut pending = std::mem::take(&mut self.pending);
        if !pending.is_empty() {
            let hub = self.hub.clone();
            self.hub.tasks().spawn_conn(async move {
                while let Some((sent, r)) = pending.next().await {
                    if let Ok(r) = &r {
                        hub.after_commit(&sent.after, r);
                    }
                }
            });
        }
        let kind = self.t.kind();
        match self.authed.take() {
            Some(Authed {
                principal: Principal::Visitor(session),
                ..
            }) => self.hub.leave_session(&session, &self.sig, kind),
            Some(Authed {
                principal: Principal::Agent(_, link),
                site,
                ..
            }) => {
                self.hub.presence().agent_left(site, &link);
                self.hub.desk_changed(site);
            }
            None => {}
        }
    }

    /// Write one frame; a write that cannot finish in time marks the client slow.
    async fn send(&mut self, frame: Bytes) -> Flow {
        self.frames.written.inc();
        let timeout = self.hub.config().write_timeout();
        let r = tokio::time::timeout(timeout, self.t.send(frame)).await;
        self.written(r)
    }

    /// Queue one frame for the next `flush_out` (or `send`).
    async fn feed(&mut self, frame: Bytes) -> Flow {
        self.frames.written.inc();
        let timeout = self.hub.config().write_timeout();
        let r = tokio::time::timeout(timeout, self.t.feed(frame)).await;
        self.written(r)
    }

    /// Write out everything fed.
    async fn flush_out(&mut self) -> Flow {
        let timeout = self.hub.config().write_timeout();
        let r = tokio::time::timeout(timeout, self.t.flush()).await;
        self.written(r)
    }

    fn written(&self, r: Result<Result<(), TransportClosed>, tokio::time::error::Elapsed>) -> Flow {
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(TransportClosed)) => Err(End::Gone),
            Err(_) => {
                tracing::info!(peer = ?self.info.peer, "client too slow; disconnecting");
                self.hub.count_slow();
                Err(End::Close(close::SLOW, "slow: could not keep up"))
            }
        }
    }

    async fn send_frame(&mut self, f: ServerFrame<'_>) -> Flow {
        self.send(f.to_bytes()).await
    }

    /// Refuse the frame being handled with `e`, which names it (`of`, `cid`) unless it
    /// already names what it answers. A bad frame (`ErrorCode::is_bad_frame`) counts: the
    /// one after `max_bad_frames` in a row is not answered, the link is closed (4104).
    async fn err(&mut self, e: FrameError) -> Flow {
        let e = match &self.about {
            Some((of, cid)) => e.about(Some(of), cid.as_deref()),
            None => e,
        };
        if e.code.is_bad_frame() {
            self.refused = true;
            self.bad_frames += 1;
            if self.bad_frames == 1 {
                tracing::info!(peer = ?self.info.peer, code = ?e.code, msg = %e.msg, "bad frame");
            }
            if self.bad_frames > self.hub.config().max_bad_frames {
                return Err(End::Close(close::PROTOCOL_VIOLATION, "too many bad frames"));
            }
        }
        self.send(e.to_bytes()).await
    }

    async fn send_unknown_conv(&mut self, conv: ConversationId) -> Flow {
        self.err(FrameError::new(ErrorCode::UnknownConv, "no such conversation").conv(conv))
            .await
    }

    async fn on_inbound(&mut self, m: Inbound) -> Flow {
        let text = match m {
            Inbound::Text(t) => t,
            Inbound::Closed => return Err(End::Gone),
            Inbound::Alive => {
                self.last_rx = Instant::now();
                return Ok(());
            }
            Inbound::TooBig => return Err(End::Close(close::TOO_BIG, "frame too big")),
            Inbound::BadUtf8 => return Err(End::Close(close::INVALID_UTF8, "invalid UTF-8")),
            Inbound::Binary => {
                self.last_rx = Instant::now();
                return self
                    .err(FrameError::new(
                        ErrorCode::BadFrame,
                        "binary frames are not supported",
                    ))
                    .await;
            }
        };
        self.last_rx = Instant::now();
        self.frames.received.inc();
        self.refused = false;
        let r = match parse_client_frame(&text, self.hub.config().max_body_chars) {
            Ok(frame) => {
                self.about = Some((frame.name(), frame.cid().map(str::to_string)));
                let r = self.on_frame(frame).await;
                self.about = None;
                r
            }
            Err(e) => self.err(e).await,
        };
        if !self.refused {
            self.bad_frames = 0;
        }
        r
    }

    async fn on_frame(&mut self, frame: ClientFrame) -> Flow {
        let volatile = matches!(
            frame,
            ClientFrame::Typing { .. } | ClientFrame::Page { .. } | ClientFrame::Presence { .. }
        );
        if volatile && self.authed.is_some() && !self.volatile.allow() {
            return Ok(());
        }
        // Frames that come once in a connection's life, or seldom, are handled in a
        // future of their own, so the one that carries each message stays small.
        match (frame, self.authed.is_some()) {
            (ClientFrame::Hello(h), false) => Box::pin(self.on_hello(h)).await,
            (ClientFrame::Hello(_), true) => {
                self.err(FrameError::new(
                    ErrorCode::NotReady,
                    "hello was already sent",
                ))
                .await
            }
            (ClientFrame::Ping, _) => self.send_frame(ServerFrame::Pong).await,
            (ClientFrame::Pong, _) => Ok(()),
            (_, false) => {
                self.err(FrameError::new(ErrorCode::NotReady, "send hello first"))
                    .await
            }
            (ClientFrame::Follow { conv, epoch, after }, true) => {
                Box::pin(self.on_follow(Position { conv, epoch, after }, false)).await
            }
            (ClientFrame::Unfollow { conv }, true) => {
                if let Some(cur) = self.follows.remove(&conv) {
                    self.hub.unfollow(&cur.stream, &self.sig);
                }
                Ok(())
            }
            (
                ClientFrame::Msg {
                    cid,
                    body,
                    conv,
                    contact,
                },
                true,
            ) => self.on_msg(cid, body, conv, contact).await,
            (
                ClientFrame::Page {
                    url,
                    title,
                    referrer,
                    visible,
                    visits,
                },
                true,
            ) => Box::pin(self.on_page(url, title, referrer, visible, visits)).await,
            (ClientFrame::Typing { conv, on, text }, true) => self.on_typing(conv, on, text).await,
            (ClientFrame::Read { conv, upto }, true) => self.on_read(conv, upto).await,
            (ClientFrame::Invite { visitor, text }, true) => {
                Box::pin(self.on_invite(&visitor, &text)).await
            }
            (ClientFrame::InviteReply { id, accept }, true) => {
                Box::pin(self.on_invite_reply(id, accept)).await
            }
            (ClientFrame::Presence { status }, true) => Box::pin(self.on_presence(status)).await,
            (ClientFrame::Transfer { conv, to }, true) => {
                Box::pin(self.on_transfer(conv, to)).await
            }
            (ClientFrame::Close { conv }, true) => Box::pin(self.on_close(conv)).await,
            (ClientFrame::Reopen { conv }, true) => Box::pin(self.on_reopen(conv)).await,
            (ClientFrame::Take { conv }, true) => Box::pin(self.on_take(conv)).await,
            (ClientFrame::Ack { conv, off }, true) => self.on_ack(conv, off).await,
        }
    }

    /// `ack`: the client holds every entry of `conv` up to `off`.
    async fn on_ack(&mut self, conv: ConversationId, off: Offset) -> Flow {
        match self.follows.get_mut(&conv) {
            Some(cur) if off <= cur.sent => {
                let advanced = off > cur.acked;
                cur.acked = cur.acked.max(off);
                if advanced {
                    self.on_agent_ack(conv, off);
                }
                Ok(())
            }
            Some(cur) => {
                let head = cur.sent;
                self.err(
                    FrameError::new(ErrorCode::BadAck, "ack beyond what was sent")
                        .conv(conv)
                        .head(head),
                )
                .await
            }
            None => self.send_unknown_conv(conv).await,
        }
    }

    /// Is `conv` a conversation of this connection's site? (`Hub::of_site`: from its
    /// stream when it is in memory, else from the store.)
    async fn of_my_site(&mut self, conv: ConversationId) -> Result<bool, String> {
        let Some(site) = self.authed.as_ref().map(|a| a.site) else {
            return Ok(false);
        };
        match self.hub.of_site(site, conv).await {
            Ok(mine) => Ok(mine),
            Err(e) => {
                tracing::error!(error = %e, "conversation lookup failed");
                Err(e.to_string())
            }
        }
    }

    /// Is `conv` of this agent's site? Answers the refusal itself when not (or when the
    /// store cannot tell): then `Ok(false)`.
    async fn check_my_site(&mut self, conv: ConversationId) -> Result<bool, End> {
        match self.of_my_site(conv).await {
            Ok(true) => Ok(true),
            Ok(false) => self.send_unknown_conv(conv).await.map(|_| false),
            Err(_) => self
                .err(FrameError::new(ErrorCode::Store, "store unavailable").conv(conv))
                .await
                .map(|_| false),
        }
    }
}

mod append;
mod follow;
mod hello;
mod live;
#[cfg(test)]
mod tests;
