//! One conversation's live stream: its head offset, an in-memory tail of recent entries,
//! and who follows it.
//!
//! Owns: the "no gap, no duplicate" rule on the way down. The single writer publishes
//! committed entries here strictly in offset order; followers are woken and pull what they
//! have not sent yet, from the tail or, when they are further behind, from the store.
//! Knows nothing of transports or SQL.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::signal::Signal;
use crate::ids::{ConversationId, Epoch, Offset, SiteId};

/// What `Stream::read_after` found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// Entries `after+1 ..` (possibly none: the reader is caught up), contiguous.
    Entries(Vec<(Offset, Bytes)>),
    /// The entries right after `after` are no longer in memory: read them from the store.
    FromStore,
}

/// A live stream. Cheap to share (`Arc<Stream>`); its mutable state sits behind a std
/// `Mutex` held only for short, non-async sections.
pub(crate) struct Stream {
    pub conv: ConversationId,
    pub site: SiteId,
    pub epoch: Epoch,
    inner: Mutex<Inner>,
}

struct Inner {
    /// Last committed offset known to this process.
    head: Offset,
    /// The most recent entries as encoded `e` frames, contiguous and ending at `head`
    /// (or empty). Bounded by `cap`.
    tail: VecDeque<(Offset, Bytes)>,
    /// Why bounded: memory per live stream must not grow with its history.
    cap: usize,
    /// Connections to wake when an entry is published.
    followers: Vec<Arc<Signal>>,
}

impl Stream {
    pub(crate) fn new(
        conv: ConversationId,
        site: SiteId,
        epoch: Epoch,
        head: Offset,
        cap: usize,
    ) -> Stream {
        Stream {
            conv,
            site,
            epoch,
            inner: Mutex::new(Inner {
                head,
                tail: VecDeque::new(),
                cap,
                followers: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn head(&self) -> Offset {
        self.lock().head
    }

    /// Record a committed entry and wake every follower. Called by the single writer, in
    /// offset order. An offset at or below the head is ignored (already known); one that
    /// skips ahead (entries committed before this stream was loaded) restarts the tail, so
    /// readers behind it go to the store: the tail never holds a gap.
    pub(crate) fn publish(&self, off: Offset, frame: Bytes) {
        let followers = {
            let mut g = self.lock();
            if off <= g.head {
                return;
            }
            if off != g.head.next() {
                g.tail.clear();
            }
            g.head = off;
            if g.tail.len() == g.cap {
                g.tail.pop_front();
            }
            g.tail.push_back((off, frame));
            g.followers.clone()
        };
        for f in followers {
            f.mark(self.conv);
        }
    }

    /// Learn that the store's head is `head` (read after this stream was registered, so
    /// nothing committed since can have been missed). Wakes followers if it moved.
    pub(crate) fn observe_head(&self, head: Offset) {
        let followers = {
            let mut g = self.lock();
            if head <= g.head {
                return;
            }
            g.head = head;
            g.tail.clear();
            g.followers.clone()
        };
        for f in followers {
            f.mark(self.conv);
        }
    }

    /// Entries after `after`, at most `limit`.
    pub(crate) fn read_after(&self, after: Offset, limit: usize) -> Read {
        let g = self.lock();
        if after >= g.head {
            return Read::Entries(Vec::new());
        }
        match g.tail.front() {
            Some(&(first, _)) if first <= after.next() => {
                let skip = (after.0 + 1 - first.0) as usize;
                Read::Entries(g.tail.iter().skip(skip).take(limit).cloned().collect())
            }
            _ => Read::FromStore,
        }
    }

    /// Add a follower; returns the head at that moment.
    pub(crate) fn add_follower(&self, s: &Arc<Signal>) -> Offset {
        let mut g = self.lock();
        if !g.followers.iter().any(|f| Arc::ptr_eq(f, s)) {
            g.followers.push(s.clone());
        }
        g.head
    }

    /// Remove a follower; returns how many remain.
    pub(crate) fn remove_follower(&self, s: &Arc<Signal>) -> usize {
        let mut g = self.lock();
        g.followers.retain(|f| !Arc::ptr_eq(f, s));
        g.followers.len()
    }

    /// Send a volatile frame to every follower but `except`: `to_agents` to agents'
    /// connections, `to_others` (if any) to the rest.
    pub(crate) fn volatile(
        &self,
        to_agents: Option<&Bytes>,
        to_others: Option<&Bytes>,
        except: &Arc<Signal>,
    ) {
        let followers = self.lock().followers.clone();
        for f in followers.iter().filter(|f| !Arc::ptr_eq(f, except)) {
            let frame = if f.is_agent() { to_agents } else { to_others };
            if let Some(frame) = frame {
                f.push_volatile(frame.clone());
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn follower_count(&self) -> usize {
        self.lock().followers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(head: u64, cap: usize) -> Stream {
        Stream::new(ConversationId(1), SiteId(1), Epoch(7), Offset(head), cap)
    }

    fn offs(r: Read) -> Vec<u64> {
        match r {
            Read::Entries(v) => v.into_iter().map(|(o, _)| o.0).collect(),
            Read::FromStore => vec![u64::MAX],
        }
    }

    #[test]
    fn tail_serves_recent_and_sends_older_to_the_store() {
        let s = stream(0, 3);
        for i in 1..=5 {
            s.publish(Offset(i), Bytes::from(format!("{i}")));
        }
        assert_eq!(s.head(), Offset(5));
        assert_eq!(offs(s.read_after(Offset(2), 10)), vec![3, 4, 5]);
        assert_eq!(offs(s.read_after(Offset(3), 1)), vec![4]);
        assert_eq!(offs(s.read_after(Offset(5), 10)), Vec::<u64>::new());
        assert_eq!(offs(s.read_after(Offset(9), 10)), Vec::<u64>::new());
        assert_eq!(offs(s.read_after(Offset(1), 10)), vec![u64::MAX]);
    }

    #[test]
    fn duplicates_are_ignored_and_a_skip_restarts_the_tail() {
        let s = stream(10, 8);
        s.publish(Offset(11), Bytes::new());
        s.publish(Offset(11), Bytes::new());
        s.publish(Offset(9), Bytes::new());
        assert_eq!(offs(s.read_after(Offset(10), 10)), vec![11]);
        s.publish(Offset(14), Bytes::new());
        assert_eq!(s.head(), Offset(14));
        // 12 and 13 were never published here: readers before them go to the store.
        assert_eq!(offs(s.read_after(Offset(11), 10)), vec![u64::MAX]);
        assert_eq!(offs(s.read_after(Offset(13), 10)), vec![14]);
    }

    #[test]
    fn publish_wakes_followers_once_per_stream() {
        let s = stream(0, 8);
        let a = Arc::new(Signal::new(8));
        assert_eq!(s.add_follower(&a), Offset(0));
        s.add_follower(&a);
        assert_eq!(s.follower_count(), 1);
        s.publish(Offset(1), Bytes::new());
        s.publish(Offset(2), Bytes::new());
        assert_eq!(a.take_dirty(), vec![ConversationId(1)]);
        assert!(a.take_dirty().is_empty());
        assert_eq!(s.remove_follower(&a), 0);
        s.publish(Offset(3), Bytes::new());
        assert!(a.take_dirty().is_empty());
    }

    #[test]
    fn observe_head_moves_forward_only() {
        let s = stream(4, 8);
        s.observe_head(Offset(3));
        assert_eq!(s.head(), Offset(4));
        s.observe_head(Offset(6));
        assert_eq!(s.head(), Offset(6));
        assert_eq!(offs(s.read_after(Offset(4), 10)), vec![u64::MAX]);
    }
}
