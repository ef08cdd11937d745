//! The memory store's webhooks and the outbox of their deliveries (`Webhooks`): the same
//! rules as `store::sql::webhooks`, for testing their users without a database.
//!
//! Owns: recording the deliveries an append makes, in its call, by the rule every
//! backend shares (`batch::event_sites`, `batch::deliveries`); the pending counts; and
//! the webhooks' rules as the SQL schema has them — ids never reused, a webhook of
//! another site answered as one that does not exist, a delivery changed by an attempt
//! only while pending. Knows nothing of HTTP, signatures or retry timing.

use super::{conflict, MemoryStore, State};
use crate::ids::SiteId;
use crate::store::batch::{self, Hook};
use crate::store::{
    now_ms, Appended, Attempt, Delivery, DueDelivery, StoreError, StoreResult, Webhook,
    WebhookChange, Webhooks,
};
use crate::vocab::{DeliveryState, WebhookEvent};

/// The `last_error` of a pending delivery `prune_deliveries` gives up.
const GIVEN_UP: &str = "not delivered within the retry period";

/// `list` as a webhook keeps it: in `WebhookEvent` order, none twice.
fn in_order(list: &[WebhookEvent]) -> Vec<WebhookEvent> {
    WebhookEvent::ALL
        .into_iter()
        .filter(|e| list.contains(e))
        .collect()
}

impl State {
    /// Record the deliveries the entries `done` stored now make for the webhooks of
    /// their sites, as the SQL backends' append does.
    pub(super) fn record_deliveries(&mut self, done: &[Appended]) {
        let sites = batch::event_sites(done);
        if sites.is_empty() {
            return;
        }
        let hooks: Vec<Hook> = self
            .webhooks
            .values()
            .filter(|w| sites.binary_search(&w.site).is_ok())
            .map(|w| Hook {
                id: w.id,
                site: w.site,
                events: w.events.clone(),
            })
            .collect();
        for d in batch::deliveries(done, &hooks) {
            self.last.delivery += 1;
            let id = self.last.delivery;
            let delivery = Delivery {
                id,
                webhook: d.webhook,
                conv: d.conv,
                off: d.off,
                event: d.event,
                created_at: d.ts,
                attempts: 0,
                state: DeliveryState::Pending,
                next_at: Some(d.ts),
                last_status: None,
                last_error: None,
            };
            self.deliveries.insert(id, delivery);
        }
    }

    /// Does `site` have webhook `id`?
    fn has_webhook(&self, site: SiteId, id: i64) -> bool {
        self.webhooks.get(&id).is_some_and(|w| w.site == site)
    }

    /// Webhook `id`, if `site` has it, with its pending deliveries counted and the
    /// earliest time one of them is due.
    fn webhook(&self, site: SiteId, id: i64) -> Option<Webhook> {
        let mut w = self.webhooks.get(&id).filter(|w| w.site == site)?.clone();
        let pending = self
            .deliveries
            .values()
            .filter(|d| d.webhook == id && d.state == DeliveryState::Pending);
        w.pending = pending.clone().count() as u64;
        w.next_at = pending.filter_map(|d| d.next_at).min();
        Some(w)
    }
}

impl Webhooks for MemoryStore {
    fn webhooks(&self, site: SiteId) -> StoreResult<Vec<Webhook>> {
        let st = self.state();
        Ok(st
            .webhooks
            .values()
            .filter(|w| w.site == site)
            .filter_map(|w| st.webhook(site, w.id))
            .collect())
    }

    fn add_webhook(
        &self,
        site: SiteId,
        change: &WebhookChange,
        secret: &str,
        max: usize,
    ) -> StoreResult<Webhook> {
        let (Some(url), Some(events)) = (&change.url, &change.events) else {
            return Err(StoreError::Invalid(
                "a new webhook needs its url and its events".into(),
            ));
        };
        let mut st = self.state();
        if st.webhooks.values().filter(|w| w.site == site).count() >= max {
            return Err(conflict(&format!("the site has {max} webhooks already")));
        }
        st.site_exists(site)?;
        st.last.webhook += 1;
        let webhook = Webhook {
            id: st.last.webhook,
            site,
            url: url.clone(),
            secret: secret.to_string(),
            events: in_order(events),
            paused: change.paused.unwrap_or(false),
            created_at: now_ms(),
            last_ok_at: None,
            last_error: None,
            last_error_at: None,
            pending: 0,
            next_at: None,
        };
        st.webhooks.insert(webhook.id, webhook.clone());
        Ok(webhook)
    }

    fn update_webhook(
        &self,
        site: SiteId,
        id: i64,
        change: &WebhookChange,
    ) -> StoreResult<Option<Webhook>> {
        let mut st = self.state();
        let Some(w) = st.webhooks.get_mut(&id).filter(|w| w.site == site) else {
            return Ok(None);
        };
        if let Some(url) = &change.url {
            w.url = url.clone();
        }
        if let Some(events) = &change.events {
            w.events = in_order(events);
        }
        if let Some(paused) = change.paused {
            w.paused = paused;
        }
        Ok(st.webhook(site, id))
    }

    fn delete_webhook(&self, site: SiteId, id: i64) -> StoreResult<bool> {
        let mut st = self.state();
        if !st.has_webhook(site, id) {
            return Ok(false);
        }
        st.webhooks.remove(&id);
        st.deliveries.retain(|_, d| d.webhook != id);
        Ok(true)
    }

    fn deliveries(
        &self,
        site: SiteId,
        id: i64,
        state: Option<DeliveryState>,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Option<Vec<Delivery>>> {
        let st = self.state();
        if !st.has_webhook(site, id) {
            return Ok(None);
        }
        Ok(Some(
            st.deliveries
                .values()
                .rev()
                .filter(|d| {
                    d.webhook == id
                        && state.is_none_or(|s| d.state == s)
                        && before.is_none_or(|b| d.id < b)
                })
                .take(limit)
                .cloned()
                .collect(),
        ))
    }

    fn due_deliveries(
        &self,
        now: i64,
        sites: Option<&[SiteId]>,
        skip: &[i64],
        limit: usize,
    ) -> StoreResult<Vec<DueDelivery>> {
        let st = self.state();
        let mut due: Vec<DueDelivery> = st
            .deliveries
            .values()
            .filter(|d| d.state == DeliveryState::Pending && d.next_at.is_some_and(|t| t <= now))
            .filter_map(|d| {
                let w = st.webhooks.get(&d.webhook)?;
                let wanted = !w.paused
                    && !skip.contains(&d.webhook)
                    && sites.is_none_or(|s| s.contains(&w.site));
                wanted.then(|| DueDelivery {
                    delivery: d.clone(),
                    site: w.site,
                    url: w.url.clone(),
                    secret: w.secret.clone(),
                })
            })
            .collect();
        due.sort_by_key(|d| (d.delivery.next_at, d.delivery.id));
        due.truncate(limit);
        Ok(due)
    }

    fn record_attempt(&self, id: i64, now: i64, attempt: &Attempt) -> StoreResult<bool> {
        let mut st = self.state();
        let Some(d) = st
            .deliveries
            .get_mut(&id)
            .filter(|d| d.state == DeliveryState::Pending)
        else {
            return Ok(false);
        };
        d.attempts = d.attempts.saturating_add(1);
        let error = match attempt {
            Attempt::Delivered { status } => {
                (d.state, d.next_at) = (DeliveryState::Delivered, None);
                (d.last_status, d.last_error) = (Some(*status), None);
                None
            }
            Attempt::Retry { at, status, error } => {
                d.next_at = Some(*at);
                (d.last_status, d.last_error) = (*status, Some(error.clone()));
                Some(error)
            }
            Attempt::Failed { status, error } => {
                (d.state, d.next_at) = (DeliveryState::Failed, None);
                (d.last_status, d.last_error) = (*status, Some(error.clone()));
                Some(error)
            }
        };
        let hook = d.webhook;
        if let Some(w) = st.webhooks.get_mut(&hook) {
            match error {
                None => w.last_ok_at = Some(now),
                Some(error) => (w.last_error, w.last_error_at) = (Some(error.clone()), Some(now)),
            }
        }
        Ok(true)
    }

    fn retry_delivery(&self, site: SiteId, id: i64, delivery: i64, now: i64) -> StoreResult<bool> {
        let mut st = self.state();
        if !st.has_webhook(site, id) {
            return Ok(false);
        }
        let Some(d) = st
            .deliveries
            .get_mut(&delivery)
            .filter(|d| d.webhook == id && d.state == DeliveryState::Failed)
        else {
            return Ok(false);
        };
        (d.state, d.next_at) = (DeliveryState::Pending, Some(now));
        Ok(true)
    }

    fn prune_deliveries(&self, give_up_before: i64, forget_before: i64) -> StoreResult<u64> {
        let mut st = self.state();
        let mut changed = 0;
        for d in st.deliveries.values_mut() {
            if d.state == DeliveryState::Pending && d.next_at.is_some_and(|t| t < give_up_before) {
                (d.state, d.next_at) = (DeliveryState::Failed, None);
                d.last_error = Some(GIVEN_UP.to_string());
                changed += 1;
            }
        }
        let before = st.deliveries.len();
        st.deliveries
            .retain(|_, d| d.state == DeliveryState::Pending || d.created_at >= forget_before);
        Ok(changed + (before - st.deliveries.len()) as u64)
    }
}
