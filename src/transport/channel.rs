//! HTTP channels: the server-side stand-in for a socket, shared by long-polling,
//! XDomainRequest and JSONP.
//!
//! Owns: a channel's inbound queue (frames posted by the client), its outbox of
//! sequence-numbered frames kept until the client acknowledges them, the single parked
//! poll, its incomplete JSONP messages (their reassembly rules are `parts`), and the
//! registry of open channels with its bounds (in all, per client address, and a first
//! poll that must come soon after the open), and the timers that close a channel never
//! polled and forget a closed one once its last frames were read (or its client is
//! clearly gone). The connection logic itself is `core::conn`, run over
//! `ChannelTransport` exactly as over a WebSocket, as a connection task of the hub's
//! `Tasks`; the timers are its timers. Knows nothing of what frames mean.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::parts::{PartError, Parts};
use crate::core::budget::{Held, PerAddress};
use crate::core::conn::{self, ConnInfo};
use crate::core::hub::{Hub, TransportKind};
use crate::core::tasks::Tasks;
use crate::core::Shutdown;
use crate::ids::random_token;

mod transport;
pub(crate) use transport::ChannelTransport;

/// Why a channel operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ChannelError {
    #[error("too many open channels")]
    TooManyChannels,
    #[error("too many open channels from this address")]
    TooManyFromAddress,
    #[error("the channel's inbound queue is full; resend later")]
    InboundFull,
    #[error("ack {0} is beyond the last frame sent")]
    AckBeyondSent(u64),
    #[error("part {0} of {1} is out of range")]
    PartOutOfRange(usize, usize),
    #[error("parts of one message disagree on their total")]
    InconsistentParts,
    #[error("too many incomplete messages; finish or wait for expiry")]
    TooManyPending,
    #[error("too many incomplete messages from this address; finish or wait for expiry")]
    TooManyPendingFromAddress,
    #[error("a message of more than {0} parts")]
    TooManyParts(usize),
    #[error("the joined message is over the frame limit")]
    TooBig,
}

impl From<PartError> for ChannelError {
    fn from(e: PartError) -> ChannelError {
        match e {
            PartError::PartOutOfRange(i, n) => ChannelError::PartOutOfRange(i, n),
            PartError::InconsistentParts => ChannelError::InconsistentParts,
            PartError::TooBig => ChannelError::TooBig,
        }
    }
}

/// What a poll returns.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PollResult {
    /// Sequence number of the first frame (frames are numbered consecutively from it).
    pub from: u64,
    pub frames: Vec<Bytes>,
    /// A newer poll on the same channel ended this one.
    pub superseded: bool,
}

/// One incomplete JSONP message: its parts, and when its first part came.
struct Partial {
    parts: Parts,
    started: Instant,
    /// Its place in the opener address's budget of incomplete messages.
    _held: Held,
}

struct State {
    /// Frames posted by the client, waiting for the connection task. Bounded by
    /// `chan_inbound`.
    inbound: VecDeque<String>,
    /// A poll or send arrived since the connection task last looked.
    alive: bool,
    /// The client closed the channel, or it was dropped.
    peer_gone: bool,
    /// Frames sent and not yet acknowledged, with their sequence numbers. Bounded by
    /// `chan_outbox`.
    outbox: VecDeque<(u64, Bytes)>,
    /// Sequence number of the last frame put in the outbox.
    last_seq: u64,
    /// The connection task ended: no frame will ever be added.
    closed: bool,
    /// Identifies the current parked poll; a newer poll bumps it (0: never polled).
    poll_gen: u64,
    /// Incomplete JSONP messages by part id. Bounded by `jsonp_max_pending`.
    partials: HashMap<String, Partial>,
    /// Part ids completed recently, so late repeats are not reassembled again.
    completed: VecDeque<String>,
}

pub(crate) struct Channel {
    pub id: String,
    pub kind: TransportKind,
    state: Mutex<State>,
    /// Wakes the connection task when inbound frames or activity arrive.
    inbound_ready: Notify,
    /// Wakes a send waiting for room in the outbox.
    outbox_room: Notify,
    /// Bumped whenever a parked poll may have something to do (a frame, a close, a
    /// newer poll).
    version: watch::Sender<u64>,
    registry: Arc<Registry>,
    /// The address that opened it: its per-address budgets are charged.
    peer: std::net::IpAddr,
    /// Its place in that address's budget of channels, given back when it is dropped.
    _held: Held,
}

impl Channel {
    /// A channel holding `inbound` (its `hello`), counted against `peer`'s budget by
    /// `held`; `Registry::open` makes them (and the unit tests).
    fn new(
        id: String,
        kind: TransportKind,
        registry: &Arc<Registry>,
        peer: std::net::IpAddr,
        held: Held,
        inbound: VecDeque<String>,
    ) -> Arc<Channel> {
        Arc::new(Channel {
            id,
            kind,
            state: Mutex::new(State {
                inbound,
                alive: false,
                peer_gone: false,
                outbox: VecDeque::new(),
                last_seq: 0,
                closed: false,
                poll_gen: 0,
                partials: HashMap::new(),
                completed: VecDeque::new(),
            }),
            inbound_ready: Notify::new(),
            outbox_room: Notify::new(),
            version: watch::channel(0).0,
            registry: registry.clone(),
            peer,
            _held: held,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// Queue frames posted by the client; all or none.
    pub(crate) fn push_inbound(&self, frames: Vec<String>) -> Result<usize, ChannelError> {
        let n = frames.len();
        {
            let mut s = self.lock();
            if s.inbound.len() + n > self.registry.inbound_cap {
                return Err(ChannelError::InboundFull);
            }
            s.inbound.extend(frames);
            s.alive = true;
        }
        self.inbound_ready.notify_one();
        Ok(n)
    }

    /// Has any poll come for this channel?
    fn was_polled(&self) -> bool {
        self.lock().poll_gen > 0
    }

    /// The client is still there.
    pub(crate) fn touch(&self) {
        self.lock().alive = true;
        self.inbound_ready.notify_one();
    }

    /// The client says goodbye.
    pub(crate) fn close_by_client(&self) {
        self.lock().peer_gone = true;
        self.inbound_ready.notify_one();
    }

    /// Forget frames up to `ack`, then wait (up to `timeout`) for frames after it.
    pub(crate) async fn poll(
        &self,
        ack: u64,
        timeout: Duration,
        mut shutdown: Shutdown,
    ) -> Result<PollResult, ChannelError> {
        let my_gen = {
            let mut s = self.lock();
            if ack > s.last_seq {
                return Err(ChannelError::AckBeyondSent(ack));
            }
            while s.outbox.front().is_some_and(|(seq, _)| *seq <= ack) {
                s.outbox.pop_front();
            }
            s.alive = true;
            s.poll_gen += 1;
            s.poll_gen
        };
        self.outbox_room.notify_one();
        self.inbound_ready.notify_one();
        let mut rx = self.version.subscribe();
        self.bump();
        let deadline = Instant::now() + timeout;
        // Once the server shuts down, the connection task is saying bye: the poll waits
        // for it to close the channel, so the client gets everything up to the `bye` in
        // this answer.
        let mut stopping = false;
        loop {
            rx.borrow_and_update();
            {
                let s = self.lock();
                if s.poll_gen != my_gen {
                    return Ok(PollResult {
                        from: ack + 1,
                        frames: Vec::new(),
                        superseded: true,
                    });
                }
                if s.closed || (!stopping && !s.outbox.is_empty()) {
                    return Ok(Self::outbox(&s, ack));
                }
            }
            tokio::select! {
                r = rx.changed() => if r.is_err() { break },
                _ = tokio::time::sleep_until(deadline) => break,
                _ = shutdown.wait(), if !stopping => stopping = true,
            }
        }
        self.touch();
        Ok(Self::outbox(&self.lock(), ack))
    }

    /// What a poll that acknowledged `ack` answers: every frame still in the outbox.
    fn outbox(s: &State, ack: u64) -> PollResult {
        PollResult {
            from: s.outbox.front().map_or(ack + 1, |f| f.0),
            frames: s.outbox.iter().map(|(_, f)| f.clone()).collect(),
            superseded: false,
        }
    }

    /// Is this channel finished (its connection ended and every frame acknowledged)?
    pub(crate) fn is_finished(&self) -> bool {
        let s = self.lock();
        s.closed && s.outbox.is_empty()
    }

    /// Add part `i` of `n` of message `pid`. Returns `(have, Some(frame))` when this part
    /// completed the message (exactly once per message), else `(have, None)`.
    pub(crate) fn add_part(
        &self,
        pid: &str,
        i: usize,
        n: usize,
        data: String,
        max_bytes: usize,
    ) -> Result<(usize, Option<String>), ChannelError> {
        let r = &self.registry;
        if n == 0 || n > r.max_parts {
            return Err(ChannelError::TooManyParts(r.max_parts));
        }
        if i >= n {
            return Err(ChannelError::PartOutOfRange(i, n));
        }
        let mut s = self.lock();
        self.expire_partials(&mut s);
        if s.completed.iter().any(|c| c == pid) {
            return Ok((n, None));
        }
        if !s.partials.contains_key(pid) {
            if s.partials.len() >= r.max_pending {
                return Err(ChannelError::TooManyPending);
            }
            let Some(held) = r.parts_budget.take(self.peer) else {
                return Err(ChannelError::TooManyPendingFromAddress);
            };
            if !r.reserve_partial() {
                return Err(ChannelError::TooManyPending);
            }
            s.partials.insert(
                pid.to_string(),
                Partial {
                    parts: Parts::new(n),
                    started: Instant::now(),
                    _held: held,
                },
            );
        }
        let p = s.partials.get_mut(pid).expect("inserted above");
        let have = match p.parts.add(i, n, data, max_bytes) {
            Ok(have) => have,
            Err(e) => {
                s.partials.remove(pid);
                r.release_partials(1);
                return Err(e.into());
            }
        };
        if have < n {
            return Ok((have, None));
        }
        let p = s.partials.remove(pid).expect("present");
        r.release_partials(1);
        if s.completed.len() >= 64 {
            s.completed.pop_front();
        }
        s.completed.push_back(pid.to_string());
        Ok((n, Some(p.parts.join())))
    }

    fn expire_partials(&self, s: &mut State) {
        let ttl = self.registry.part_ttl;
        let before = s.partials.len();
        s.partials.retain(|_, p| p.started.elapsed() < ttl);
        self.registry.release_partials(before - s.partials.len());
    }
}

/// All open channels, bounded by `max_channels`.
pub(crate) struct Registry {
    channels: Mutex<HashMap<String, Arc<Channel>>>,
    max_channels: usize,
    inbound_cap: usize,
    outbox_cap: usize,
    max_parts: usize,
    max_pending: usize,
    max_pending_total: usize,
    part_ttl: Duration,
    /// Channels per opener address.
    chans_budget: Arc<PerAddress>,
    /// Incomplete JSONP messages per opener address.
    parts_budget: Arc<PerAddress>,
    /// A channel not polled within this long of its open is closed and forgotten.
    first_poll: Duration,
    /// A closed channel whose client has not polled for this long is forgotten
    /// (`chan_idle_ms`); an open one, silent that long, is closed by its connection.
    idle: Duration,
    /// Incomplete JSONP messages in the process.
    pending_total: AtomicUsize,
    /// Where channels' connection tasks and timers run (shutdown awaits the former).
    tasks: Tasks,
}

impl Registry {
    pub(crate) fn new(hub: &Hub) -> Arc<Registry> {
        let c = hub.config();
        Arc::new(Registry {
            channels: Mutex::new(HashMap::new()),
            max_channels: c.max_channels,
            inbound_cap: c.chan_inbound,
            outbox_cap: c.chan_outbox,
            max_parts: c.jsonp_max_parts,
            max_pending: c.jsonp_max_pending,
            max_pending_total: c.jsonp_max_pending_total,
            part_ttl: Duration::from_millis(c.jsonp_part_ttl_ms),
            chans_budget: hub.per_address().channels.clone(),
            parts_budget: hub.per_address().jsonp_parts.clone(),
            first_poll: Duration::from_millis(c.chan_first_poll_ms),
            idle: c.chan_idle(),
            pending_total: AtomicUsize::new(0),
            tasks: hub.tasks().clone(),
        })
    }

    fn map(&self) -> MutexGuard<'_, HashMap<String, Arc<Channel>>> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reserve_partial(&self) -> bool {
        self.pending_total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_pending_total).then_some(n + 1)
            })
            .is_ok()
    }

    fn release_partials(&self, n: usize) {
        if n > 0 {
            self.pending_total.fetch_sub(n, Ordering::AcqRel);
        }
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<Channel>> {
        self.map().get(id).cloned()
    }

    /// Open channels.
    pub(crate) fn len(&self) -> usize {
        self.map().len()
    }

    /// Open a channel whose first inbound frame is `hello`, and start its connection task.
    pub(crate) fn open(
        self: &Arc<Self>,
        kind: TransportKind,
        hello: String,
        hub: &Hub,
        info: ConnInfo,
        shutdown: Shutdown,
    ) -> Result<Arc<Channel>, ChannelError> {
        let peer = info
            .peer
            .map(|p| p.ip())
            .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into());
        let held = self
            .chans_budget
            .take(peer)
            .ok_or(ChannelError::TooManyFromAddress)?;
        let chan = {
            let mut map = self.map();
            if map.len() >= self.max_channels {
                return Err(ChannelError::TooManyChannels);
            }
            let id = random_token(22);
            let chan = Channel::new(id.clone(), kind, self, peer, held, VecDeque::from([hello]));
            map.insert(id, chan.clone());
            chan
        };
        let transport = ChannelTransport::new(chan.clone(), hub.config().chan_idle());
        let registry = self.clone();
        let hub = hub.clone();
        let c = chan.clone();
        // A client that opens a channel and never polls it is gone (or never was).
        let watched = Arc::downgrade(&chan);
        let first_poll = self.first_poll;
        let opened = Instant::now();
        self.tasks.spawn_timer(async move {
            tokio::time::sleep(first_poll).await;
            if let Some(c) = watched.upgrade() {
                if !c.was_polled() {
                    c.close_by_client();
                }
            }
        });
        self.tasks.spawn_conn(async move {
            conn::run(hub, transport, info, shutdown).await;
            let reap = registry.clone().reap(c, opened, Instant::now());
            registry.tasks.spawn_timer(reap);
        });
        Ok(chan)
    }

    /// Keep the closed channel until its last frames are fetched, or the client is
    /// clearly gone (`chan_idle_ms` without a poll), so the final `bye` can be read; then
    /// forget it. One never polled is kept only until its first poll was due: nobody
    /// will read it.
    async fn reap(self: Arc<Self>, c: Arc<Channel>, opened: Instant, ended: Instant) {
        // Polls (acknowledging frames, or the first one) bump the version.
        let mut rx = c.version.subscribe();
        loop {
            rx.borrow_and_update();
            let until = if c.was_polled() {
                ended + self.idle
            } else {
                opened + self.first_poll
            };
            if c.is_finished() || Instant::now() >= until {
                break;
            }
            tokio::select! {
                r = rx.changed() => if r.is_err() { break },
                _ = tokio::time::sleep_until(until) => {}
            }
        }
        self.remove(&c);
    }

    fn remove(&self, chan: &Arc<Channel>) {
        let mut s = chan.lock();
        let n = s.partials.len();
        s.partials.clear();
        drop(s);
        self.release_partials(n);
        self.map().remove(&chan.id);
    }
}

#[cfg(test)]
mod tests;
