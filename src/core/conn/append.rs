//! Writing to a stream: a `msg` frame becomes an append, and the append's commit becomes
//! an `ack` (or an `err`).
//!
//! Owns: where a message goes (a visitor's open conversation, opened by its first
//! message in the same transaction; the conversation an agent names, which an agent's
//! reply takes when nobody owns it), queueing appends on the writer, and answering each
//! one after its commit — `ack` with its offset, `dup` for a resend, `cid_taken` for a cid
//! used in another conversation.

use futures_util::stream::StreamExt;
use futures_util::FutureExt;

use super::{Conn, Flow, Principal, Sent, Transport};
use crate::core::hub::{AfterCommit, Committed};
use crate::core::writer::AppendError;
use crate::ids::{ClientMsgId, ConversationId};
use crate::protocol::{Contact, ErrorCode, FrameError, ServerFrame};
use crate::store::{Appended, Author, Cid, ConvRef, NewEntry};
use crate::vocab::EntryKind;

impl<T: Transport> Conn<T> {
    pub(super) async fn on_msg(
        &mut self,
        cid: ClientMsgId,
        body: String,
        conv: Option<ConversationId>,
        contact: Option<Contact>,
    ) -> Flow {
        let Some(a) = &self.authed else {
            return Ok(());
        };
        let site = a.site;
        let (queued, after) = match &a.principal {
            Principal::Visitor(session) => {
                let target = ConvRef::Visitor {
                    site,
                    token: session.token.clone(),
                    named: conv,
                };
                let entry = NewEntry {
                    contact: contact.map(Into::into),
                    ..NewEntry::now(
                        target,
                        EntryKind::Msg,
                        Author::Visitor,
                        Cid::from(cid.clone()),
                        body,
                    )
                };
                let after = AfterCommit::Visitor(session.clone(), None);
                (self.hub.writer().append(entry), after)
            }
            Principal::Agent(agent, _) => {
                let agent = agent.clone();
                let Some(conv) = conv else {
                    return self
                        .err(FrameError::new(
                            ErrorCode::BadFrame,
                            "agents must name the conversation",
                        ))
                        .await;
                };
                if !self.check_my_site(conv).await? {
                    return Ok(());
                }
                let queued = self.hub.agent_message(&agent, conv, cid.clone(), body);
                (queued, AfterCommit::Agent(agent.id))
            }
        };
        let sent = Sent {
            cid: cid.into(),
            of: "msg",
            answer: true,
            named: conv,
            after,
        };
        self.submit(queued, sent).await
    }

    /// Wait for an append the writer took (`queued`); its `ack` (when `sent.answer`) or
    /// error comes back through `pending`.
    pub(super) async fn submit(
        &mut self,
        queued: Result<Committed, AppendError>,
        sent: Sent,
    ) -> Flow {
        match queued {
            Ok(rx) => {
                self.pending.push(Box::pin(async move {
                    (sent, rx.await.unwrap_or(Err(AppendError::Closed)))
                }));
                Ok(())
            }
            Err(e) if sent.answer => self.append_failed(&sent, &e).await,
            Err(e) => {
                tracing::warn!(error = %e, cid = %sent.cid, "server-made append refused");
                Ok(())
            }
        }
    }

    async fn append_failed(&mut self, sent: &Sent, e: &AppendError) -> Flow {
        let code = match e {
            AppendError::Overloaded => ErrorCode::Overloaded,
            AppendError::Store(_) | AppendError::Closed => ErrorCode::Store,
        };
        let mut f = FrameError::new(code, e.to_string())
            .of(sent.of)
            .cid(&sent.cid);
        f.conv = sent.named;
        self.err(f).await
    }

    /// Answer a finished append and every other one already finished (one group commit
    /// finishes many), then flush the acks together.
    pub(super) async fn answer_ready(
        &mut self,
        sent: Sent,
        r: Result<Appended, AppendError>,
    ) -> Flow {
        self.answer_append(sent, r).await?;
        // Polling once without waiting is safe: the main loop polls `pending` again (with
        // its own waker) before it sleeps.
        while let Some(Some((sent, r))) = self.pending.next().now_or_never() {
            self.answer_append(sent, r).await?;
        }
        self.flush_out().await
    }

    /// Feed the ack (or the refusal) of one append; the caller flushes.
    async fn answer_append(&mut self, sent: Sent, r: Result<Appended, AppendError>) -> Flow {
        if let Ok(done) = &r {
            self.hub.after_commit(&sent.after, done);
        }
        if !sent.answer {
            if let Err(e) = r {
                tracing::warn!(error = %e, cid = %sent.cid, "server-made append failed");
            }
            return Ok(());
        }
        let cid = sent.cid.as_str();
        let refusal = |code, msg: &str| {
            let mut f = FrameError::new(code, msg).of(sent.of).cid(cid);
            f.conv = sent.named;
            f
        };
        match r {
            Ok(Appended::New(e, _)) => {
                let ack = ServerFrame::Ack {
                    cid,
                    conv: e.conv,
                    off: e.off,
                    ts: e.ts,
                    dup: false,
                };
                self.feed(ack.to_bytes()).await
            }
            Ok(Appended::Dup { conv, off, ts }) => {
                let ack = ServerFrame::Ack {
                    cid,
                    conv,
                    off,
                    ts,
                    dup: true,
                };
                self.feed(ack.to_bytes()).await
            }
            Ok(Appended::CidTaken) => {
                let f = refusal(
                    ErrorCode::CidTaken,
                    "this cid is already used in another conversation: pick a new one",
                );
                self.err(f).await
            }
            Ok(Appended::NotOpen) => {
                let f = refusal(ErrorCode::UnknownConv, "that is not your open conversation");
                self.err(f).await
            }
            Err(e) => self.append_failed(&sent, &e).await,
        }
    }
}
