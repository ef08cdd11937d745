//! The attackers of `kefu-load flood`, one kind each, connecting from 127.0.0.2 and up:
//! random-email sign-ins, slow request bodies, channels opened and never polled, JSONP
//! messages whose parts never complete, WebSockets that never say `hello`, a typing flood.
//!
//! Owns: what each attacker does until the flood ends, and the [`Tally`] all attackers
//! of a flood share: what they achieved and what they got. The slow-body attacker writes
//! raw bytes on purpose (a request whose body never ends is not a client's request).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::StreamExt;
use futures_util::SinkExt;
use kefu::ids::ConversationId;
use kefu::protocol::ClientFrame;
use kefu_load::frames::Frame;
use kefu_load::http::Conn;
use kefu_load::net::{enc, ws_connect, Down, Encoded, Link, Target, Tr};
use kefu_load::session::Peer;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::class;

/// Content-Length a slow-body attacker announces (under the channel body limit, so the
/// server waits for the body instead of refusing it at once).
const SLOW_BODY_BYTES: usize = 100_000;
/// A slow-body attacker sends one byte this often.
const SLOW_BYTE_EVERY: Duration = Duration::from_secs(2);
/// A no-hello attacker sends a ping this often.
const NO_HELLO_PING_EVERY: Duration = Duration::from_secs(4);
/// An attacker whose connection was refused or failed waits this long before the next.
const RETRY_AFTER_REFUSAL: Duration = Duration::from_secs(1);

/// What the attackers achieved and got, shared by all of them.
#[derive(Default)]
pub(super) struct Tally {
    /// Requests answered, or connections ended, whatever the outcome.
    pub(super) done: AtomicU64,
    /// Connections (or channels) opened.
    pub(super) opened: AtomicU64,
    pub(super) open_now: AtomicI64,
    pub(super) open_peak: AtomicI64,
    /// Frames sent (typing).
    pub(super) frames: AtomicU64,
    /// Outcome → count. Keys are statuses, close codes and a few error classes.
    outcomes: Mutex<BTreeMap<String, u64>>,
}

impl Tally {
    pub(super) fn note(&self, outcome: impl Into<String>) {
        self.done.fetch_add(1, Ordering::Relaxed);
        let mut m = self.outcomes.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry(outcome.into()).or_default() += 1;
    }

    pub(super) fn opened(&self) {
        self.opened.fetch_add(1, Ordering::Relaxed);
        let now = self.open_now.fetch_add(1, Ordering::Relaxed) + 1;
        self.open_peak.fetch_max(now, Ordering::Relaxed);
    }

    pub(super) fn closed(&self) {
        self.open_now.fetch_sub(1, Ordering::Relaxed);
    }

    pub(super) fn outcomes(&self) -> BTreeMap<String, u64> {
        self.outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Random emails, a wrong password, as fast as the answers come.
pub(super) async fn login(t: Arc<Target>, tally: Arc<Tally>, end: Instant, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut conn = Conn::new(t);
    while Instant::now() < end {
        let email = format!("{:016x}@flood.invalid", rng.gen::<u64>());
        let body = json!({"email": email, "password": "not-the-password"}).to_string();
        let r = conn
            .request(
                "POST",
                "/v1/login",
                &[("content-type", "application/json")],
                &body,
                Duration::from_secs(15),
            )
            .await;
        match r {
            Ok((s, _)) => tally.note(s.to_string()),
            Err(e) => {
                tally.note(class(&e));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Full headers of a POST announcing a large body, then one byte every 2 s, until the
/// server answers or closes; then again on a new connection.
pub(super) async fn slow_body(t: Arc<Target>, tally: Arc<Tally>, end: Instant) {
    let head = format!(
        "POST /v1/lp/open?tr=lp HTTP/1.1\r\nhost: {}\r\ncontent-type: text/plain\r\ncontent-length: {SLOW_BODY_BYTES}\r\n\r\n",
        t.addr()
    );
    while Instant::now() < end {
        let mut s = match t.tcp().await {
            Ok(s) => s,
            Err(e) => {
                tally.note(format!("connect: {}", class(&e)));
                tokio::time::sleep(RETRY_AFTER_REFUSAL).await;
                continue;
            }
        };
        tally.opened();
        let mut got = Vec::new();
        let outcome = async {
            if s.write_all(head.as_bytes()).await.is_err() {
                return Some("closed before the headers were sent".to_string());
            }
            let mut buf = [0u8; 1024];
            let mut tick =
                tokio::time::interval_at(Instant::now() + SLOW_BYTE_EVERY, SLOW_BYTE_EVERY);
            loop {
                tokio::select! {
                    r = s.read(&mut buf) => match r {
                        Ok(0) | Err(_) => return Some(answer_of(&got)),
                        Ok(n) => {
                            if got.len() < 4096 {
                                got.extend_from_slice(&buf[..n]);
                            }
                        }
                    },
                    _ = tick.tick() => {
                        // A refused write means the server closed; its answer may be
                        // read already, or still readable.
                        let _ = s.write_all(b"x").await;
                    }
                    _ = tokio::time::sleep_until(end) => return None,
                }
            }
        }
        .await;
        // Still open at the end: counted as open.
        let Some(outcome) = outcome else { return };
        tally.closed();
        let refused = outcome.starts_with("503");
        tally.note(outcome);
        if refused {
            tokio::time::sleep(RETRY_AFTER_REFUSAL).await;
        }
    }
}

/// "408", "503", … from what the server wrote before closing.
fn answer_of(got: &[u8]) -> String {
    let text = String::from_utf8_lossy(got);
    match text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.split(' ').next())
    {
        Some(status) => status.to_string(),
        None => "closed without an answer".to_string(),
    }
}

/// `POST /v1/lp/open` as fast as the answers come; the channels are never polled.
pub(super) async fn channels(t: Arc<Target>, tally: Arc<Tally>, site: String, end: Instant) {
    let hello = Encoded::new(&Peer::visitor("attacker", &site).hello());
    let mut conn = Conn::new(t);
    while Instant::now() < end {
        let r = conn
            .request(
                "POST",
                "/v1/lp/open?tr=lp",
                &[("content-type", "text/plain")],
                hello.text(),
                Duration::from_secs(15),
            )
            .await;
        match r {
            Ok((s, _)) => {
                if s == 200 {
                    tally.opened();
                    tally.closed(); // never polled: held by the server only
                }
                tally.note(s.to_string());
            }
            Err(e) => {
                tally.note(class(&e));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// A JSONP channel (kept polled), sent first parts of two-part messages, each with a new
/// part id, as fast as the answers come; a new channel when it ends.
pub(super) async fn jsonp_parts(
    t: Arc<Target>,
    tally: Arc<Tally>,
    site: String,
    end: Instant,
    id: usize,
) {
    let hello = Peer::visitor("attacker", &site).hello();
    // The first part of a message that is never completed: not a frame on its own.
    let first_part = enc("{\"t\":\"msg\",\"cid\":\"never");
    let mut n = 0u64;
    while Instant::now() < end {
        let mut link = match Link::open(&t, Tr::Jsonp, &hello).await {
            Ok(l) => l,
            Err(e) => {
                let what = e.to_string();
                let status = what
                    .strip_prefix("open: ")
                    .and_then(|r| r.split(' ').next())
                    .unwrap_or("failed");
                tally.note(format!("open {status}"));
                tokio::time::sleep(RETRY_AFTER_REFUSAL).await;
                continue;
            }
        };
        let chan = link.chan().unwrap_or_default().to_string();
        tally.opened();
        let mut conn = Conn::new(t.clone());
        'chan: while Instant::now() < end {
            // Keep the poll flowing; stop when the channel ended.
            while let Ok(d) = link.rx.try_recv() {
                if matches!(d, Down::Closed(_)) {
                    tally.note("channel ended");
                    break 'chan;
                }
            }
            n += 1;
            let path =
                format!("/v1/jsonp/send?cb=cb&chan={chan}&pid=f{id}x{n}&i=0&n=2&d={first_part}");
            match conn
                .request("GET", &path, &[], "", Duration::from_secs(15))
                .await
            {
                Ok((s, b)) if s == 200 && b.contains("4004") => {
                    tally.note("200 unknown channel");
                    break 'chan;
                }
                Ok((s, _)) => tally.note(s.to_string()),
                Err(e) => {
                    tally.note(class(&e));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        if Instant::now() >= end {
            return; // still open: counted as open
        }
        tally.closed();
    }
}

/// A WebSocket that never says hello and sends `{"t":"ping"}` every 4 s, until the
/// server closes it; then another.
pub(super) async fn no_hello(t: Arc<Target>, tally: Arc<Tally>, end: Instant) {
    let ping = Encoded::new(&ClientFrame::Ping);
    while Instant::now() < end {
        let ws = match ws_connect(&t, "/v1/ws").await {
            Ok(ws) => ws,
            Err(e) => {
                let what = e.to_string();
                tally.note(if what.contains(" 503") {
                    "upgrade refused 503".to_string()
                } else {
                    format!("connect: {}", class(&e))
                });
                tokio::time::sleep(RETRY_AFTER_REFUSAL).await;
                continue;
            }
        };
        tally.opened();
        let (mut sink, mut stream) = ws.split();
        let mut tick = tokio::time::interval(NO_HELLO_PING_EVERY);
        let outcome = loop {
            tokio::select! {
                m = stream.next() => match m {
                    Some(Ok(Message::Close(frame))) => {
                        break match frame {
                            Some(f) => format!("close {}", u16::from(f.code)),
                            None => "close without a code".to_string(),
                        };
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break "closed without a close frame".to_string(),
                },
                _ = tick.tick() => {
                    if sink.send(Message::text(ping.text())).await.is_err() {
                        break "closed without a close frame".to_string();
                    }
                }
                _ = tokio::time::sleep_until(end) => return, // still open: counted as open
            }
        };
        tally.closed();
        tally.note(outcome);
    }
}

/// A visitor that opens its conversation (handed to the agent on `conv`), then sends
/// `typing` frames, on and off in turn, as fast as its socket takes them.
pub(super) async fn typing(
    t: Arc<Target>,
    tally: Arc<Tally>,
    site: String,
    end: Instant,
    conv: mpsc::UnboundedSender<ConversationId>,
) {
    let peer = Peer::visitor("typist", &site);
    let mut link = match Link::open(&t, Tr::Ws, &peer.hello()).await {
        Ok(l) => l,
        Err(e) => {
            tally.note(format!("open: {e:.80}"));
            return;
        }
    };
    tally.opened();
    let cid = format!("typist{}", rand::random::<u32>());
    let mut sent_msg = false;
    let opened = loop {
        match tokio::time::timeout_at(end, link.rx.recv()).await {
            Ok(Some(Down::Frame(Frame::Welcome { .. }, _))) if !sent_msg => {
                sent_msg = true;
                let m = ClientFrame::Msg {
                    cid: kefu::ids::ClientMsgId(cid.clone()),
                    body: "about to type".into(),
                    conv: None,
                    contact: None,
                };
                if link.send(&[m]).await.is_err() {
                    break None;
                }
            }
            Ok(Some(Down::Frame(
                Frame::Ack {
                    cid: acked, conv, ..
                },
                _,
            ))) if acked == cid => {
                break Some(conv);
            }
            Ok(Some(Down::Frame(..) | Down::Alive)) => {}
            Ok(Some(Down::Closed(code))) => {
                tally.note(format!("closed {} before typing", code.unwrap_or(0)));
                tally.closed();
                return;
            }
            _ => break None,
        }
    };
    let Some(c) = opened else {
        tally.note("no conversation");
        tally.closed();
        return;
    };
    let _ = conv.send(c);
    drop(conv);
    // Let the agent follow before typing starts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Encoded once: the flood measures the server, so the attacker spends its CPU on
    // sending, not on encoding the same two frames again.
    let frames = [
        Encoded::new(&ClientFrame::Typing {
            conv: None,
            on: true,
            text: Some("typing as fast as I can".into()),
        }),
        Encoded::new(&ClientFrame::Typing {
            conv: None,
            on: false,
            text: None,
        }),
    ];
    let mut i = 0usize;
    let outcome = loop {
        if Instant::now() >= end {
            return; // still open: counted as open
        }
        while let Ok(d) = link.rx.try_recv() {
            if let Down::Closed(code) = d {
                tally.closed();
                tally.note(format!("close {}", code.unwrap_or(0)));
                return;
            }
        }
        if let Err(e) = link
            .send_encoded(std::slice::from_ref(&frames[i % 2]))
            .await
        {
            break format!("send failed: {}", class(&e));
        }
        tally.frames.fetch_add(1, Ordering::Relaxed);
        i += 1;
        if i % 256 == 0 {
            tokio::task::yield_now().await;
        }
    };
    tally.closed();
    tally.note(outcome);
}
