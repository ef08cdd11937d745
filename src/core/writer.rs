//! The single writer: every durable write of the process goes through one thread that
//! batches appends from all sessions into one transaction (group commit).
//!
//! Owns: batching, the order in which committed entries are published (strictly the
//! commit order, so each stream sees its offsets in sequence), answering each append only
//! after its commit, and flushing everything queued before it stops. Knows the `Store`
//! trait, not any database.

use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use super::registry::Registry;
use crate::ids::{ConversationId, SiteId};
use crate::protocol::ServerFrame;
use crate::store::{Appended, ConvInfo, NewEntry, Reopen, Store, StoreError};

/// Why an append was not done. Nothing was acknowledged; the client may resend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AppendError {
    #[error("the writer queue is full")]
    Overloaded,
    #[error("the store failed: {0}")]
    Store(String),
    #[error("the server is shutting down")]
    Closed,
}

enum Command {
    Append {
        entry: NewEntry,
        reply: oneshot::Sender<Result<Appended, AppendError>>,
    },
    EnsureConversation {
        site: SiteId,
        token: String,
        reply: oneshot::Sender<Result<ConvInfo, AppendError>>,
    },
    /// Mark a conversation closed.
    CloseConversation(ConversationId),
    /// Reopen a closed conversation.
    Reopen {
        conv: ConversationId,
        reply: oneshot::Sender<Result<Reopen, AppendError>>,
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
}

impl Writer {
    /// Start the writer thread.
    pub(crate) fn spawn(
        store: Arc<dyn Store>,
        registry: Arc<Registry>,
        queue: usize,
        batch: usize,
    ) -> (Writer, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(queue);
        let handle = std::thread::Builder::new()
            .name("kefu-writer".into())
            .spawn(move || run(store, registry, rx, batch))
            .expect("spawn writer thread");
        (Writer { tx }, handle)
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

    /// The visitor's open conversation, created if it has none.
    pub(crate) async fn ensure_conversation(
        &self,
        site: SiteId,
        token: String,
    ) -> Result<ConvInfo, AppendError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .try_send(Command::EnsureConversation { site, token, reply })
            .map_err(refused)?;
        rx.await.unwrap_or(Err(AppendError::Closed))
    }

    /// Mark `conv` closed (after the entries queued before this).
    pub(crate) fn close_conversation(&self, conv: ConversationId) {
        if self.tx.try_send(Command::CloseConversation(conv)).is_err() {
            tracing::warn!(conv = %conv, "writer queue full: conversation not marked closed");
        }
    }

    /// Reopen `conv` (after the entries and the close queued before this).
    pub(crate) async fn reopen(&self, conv: ConversationId) -> Result<Reopen, AppendError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .try_send(Command::Reopen { conv, reply })
            .map_err(refused)?;
        rx.await.unwrap_or(Err(AppendError::Closed))
    }

    /// Ask the writer to flush what is queued and stop. Waits for room in the queue.
    pub(crate) async fn stop(&self) {
        let _ = self.tx.send(Command::Stop).await;
    }
}

fn run(
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    mut rx: mpsc::Receiver<Command>,
    max_batch: usize,
) {
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
                Command::EnsureConversation { site, token, reply } => {
                    let r = store
                        .ensure_conversation(site, &token)
                        .map_err(|e| store_failed(&e));
                    let _ = reply.send(r);
                }
                Command::CloseConversation(conv) => {
                    // Entries queued before the close are committed first.
                    commit(&*store, &registry, &mut entries, &mut replies);
                    if let Err(e) = store.close_conversation(conv) {
                        store_failed(&e);
                    }
                }
                Command::Reopen { conv, reply } => {
                    commit(&*store, &registry, &mut entries, &mut replies);
                    let r = store
                        .reopen_conversation(conv)
                        .map_err(|e| store_failed(&e));
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
        commit(&*store, &registry, &mut entries, &mut replies);
    }
    // Anything still queued after Stop is answered, not silently dropped.
    rx.close();
    while let Ok(cmd) = rx.try_recv() {
        match cmd {
            Command::Append { reply, .. } => {
                let _ = reply.send(Err(AppendError::Closed));
            }
            Command::EnsureConversation { reply, .. } => {
                let _ = reply.send(Err(AppendError::Closed));
            }
            Command::Reopen { reply, .. } => {
                let _ = reply.send(Err(AppendError::Closed));
            }
            Command::CloseConversation(_) | Command::Stop => {}
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

fn store_failed(e: &StoreError) -> AppendError {
    tracing::error!(error = %e, "store write failed");
    AppendError::Store(e.to_string())
}

/// Commit one batch, publish what is new in commit order, then answer every append.
/// A failing batch is retried one entry at a time, so one bad entry cannot fail others.
fn commit(
    store: &dyn Store,
    registry: &Registry,
    entries: &mut Vec<NewEntry>,
    replies: &mut Vec<oneshot::Sender<Result<Appended, AppendError>>>,
) {
    if entries.is_empty() {
        return;
    }
    let results: Vec<Result<Appended, AppendError>> = match store.append_batch(entries) {
        Ok(done) => done.into_iter().map(Ok).collect(),
        Err(e) if entries.len() > 1 => {
            tracing::warn!(error = %e, batch = entries.len(), "batch failed; retrying one by one");
            entries
                .iter()
                .map(|one| match store.append_batch(std::slice::from_ref(one)) {
                    Ok(mut v) => Ok(v.remove(0)),
                    Err(e) => Err(store_failed(&e)),
                })
                .collect()
        }
        Err(e) => vec![Err(store_failed(&e))],
    };
    for r in &results {
        if let Ok(Appended::New(e)) = r {
            let frame = ServerFrame::Entry(e).to_bytes();
            registry.publish(e.conv, e.off, frame);
        }
    }
    for (reply, r) in replies.drain(..).zip(results) {
        let _ = reply.send(r);
    }
    entries.clear();
}
