//! The `Transport` a connection task sees for a channel.
//!
//! Owns: turning the connection's writes into outbox frames in batches — what it feeds
//! stays here until it flushes, so a poll answer carries a whole batch (everything one
//! wake of the connection loop found to send), never part of one — and waiting for room
//! when the outbox is at its bound. A close lets out everything fed, even a frame whose
//! write timed out (normally the `bye`), so the client learns why the channel ended.
//! Knows nothing of what frames mean, nor of HTTP.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::{Channel, State};
use crate::core::conn::{Inbound, Transport, TransportClosed};
use crate::core::hub::TransportKind;

pub(crate) struct ChannelTransport {
    chan: Arc<Channel>,
    /// The channel is dead after this long without a poll or send (`chan_idle_ms`).
    idle: Duration,
    /// Frames fed since the last flush, not yet in the outbox (a poll cannot see them).
    /// At most what fits in the outbox, and one more when a write timed out waiting for
    /// room (the connection closes then; `close` lets that one out too).
    batch: Vec<Bytes>,
}

impl ChannelTransport {
    pub(super) fn new(chan: Arc<Channel>, idle: Duration) -> ChannelTransport {
        ChannelTransport {
            chan,
            idle,
            batch: Vec::new(),
        }
    }
}

/// Move the first `n` frames of `batch` to the outbox, numbered. Whether any moved (then
/// the caller wakes a parked poll).
fn publish(batch: &mut Vec<Bytes>, s: &mut State, n: usize) -> bool {
    let n = n.min(batch.len());
    for frame in batch.drain(..n) {
        s.last_seq += 1;
        let seq = s.last_seq;
        s.outbox.push_back((seq, frame));
    }
    n > 0
}

impl Transport for ChannelTransport {
    fn kind(&self) -> TransportKind {
        self.chan.kind
    }

    fn liveness(&self) -> Option<Duration> {
        Some(self.idle)
    }

    async fn recv(&mut self) -> Inbound {
        loop {
            {
                let mut s = self.chan.lock();
                if let Some(f) = s.inbound.pop_front() {
                    return Inbound::Text(f);
                }
                if s.peer_gone {
                    return Inbound::Closed;
                }
                if s.alive {
                    s.alive = false;
                    return Inbound::Alive;
                }
            }
            self.chan.inbound_ready.notified().await;
        }
    }

    async fn send(&mut self, frame: Bytes) -> Result<(), TransportClosed> {
        self.feed(frame).await?;
        self.flush().await
    }

    async fn feed(&mut self, frame: Bytes) -> Result<(), TransportClosed> {
        let cap = self.chan.registry.outbox_cap;
        {
            let s = self.chan.lock();
            if s.outbox.len() + self.batch.len() > cap {
                // The last frame's write timed out waiting for room: this one replaces it.
                self.batch.pop();
            }
        }
        self.batch.push(frame);
        loop {
            {
                let mut s = self.chan.lock();
                if s.peer_gone {
                    return Err(TransportClosed);
                }
                if s.outbox.len() + self.batch.len() <= cap {
                    return Ok(());
                }
                // No room for the whole batch: what fits goes out now, so the client's
                // next poll can take it and make room for the rest.
                let fits = cap.saturating_sub(s.outbox.len());
                let woke = publish(&mut self.batch, &mut s, fits);
                drop(s);
                if woke {
                    self.chan.bump();
                }
            }
            self.chan.outbox_room.notified().await;
        }
    }

    async fn flush(&mut self) -> Result<(), TransportClosed> {
        let mut s = self.chan.lock();
        if s.peer_gone {
            return Err(TransportClosed);
        }
        let n = self.batch.len();
        let woke = publish(&mut self.batch, &mut s, n);
        drop(s);
        if woke {
            self.chan.bump();
        }
        Ok(())
    }

    async fn close(&mut self, _code: u16, _reason: &str) {
        // The `bye` (`conn::run` sends it before closing) is the channel's close frame:
        // everything fed goes out, over the outbox bound by one if the bye could not
        // wait for room (the slow case), so the client always learns why it ended.
        let mut s = self.chan.lock();
        if !s.peer_gone {
            let n = self.batch.len();
            publish(&mut self.batch, &mut s, n);
        }
        s.closed = true;
        drop(s);
        self.chan.bump();
    }
}

impl Drop for ChannelTransport {
    fn drop(&mut self) {
        // However the connection ended, the channel takes no more frames.
        let mut s = self.chan.lock();
        s.closed = true;
        drop(s);
        self.chan.bump();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::super::{PollResult, Registry};
    use super::*;
    use crate::config::Config;
    use crate::core::hub::Hub;
    use crate::core::Shutdown;
    use crate::store::{self, Options};

    /// A registry whose outbox holds 8 frames, and one channel of it that no connection
    /// task drives: the test is the connection.
    fn channel() -> (Hub, Arc<Channel>) {
        let config = Config {
            chan_outbox: 8,
            ..Config::default()
        };
        let store = store::open("memory://", &Options::default()).unwrap();
        let hub = Hub::start(Arc::new(config), Arc::from(store), Vec::new(), None);
        let registry = Registry::new(&hub);
        let peer = std::net::Ipv4Addr::LOCALHOST.into();
        let held = registry.chans_budget.take(peer).unwrap();
        let chan = Channel::new(
            "c".into(),
            TransportKind::LongPoll,
            &registry,
            peer,
            held,
            VecDeque::new(),
        );
        (hub, chan)
    }

    fn frame(i: usize) -> Bytes {
        Bytes::from(format!("{{\"t\":\"e\",\"off\":{i}}}"))
    }

    fn offs(r: &PollResult) -> Vec<usize> {
        r.frames
            .iter()
            .map(|f| {
                let v: serde_json::Value = serde_json::from_slice(f).unwrap();
                v["off"].as_u64().unwrap() as usize
            })
            .collect()
    }

    /// A poll parked on the channel, answering after `ack`.
    fn park(chan: &Arc<Channel>, ack: u64) -> tokio::task::JoinHandle<PollResult> {
        let chan = chan.clone();
        let (trigger, shutdown) = Shutdown::new();
        tokio::spawn(async move {
            // A dropped trigger counts as a shutdown: keep it for the poll's life.
            let _trigger = trigger;
            chan.poll(ack, Duration::from_secs(10), shutdown)
                .await
                .unwrap()
        })
    }

    /// Let every other task run until it waits.
    async fn settle() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    #[tokio::test]
    async fn a_parked_poll_answers_with_the_whole_batch() {
        let (_hub, chan) = channel();
        let mut t = ChannelTransport::new(chan.clone(), Duration::from_secs(30));
        let poll = park(&chan, 0);
        settle().await;
        for i in 1..=3 {
            t.feed(frame(i)).await.unwrap();
            settle().await;
        }
        assert!(!poll.is_finished(), "fed frames wait for the flush");
        t.flush().await.unwrap();
        let r = poll.await.unwrap();
        assert_eq!((r.from, offs(&r)), (1, vec![1, 2, 3]));
        // `send` is one frame and its flush.
        let poll = park(&chan, 3);
        settle().await;
        t.send(frame(4)).await.unwrap();
        let r = poll.await.unwrap();
        assert_eq!((r.from, offs(&r)), (4, vec![4]));
    }

    #[tokio::test]
    async fn a_batch_over_the_outbox_bound_goes_out_as_room_is_made() {
        let (_hub, chan) = channel();
        let mut t = ChannelTransport::new(chan.clone(), Duration::from_secs(30));
        let writer = tokio::spawn(async move {
            for i in 1..=10 {
                t.feed(frame(i)).await.unwrap();
            }
            t.flush().await.unwrap();
            t
        });
        settle().await;
        assert!(!writer.is_finished(), "the ninth frame waits for room");
        // What fits went out at once, so the client can take it and make room.
        let r = park(&chan, 0).await.unwrap();
        assert_eq!((r.from, offs(&r)), (1, (1..=8).collect::<Vec<_>>()));
        let r = park(&chan, 8).await.unwrap();
        assert_eq!((r.from, offs(&r)), (9, vec![9, 10]));
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn a_close_lets_out_the_bye_that_could_not_wait_for_room() {
        let (_hub, chan) = channel();
        let mut t = ChannelTransport::new(chan.clone(), Duration::from_secs(30));
        for i in 1..=8 {
            t.feed(frame(i)).await.unwrap();
        }
        t.flush().await.unwrap();
        // The client takes nothing: an entry's write times out, then the bye's.
        let slow = tokio::time::timeout(Duration::from_millis(20), t.feed(frame(9))).await;
        assert!(slow.is_err());
        let bye = Bytes::from_static(b"{\"t\":\"bye\",\"code\":4001,\"reason\":\"slow\"}");
        let late = tokio::time::timeout(Duration::from_millis(20), t.send(bye.clone())).await;
        assert!(late.is_err());
        t.close(4001, "slow").await;
        let r = park(&chan, 0).await.unwrap();
        assert_eq!(r.frames.len(), 9, "over the bound by one");
        assert_eq!(r.frames.last(), Some(&bye));
        drop(t);
        assert!(!chan.is_finished(), "until the client has read the bye");
        park(&chan, 9).await.unwrap();
        assert!(chan.is_finished());
    }
}
