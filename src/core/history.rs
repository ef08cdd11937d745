//! What agents read of the log over the API: their site's open conversations with what
//! the desk knows of them, a conversation's entries, and search.
//!
//! Owns: the bounds of these reads (at most 500 open conversations; entries 200 by
//! default, at most 1000; search text 2–200 characters, 50 hits by default, at most
//! 200), and that an agent reads only its own site (another site's conversation is
//! answered like a missing one). Knows nothing of HTTP.

use super::access::{chars, ServiceError};
use super::hub::Hub;
use crate::ids::{AgentId, ConversationId, Offset};
use crate::store::{Agent, ConvInfo, Entry};

/// The history service: `Hub::history`.
pub(crate) struct History<'a> {
    hub: &'a Hub,
}

/// An open conversation as the list shows it.
pub(crate) struct OpenConv {
    pub info: ConvInfo,
    /// The agent the desk gave it to.
    pub owner: Option<AgentId>,
    /// It waits in the queue for an agent.
    pub queued: bool,
}

/// A conversation and some of its entries.
pub(crate) struct Page {
    pub info: ConvInfo,
    pub entries: Vec<Entry>,
}

impl Hub {
    pub(crate) fn history(&self) -> History<'_> {
        History { hub: self }
    }
}

impl History<'_> {
    /// The open conversations of the agent's site, newest first (at most 500).
    pub(crate) async fn open_conversations(
        &self,
        agent: &Agent,
    ) -> Result<Vec<OpenConv>, ServiceError> {
        let site = agent.site;
        let list = self
            .hub
            .blocking(move |s| s.open_conversations(site, 500))
            .await?;
        Ok(list
            .into_iter()
            .map(|info| OpenConv {
                owner: self.hub.owner_of(site, info.id),
                queued: self.hub.queue_position(site, info.id).is_some(),
                info,
            })
            .collect())
    }

    /// Entries of `conv` after `after`, at most `limit` (200 when `None`, at most 1000).
    pub(crate) async fn entries(
        &self,
        agent: &Agent,
        conv: ConversationId,
        after: Offset,
        limit: Option<usize>,
    ) -> Result<Page, ServiceError> {
        let (site, limit) = (agent.site, limit.unwrap_or(200).clamp(1, 1000));
        let found = self
            .hub
            .blocking(move |s| {
                let Some(info) = s.conversation(conv)? else {
                    return Ok(None);
                };
                if info.site != site {
                    return Ok(None);
                }
                Ok(Some((info, s.read_after(conv, after, limit)?)))
            })
            .await?;
        let (info, entries) = found.ok_or(ServiceError::NotFound)?;
        Ok(Page { info, entries })
    }

    /// Messages of the agent's site containing `needle` (trimmed: 2–200 characters),
    /// newest first, at most `limit` (50 when `None`, at most 200).
    pub(crate) async fn search(
        &self,
        agent: &Agent,
        needle: &str,
        limit: Option<usize>,
    ) -> Result<Vec<Entry>, ServiceError> {
        let needle = needle.trim().to_string();
        chars("q", &needle, 2, 200)?;
        let (site, limit) = (agent.site, limit.unwrap_or(50).clamp(1, 200));
        Ok(self
            .hub
            .blocking(move |s| s.search(site, &needle, limit))
            .await?)
    }
}
