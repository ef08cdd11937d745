//! The live streams of this process, sharded by conversation id.
//!
//! Owns: which streams are in memory. A stream is in memory exactly while someone follows
//! it; the writer publishes to it if it is, and skips it if not (the store has every
//! entry). Following and releasing happen under the shard lock, so a follower can never
//! attach to a stream that was just dropped from the map.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use super::signal::Signal;
use super::stream::Stream;
use crate::ids::{ConversationId, Offset, SiteId};

const SHARDS: usize = 16;

pub(crate) struct Registry {
    /// Why sharded: connections on different conversations follow and release without
    /// contending on one lock.
    shards: Vec<Mutex<HashMap<ConversationId, Arc<Stream>>>>,
}

impl Registry {
    pub(crate) fn new() -> Registry {
        Registry {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, conv: ConversationId) -> MutexGuard<'_, HashMap<ConversationId, Arc<Stream>>> {
        self.shards[(conv.0 as u64 % SHARDS as u64) as usize]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Hand a committed entry to the live stream, if any.
    pub(crate) fn publish(&self, conv: ConversationId, off: Offset, frame: Bytes) {
        let stream = self.shard(conv).get(&conv).cloned();
        if let Some(s) = stream {
            s.publish(off, frame);
        }
    }

    /// The head of `conv` if its stream is in memory.
    pub(crate) fn head(&self, conv: ConversationId) -> Option<Offset> {
        self.shard(conv).get(&conv).map(|s| s.head())
    }

    /// The site of `conv` if its stream is in memory.
    pub(crate) fn site(&self, conv: ConversationId) -> Option<SiteId> {
        self.shard(conv).get(&conv).map(|s| s.site)
    }

    /// Follow the live stream of `conv` if it is in memory.
    pub(crate) fn follow(
        &self,
        conv: ConversationId,
        sig: &Arc<Signal>,
    ) -> Option<(Arc<Stream>, Offset)> {
        let map = self.shard(conv);
        let s = map.get(&conv)?.clone();
        let head = s.add_follower(sig);
        Some((s, head))
    }

    /// Put `stream` in memory (unless another task just did) and follow it.
    pub(crate) fn insert_and_follow(
        &self,
        stream: Stream,
        sig: &Arc<Signal>,
    ) -> (Arc<Stream>, Offset) {
        let mut map = self.shard(stream.conv);
        let s = map
            .entry(stream.conv)
            .or_insert_with(|| Arc::new(stream))
            .clone();
        let head = s.add_follower(sig);
        (s, head)
    }

    /// Stop following; drop the stream from memory when nobody follows it any more.
    pub(crate) fn release(&self, stream: &Arc<Stream>, sig: &Arc<Signal>) {
        let mut map = self.shard(stream.conv);
        if stream.remove_follower(sig) == 0 {
            if let Some(cur) = map.get(&stream.conv) {
                if Arc::ptr_eq(cur, stream) {
                    map.remove(&stream.conv);
                }
            }
        }
    }

    /// Drop every stream of `site` from memory, followed or not: this node stopped serving
    /// the site, so another may append to its conversations, and a stream kept here would
    /// have a stale head when the site comes back (its followers are being sent away;
    /// their releases leave any newer stream alone). How many were dropped.
    pub(crate) fn forget_site(&self, site: SiteId) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
                let before = map.len();
                map.retain(|_, s| s.site != site);
                before - map.len()
            })
            .sum()
    }

    /// Drop the stream of `conv` from memory, followed or not (its conversation was
    /// deleted).
    pub(crate) fn forget(&self, conv: ConversationId) {
        self.shard(conv).remove(&conv);
    }

    /// Streams in memory (for stats and tests).
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{Epoch, SiteId};

    #[test]
    fn a_stream_lives_while_followed() {
        let r = Registry::new();
        let a = Arc::new(Signal::new(8));
        let b = Arc::new(Signal::new(8));
        let conv = ConversationId(3);
        assert!(r.follow(conv, &a).is_none());
        let mk = || Stream::new(conv, SiteId(1), Epoch(1), Offset(0), 4);
        let (s1, _) = r.insert_and_follow(mk(), &a);
        let (s2, _) = r.insert_and_follow(mk(), &b);
        assert!(Arc::ptr_eq(&s1, &s2));
        r.publish(conv, Offset(1), Bytes::from_static(b"x"));
        assert_eq!(a.take_dirty(), vec![conv]);
        assert_eq!(b.take_dirty(), vec![conv]);
        r.release(&s1, &a);
        assert_eq!(r.len(), 1);
        r.release(&s2, &b);
        assert_eq!(r.len(), 0);
        // Publishing to a stream nobody follows is a no-op: the store has the entry.
        r.publish(conv, Offset(2), Bytes::new());
    }

    #[test]
    fn a_site_that_moved_away_leaves_no_stream_behind() {
        let r = Registry::new();
        let a = Arc::new(Signal::new(8));
        let (one, other) = (ConversationId(3), ConversationId(4));
        let (old, _) = r.insert_and_follow(Stream::new(one, SiteId(1), Epoch(1), Offset(5), 4), &a);
        r.insert_and_follow(Stream::new(other, SiteId(2), Epoch(1), Offset(0), 4), &a);
        assert_eq!(r.forget_site(SiteId(1)), 1);
        assert_eq!((r.head(one), r.site(other)), (None, Some(SiteId(2))));
        // The site came back: a fresh stream, at the head the log has now.
        let (new, head) =
            r.insert_and_follow(Stream::new(one, SiteId(1), Epoch(1), Offset(9), 4), &a);
        assert_eq!(head, Offset(9));
        // The old stream's last follower leaves: the fresh one stays.
        r.release(&old, &a);
        assert!(r
            .follow(one, &a)
            .is_some_and(|(s, _)| Arc::ptr_eq(&s, &new)));
    }
}
