//! Keeping one peer connected: [`drive`] opens a link over a transport chosen at random
//! from the work's mix on every (re)connect, feeds the peer what comes down and sends
//! what it answers, makes its messages at the work's pace, and notices dead, cut or
//! closed links. The peer itself (`session/`) knows nothing of links.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kefu::ids::ConversationId;
use kefu::protocol::close;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::frames::Frame;
use crate::net::{Down, Link, Target, Tr};
use crate::session::Peer;

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
    let mut was_up = false;
    'links: while Instant::now() < work.deadline && !*stop.borrow() {
        if peer.settled(work.messages) && !work.linger && convs.is_none() {
            return;
        }
        if was_up {
            // A welcomed link was lost (cut on command, or its server died): what was
            // held back for after the cut is made now.
            limit = work.messages;
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
                            was_up = true;
                            backoff = Duration::from_millis(20);
                            if let Some(c) = &work.counters {
                                c.welcomes.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        out = peer.on_frame(&f, at);
                    }
                    Some(Down::Alive) => last_rx = Instant::now(),
                    Some(Down::Closed(Some(code))) if !close::should_reconnect(code) => {
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
            while peer.welcomed()
                && peer.made < limit
                && peer.unacked() < work.window
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
