//! An agent's message: the one send path of the WebSocket `msg` frame and of
//! `POST /v1/conversations/{id}/messages`.
//!
//! Owns: what makes an agent's message acceptable (the shape rules of `msg`, a named
//! conversation of the agent's own site), queueing it on the writer (a reply to a
//! conversation nobody owns takes it first: its `join` is queued before the reply), and
//! what its commit means beyond the answer (the agent answered). Each transport only
//! turns the outcome into its wire form: an `ack` or `err` frame, a status and a body.

use std::future::Future;
use std::pin::Pin;

use super::hub::{AfterCommit, Hub};
use super::writer::AppendError;
use crate::ids::{ClientMsgId, ConversationId, SiteId};
use crate::protocol::{check_msg, ErrorCode, FrameError};
use crate::store::{Agent, Appended, Author, Cid, ConvRef, NewEntry, StoreError, StoreResult};
use crate::vocab::EntryKind;

/// Why an agent's message was not queued. Nothing was stored.
#[derive(Debug)]
pub(crate) enum SendError {
    /// It breaks a shape rule of `msg` (cid, body), or names no conversation.
    Invalid(FrameError),
    /// No such conversation on the agent's site (another site's is answered the same).
    UnknownConv(ConversationId),
    /// The store could not say whose conversation this is.
    Lookup(ConversationId, StoreError),
    /// The writer did not take it (a full queue, a failing store, shutting down).
    Refused(AppendError),
}

/// A queued message: resolves once it is committed (or failed), what the commit means
/// already done. Dropping it does not undo the append.
pub(crate) type Sending = Pin<Box<dyn Future<Output = Result<Appended, AppendError>> + Send>>;

impl Hub {
    /// Send `body` as `agent` in `conv`, with the agent's `cid` (a resend with the same
    /// cid is answered `Dup`, and is never stored twice).
    pub(crate) async fn agent_send(
        &self,
        agent: &Agent,
        conv: Option<ConversationId>,
        cid: ClientMsgId,
        body: String,
    ) -> Result<Sending, SendError> {
        check_msg(&cid, &body, self.config().max_body_chars).map_err(SendError::Invalid)?;
        let conv = conv.ok_or_else(|| {
            SendError::Invalid(FrameError::new(
                ErrorCode::BadFrame,
                "agents must name the conversation",
            ))
        })?;
        if !self
            .of_site(agent.site, conv)
            .await
            .map_err(|e| SendError::Lookup(conv, e))?
        {
            return Err(SendError::UnknownConv(conv));
        }
        // Taking it is refused only when another agent on line owns it: then it stays
        // theirs, and the message goes in all the same.
        let _ = self.claim(agent.site, conv, (agent.id, agent.name.clone()));
        let entry = NewEntry::now(
            ConvRef::Id(conv),
            EntryKind::Msg,
            Author::Agent(agent.id),
            Cid::from(cid),
            body,
        );
        let committed = self.writer().append(entry).map_err(SendError::Refused)?;
        let (hub, after) = (self.clone(), AfterCommit::Agent(agent.id));
        Ok(Box::pin(async move {
            let r = committed.await.unwrap_or(Err(AppendError::Closed));
            if let Ok(done) = &r {
                hub.after_commit(&after, done);
            }
            r
        }))
    }

    /// Is `conv` a conversation of `site`? From its stream when it is in memory, else
    /// from the store.
    pub(crate) async fn of_site(&self, site: SiteId, conv: ConversationId) -> StoreResult<bool> {
        if let Some(s) = self.live_site(conv) {
            return Ok(s == site);
        }
        let info = self.blocking(move |s| s.conversation(conv)).await?;
        Ok(info.is_some_and(|i| i.site == site))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::Config;
    use crate::core::auth;
    use crate::store::{self, Options};

    #[tokio::test]
    async fn an_agents_message_is_checked_queued_and_answered_after_its_commit() {
        let store = store::open("memory://", &Options::default()).unwrap();
        let boot = auth::bootstrap(&*store, &[], "admin-password")
            .unwrap()
            .unwrap();
        let other = store.add_site("Other", &[]).unwrap();
        let admin = store.agents(boot.site.id).unwrap().remove(0);
        let hub = Hub::start(
            Arc::new(Config::default()),
            Arc::from(store),
            Vec::new(),
            None,
        );
        // A visitor's first message opens a conversation.
        let first = NewEntry::now(
            ConvRef::Visitor {
                site: boot.site.id,
                token: "visitor-token-0001".into(),
                named: None,
            },
            EntryKind::Msg,
            Author::Visitor,
            Cid::Keyed("v1".into()),
            "hello".into(),
        );
        let done = hub.writer().append(first).unwrap().await.unwrap().unwrap();
        let Appended::New(e, _) = &done else {
            panic!("{done:?}")
        };
        let conv = e.conv;
        // No agent is on line: it waits in the queue.
        let session = hub
            .visitor_session(boot.site.id, "visitor-token-0001")
            .await
            .unwrap();
        hub.after_commit(&AfterCommit::Visitor(session, None), &done);
        assert!(hub.queue_position(boot.site.id, conv).is_some());
        let send = |conv, cid: &str, body: &str| {
            hub.agent_send(&admin, conv, ClientMsgId(cid.to_string()), body.to_string())
        };
        for (conv, cid, body, code) in [
            (Some(conv), "bad cid", "hi", ErrorCode::BadFrame),
            (Some(conv), "a1", " ", ErrorCode::BadFrame),
            (Some(conv), "a1", &*"x".repeat(4001), ErrorCode::TooLong),
            (None, "a1", "hi", ErrorCode::BadFrame),
        ] {
            match send(conv, cid, body).await {
                Err(SendError::Invalid(e)) => assert_eq!(e.code, code, "{cid:?} {body:?}"),
                Err(e) => panic!("{e:?}"),
                Ok(_) => panic!("accepted"),
            }
        }
        // Another site's conversation is none of this agent's.
        let theirs = hub.of_site(other.id, conv).await.unwrap();
        assert!(!theirs);
        let missing = ConversationId(conv.0 + 100);
        assert!(matches!(
            send(Some(missing), "a1", "hi").await,
            Err(SendError::UnknownConv(c)) if c == missing
        ));
        let done = send(Some(conv), "a1", "hi").await.unwrap().await.unwrap();
        // Nobody owned it: the reply took it (its join first).
        let Appended::New(e, _) = done else {
            panic!("{done:?}")
        };
        assert_eq!(e.off.0, 3, "visitor's message, the join, the reply");
        assert_eq!(hub.owner_of(boot.site.id, conv), Some(admin.id));
        assert!(hub.queue_position(boot.site.id, conv).is_none());
        let again = send(Some(conv), "a1", "hi").await.unwrap().await.unwrap();
        assert!(matches!(again, Appended::Dup { off, .. } if off == e.off));
    }
}
