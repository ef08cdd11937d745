//! Following streams: the visibility rule, starting to follow (with the epoch and
//! offset checks of a resume), and delivering entries after each cursor in order — from
//! the in-memory tail or the store — with no gap and no duplicate.

use std::sync::Arc;

use super::{Conn, Cursor, End, Flow, Principal, Transport};
use crate::core::stream::{Read, Stream};
use crate::ids::{ConversationId, Epoch, Offset};
use crate::protocol::{close, ErrorCode, FrameError, Position, ServerFrame};

impl<T: Transport> Conn<T> {
    /// May this client see `conv`? A visitor sees only its own conversation (open, or the
    /// one it closed last), an agent every conversation of its site, nobody another site's.
    pub(super) fn may_see(&self, stream: &Stream) -> bool {
        match &self.authed {
            Some(a) if a.site == stream.site => match &a.principal {
                Principal::Visitor(s) => s.may_read(stream.conv),
                Principal::Agent(..) => true,
            },
            _ => false,
        }
    }

    /// Start following. `lenient` (a hello's resume): a wrong epoch or an offset beyond
    /// the head is reported and corrected instead of refused.
    pub(super) async fn on_follow(&mut self, pos: Position, lenient: bool) -> Flow {
        if !self.follows.contains_key(&pos.conv)
            && self.follows.len() >= self.hub.config().max_follows
        {
            return self
                .err(FrameError::new(ErrorCode::TooManyFollows, "too many follows").conv(pos.conv))
                .await;
        }
        let (stream, head) = match self.follows.get(&pos.conv) {
            Some(cur) => (cur.stream.clone(), cur.stream.head()),
            None => match self.hub.follow(pos.conv, &self.sig).await {
                Ok(Some(found)) => found,
                Ok(None) => return self.send_unknown_conv(pos.conv).await,
                Err(e) => {
                    tracing::error!(error = %e, "follow failed");
                    return self
                        .err(FrameError::new(ErrorCode::Store, "store unavailable").conv(pos.conv))
                        .await;
                }
            },
        };
        if !self.may_see(&stream) {
            if !self.follows.contains_key(&pos.conv) {
                self.hub.unfollow(&stream, &self.sig);
            }
            return self.send_unknown_conv(pos.conv).await;
        }
        let mut after = pos.after;
        if pos.epoch.is_some_and(|e| e != stream.epoch) {
            self.err(
                FrameError::new(
                    ErrorCode::EpochMismatch,
                    "this stream has another epoch: start again from 0",
                )
                .conv(stream.conv)
                .epoch(stream.epoch)
                .head(head),
            )
            .await?;
            if !lenient {
                self.drop_if_new(&stream);
                return Ok(());
            }
            after = Offset::ZERO;
        }
        if after > head {
            self.err(
                FrameError::new(ErrorCode::BadOffset, "offset beyond the stream's head")
                    .conv(stream.conv)
                    .epoch(stream.epoch)
                    .head(head),
            )
            .await?;
            if !lenient {
                self.drop_if_new(&stream);
                return Ok(());
            }
            after = head;
        }
        let conv = stream.conv;
        let epoch = stream.epoch;
        self.follows.insert(
            conv,
            Cursor {
                stream,
                sent: after,
                acked: after,
            },
        );
        self.send_frame(ServerFrame::Following { conv, epoch, head })
            .await?;
        self.deliver(conv).await
    }

    pub(super) fn drop_if_new(&mut self, stream: &Arc<Stream>) {
        if !self.follows.contains_key(&stream.conv) {
            self.hub.unfollow(stream, &self.sig);
        }
    }

    /// Send everything of `conv` after the cursor, from the tail or the store, in order.
    pub(super) async fn deliver(&mut self, conv: ConversationId) -> Flow {
        self.feed_entries(conv).await?;
        self.flush_out().await
    }

    /// `deliver` without the final flush: the caller flushes.
    async fn feed_entries(&mut self, conv: ConversationId) -> Flow {
        let page = self.hub.config().catch_up_page;
        loop {
            let Some(cur) = self.follows.get(&conv) else {
                return Ok(());
            };
            let sent = cur.sent;
            let batch = match cur.stream.read_after(sent, page) {
                Read::Entries(v) => v,
                Read::FromStore => {
                    // What is fed goes out before waiting for the store.
                    self.flush_out().await?;
                    match self.hub.read_store(conv, sent, page).await {
                        Ok(v) => v,
                        Err(e) => {
                            tracing::error!(error = %e, "catch-up read failed");
                            return Err(End::Close(close::INTERNAL, "store unavailable"));
                        }
                    }
                }
            };
            if batch.is_empty() {
                return Ok(());
            }
            for (off, frame) in batch {
                let Some(cur) = self.follows.get(&conv) else {
                    return Ok(());
                };
                if off <= cur.sent {
                    continue;
                }
                if off != cur.sent.next() {
                    // Never expected: the store and tail are contiguous. Go back and
                    // re-read from the cursor rather than send a gap.
                    tracing::warn!(conv = %conv, expected = cur.sent.next().0, got = off.0, "gap in read; re-reading");
                    break;
                }
                self.feed(frame).await?;
                if let Some(cur) = self.follows.get_mut(&conv) {
                    cur.sent = off;
                }
            }
        }
    }

    pub(super) async fn on_signal(&mut self) -> Flow {
        if let Some(url) = self.sig.take_moved() {
            return Err(End::Moved(url));
        }
        if self.sig.take_revoked() {
            return Err(End::Close(
                close::UNAUTHORIZED,
                "this agent account was removed",
            ));
        }
        if self.sig.take_session_changed() {
            if let Some(Principal::Visitor(session)) = self.authed.as_ref().map(|a| &a.principal) {
                if let Some(c) = session.conv() {
                    self.switch_own_conversation(c.id, c.epoch).await?;
                }
            }
        }
        for conv in self.sig.take_dirty() {
            self.feed_entries(conv).await?;
        }
        self.feed_volatile().await?;
        self.flush_out().await
    }

    /// The session's conversation is now `conv` (opened in another tab, or reopened):
    /// tell the connection and follow it from the start, even if it followed `conv`
    /// before — its client moved on to another conversation since, and starts over from
    /// offset 0 on `conv` (entries it still holds are dropped by offset).
    pub(super) async fn switch_own_conversation(
        &mut self,
        conv: ConversationId,
        epoch: Epoch,
    ) -> Flow {
        self.send_frame(ServerFrame::Conv { conv, epoch }).await?;
        self.on_follow(
            Position {
                conv,
                epoch: Some(epoch),
                after: Offset::ZERO,
            },
            true,
        )
        .await
    }
}
