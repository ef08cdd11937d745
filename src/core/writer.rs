//! The single writer: every durable write of the process goes through one thread that
//! batches appends from all sessions into one transaction (group commit).
//!
//! Owns: batching, the order in which committed entries are published (strictly the
//! commit order, so each stream sees its offsets in sequence), answering each append only
//! after its commit, and flushing everything queued before it stops. Knows the `Store`
//! trait, not any database.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use super::cluster::Cluster;
use super::metrics::Metrics;
use super::registry::Registry;
use crate::ids::{ConversationId, SiteId, VisitorId};
use crate::protocol::{EntryFrame, ErrorCode, ServerFrame};
use crate::store::{Appended, DeletedVisitor, Fence, NewEntry, Reopen, Store, StoreError};

/// Why an append was not done. Nothing was acknowledged; the client may resend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AppendError {
    #[error("the writer queue is full")]
    Overloaded,
    #[error("the store failed: {0}")]
    Store(String),
    #[error("the server is shutting down")]
    Closed,
    /// Another node serves the entry's site now: the client is sent there.
    #[error("this node no longer serves the site")]
    Fenced,
}

impl AppendError {
    /// The `err` code a client is told: a full queue is `overloaded`, anything else
    /// `store`. Both mean "resend after a backoff".
    pub(crate) fn code(&self) -> ErrorCode {
        match self {
            AppendError::Overloaded => ErrorCode::Overloaded,
            AppendError::Store(_) | AppendError::Closed | AppendError::Fenced => ErrorCode::Store,
        }
    }
}

enum Command {
    Append {
        entry: NewEntry,
        reply: oneshot::Sender<Result<Appended, AppendError>>,
    },
    /// Reopen a closed conversation.
    Reopen {
        conv: ConversationId,
        reply: oneshot::Sender<Result<Reopen, AppendError>>,
    },
    /// Delete a visitor's data (after the entries queued before this, its closes say).
    DeleteVisitor {
        site: SiteId,
        visitor: VisitorId,
        reply: oneshot::Sender<Result<Option<DeletedVisitor>, AppendError>>,
    },
    /// Flush everything queued before this, then stop.
    Stop,
}

/// Cheap-to-clone handle to the writer thread.
#[derive(Clone)]
pub(crate) struct Writer {
    /// Bounded (`writer_queue`): a full queue answers `Overloaded` at once instead of
    /// letting memory grow.
    tx: mpsc::Sender<Command>,
    /// Why the last write failed, while no write has succeeded since (a full disk, a lost
    /// database): what `/healthz` reports.
    failing: Arc<Mutex<Option<String>>>,
    /// When the writer last finished a command (ms since the Unix epoch): with writes
    /// waiting and this long ago, the writer is stalled.
    progress: Arc<AtomicI64>,
}

impl Writer {
    /// Start the writer thread.
    /// `cluster`: a node of a cluster fences every commit with the leases it holds.
    pub(crate) fn spawn(
        store: Arc<dyn Store>,
        registry: Arc<Registry>,
        metrics: Arc<Metrics>,
        cluster: Option<Arc<Cluster>>,
        queue: usize,
        batch: usize,
    ) -> (Writer, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(queue);
        let failing = Arc::new(Mutex::new(None));
        let progress = Arc::new(AtomicI64::new(crate::store::now_ms()));
        let cx = Ctx {
            store,
            registry,
            metrics,
            cluster: cluster.filter(|c| c.me().is_some()),
            failing: failing.clone(),
            progress: progress.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("kefu-writer".into())
            .spawn(move || run(cx, rx, batch))
            .expect("spawn writer thread");
        (
            Writer {
                tx,
                failing,
                progress,
            },
            handle,
        )
    }

    /// Writes have waited for longer than `after_ms` without the writer finishing any:
    /// how many wait, and for how long it has finished none.
    pub(crate) fn stalled(&self, after_ms: i64) -> Option<(usize, i64)> {
        let waiting = self.queued();
        let idle = crate::store::now_ms() - self.progress.load(Ordering::Relaxed);
        (waiting > 0 && idle > after_ms).then_some((waiting, idle))
    }

    /// Commands waiting in the queue now.
    pub(crate) fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Why writes are failing now, if they are.
    pub(crate) fn failing(&self) -> Option<String> {
        self.failing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Queue an append; the receiver answers after the commit.
    pub(crate) fn append(
        &self,
        entry: NewEntry,
    ) -> Result<oneshot::Receiver<Result<Appended, AppendError>>, AppendError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .try_send(Command::Append { entry, reply })
            .map_err(refused)?;
        Ok(rx)
    }

    /// Reopen `conv` (after the entries and the close queued before this).
    pub(crate) async fn reopen(&self, conv: ConversationId) -> Result<Reopen, AppendError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .try_send(Command::Reopen { conv, reply })
            .map_err(refused)?;
        rx.await.unwrap_or(Err(AppendError::Closed))
    }

    /// Delete visitor `visitor` of `site` and its conversations, after everything queued
    /// before: no append of this node lands between the closes queued for them and the
    /// deletion.
    pub(crate) async fn delete_visitor(
        &self,
        site: SiteId,
        visitor: VisitorId,
    ) -> Result<Option<DeletedVisitor>, AppendError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .try_send(Command::DeleteVisitor {
                site,
                visitor,
                reply,
            })
            .map_err(refused)?;
        rx.await.unwrap_or(Err(AppendError::Closed))
    }

    /// Ask the writer to flush what is queued and stop. Waits for room in the queue.
    pub(crate) async fn stop(&self) {
        let _ = self.tx.send(Command::Stop).await;
    }
}

/// What the writer thread works with.
struct Ctx {
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    metrics: Arc<Metrics>,
    progress: Arc<AtomicI64>,
    cluster: Option<Arc<Cluster>>,
    failing: Arc<Mutex<Option<String>>>,
}

impl Ctx {
    fn failed(&self, e: &StoreError) -> AppendError {
        tracing::error!(error = %e, "store write failed");
        self.metrics.store_errors.inc();
        *self.failing.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
        AppendError::Store(e.to_string())
    }

    /// A command finished (committed or refused): the writer moves.
    fn moved(&self) {
        self.progress
            .store(crate::store::now_ms(), Ordering::Relaxed);
    }

    fn succeeded(&self) {
        let mut f = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        if f.take().is_some() {
            tracing::info!("store writes succeed again");
        }
    }

    /// Append `batch` in one transaction, fenced by the leases this node holds when it
    /// is a node of a cluster. A fenced site leaves them at once, so nothing more is
    /// tried for it, and the next beat drops it (its other clients are sent away).
    fn append(&self, batch: &[NewEntry]) -> Result<Vec<Appended>, StoreError> {
        self.fenced(|fence| self.store.append_fenced(batch, fence))
    }

    /// Reopen `conv`, fenced as appends are.
    fn reopen(&self, conv: ConversationId) -> Result<Reopen, StoreError> {
        self.fenced(|fence| self.store.reopen_fenced(conv, fence))
    }

    /// Run one write with the fence of the leases this node holds (none when alone),
    /// leaving every site the store says this node no longer holds.
    fn fenced<T>(
        &self,
        write: impl FnOnce(Option<&Fence<'_>>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let Some(cluster) = &self.cluster else {
            return write(None);
        };
        let node = cluster.me().map_or("", |m| m.id.as_str());
        let r = {
            let held = cluster.held().read();
            let epoch_of = |site| held.get(&site).copied();
            let fence = Fence {
                node,
                epoch_of: &epoch_of,
            };
            write(Some(&fence))
        };
        if let Err(StoreError::Fenced(sites)) = &r {
            for site in sites {
                tracing::warn!(
                    site = site.0,
                    "fenced: another node holds this site's lease"
                );
                cluster.held().fenced(*site);
            }
        }
        r
    }
}

fn run(cx: Ctx, mut rx: mpsc::Receiver<Command>, max_batch: usize) {
    let mut entries: Vec<NewEntry> = Vec::with_capacity(max_batch);
    let mut replies: Vec<oneshot::Sender<Result<Appended, AppendError>>> =
        Vec::with_capacity(max_batch);
    let mut stopping = false;
    while !stopping {
        let Some(first) = rx.blocking_recv() else {
            break;
        };
        let mut next = Some(first);
        // Drain whatever is already queued, up to one batch.
        while let Some(cmd) = next.take() {
            match cmd {
                Command::Append { entry, reply } => {
                    entries.push(entry);
                    replies.push(reply);
                }
                Command::Reopen { conv, reply } => {
                    // Entries queued before it (a close, say) are committed first.
                    commit(&cx, &mut entries, &mut replies);
                    let r = match cx.reopen(conv) {
                        Ok(r) => {
                            cx.succeeded();
                            Ok(r)
                        }
                        Err(StoreError::Fenced(_)) => Err(AppendError::Fenced),
                        Err(e) => Err(cx.failed(&e)),
                    };
                    cx.moved();
                    let _ = reply.send(r);
                }
                Command::DeleteVisitor {
                    site,
                    visitor,
                    reply,
                } => {
                    commit(&cx, &mut entries, &mut replies);
                    let r = match cx.store.delete_visitor(site, visitor) {
                        Ok(r) => {
                            cx.succeeded();
                            Ok(r)
                        }
                        Err(e) => Err(cx.failed(&e)),
                    };
                    cx.moved();
                    let _ = reply.send(r);
                }
                Command::Stop => {
                    stopping = true;
                    break;
                }
            }
            if entries.len() < max_batch {
                next = rx.try_recv().ok();
            }
        }
        commit(&cx, &mut entries, &mut replies);
    }
    // Anything still queued after Stop is answered, not silently dropped.
    rx.close();
    while let Ok(cmd) = rx.try_recv() {
        match cmd {
            Command::Append { reply, .. } => {
                let _ = reply.send(Err(AppendError::Closed));
            }
            Command::Reopen { reply, .. } => {
                let _ = reply.send(Err(AppendError::Closed));
            }
            Command::DeleteVisitor { reply, .. } => {
                let _ = reply.send(Err(AppendError::Closed));
            }
            Command::Stop => {}
        }
    }
    tracing::info!("writer stopped");
}

/// Why a command could not be queued.
fn refused<T>(e: mpsc::error::TrySendError<T>) -> AppendError {
    match e {
        mpsc::error::TrySendError::Full(_) => AppendError::Overloaded,
        mpsc::error::TrySendError::Closed(_) => AppendError::Closed,
    }
}

/// Commit one batch, publish what is new in commit order, then answer every append.
/// A failing batch is retried one entry at a time, so one bad entry cannot fail others.
fn commit(
    cx: &Ctx,
    entries: &mut Vec<NewEntry>,
    replies: &mut Vec<oneshot::Sender<Result<Appended, AppendError>>>,
) {
    if entries.is_empty() {
        return;
    }
    let started = std::time::Instant::now();
    let results: Vec<Result<Appended, AppendError>> = match cx.append(entries) {
        Ok(done) => {
            cx.metrics.committed(done.len(), started.elapsed());
            cx.succeeded();
            done.into_iter().map(Ok).collect()
        }
        Err(e @ StoreError::Lost(_)) => entries.iter().map(|_| Err(cx.failed(&e))).collect(),
        Err(e) if entries.len() > 1 => {
            if !matches!(e, StoreError::Fenced(_)) {
                tracing::warn!(error = %e, batch = entries.len(), "batch failed; retrying one by one");
            }
            entries
                .iter()
                .map(|one| match cx.append(std::slice::from_ref(one)) {
                    Ok(mut v) => {
                        cx.metrics.committed(1, started.elapsed());
                        cx.succeeded();
                        Ok(v.remove(0))
                    }
                    Err(StoreError::Fenced(_)) => Err(AppendError::Fenced),
                    Err(e) => Err(cx.failed(&e)),
                })
                .collect()
        }
        Err(StoreError::Fenced(_)) => vec![Err(AppendError::Fenced)],
        Err(e) => vec![Err(cx.failed(&e))],
    };
    cx.moved();
    for r in &results {
        if let Ok(Appended::New(e, _)) = r {
            let frame = ServerFrame::Entry(EntryFrame::from(&**e)).to_bytes();
            cx.registry.publish(e.conv, e.off, frame);
        }
    }
    for (reply, r) in replies.drain(..).zip(results) {
        let _ = reply.send(r);
    }
    entries.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writer_with_writes_waiting_and_no_progress_is_stalled() {
        let (tx, _rx) = mpsc::channel(4);
        let w = Writer {
            tx,
            failing: Arc::new(Mutex::new(None)),
            progress: Arc::new(AtomicI64::new(crate::store::now_ms() - 10_000)),
        };
        assert_eq!(w.stalled(5_000), None, "nothing waits: idle, not stalled");
        w.tx.try_send(Command::Stop).unwrap();
        let (waiting, idle) = w.stalled(5_000).expect("stalled");
        assert_eq!(waiting, 1);
        assert!(idle >= 10_000, "{idle}");
        w.progress.store(crate::store::now_ms(), Ordering::Relaxed);
        assert_eq!(w.stalled(5_000), None, "it just moved");
    }
}
