//! What agents read of the log over the API: their site's open conversations with what
//! the desk knows of them, a conversation's entries, and search.
//!
//! Owns: the bounds of these reads (lists of conversations 500 by default and at most;
//! entries 200 by default, at most 1000; a transcript at most `TRANSCRIPT_MAX` entries and `TRANSCRIPT_MAX_BYTES` of text;
//! search text 2–200 characters, 50 hits by default, at most 200), and that an agent
//! reads only its own site (another site's conversation is answered like a missing one).
//! Knows nothing of HTTP.

use super::access::{chars, ServiceError};
use super::hub::Hub;
use crate::ids::{AgentId, ConversationId, Offset};
use crate::store::{Agent, ConvFilter, ConvInfo, ConvSummary, Entry};

/// The most entries one transcript holds, and the most bytes of their text; a longer
/// conversation is read in pages of entries instead.
pub(crate) const TRANSCRIPT_MAX: usize = 100_000;
pub(crate) const TRANSCRIPT_MAX_BYTES: usize = 16 << 20;

/// A conversation as the list shows it.
pub(crate) struct Listed {
    pub summary: ConvSummary,
    /// The agent the desk gave it to (open ones).
    pub owner: Option<AgentId>,
    /// It waits in the queue for an agent (open ones).
    pub queued: bool,
}

/// A page of the list, and where the next one starts (`ConvFilter::before`), if there
/// may be one.
pub(crate) struct Listing {
    pub conversations: Vec<Listed>,
    pub next: Option<ConversationId>,
}

/// The history service: `Hub::history`.
pub(crate) struct History<'a> {
    hub: &'a Hub,
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
    /// The conversations of the agent's site that `filter` lets through, newest first, at
    /// most `limit` (500 when `None`, at most 500), with the desk's view of open ones.
    pub(crate) async fn list(
        &self,
        agent: &Agent,
        filter: ConvFilter,
        limit: Option<usize>,
    ) -> Result<Listing, ServiceError> {
        let (site, limit) = (agent.site, limit.unwrap_or(500).clamp(1, 500));
        let list = self
            .hub
            .blocking(move |s| s.list_conversations(site, &filter, limit))
            .await?;
        let next = (list.len() == limit)
            .then(|| list.last().map(|c| c.info.id))
            .flatten();
        let conversations = list
            .into_iter()
            .map(|summary| {
                let id = summary.info.id;
                let open = summary.open;
                Listed {
                    owner: open.then(|| self.hub.owner_of(site, id)).flatten(),
                    queued: open && self.hub.queue_position(site, id).is_some(),
                    summary,
                }
            })
            .collect();
        Ok(Listing {
            conversations,
            next,
        })
    }

    /// Every entry of `conv`, for an export; refused (`Invalid`) past `TRANSCRIPT_MAX`
    /// entries or `TRANSCRIPT_MAX_BYTES` of text, so one request's memory is bounded.
    pub(crate) async fn transcript(
        &self,
        agent: &Agent,
        conv: ConversationId,
    ) -> Result<Page, ServiceError> {
        let site = agent.site;
        let too_long = |what: String| {
            Err(ServiceError::Invalid(format!(
                "the conversation has {what}, more than a transcript holds: read it in pages \
                 of entries"
            )))
        };
        self.hub
            .blocking(move |s| {
                let Some(info) = s.conversation(conv)?.filter(|i| i.site == site) else {
                    return Ok(Err(ServiceError::NotFound));
                };
                if info.head.0 as usize > TRANSCRIPT_MAX {
                    return Ok(too_long(format!("{} entries", info.head.0)));
                }
                let (mut entries, mut bytes) = (Vec::with_capacity(info.head.0 as usize), 0);
                let mut after = Offset::ZERO;
                loop {
                    let page = s.read_after(conv, after, 1000)?;
                    let Some(last) = page.last() else { break };
                    after = last.off;
                    bytes += page.iter().map(|e| e.body.len()).sum::<usize>();
                    if bytes > TRANSCRIPT_MAX_BYTES {
                        return Ok(too_long(format!(
                            "over {TRANSCRIPT_MAX_BYTES} bytes of text"
                        )));
                    }
                    entries.extend(page);
                }
                Ok(Ok(Page { info, entries }))
            })
            .await?
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
