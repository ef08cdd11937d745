//! One client connection, whatever carries it: the transport-neutral session logic.
//!
//! Owns: the order of a connection's life (hello → welcome → follow/msg/ack → close), the
//! per-stream cursors that make delivery gap-free and duplicate-free, acks only after
//! commit, heartbeats and dead-link detection, slow-client detection, and the graceful
//! close on shutdown. A transport only moves text frames (`Transport`); this file never
//! sees a socket, and tests drive it with a recording transport.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use tokio::time::Instant;

use super::hub::{Hub, TransportKind};
use super::presence::AgentLink;
use super::session::VisitorSession;
use super::signal::Signal;
use super::stream::Stream;
use super::writer::AppendError;
use super::Shutdown;
use crate::ids::{ConversationId, Offset, SiteId};
use crate::protocol::{
    close, error_frame, parse_client_frame, ClientFrame, Contact, ErrorCode, FrameError, Position,
    Role, ServerFrame,
};
use crate::store::{Agent, Appended, NewEntry};

/// What a transport delivers upward.
#[derive(Debug)]
pub enum Inbound {
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
pub struct TransportClosed;

/// The only thing the core asks of a transport: move text frames and close.
pub trait Transport: Send {
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
pub struct ConnInfo {
    /// The `Origin` header, if the client sent one.
    pub origin: Option<String>,
    /// The peer address, for logs.
    pub peer: Option<std::net::SocketAddr>,
    /// The `User-Agent` header (at most 256 characters), shown to agents.
    pub user_agent: Option<String>,
}

impl ConnInfo {
    /// Read what the connection knows from its HTTP request headers.
    pub fn from_headers(
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
}

type Flow = Result<(), End>;

/// An append waiting for its commit.
/// An append waiting for its commit: its cid, whether the client expects an `ack` for it
/// (appends the server makes on the client's behalf, like an accepted invitation, do not),
/// and the outcome.
type Pending = Pin<Box<dyn Future<Output = (String, bool, Result<Appended, AppendError>)> + Send>>;

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

/// Run a connection until the peer leaves, the link dies, or the server shuts down.
pub async fn run<T: Transport>(hub: Hub, transport: T, info: ConnInfo, shutdown: Shutdown) {
    let kind = transport.kind();
    let sig = Arc::new(Signal::new(hub.config().volatile_queue));
    let mut c = Conn {
        hb: hub.config().heartbeat(),
        hub,
        t: transport,
        info,
        sig,
        authed: None,
        follows: HashMap::new(),
        pending: FuturesUnordered::new(),
        bad_frames: 0,
        last_rx: Instant::now(),
        last_typing: None,
    };
    let end = c.main_loop(shutdown).await;
    match end {
        End::Gone => tracing::debug!(transport = kind.name(), "peer gone"),
        End::Close(code, reason) => {
            tracing::debug!(transport = kind.name(), code, reason, "closing");
            let bye = ServerFrame::Bye { code, reason }.encode();
            let wait = c.hub.config().write_timeout();
            let _ = tokio::time::timeout(wait, c.t.send(Bytes::from(bye))).await;
            let _ = tokio::time::timeout(wait, c.t.close(code, reason)).await;
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
    pending: FuturesUnordered<Pending>,
    bad_frames: u32,
    last_rx: Instant,
    hb: Duration,
    /// When the last `typing` frame was forwarded (`typing_interval_ms`).
    last_typing: Option<Instant>,
}

impl<T: Transport> Conn<T> {
    async fn main_loop(&mut self, mut shutdown: Shutdown) -> End {
        // Check liveness often enough for the transport's own limit, at least every heartbeat.
        let period = match self.t.liveness() {
            Some(d) => self.hb.min(d / 4).max(Duration::from_millis(50)),
            None => self.hb,
        };
        let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let max_inflight = self.hub.config().max_inflight;
        loop {
            let step: Flow = tokio::select! {
                biased;
                _ = shutdown.wait() => return self.drain_and_close().await,
                Some((cid, answer, r)) = self.pending.next(), if !self.pending.is_empty() => {
                    self.answer_ready(cid, answer, r).await
                }
                _ = self.sig.notified() => self.on_signal().await,
                m = self.t.recv(), if self.pending.len() < max_inflight => self.on_inbound(m).await,
                _ = ticker.tick() => self.on_tick().await,
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// Shutdown: stop reading, give pending appends a moment to be acked, then say bye.
    async fn drain_and_close(&mut self) -> End {
        let grace = self.hub.config().shutdown_grace();
        let _ = tokio::time::timeout(grace, async {
            while let Some((cid, answer, r)) = self.pending.next().await {
                if self.answer_ready(cid, answer, r).await.is_err() {
                    break;
                }
            }
        })
        .await;
        End::Close(close::RESTARTING, "server restarting")
    }

    fn cleanup(&mut self) {
        for (_, cur) in self.follows.drain() {
            self.hub.unfollow(&cur.stream, &self.sig);
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
        let timeout = self.hub.config().write_timeout();
        let r = tokio::time::timeout(timeout, self.t.send(frame)).await;
        self.written(r)
    }

    /// Queue one frame for the next `flush_out` (or `send`).
    async fn feed(&mut self, frame: Bytes) -> Flow {
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

    async fn send_err(&mut self, code: ErrorCode, msg: &str) -> Flow {
        self.send(Bytes::from(error_frame(&FrameError::new(code, msg))))
            .await
    }

    async fn on_tick(&mut self) -> Flow {
        let liveness = self.t.liveness();
        let dead_after = liveness.unwrap_or_else(|| self.hub.config().dead_after());
        if self.last_rx.elapsed() > dead_after {
            tracing::debug!(peer = ?self.info.peer, "heartbeat timeout");
            return Err(End::Close(close::HEARTBEAT_TIMEOUT, "heartbeat timeout"));
        }
        if self.authed.is_some() && liveness.is_none() {
            self.send_frame(ServerFrame::Ping).await?;
        }
        Ok(())
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
                    .refuse(FrameError::new(
                        ErrorCode::BadFrame,
                        "binary frames are not supported",
                    ))
                    .await;
            }
        };
        self.last_rx = Instant::now();
        match parse_client_frame(&text, self.hub.config().max_body_chars) {
            Ok(frame) => {
                self.bad_frames = 0;
                self.on_frame(frame).await
            }
            Err(e) => self.refuse(e).await,
        }
    }

    /// Answer a bad frame; too many in a row end the connection.
    async fn refuse(&mut self, e: FrameError) -> Flow {
        self.bad_frames += 1;
        if self.bad_frames == 1 {
            tracing::info!(peer = ?self.info.peer, code = ?e.code, msg = %e.msg, "bad frame");
        }
        if self.bad_frames > self.hub.config().max_bad_frames {
            return Err(End::Close(close::PROTOCOL_VIOLATION, "too many bad frames"));
        }
        self.send_err(e.code, &e.msg).await
    }

    async fn on_frame(&mut self, frame: ClientFrame) -> Flow {
        match (frame, self.authed.is_some()) {
            (ClientFrame::Hello(h), false) => self.on_hello(h).await,
            (ClientFrame::Hello(_), true) => {
                self.refuse(FrameError::new(
                    ErrorCode::NotReady,
                    "hello was already sent",
                ))
                .await
            }
            (ClientFrame::Ping, _) => self.send_frame(ServerFrame::Pong).await,
            (ClientFrame::Pong, _) => Ok(()),
            (_, false) => {
                self.refuse(FrameError::new(ErrorCode::NotReady, "send hello first"))
                    .await
            }
            (ClientFrame::Follow { conv, epoch, after }, true) => {
                self.on_follow(Position { conv, epoch, after }, false).await
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
            ) => self.on_page(url, title, referrer, visible, visits).await,
            (ClientFrame::Typing { conv, on, text }, true) => self.on_typing(conv, on, text).await,
            (ClientFrame::Read { conv, upto }, true) => self.on_read(conv, upto).await,
            (ClientFrame::Invite { visitor, text }, true) => self.on_invite(&visitor, &text).await,
            (ClientFrame::InviteReply { id, accept }, true) => {
                self.on_invite_reply(id, accept).await
            }
            (ClientFrame::Presence { status }, true) => self.on_presence(status).await,
            (ClientFrame::Transfer { conv, to }, true) => self.on_transfer(conv, to).await,
            (ClientFrame::Close { conv }, true) => self.on_close(conv).await,
            (ClientFrame::Reopen { conv }, true) => self.on_reopen(conv).await,
            (ClientFrame::Ack { conv, off }, true) => match self.follows.get_mut(&conv) {
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
                    self.send_frame(ServerFrame::Err {
                        of: Some("ack"),
                        code: ErrorCode::BadAck,
                        msg: "ack beyond what was sent",
                        cid: None,
                        conv: Some(conv),
                        epoch: None,
                        head: Some(head),
                    })
                    .await
                }
                None => self.send_unknown_conv(conv, None).await,
            },
        }
    }

    async fn send_unknown_conv(&mut self, conv: ConversationId, cid: Option<&str>) -> Flow {
        self.send_frame(ServerFrame::Err {
            of: None,
            code: ErrorCode::UnknownConv,
            msg: "no such conversation",
            cid,
            conv: Some(conv),
            epoch: None,
            head: None,
        })
        .await
    }

    async fn on_msg(
        &mut self,
        cid: String,
        body: String,
        conv: Option<ConversationId>,
        contact: Option<Contact>,
    ) -> Flow {
        let Some(a) = &self.authed else {
            return Ok(());
        };
        let role = a.role;
        let (conv, sender) = match &a.principal {
            Principal::Visitor(session) => {
                let session = session.clone();
                let info = match self.hub.open_conversation(&session, &self.sig).await {
                    Ok(i) => i,
                    Err(e) => return self.append_failed(&cid, &e).await,
                };
                if conv.is_some_and(|c| c != info.id) {
                    return self
                        .send_unknown_conv(conv.unwrap_or(info.id), Some(&cid))
                        .await;
                }
                self.start_own_conversation(info.id, info.epoch).await?;
                (info.id, format!("v{}", info.visitor))
            }
            Principal::Agent(agent, _) => {
                let sender = format!("a{}", agent.id);
                let Some(conv) = conv else {
                    return self
                        .refuse(FrameError::new(
                            ErrorCode::BadFrame,
                            "agents must name the conversation",
                        ))
                        .await;
                };
                match self.of_my_site(conv).await {
                    Ok(true) => {}
                    Ok(false) => return self.send_unknown_conv(conv, Some(&cid)).await,
                    Err(e) => return self.append_failed(&cid, &AppendError::Store(e)).await,
                }
                (conv, sender)
            }
        };
        let entry = NewEntry {
            contact,
            ..NewEntry::now(conv, "msg", role, sender, cid.clone(), body)
        };
        self.submit(entry, true).await?;
        // Someone must answer it: the desk assigns (or queues) the conversation, and an
        // agent's message marks it answered.
        match self.authed.as_ref().map(|a| (&a.principal, a.site)) {
            Some((Principal::Visitor(s), site)) => {
                self.hub.ensure_owner(site, conv, &s.clone(), None)
            }
            Some((Principal::Agent(agent, _), site)) => self.hub.answered(site, conv, agent.id),
            None => {}
        }
        Ok(())
    }

    /// Is `conv` a conversation of this connection's site? From the followed stream when
    /// there is one, else from the store.
    async fn of_my_site(&mut self, conv: ConversationId) -> Result<bool, String> {
        let Some(site) = self.authed.as_ref().map(|a| a.site) else {
            return Ok(false);
        };
        if let Some(cur) = self.follows.get(&conv) {
            return Ok(cur.stream.site == site);
        }
        match self.hub.blocking(move |s| s.conversation(conv)).await {
            Ok(info) => Ok(info.is_some_and(|i| i.site == site)),
            Err(e) => {
                tracing::error!(error = %e, "conversation lookup failed");
                Err(e.to_string())
            }
        }
    }

    /// How this client appears as a sender: `v<visitor id>` (once it has a conversation)
    /// or `a<agent id>`.
    fn sender(&self) -> Option<String> {
        match self.authed.as_ref().map(|a| &a.principal) {
            Some(Principal::Visitor(s)) => s.conv().map(|c| format!("v{}", c.visitor)),
            Some(Principal::Agent(a, _)) => Some(format!("a{}", a.id)),
            None => None,
        }
    }

    /// Queue an append; its `ack` (when `answer`) or error comes back through `pending`.
    async fn submit(&mut self, entry: NewEntry, answer: bool) -> Flow {
        let cid = entry.cid.clone();
        match self.hub.writer().append(entry) {
            Ok(rx) => {
                self.pending.push(Box::pin(async move {
                    (cid, answer, rx.await.unwrap_or(Err(AppendError::Closed)))
                }));
                Ok(())
            }
            Err(e) if answer => self.append_failed(&cid, &e).await,
            Err(e) => {
                tracing::warn!(error = %e, cid = %cid, "server-made append refused");
                Ok(())
            }
        }
    }

    async fn append_failed(&mut self, cid: &str, e: &AppendError) -> Flow {
        let code = match e {
            AppendError::Overloaded => ErrorCode::Overloaded,
            AppendError::Store(_) | AppendError::Closed => ErrorCode::Store,
        };
        let msg = e.to_string();
        self.send_frame(ServerFrame::Err {
            of: None,
            code,
            msg: &msg,
            cid: Some(cid),
            conv: None,
            epoch: None,
            head: None,
        })
        .await
    }

    /// Answer a finished append and every other one already finished (one group commit
    /// finishes many), then flush the acks together.
    async fn answer_ready(
        &mut self,
        cid: String,
        answer: bool,
        r: Result<Appended, AppendError>,
    ) -> Flow {
        self.answer_append(&cid, answer, r).await?;
        // Polling once without waiting is safe: the main loop polls `pending` again (with
        // its own waker) before it sleeps.
        while let Some(Some((cid, answer, r))) = self.pending.next().now_or_never() {
            self.answer_append(&cid, answer, r).await?;
        }
        self.flush_out().await
    }

    /// Feed the ack (or the refusal) of one append; the caller flushes.
    async fn answer_append(
        &mut self,
        cid: &str,
        answer: bool,
        r: Result<Appended, AppendError>,
    ) -> Flow {
        if !answer {
            if let Err(e) = r {
                tracing::warn!(error = %e, cid = %cid, "server-made append failed");
            }
            return Ok(());
        }
        match r {
            Ok(Appended::New(e)) => {
                let ack = ServerFrame::Ack {
                    cid,
                    conv: e.conv,
                    off: e.off,
                    ts: e.ts,
                    dup: false,
                };
                self.feed(ack.to_bytes()).await
            }
            Ok(Appended::Dup { conv, off, ts }) => {
                let ack = ServerFrame::Ack {
                    cid,
                    conv,
                    off,
                    ts,
                    dup: true,
                };
                self.feed(ack.to_bytes()).await
            }
            Err(e) => self.append_failed(cid, &e).await,
        }
    }
}

mod follow;
mod hello;
mod live;
#[cfg(test)]
mod tests;
