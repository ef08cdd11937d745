//! A client that follows the protocol to the letter, and the checks made on what it saw.
//!
//! Owns: [`Peer`] — one visitor or agent: its streams (conv, epoch, last offset held,
//! every entry received), its unacked messages (resent after every reconnect), hello with
//! `resume`, re-follows after a reconnect, dedupe by offset — and [`drive`], which keeps a
//! peer connected over a chosen mix of transports until its work is done or time is up,
//! measuring ack and delivery latency on the way. Frames go up as the protocol's own
//! `ClientFrame`s and come down as [`Frame`]s. `verify.rs` checks what peers saw against
//! the stored log.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kefu::ids::{ConversationId, Epoch, Offset};
use kefu::protocol::{ClientFrame, ErrorCode, Hello, Position, Role, VERSION};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::frames::{Entry, Frame};
use crate::net::{Down, Link, Target, Tr};

/// Conversations one connection may follow (the server's default `max_follows`).
pub const MAX_FOLLOWS: usize = 256;

/// Microseconds since the Unix epoch (comparable across processes on one machine).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// One stream as a peer sees it.
#[derive(Debug, Default, Clone)]
pub struct View {
    pub epoch: Option<Epoch>,
    /// The last offset held.
    pub last: Offset,
    /// Every entry received, in order: (offset, cid).
    pub seen: Vec<(Offset, String)>,
    /// Chat messages among them (the server may add other kinds, e.g. `join`).
    pub msgs: u64,
    /// Messages this peer expects in the stream before it is done.
    pub expect: u64,
}

struct Pending {
    cid: String,
    conv: Option<ConversationId>,
    body: String,
    first_sent: Option<Instant>,
    /// Sent on the current link and not refused.
    sent: bool,
}

/// Counters and samples of one peer.
#[derive(Debug, Default, Clone)]
pub struct PeerStats {
    pub acks: u64,
    pub dup_acks: u64,
    /// Links opened (the first one included).
    pub links: u64,
    pub link_failures: u64,
    /// Ack latency, µs, per acknowledged message.
    pub ack_us: Vec<u64>,
    /// Delivery latency of others' messages, µs.
    pub e2e_us: Vec<u64>,
    /// Entries received.
    pub entries: u64,
    pub by_transport: BTreeMap<&'static str, u64>,
    /// Links ended by the server, by close code (0: no code, e.g. a cut).
    pub closes: BTreeMap<u16, u64>,
    /// Why the last link could not send.
    pub last_error: Option<String>,
    /// Things that went wrong for this peer, by kind: `open` (a link could not be
    /// opened), `send` (a send failed), `closed` (the server ended the link), `silent` (no
    /// frame for `dead_after`), `refused` (an `overloaded` or `store` error frame).
    pub failures: BTreeMap<&'static str, u64>,
    /// Failures whose description names HTTP status 503.
    pub http_503: u64,
    /// The first few failure descriptions (bounded).
    pub failure_notes: Vec<String>,
}

impl PeerStats {
    /// Count one failure of kind `what`, described by `detail`.
    pub fn fail(&mut self, what: &'static str, detail: String) {
        *self.failures.entry(what).or_default() += 1;
        if detail.contains(" 503") || detail.starts_with("503") {
            self.http_503 += 1;
        }
        if self.failure_notes.len() < 16 {
            self.failure_notes.push(format!("{what}: {detail:.200}"));
        }
    }
}

/// A visitor or an agent.
pub struct Peer {
    /// `Visitor` or `Agent` (never `System`).
    pub role: Role,
    pub name: String,
    site: String,
    /// Visitor token (from `welcome`) or agent sign-in token.
    pub token: Option<String>,
    pub views: BTreeMap<ConversationId, View>,
    pending: VecDeque<Pending>,
    /// cid → (conv, off) of every acknowledged message of this peer.
    pub acked: HashMap<String, (ConversationId, Offset)>,
    /// Messages made so far.
    pub made: u64,
    /// Protocol violations seen (gaps, duplicates, unexpected errors).
    pub violations: Vec<String>,
    pub stats: PeerStats,
    welcomed: bool,
    /// Where the next agent message goes (round robin).
    rr: usize,
    /// Entries every stream must reach before the peer is done.
    pub expect_each: u64,
    /// An agent's messages per conversation.
    pub per_conv: u64,
    /// Characters added to every message body (long messages go over JSONP in parts).
    pub pad: usize,
    made_to: HashMap<ConversationId, u64>,
}

impl Peer {
    pub fn visitor(name: &str, site: &str) -> Peer {
        Peer::new(Role::Visitor, name, site, None)
    }

    pub fn agent(name: &str, site: &str, token: &str) -> Peer {
        Peer::new(Role::Agent, name, site, Some(token.to_string()))
    }

    fn new(role: Role, name: &str, site: &str, token: Option<String>) -> Peer {
        Peer {
            role,
            name: name.to_string(),
            site: site.to_string(),
            token,
            views: BTreeMap::new(),
            pending: VecDeque::new(),
            acked: HashMap::new(),
            made: 0,
            violations: Vec::new(),
            stats: PeerStats::default(),
            welcomed: false,
            rr: 0,
            expect_each: 0,
            per_conv: 0,
            pad: 0,
            made_to: HashMap::new(),
        }
    }

    /// The visitor's conversation, once known.
    pub fn conv(&self) -> Option<ConversationId> {
        self.views.keys().next().copied()
    }

    /// The first frame of every link: a visitor resumes its conversation where it holds
    /// an epoch for it; an agent names itself by its sign-in token.
    pub fn hello(&self) -> ClientFrame {
        let (visitor, token, resume) = match self.role {
            Role::Agent => (None, Some(self.token.clone().unwrap_or_default()), None),
            _ => {
                let resume = self.views.iter().next().and_then(|(conv, v)| {
                    v.epoch.map(|epoch| Position {
                        conv: *conv,
                        epoch: Some(epoch),
                        after: v.last,
                    })
                });
                (self.token.clone(), None, resume)
            }
        };
        ClientFrame::Hello(Hello {
            v: VERSION,
            site: self.site.clone(),
            role: self.role,
            visitor,
            token,
            resume,
            user: None,
        })
    }

    /// An agent starts watching `conv` (followed from the next link on, or now).
    pub fn watch(&mut self, conv: ConversationId) -> Option<ClientFrame> {
        let welcomed = self.welcomed;
        let v = self.view(conv);
        welcomed.then(|| follow(conv, v))
    }

    fn view(&mut self, conv: ConversationId) -> &mut View {
        let expect = self.expect_each;
        self.views.entry(conv).or_insert_with(|| View {
            expect,
            ..View::default()
        })
    }

    /// Make a new message (to the next conversation in turn, for an agent).
    pub fn make(&mut self) -> Option<ClientFrame> {
        let conv = match self.role {
            Role::Agent => {
                let n = self.views.len();
                let pick = (1..=n).map(|k| (self.rr + k) % n.max(1)).find(|&i| {
                    let c = self.views.keys().nth(i).expect("in range");
                    self.made_to.get(c).copied().unwrap_or(0) < self.per_conv
                })?;
                self.rr = pick;
                let c = *self.views.keys().nth(pick).expect("in range");
                *self.made_to.entry(c).or_default() += 1;
                Some(c)
            }
            _ => self.conv(),
        };
        self.made += 1;
        let cid = format!("{}-{}", self.name, self.made);
        let mut body = format!("{} {}", self.made, now_us());
        if self.pad > 0 {
            body.push(' ');
            body.extend(std::iter::repeat_n('x', self.pad));
        }
        self.pending.push_back(Pending {
            cid,
            conv,
            body,
            first_sent: None,
            sent: false,
        });
        let welcomed = self.welcomed;
        let p = self.pending.back_mut().expect("just pushed");
        welcomed.then(|| {
            p.sent = true;
            p.first_sent = Some(Instant::now());
            msg_frame(p)
        })
    }

    /// Unsent messages (after a reconnect, or refused with `overloaded`), in order.
    fn resend(&mut self) -> Vec<ClientFrame> {
        let now = Instant::now();
        let mut out = Vec::new();
        let conv = self.conv();
        for p in self.pending.iter_mut().filter(|p| !p.sent) {
            if p.conv.is_none() && self.role == Role::Visitor {
                p.conv = conv;
            }
            p.sent = true;
            p.first_sent.get_or_insert(now);
            out.push(msg_frame(p));
        }
        out
    }

    fn link_lost(&mut self) {
        self.welcomed = false;
        for p in self.pending.iter_mut() {
            p.sent = false;
        }
    }

    /// Handle one frame that arrived at `at`; returns frames to send back.
    pub fn on_frame(&mut self, f: &Frame, at: Instant) -> Vec<ClientFrame> {
        match f {
            Frame::Welcome {
                visitor,
                conv,
                epoch,
            } => {
                self.welcomed = true;
                if self.role == Role::Agent {
                    let mut out: Vec<ClientFrame> =
                        self.views.iter().map(|(c, v)| follow(*c, v)).collect();
                    out.extend(self.resend());
                    return out;
                }
                if let Some(v) = visitor {
                    self.token = Some(v.clone());
                }
                if let (Some(c), Some(e)) = (conv, epoch) {
                    self.set_epoch(*c, *e);
                }
                self.resend()
            }
            Frame::Conv { conv, epoch } | Frame::Following { conv, epoch } => {
                self.set_epoch(*conv, *epoch);
                Vec::new()
            }
            Frame::Entry(e) => self.on_entry(e, at),
            Frame::Ack { cid, conv, off } => {
                self.on_ack(cid, *conv, *off, at);
                Vec::new()
            }
            Frame::Err { code, cid } => {
                self.on_err(*code, cid.as_deref());
                Vec::new()
            }
            Frame::Ping => vec![ClientFrame::Pong],
            Frame::Unreadable(text) => {
                self.violations.push(format!("unreadable frame {text}"));
                Vec::new()
            }
            Frame::Bye { .. } | Frame::Typing | Frame::Other => Vec::new(),
        }
    }

    fn set_epoch(&mut self, conv: ConversationId, epoch: Epoch) {
        let v = self.view(conv);
        match v.epoch {
            Some(e) if e != epoch => {
                let expect = v.expect;
                *v = View {
                    epoch: Some(epoch),
                    expect,
                    ..View::default()
                };
                self.violations
                    .push(format!("conv {conv}: epoch changed {} → {}", e.0, epoch.0));
            }
            _ => v.epoch = Some(epoch),
        }
    }

    fn on_entry(&mut self, e: &Entry, at: Instant) -> Vec<ClientFrame> {
        let (conv, off) = (e.conv, e.off);
        let last = self.view(conv).last;
        if off <= last {
            self.violations.push(format!(
                "conv {conv}: duplicate entry {} (held {})",
                off.0, last.0
            ));
            return Vec::new();
        }
        if off != last.next() {
            self.violations
                .push(format!("conv {conv}: gap: got {} after {}", off.0, last.0));
            return vec![follow(conv, self.view(conv))];
        }
        let v = self.view(conv);
        v.last = off;
        if e.kind == "msg" {
            v.msgs += 1;
        }
        v.seen.push((off, e.cid.clone()));
        self.stats.entries += 1;
        if !e.cid.starts_with(&format!("{}-", self.name)) {
            if let Some(sent) = e.body.split(' ').nth(1).and_then(|s| s.parse::<u64>().ok()) {
                let arrived = now_us().saturating_sub(at.elapsed().as_micros() as u64);
                self.stats.e2e_us.push(arrived.saturating_sub(sent));
            }
        }
        Vec::new()
    }

    fn on_ack(&mut self, cid: &str, conv: ConversationId, off: Offset, at: Instant) {
        if let Some(&(c0, o0)) = self.acked.get(cid) {
            if (c0, o0) != (conv, off) {
                self.violations.push(format!(
                    "{cid} acked at {c0}/{} and again at {conv}/{}",
                    o0.0, off.0
                ));
            }
            self.stats.dup_acks += 1;
            return;
        }
        let Some(i) = self.pending.iter().position(|p| p.cid == cid) else {
            self.violations.push(format!("ack for unknown cid {cid}"));
            return;
        };
        let p = self.pending.remove(i).expect("found");
        if let Some(t) = p.first_sent {
            let took = at.saturating_duration_since(t);
            self.stats.ack_us.push(took.as_micros() as u64);
        }
        self.acked.insert(p.cid, (conv, off));
        self.stats.acks += 1;
    }

    fn on_err(&mut self, code: ErrorCode, cid: Option<&str>) {
        match code {
            ErrorCode::Overloaded | ErrorCode::Store => {
                self.stats.fail("refused", format!("err {code:?}"));
                if let Some(p) = self
                    .pending
                    .iter_mut()
                    .find(|p| Some(p.cid.as_str()) == cid)
                {
                    p.sent = false; // resent on the next tick
                }
            }
            _ => self.violations.push(format!(
                "unexpected error frame {code:?} (cid {})",
                cid.unwrap_or("none")
            )),
        }
    }

    /// Nothing left to send, everything acknowledged and every expected entry held.
    pub fn settled(&self, to_make: u64) -> bool {
        self.made >= to_make
            && self.pending.is_empty()
            && self.views.values().all(|v| v.msgs >= v.expect)
    }
}

fn follow(conv: ConversationId, v: &View) -> ClientFrame {
    ClientFrame::Follow {
        conv,
        epoch: v.epoch,
        after: v.last,
    }
}

fn msg_frame(p: &Pending) -> ClientFrame {
    ClientFrame::Msg {
        cid: p.cid.clone(),
        body: p.body.clone(),
        conv: p.conv,
        contact: None,
    }
}

/// What a peer does while connected.
#[derive(Clone)]
pub struct Work {
    /// Messages to make in all.
    pub messages: u64,
    /// Most unacknowledged messages at once.
    pub window: usize,
    /// Pause between messages (none: as fast as the window allows).
    pub every: Option<Duration>,
    /// Transports to choose from on each (re)connect.
    pub transports: Vec<Tr>,
    /// No frame for this long: the link is dead.
    pub dead_after: Duration,
    /// Give up at this instant.
    pub deadline: Instant,
    pub seed: u64,
    /// Keep the link open (answering pings) after the work is done, until `stop`.
    pub linger: bool,
    /// Shared counters (progress bars, the storm's stopwatch).
    pub counters: Option<Arc<Counters>>,
    /// Each change of this value drops the current link at once (a cut on command).
    pub cut: Option<watch::Receiver<u64>>,
    /// Make only this many messages until the first cut on command.
    pub before_cut: Option<u64>,
}

/// Counters shared by many peers.
#[derive(Debug, Default)]
pub struct Counters {
    pub acks: AtomicU64,
    pub welcomes: AtomicU64,
    /// Peers that have settled (each counted once).
    pub settled: AtomicU64,
    /// `typing` frames received.
    pub typing: AtomicU64,
}

async fn changed(cut: &mut Option<watch::Receiver<u64>>) {
    match cut {
        Some(rx) => {
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

/// Keep `peer` connected until it has settled (or the deadline, or `stop`). Conversations
/// named on `convs` are watched (agents). Visitors report their conversation on `report`.
pub async fn drive(
    peer: &mut Peer,
    target: Arc<Target>,
    work: Work,
    mut convs: Option<mpsc::UnboundedReceiver<ConversationId>>,
    report: Option<mpsc::UnboundedSender<ConversationId>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut rng = StdRng::seed_from_u64(work.seed);
    let mut reported = false;
    let mut backoff = Duration::from_millis(20);
    let mut next_msg = Instant::now();
    let mut cut = work.cut.clone();
    let mut counted = false;
    let mut limit = work.before_cut.unwrap_or(work.messages).min(work.messages);
    'links: while Instant::now() < work.deadline && !*stop.borrow() {
        if peer.settled(work.messages) && !work.linger && convs.is_none() {
            return;
        }
        let tr = work.transports[rng.gen_range(0..work.transports.len())];
        peer.stats.links += 1;
        let mut link = match Link::open(&target, tr, &peer.hello()).await {
            Ok(l) => l,
            Err(e) => {
                peer.stats.link_failures += 1;
                peer.stats.fail("open", format!("{} open: {e}", tr.name()));
                let jitter = rng.gen_range(0..=backoff.as_millis() as u64);
                tokio::time::sleep(Duration::from_millis(jitter)).await;
                backoff = (backoff * 2).min(Duration::from_millis(500));
                continue;
            }
        };
        *peer.stats.by_transport.entry(tr.name()).or_default() += 1;
        let mut last_rx = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            let mut out = Vec::new();
            let acks_before = peer.stats.acks;
            tokio::select! {
                d = link.rx.recv() => match d {
                    Some(Down::Frame(f, at)) => {
                        last_rx = Instant::now();
                        if f == Frame::Typing {
                            if let Some(c) = &work.counters {
                                c.typing.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        if matches!(f, Frame::Welcome { .. }) {
                            backoff = Duration::from_millis(20);
                            if let Some(c) = &work.counters {
                                c.welcomes.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        out = peer.on_frame(&f, at);
                    }
                    Some(Down::Alive) => last_rx = Instant::now(),
                    Some(Down::Closed(Some(code))) if (4100..4200).contains(&code) => {
                        // "Do not reconnect until something is fixed" (protocol §5).
                        peer.stats.fail("closed", format!("closed with {code}"));
                        peer.violations.push(format!("closed with {code}: not reconnecting"));
                        return;
                    }
                    Some(Down::Closed(code)) => {
                        peer.stats.fail("closed", format!("closed with {}", code.unwrap_or(0)));
                        *peer.stats.closes.entry(code.unwrap_or(0)).or_default() += 1;
                        break;
                    }
                    None => break,
                },
                _ = tick.tick() => {
                    if last_rx.elapsed() > work.dead_after {
                        peer.stats.fail("silent", format!("no frame for {:?}", work.dead_after));
                        break;
                    }
                    if let Some(rx) = convs.as_mut() {
                        loop {
                            match rx.try_recv() {
                                Ok(c) => out.extend(peer.watch(c)),
                                Err(mpsc::error::TryRecvError::Empty) => break,
                                Err(mpsc::error::TryRecvError::Disconnected) => {
                                    convs = None;
                                    break;
                                }
                            }
                        }
                    }
                    out.extend(peer.resend());
                }
                _ = stop.changed() => return,
                _ = changed(&mut cut) => {
                    limit = work.messages;
                    break;
                }
            }
            if let Some(c) = &work.counters {
                c.acks
                    .fetch_add(peer.stats.acks - acks_before, Ordering::Relaxed);
                if !counted && peer.settled(work.messages) {
                    counted = true;
                    c.settled.fetch_add(1, Ordering::Relaxed);
                }
            }
            if !reported {
                if let (Some(r), Some(c)) = (&report, peer.conv()) {
                    let _ = r.send(c);
                    reported = true;
                }
            }
            while peer.welcomed
                && peer.made < limit
                && peer.pending.len() < work.window
                && Instant::now() >= next_msg
            {
                match peer.make() {
                    Some(f) => out.push(f),
                    None => break,
                }
                if let Some(e) = work.every {
                    next_msg = (next_msg + e).max(Instant::now() - e * 4);
                }
            }
            if let Err(e) = link.send(&out).await {
                // The server may have said why: read what is left, briefly.
                let mut why = None;
                while let Ok(Some(d)) =
                    tokio::time::timeout(Duration::from_millis(200), link.rx.recv()).await
                {
                    match d {
                        Down::Closed(code) => {
                            why = code;
                            break;
                        }
                        Down::Frame(Frame::Bye { .. } | Frame::Err { .. }, _) => {
                            why = why.or(Some(0))
                        }
                        _ => {}
                    }
                }
                *peer.stats.closes.entry(why.unwrap_or(0)).or_default() += 1;
                peer.stats.fail("send", e.to_string());
                peer.stats.last_error = Some(e.to_string());
                break;
            }
            if Instant::now() >= work.deadline {
                break 'links;
            }
            if peer.settled(work.messages) && !work.linger && convs.is_none() {
                return;
            }
        }
        drop(link);
        peer.link_lost();
    }
}

#[cfg(test)]
mod tests {
    use kefu::protocol::parse_client_frame;

    use super::*;

    fn text(f: &ClientFrame) -> String {
        crate::net::Encoded::new(f).text().to_string()
    }

    /// What the server makes of a frame this client sends: the same frame.
    fn parsed(f: &ClientFrame) -> ClientFrame {
        parse_client_frame(&text(f), 4000).expect("the server takes it")
    }

    #[test]
    fn sends_frames_the_server_parses_without_absent_fields() {
        let mut v = Peer::visitor("v1", "s_1");
        let hello = v.hello();
        assert_eq!(
            text(&hello),
            r#"{"t":"hello","v":1,"site":"s_1","role":"visitor"}"#
        );
        assert_eq!(parsed(&hello), hello);
        assert_eq!(v.make(), None, "not welcomed yet: kept for later");
        let welcome = Frame::Welcome {
            visitor: Some("vvvvvvvvvvvvvvvv".into()),
            conv: Some(ConversationId(7)),
            epoch: Some(Epoch(9)),
        };
        let resent = v.on_frame(&welcome, Instant::now());
        assert_eq!(resent.len(), 1);
        let msg = &resent[0];
        assert!(
            text(msg).starts_with(r#"{"t":"msg","cid":"v1-1","body":"1 "#),
            "{}",
            text(msg)
        );
        assert!(text(msg).ends_with(r#","conv":7}"#), "{}", text(msg));
        assert_eq!(&parsed(msg), msg);
        let again = v.hello();
        assert_eq!(
            text(&again),
            r#"{"t":"hello","v":1,"site":"s_1","role":"visitor","visitor":"vvvvvvvvvvvvvvvv","resume":{"conv":7,"epoch":9,"after":0}}"#
        );
        assert_eq!(parsed(&again), again);

        let mut a = Peer::agent("a0", "s_1", "tok");
        let hello = a.hello();
        assert_eq!(
            text(&hello),
            r#"{"t":"hello","v":1,"site":"s_1","role":"agent","token":"tok"}"#
        );
        assert_eq!(parsed(&hello), hello);
        assert_eq!(a.watch(ConversationId(7)), None, "followed once welcomed");
        let agent_welcome = Frame::Welcome {
            visitor: None,
            conv: None,
            epoch: None,
        };
        let follows = a.on_frame(&agent_welcome, Instant::now());
        assert_eq!(
            follows.iter().map(text).collect::<Vec<_>>(),
            [r#"{"t":"follow","conv":7,"after":0}"#]
        );
        assert_eq!(parsed(&follows[0]), follows[0]);
        assert_eq!(text(&ClientFrame::Pong), r#"{"t":"pong"}"#);
    }

    fn entry(off: u64, cid: &str) -> Frame {
        Frame::Entry(Entry {
            conv: ConversationId(7),
            off: Offset(off),
            kind: "msg".into(),
            cid: cid.into(),
            body: "1 0".into(),
        })
    }

    #[test]
    fn holds_entries_in_order_and_reports_gaps_duplicates_and_strange_frames() {
        let mut p = Peer::agent("a0", "s_1", "tok");
        let now = Instant::now();
        p.on_frame(
            &Frame::Following {
                conv: ConversationId(7),
                epoch: Epoch(9),
            },
            now,
        );
        assert!(p.on_frame(&entry(1, "v1-1"), now).is_empty());
        assert!(p.violations.is_empty(), "{:?}", p.violations);
        p.on_frame(&entry(1, "v1-1"), now);
        assert!(
            p.violations[0].contains("duplicate entry 1"),
            "{:?}",
            p.violations
        );
        let refollow = p.on_frame(&entry(3, "v1-3"), now);
        assert!(
            p.violations[1].contains("gap: got 3 after 1"),
            "{:?}",
            p.violations
        );
        assert_eq!(
            refollow,
            [ClientFrame::Follow {
                conv: ConversationId(7),
                epoch: Some(Epoch(9)),
                after: Offset(1)
            }]
        );
        p.on_frame(&Frame::Unreadable("{\"t\":\"e\"}".into()), now);
        assert!(
            p.violations[2].starts_with("unreadable frame"),
            "{:?}",
            p.violations
        );
        assert_eq!(
            p.views[&ConversationId(7)].seen,
            [(Offset(1), "v1-1".to_string())]
        );
        assert_eq!(p.on_frame(&Frame::Ping, now), [ClientFrame::Pong]);
    }

    #[test]
    fn acks_each_message_once_and_resends_what_was_refused() {
        let mut v = Peer::visitor("v1", "s_1");
        let now = Instant::now();
        let welcome = Frame::Welcome {
            visitor: None,
            conv: Some(ConversationId(7)),
            epoch: Some(Epoch(9)),
        };
        v.on_frame(&welcome, now);
        assert!(v.make().is_some());
        assert!(v.make().is_some());
        let refused = Frame::Err {
            code: ErrorCode::Overloaded,
            cid: Some("v1-2".into()),
        };
        v.on_frame(&refused, now);
        assert_eq!(v.stats.failures["refused"], 1);
        let resent = v.resend();
        assert_eq!(resent.len(), 1);
        assert_eq!(resent[0].cid(), Some("v1-2"));
        let ack = |cid: &str, off: u64| Frame::Ack {
            cid: cid.into(),
            conv: ConversationId(7),
            off: Offset(off),
        };
        v.on_frame(&ack("v1-1", 1), now);
        v.on_frame(&ack("v1-1", 1), now);
        assert_eq!((v.stats.acks, v.stats.dup_acks), (1, 1));
        v.on_frame(&ack("v1-1", 2), now);
        assert!(
            v.violations[0].contains("acked at 7/1 and again at 7/2"),
            "{:?}",
            v.violations
        );
        v.on_frame(&ack("v1-2", 2), now);
        assert_eq!(v.acked["v1-2"], (ConversationId(7), Offset(2)));
        v.on_frame(
            &Frame::Err {
                code: ErrorCode::BadFrame,
                cid: None,
            },
            now,
        );
        assert!(
            v.violations[1].starts_with("unexpected error frame"),
            "{:?}",
            v.violations
        );
    }
}
