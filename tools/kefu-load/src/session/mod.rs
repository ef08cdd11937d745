//! A client that follows the protocol to the letter, and the checks made on what it saw.
//!
//! Owns: [`Peer`] — one visitor or agent: its streams (conv, epoch, last offset held,
//! every entry received), its unacked messages (resent after every reconnect), hello with
//! `resume`, re-follows after a reconnect, dedupe by offset, ack and delivery latency.
//! Frames go up as the protocol's own `ClientFrame`s and come down as [`Frame`]s; which
//! link carries them is `drive.rs`'s business, not the peer's. `verify.rs` checks what
//! peers saw against the stored log.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};

use kefu::ids::{ConversationId, Epoch, Offset};
use kefu::protocol::{ClientFrame, ErrorCode, Hello, Position, Role, VERSION};
use tokio::time::Instant;

use crate::frames::{Entry, Frame};

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

    /// Welcomed on the current link: messages go out as they are made.
    pub(crate) fn welcomed(&self) -> bool {
        self.welcomed
    }

    /// Messages made and not acknowledged yet.
    pub(crate) fn unacked(&self) -> usize {
        self.pending.len()
    }

    /// Unsent messages (after a reconnect, or refused with `overloaded`), in order.
    pub(crate) fn resend(&mut self) -> Vec<ClientFrame> {
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

    /// The link is gone: nothing is welcomed, every unacknowledged message is to be
    /// sent again.
    pub(crate) fn link_lost(&mut self) {
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
        cid: kefu::ids::ClientMsgId(p.cid.clone()),
        body: p.body.clone(),
        conv: p.conv,
        contact: None,
    }
}

#[cfg(test)]
mod tests;
