//! Writing to a stream: a `msg` frame becomes an append, and the append's commit becomes
//! an `ack` (or an `err`).
//!
//! Owns: where a visitor's message goes (its open conversation, opened by its first
//! message in the same transaction), handing an agent's to the one send path of agents
//! (`core::send`, shared with the REST API) and saying its refusals as `err` frames,
//! waiting for appends, and answering each one after its commit — `ack` with its offset,
//! `dup` for a resend, `cid_taken` for a cid used in another conversation.

use std::future::Future;

use futures_util::FutureExt;

use super::{Conn, End, Flow, Principal, Sent, Transport};
use crate::core::hub::{AfterCommit, Committed};
use crate::core::send::SendError;
use crate::core::writer::AppendError;
use crate::ids::{ClientMsgId, ConversationId};
use crate::protocol::{Contact, ErrorCode, FrameError, ServerFrame};
use crate::store::{Appended, Author, Cid, ConvRef, NewEntry};
use crate::vocab::EntryKind;

impl Sent {
    /// The `err` refusing this append: it names the frame, its cid and its conversation.
    fn refusal(&self, code: ErrorCode, msg: &str) -> FrameError {
        let mut f = FrameError::new(code, msg).of(self.of).cid(&self.cid);
        f.conv = self.named;
        f
    }
}

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
        let session = match &a.principal {
            Principal::Visitor(session) => session.clone(),
            Principal::Agent(agent, _) => {
                let agent = agent.clone();
                return self.agent_msg(&agent, cid, body, conv).await;
            }
        };
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
        let sent = Sent {
            cid: cid.into(),
            of: "msg",
            answer: true,
            named: conv,
            after: AfterCommit::Visitor(session, None),
            at: self.last_rx,
        };
        self.submit(self.hub.writer().append(entry), sent).await
    }

    /// An agent's `msg`: the agents' one send path checks and queues it (and does what
    /// its commit means); here its refusals become `err` frames, its commit an `ack`.
    async fn agent_msg(
        &mut self,
        agent: &crate::store::Agent,
        cid: ClientMsgId,
        body: String,
        conv: Option<ConversationId>,
    ) -> Flow {
        let sent = Sent {
            cid: cid.as_str().to_owned(),
            of: "msg",
            answer: true,
            named: conv,
            after: AfterCommit::Nothing,
            at: self.last_rx,
        };
        match self.hub.agent_send(agent, conv, cid, body).await {
            Ok(sending) => {
                self.wait_for(sent, sending);
                Ok(())
            }
            Err(SendError::Invalid(e)) => self.err(e).await,
            Err(SendError::UnknownConv(conv)) => self.send_unknown_conv(conv).await,
            Err(SendError::Lookup(conv, e)) => {
                tracing::error!(error = %e, "conversation lookup failed");
                self.err(FrameError::new(ErrorCode::Store, "store unavailable").conv(conv))
                    .await
            }
            Err(SendError::Refused(e)) => self.append_failed(&sent, &e).await,
        }
    }

    /// Wait for an append on its way; its answer comes back through `pending`.
    fn wait_for(
        &mut self,
        sent: Sent,
        sending: impl Future<Output = Result<Appended, AppendError>> + Send + 'static,
    ) {
        self.pending
            .push(Box::pin(async move { (sent, sending.await) }));
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
                self.wait_for(
                    sent,
                    async move { rx.await.unwrap_or(Err(AppendError::Closed)) },
                );
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
        if *e == AppendError::Fenced {
            // Not acknowledged: the client resends it to the node that serves the site.
            let site = self.authed.as_ref().map(|a| a.site);
            return Err(End::Moved(self.hub.elsewhere(site).await));
        }
        self.err(sent.refusal(e.code(), &e.to_string())).await
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
        if matches!(r, Ok(Appended::New(..) | Appended::Dup { .. })) {
            let took = sent.at.elapsed().as_secs_f64();
            self.hub.metrics().ack_seconds.observe(took);
        }
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
                let f = sent.refusal(
                    ErrorCode::CidTaken,
                    "this cid is already used in another conversation: pick a new one",
                );
                self.err(f).await
            }
            Ok(Appended::NotOpen) => {
                let f = sent.refusal(ErrorCode::UnknownConv, "that is not your open conversation");
                self.err(f).await
            }
            Err(e) => self.append_failed(&sent, &e).await,
        }
    }
}
