//! The doorbell of one connection: which followed streams have news, and whether its
//! session changed.
//!
//! Owns: waking a connection task without queueing data for it. Data stays in the streams
//! (and the store); a connection pulls what it has not sent yet, so a slow connection
//! costs no memory. Knows nothing of transports.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::Notify;

use crate::ids::ConversationId;

pub(crate) struct Signal {
    /// Wakes the connection task; a wake with no waiter is remembered (one permit).
    notify: Notify,
    /// Streams published to since the task last looked. Bounded by the number of streams
    /// the connection follows (`max_follows`): each appears at most once.
    dirty: Mutex<Vec<ConversationId>>,
    /// The session's conversation changed (opened from another tab).
    session_changed: AtomicBool,
    /// Volatile frames (presence, typing, invitations) waiting to be written. Bounded by
    /// `cap`: on overflow the queue is dropped and `resync` set, so the connection sends
    /// a fresh snapshot instead — volatile state is replaced, never accumulated.
    volatile: Mutex<VecDeque<Bytes>>,
    cap: usize,
    resync: AtomicBool,
    /// The connection belongs to an agent (typing drafts go only to agents).
    agent: AtomicBool,
    /// Its agent's account was removed: the connection ends (`UNAUTHORIZED`).
    revoked: AtomicBool,
    /// Its site moved to another node: where to send the client (empty: to the router).
    moved: Mutex<Option<String>>,
}

impl Signal {
    pub(crate) fn new(volatile_cap: usize) -> Signal {
        Signal {
            notify: Notify::new(),
            dirty: Mutex::new(Vec::new()),
            session_changed: AtomicBool::new(false),
            volatile: Mutex::new(VecDeque::new()),
            cap: volatile_cap.max(1),
            resync: AtomicBool::new(false),
            agent: AtomicBool::new(false),
            revoked: AtomicBool::new(false),
            moved: Mutex::new(None),
        }
    }

    /// The connection's site moved to the node at `url`: the connection ends with
    /// `MOVED`.
    pub(crate) fn mark_moved(&self, url: &str) {
        *self.moved.lock().unwrap_or_else(|p| p.into_inner()) = Some(url.to_string());
        self.notify.notify_one();
    }

    /// The connection's agent account was removed: the connection ends.
    pub(crate) fn mark_revoked(&self) {
        self.revoked.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    pub(crate) fn take_revoked(&self) -> bool {
        self.revoked.swap(false, Ordering::AcqRel)
    }

    pub(crate) fn take_moved(&self) -> Option<String> {
        self.moved.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Queue a volatile frame (see `volatile`).
    pub(crate) fn push_volatile(&self, frame: Bytes) {
        {
            let mut q = self.volatile.lock().unwrap_or_else(|p| p.into_inner());
            if q.len() >= self.cap {
                q.clear();
                self.resync.store(true, Ordering::Release);
            } else {
                q.push_back(frame);
            }
        }
        self.notify.notify_one();
    }

    pub(crate) fn take_volatile(&self) -> VecDeque<Bytes> {
        std::mem::take(&mut *self.volatile.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub(crate) fn take_resync(&self) -> bool {
        self.resync.swap(false, Ordering::AcqRel)
    }

    pub(crate) fn set_agent(&self) {
        self.agent.store(true, Ordering::Release);
    }

    pub(crate) fn is_agent(&self) -> bool {
        self.agent.load(Ordering::Acquire)
    }

    /// Stream `conv` has new entries.
    pub(crate) fn mark(&self, conv: ConversationId) {
        {
            let mut d = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
            if !d.contains(&conv) {
                d.push(conv);
            }
        }
        self.notify.notify_one();
    }

    /// The session's conversation changed.
    pub(crate) fn mark_session(&self) {
        self.session_changed.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    pub(crate) fn take_dirty(&self) -> Vec<ConversationId> {
        std::mem::take(&mut *self.dirty.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub(crate) fn take_session_changed(&self) -> bool {
        self.session_changed.swap(false, Ordering::AcqRel)
    }

    pub(crate) async fn notified(&self) {
        self.notify.notified().await
    }
}
