//! The live features of a connection: page views, typing and sneak peek, read receipts,
//! delivery notices, invitations, agent availability, and writing queued volatile frames.
//!
//! Owns: what each of those frames does (`docs/protocol.md` §7). Durable ones (`read`,
//! an accepted invitation's message) go through the writer like messages; volatile ones
//! go to the `Signal` queues of the connections concerned and are never stored.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{Authed, Conn, End, Flow, Principal, Sent, Transport};
use crate::core::desk::DeskError;
use crate::core::hub::AfterCommit;
use crate::ids::{AgentId, ConversationId, Offset, SiteId};
use crate::protocol::{AgentStatus, ErrorCode, FrameError, Role, ServerFrame, PAGE_FIELD_MAX};
use crate::store::{now_ms, Author, Cid, ConvRef, NewEntry};
use crate::vocab::EntryKind;

fn cut(mut s: String, max: usize) -> String {
    if let Some((i, _)) = s.char_indices().nth(max) {
        s.truncate(i);
    }
    s
}

impl<T: Transport> Conn<T> {
    /// Feed what other connections queued for this one (the caller flushes); after an
    /// overflow, a snapshot.
    pub(super) async fn feed_volatile(&mut self) -> Flow {
        let resync = self.sig.take_resync();
        for f in self.sig.take_volatile() {
            self.feed(f).await?;
        }
        if resync {
            match self.authed.as_ref() {
                Some(Authed {
                    principal: Principal::Agent(..),
                    site,
                    ..
                }) => {
                    let site = *site;
                    self.send_visitor_snapshot(site).await?;
                }
                Some(Authed { site, .. }) => {
                    let online = self.hub.presence().agents_available(*site);
                    self.send_frame(ServerFrame::Agents { online }).await?;
                }
                None => {}
            }
        }
        Ok(())
    }

    pub(super) async fn send_visitor_snapshot(&mut self, site: SiteId) -> Flow {
        let list = self.hub.presence().snapshot(site);
        self.send_frame(ServerFrame::Visitors { list: &list }).await
    }

    fn visitor_session(&self) -> Option<Arc<crate::core::session::VisitorSession>> {
        match self.authed.as_ref().map(|a| &a.principal) {
            Some(Principal::Visitor(s)) => Some(s.clone()),
            _ => None,
        }
    }

    fn agent(&self) -> Option<(&crate::store::Agent, SiteId)> {
        match self.authed.as_ref() {
            Some(Authed {
                principal: Principal::Agent(a, _),
                site,
                ..
            }) => Some((a, *site)),
            _ => None,
        }
    }

    /// The conversation a `typing` or `read` frame is about: a visitor's own (a named one
    /// must be it), or the one an agent names. `None` when there is none (a visitor
    /// without a conversation) or the frame was refused (the refusal is already sent).
    async fn frame_conv(
        &mut self,
        conv: Option<ConversationId>,
    ) -> Result<Option<ConversationId>, End> {
        let own = match self.authed.as_ref().map(|a| &a.principal) {
            Some(Principal::Visitor(s)) => Some(s.conv().map(|c| c.id)),
            Some(Principal::Agent(..)) => None,
            None => return Ok(None),
        };
        match (own, conv) {
            (Some(own), None) => Ok(own),
            (Some(Some(own)), Some(c)) if own == c => Ok(Some(c)),
            (Some(_), Some(c)) => self.send_unknown_conv(c).await.map(|_| None),
            (None, Some(c)) => Ok(Some(c)),
            (None, None) => self
                .err(FrameError::new(
                    ErrorCode::BadFrame,
                    "agents must name the conversation",
                ))
                .await
                .map(|_| None),
        }
    }

    async fn only_for(&mut self, who: &str) -> Flow {
        self.err(FrameError::new(
            ErrorCode::BadFrame,
            format!("only {who} send this frame"),
        ))
        .await
    }

    /// `page`: where the visitor is now.
    pub(super) async fn on_page(
        &mut self,
        url: String,
        title: String,
        referrer: String,
        visible: bool,
        visits: Option<u32>,
    ) -> Flow {
        let Some(session) = self.visitor_session() else {
            return self.only_for("visitors").await;
        };
        {
            let mut i = session.info();
            let url = cut(url, PAGE_FIELD_MAX);
            if url != i.url {
                i.pages += 1;
                i.page_since = now_ms();
                i.page_at = tokio::time::Instant::now();
            }
            i.url = url;
            i.title = cut(title, PAGE_FIELD_MAX);
            i.referrer = cut(referrer, PAGE_FIELD_MAX);
            i.visible = visible;
            if let Some(v) = visits {
                i.visits = v;
            }
        }
        self.hub.presence().visitor_changed(&session);
        Ok(())
    }

    /// `typing`: forwarded to the conversation's other followers, the draft to agents only.
    pub(super) async fn on_typing(
        &mut self,
        conv: Option<ConversationId>,
        on: bool,
        text: Option<String>,
    ) -> Flow {
        let interval = Duration::from_millis(self.hub.config().typing_interval_ms);
        if on && self.last_typing.is_some_and(|t| t.elapsed() < interval) {
            return Ok(()); // volatile: a dropped update is replaced by the next
        }
        let Some(conv) = self.frame_conv(conv).await? else {
            return Ok(());
        };
        let role = self.authed.as_ref().map_or(Role::Visitor, |a| a.role);
        let name = self
            .agent()
            .map(|(a, _)| a.name.clone())
            .unwrap_or_default();
        let Some(cur) = self.follows.get(&conv) else {
            return self.send_unknown_conv(conv).await;
        };
        let stream = cur.stream.clone();
        self.last_typing = Some(Instant::now());
        let draft = if role == Role::Visitor {
            text.as_deref()
        } else {
            None
        };
        let to_agents = ServerFrame::Typing {
            conv,
            role,
            name: &name,
            on,
            text: draft,
        }
        .to_bytes();
        let to_others = ServerFrame::Typing {
            conv,
            role,
            name: &name,
            on,
            text: None,
        }
        .to_bytes();
        stream.volatile(Some(&to_agents), Some(&to_others), &self.sig);
        Ok(())
    }

    /// `read`: a durable `read` entry, acked with cid `read:<conv>:<upto>` — a key that
    /// names its conversation, so reads of every conversation are stored, and a repeated
    /// read of the same offset is stored once.
    pub(super) async fn on_read(&mut self, conv: Option<ConversationId>, upto: Offset) -> Flow {
        let Some(conv) = self.frame_conv(conv).await? else {
            return Ok(());
        };
        let author = match self.authed.as_ref().map(|a| &a.principal) {
            Some(Principal::Visitor(_)) => Author::Visitor,
            Some(Principal::Agent(a, _)) => Author::Agent(a.id),
            None => return Ok(()),
        };
        // Only what this connection was sent can have been read.
        let Some(cur) = self.follows.get(&conv) else {
            return self.send_unknown_conv(conv).await;
        };
        if upto > cur.sent || upto == Offset::ZERO {
            let head = cur.sent;
            return self
                .err(
                    FrameError::new(ErrorCode::BadOffset, "read beyond what was sent")
                        .conv(conv)
                        .head(head),
                )
                .await;
        }
        let cid = format!("read:{conv}:{}", upto.0);
        let entry = NewEntry {
            upto: Some(upto),
            ..NewEntry::now(
                ConvRef::Id(conv),
                EntryKind::Read,
                author,
                Cid::Keyed(cid.clone()),
                String::new(),
            )
        };
        let sent = Sent {
            cid,
            of: "read",
            answer: true,
            named: Some(conv),
            after: AfterCommit::Nothing,
            at: self.last_rx,
        };
        let queued = self.hub.writer().append(entry);
        self.submit(queued, sent).await
    }

    /// An agent acknowledged entries of `conv`: the visitor's tabs learn they arrived.
    pub(super) fn on_agent_ack(&mut self, conv: ConversationId, upto: Offset) {
        if self.agent().is_none() {
            return;
        }
        if let Some(cur) = self.follows.get(&conv) {
            let f = ServerFrame::Delivered { conv, upto }.to_bytes();
            // Only the visitor's connections care.
            cur.stream.volatile(None, Some(&f), &self.sig);
        }
    }

    /// `invite` (agents): offer a chat to a visitor on the site.
    pub(super) async fn on_invite(&mut self, visitor: &str, text: &str) -> Flow {
        let Some((agent, site)) = self.agent() else {
            return self.only_for("agents").await;
        };
        let (agent_id, name) = (agent.id, agent.name.clone());
        let Some(session) = self.hub.presence().find_visitor(site, visitor) else {
            return self
                .err(FrameError::new(
                    ErrorCode::UnknownVisitor,
                    "that visitor has left",
                ))
                .await;
        };
        self.hub.invite(&session, (agent_id, &name), text);
        Ok(())
    }

    /// `invite_reply` (visitors): accepting opens the conversation with the invitation's
    /// text as the agent's first message.
    pub(super) async fn on_invite_reply(&mut self, id: u64, accept: bool) -> Flow {
        let Some(session) = self.visitor_session() else {
            return self.only_for("visitors").await;
        };
        let Some(inv) = session.take_invite(id) else {
            return Ok(()); // answered from another tab, or dropped: nothing to do
        };
        if !accept {
            return Ok(());
        }
        // The conversation opens (if the visitor has none) in the same transaction as the
        // agent's first message; the desk then gives it to the inviting agent.
        let entry = NewEntry::now(
            ConvRef::Visitor {
                site: session.site,
                token: session.token.clone(),
                named: None,
            },
            EntryKind::Msg,
            Author::Agent(inv.agent),
            Cid::Made("invite"),
            inv.text,
        );
        let sent = Sent {
            cid: String::new(),
            of: "invite_reply",
            answer: false,
            named: None,
            after: AfterCommit::Visitor(session, Some(inv.agent)),
            at: self.last_rx,
        };
        let queued = self.hub.writer().append(entry);
        self.submit(queued, sent).await
    }

    /// `presence` (agents): online or away.
    pub(super) async fn on_presence(&mut self, status: AgentStatus) -> Flow {
        let link_site = match self.authed.as_ref() {
            Some(Authed {
                principal: Principal::Agent(_, link),
                site,
                ..
            }) => Some((link.clone(), *site)),
            _ => None,
        };
        let Some((link, site)) = link_site else {
            return self.only_for("agents").await;
        };
        self.hub
            .presence()
            .set_away(site, &link, status == AgentStatus::Away);
        self.hub.desk_changed(site);
        Ok(())
    }

    /// `transfer` (agents): give a conversation to another agent on line.
    pub(super) async fn on_transfer(&mut self, conv: ConversationId, to: AgentId) -> Flow {
        if self.agent().is_none() {
            return self.only_for("agents").await;
        }
        if !self.check_my_site(conv).await? {
            return Ok(());
        }
        let site = self.agent().expect("checked").1;
        match self.hub.transfer(site, conv, to) {
            Ok(()) => Ok(()),
            Err(e) => self.desk_refused("transfer", conv, e).await,
        }
    }

    /// A desk action (`of`) on `conv` was refused: an `err` naming the conversation.
    async fn desk_refused(&mut self, of: &str, conv: ConversationId, e: DeskError) -> Flow {
        let code = match &e {
            DeskError::UnknownAgent => ErrorCode::UnknownAgent,
            DeskError::UnknownConv => ErrorCode::UnknownConv,
            DeskError::Owned => ErrorCode::Owned,
            DeskError::AlreadyOpen | DeskError::VisitorBusy | DeskError::NotWaiting => {
                ErrorCode::BadFrame
            }
            DeskError::Failed(e) => e.code(),
        };
        self.err(FrameError::new(code, e.to_string()).of(of).conv(conv))
            .await
    }

    /// `reopen` (agents): reopen a closed conversation and take it.
    pub(super) async fn on_reopen(&mut self, conv: ConversationId) -> Flow {
        let Some((agent, site)) = self.agent() else {
            return self.only_for("agents").await;
        };
        let who = (agent.id, agent.name.clone());
        if !self.check_my_site(conv).await? {
            return Ok(());
        }
        match self.hub.reopen(site, conv, who).await {
            Ok(()) => Ok(()),
            Err(e) => self.desk_refused("reopen", conv, e).await,
        }
    }

    /// `close` (agents): close a conversation.
    pub(super) async fn on_close(&mut self, conv: ConversationId) -> Flow {
        let Some((agent, site)) = self.agent() else {
            return self.only_for("agents").await;
        };
        let (id, name) = (agent.id, agent.name.clone());
        if !self.check_my_site(conv).await? {
            return Ok(());
        }
        self.hub
            .close_conversation(site, conv, Author::Agent(id), name);
        Ok(())
    }

    /// `take` (agents): take a conversation that waits for an agent (a `join` entry).
    pub(super) async fn on_take(&mut self, conv: ConversationId) -> Flow {
        let Some((agent, site)) = self.agent() else {
            return self.only_for("agents").await;
        };
        let who = (agent.id, agent.name.clone());
        if !self.check_my_site(conv).await? {
            return Ok(());
        }
        match self.hub.claim(site, conv, who) {
            Ok(()) => Ok(()),
            Err(e) => self.desk_refused("take", conv, e).await,
        }
    }
}
