//! A client that follows the protocol to the letter, and the checks made on what it saw.
//!
//! Owns: [`Peer`] — one visitor or agent: its streams (conv, epoch, last offset held,
//! every entry received), its unacked messages (resent after every reconnect), hello with
//! `resume`, re-follows after a reconnect, dedupe by offset — and [`drive`], which keeps a
//! peer connected over a chosen mix of transports until its work is done or time is up,
//! measuring ack and delivery latency on the way. `verify.rs` checks what peers saw
//! against the stored log.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Visitor,
    Agent,
}

/// One stream as a peer sees it.
#[derive(Debug, Default, Clone)]
pub struct View {
    pub epoch: Option<u64>,
    /// The last offset held.
    pub last: u64,
    /// Every entry received, in order: (offset, cid).
    pub seen: Vec<(u64, String)>,
    /// Chat messages among them (the server may add other kinds, e.g. `join`).
    pub msgs: u64,
    /// Messages this peer expects in the stream before it is done.
    pub expect: u64,
}

struct Pending {
    cid: String,
    conv: Option<i64>,
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
    pub role: Role,
    pub name: String,
    site: String,
    /// Visitor token (from `welcome`) or agent sign-in token.
    pub token: Option<String>,
    pub views: BTreeMap<i64, View>,
    pending: VecDeque<Pending>,
    /// cid → (conv, off) of every acknowledged message of this peer.
    pub acked: HashMap<String, (i64, u64)>,
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
    made_to: HashMap<i64, u64>,
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
    pub fn conv(&self) -> Option<i64> {
        self.views.keys().next().copied()
    }

    /// The first frame of every link.
    pub fn hello(&self) -> Value {
        let mut h = json!({"t": "hello", "v": 1, "site": self.site});
        match self.role {
            Role::Visitor => {
                h["role"] = json!("visitor");
                if let Some(t) = &self.token {
                    h["visitor"] = json!(t);
                }
                if let Some((conv, v)) = self.views.iter().next() {
                    if let Some(epoch) = v.epoch {
                        h["resume"] = json!({"conv": conv, "epoch": epoch, "after": v.last});
                    }
                }
            }
            Role::Agent => {
                h["role"] = json!("agent");
                h["token"] = json!(self.token.clone().unwrap_or_default());
            }
        }
        h
    }

    /// An agent starts watching `conv` (followed from the next link on, or now).
    pub fn watch(&mut self, conv: i64) -> Option<Value> {
        let welcomed = self.welcomed;
        let v = self.view(conv);
        welcomed.then(|| follow(conv, v))
    }

    fn view(&mut self, conv: i64) -> &mut View {
        let expect = self.expect_each;
        self.views.entry(conv).or_insert_with(|| View {
            expect,
            ..View::default()
        })
    }

    /// Make a new message (to the next conversation in turn, for an agent).
    pub fn make(&mut self) -> Option<Value> {
        let conv = match self.role {
            Role::Visitor => self.conv(),
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
    fn resend(&mut self) -> Vec<Value> {
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
    pub fn on_frame(&mut self, f: &Value, at: Instant) -> Vec<Value> {
        let t = f["t"].as_str().unwrap_or("");
        let conv = f["conv"].as_i64();
        match t {
            "welcome" => {
                self.welcomed = true;
                if self.role == Role::Visitor {
                    if let Some(v) = f["visitor"].as_str() {
                        self.token = Some(v.to_string());
                    }
                    if let (Some(c), Some(e)) = (conv, f["epoch"].as_u64()) {
                        self.set_epoch(c, e);
                    }
                    self.resend()
                } else {
                    let mut out: Vec<Value> =
                        self.views.iter().map(|(c, v)| follow(*c, v)).collect();
                    out.extend(self.resend());
                    out
                }
            }
            "conv" | "following" => {
                if let (Some(c), Some(e)) = (conv, f["epoch"].as_u64()) {
                    self.set_epoch(c, e);
                }
                Vec::new()
            }
            "e" => self.on_entry(f, at),
            "ack" => {
                self.on_ack(f, at);
                Vec::new()
            }
            "err" => self.on_err(f),
            "ping" => vec![json!({"t": "pong"})],
            _ => Vec::new(),
        }
    }

    fn set_epoch(&mut self, conv: i64, epoch: u64) {
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
                    .push(format!("conv {conv}: epoch changed {e} → {epoch}"));
            }
            _ => v.epoch = Some(epoch),
        }
    }

    fn on_entry(&mut self, f: &Value, at: Instant) -> Vec<Value> {
        let (Some(conv), Some(off)) = (f["conv"].as_i64(), f["off"].as_u64()) else {
            self.violations.push(format!("entry without conv/off: {f}"));
            return Vec::new();
        };
        let cid = f["cid"].as_str().unwrap_or("").to_string();
        let last = self.view(conv).last;
        if off <= last {
            self.violations
                .push(format!("conv {conv}: duplicate entry {off} (held {last})"));
            return Vec::new();
        }
        if off != last + 1 {
            self.violations
                .push(format!("conv {conv}: gap: got {off} after {last}"));
            return vec![follow(conv, self.view(conv))];
        }
        let v = self.view(conv);
        v.last = off;
        if f["kind"] == "msg" {
            v.msgs += 1;
        }
        v.seen.push((off, cid.clone()));
        self.stats.entries += 1;
        if !cid.starts_with(&format!("{}-", self.name)) {
            if let Some(sent) = f["body"]
                .as_str()
                .and_then(|b| b.split(' ').nth(1))
                .and_then(|s| s.parse::<u64>().ok())
            {
                let arrived = now_us().saturating_sub(at.elapsed().as_micros() as u64);
                self.stats.e2e_us.push(arrived.saturating_sub(sent));
            }
        }
        Vec::new()
    }

    fn on_ack(&mut self, f: &Value, at: Instant) {
        let (Some(cid), Some(conv), Some(off)) =
            (f["cid"].as_str(), f["conv"].as_i64(), f["off"].as_u64())
        else {
            self.violations.push(format!("bad ack {f}"));
            return;
        };
        if let Some(&(c0, o0)) = self.acked.get(cid) {
            if (c0, o0) != (conv, off) {
                self.violations.push(format!(
                    "{cid} acked at {c0}/{o0} and again at {conv}/{off}"
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

    fn on_err(&mut self, f: &Value) -> Vec<Value> {
        let code = f["code"].as_str().unwrap_or("");
        match code {
            "overloaded" | "store" => {
                self.stats.fail("refused", format!("err {code}"));
                if let Some(p) = self
                    .pending
                    .iter_mut()
                    .find(|p| Some(p.cid.as_str()) == f["cid"].as_str())
                {
                    p.sent = false; // resent on the next tick
                }
                Vec::new()
            }
            _ => {
                self.violations.push(format!("unexpected error frame {f}"));
                Vec::new()
            }
        }
    }

    /// Nothing left to send, everything acknowledged and every expected entry held.
    pub fn settled(&self, to_make: u64) -> bool {
        self.made >= to_make
            && self.pending.is_empty()
            && self.views.values().all(|v| v.msgs >= v.expect)
    }
}

fn follow(conv: i64, v: &View) -> Value {
    let mut f = json!({"t": "follow", "conv": conv, "after": v.last});
    if let Some(e) = v.epoch {
        f["epoch"] = json!(e);
    }
    f
}

fn msg_frame(p: &Pending) -> Value {
    let mut f = json!({"t": "msg", "cid": p.cid, "body": p.body});
    if let Some(c) = p.conv {
        f["conv"] = json!(c);
    }
    f
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
    mut convs: Option<mpsc::UnboundedReceiver<i64>>,
    report: Option<mpsc::UnboundedSender<i64>>,
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
                        if f["t"] == "typing" {
                            if let Some(c) = &work.counters {
                                c.typing.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        if f["t"] == "welcome" {
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
                        Down::Frame(f, _) if f["t"] == "bye" || f["t"] == "err" => {
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
