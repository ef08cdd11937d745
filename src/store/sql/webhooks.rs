//! A site's webhooks and the outbox of their deliveries on a SQL backend
//! (`store::Webhooks`), as diesel queries every backend runs the same way.
//!
//! Compiled inside each backend's module, against that backend's `Db` (see `sql`).
//! Owns: the statements of `Webhooks`: the webhooks of a site with the count of their
//! pending deliveries, the deliveries due, and each attempt recorded by a conditional
//! UPDATE (only a pending delivery changes) in one write transaction with its webhook's
//! row. A writer changing both a webhook's row and its deliveries' (`record_attempt`,
//! `delete_webhook`) locks the webhook's row first (`Dialect::lock_webhook`), as the
//! append does before it records deliveries (`Dialect::lock_hooks`): one order, so no
//! two of them wait for each other. A webhook of another site is answered as one that
//! does not exist. The deliveries themselves are recorded by the append (`append.rs`).
//! Knows nothing of HTTP, signatures or retry timing: the caller says when.

use std::collections::HashMap;

use diesel::prelude::*;

use super::Db;
use crate::ids::SiteId;
use crate::store::sql::models::{
    events_text, DeliveryRow, NewWebhookRow, WebhookChangeRow, WebhookRow,
};
use crate::store::sql::schema::{webhook_deliveries, webhooks};
use crate::store::sql::{ids_per_query, room, Dialect, NewRow};
use crate::store::{
    now_ms, Attempt, Delivery, DueDelivery, StoreError, StoreResult, Webhook, WebhookChange,
    Webhooks,
};
use crate::vocab::{DeliveryState, WebhookEvent};

type Conn = <Db as Dialect>::Conn;

const IDS_PER_QUERY: usize = ids_per_query(Db::MAX_BINDS);

/// The `last_error` of a pending delivery `prune_deliveries` gives up.
const GIVEN_UP: &str = "not delivered within the retry period";

/// Webhook `id`, if `site` has it.
fn webhook_row(c: &mut Conn, site: SiteId, id: i64) -> StoreResult<Option<WebhookRow>> {
    Ok(webhooks::table
        .filter(webhooks::id.eq(id))
        .filter(webhooks::site_id.eq(site.0))
        .select(WebhookRow::as_select())
        .first(c)
        .optional()?)
}

/// Does `site` have webhook `id`?
fn has_webhook(c: &mut Conn, site: SiteId, id: i64) -> StoreResult<bool> {
    let n: i64 = webhooks::table
        .filter(webhooks::id.eq(id))
        .filter(webhooks::site_id.eq(site.0))
        .count()
        .get_result(c)?;
    Ok(n > 0)
}

/// The webhooks of `rows`, in their order, each with its pending deliveries counted and
/// the earliest time one of them is due.
fn with_pending(c: &mut Conn, rows: Vec<WebhookRow>) -> StoreResult<Vec<Webhook>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut pending: HashMap<i64, (i64, Option<i64>)> = HashMap::new();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let counts: Vec<(i64, i64, Option<i64>)> = webhook_deliveries::table
            .filter(webhook_deliveries::webhook_id.eq_any(chunk))
            .filter(webhook_deliveries::state.eq(DeliveryState::Pending.as_str()))
            .group_by(webhook_deliveries::webhook_id)
            .select((
                webhook_deliveries::webhook_id,
                diesel::dsl::count_star(),
                diesel::dsl::min(webhook_deliveries::next_at),
            ))
            .load(c)?;
        for (hook, n, next_at) in counts {
            pending.insert(hook, (n, next_at));
        }
    }
    rows.into_iter()
        .map(|r| {
            let (n, next_at) = pending.get(&r.id).copied().unwrap_or((0, None));
            r.webhook(n.max(0) as u64, next_at)
        })
        .collect()
}

/// `list` as a webhook keeps it: in `WebhookEvent` order, none twice.
fn in_order(list: &[WebhookEvent]) -> Vec<WebhookEvent> {
    WebhookEvent::ALL
        .into_iter()
        .filter(|e| list.contains(e))
        .collect()
}

impl Webhooks for Db {
    fn webhooks(&self, site: SiteId) -> StoreResult<Vec<Webhook>> {
        self.read(|c| {
            let rows = webhooks::table
                .filter(webhooks::site_id.eq(site.0))
                .order(webhooks::id)
                .select(WebhookRow::as_select())
                .load(c)?;
            with_pending(c, rows)
        })
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
        let text = events_text(events);
        let paused = change.paused.unwrap_or(false);
        let row = NewWebhookRow {
            site_id: site.0,
            url,
            secret,
            events: &text,
            paused,
            created_at: now_ms(),
        };
        let id = self.write(|c| {
            let n: i64 = webhooks::table
                .filter(webhooks::site_id.eq(site.0))
                .count()
                .get_result(c)?;
            room(n, max, "webhooks")?;
            Db::insert(c, NewRow::Webhook(&row))
        })?;
        Ok(Webhook {
            id,
            site,
            url: url.clone(),
            secret: secret.to_string(),
            events: in_order(events),
            paused,
            created_at: row.created_at,
            last_ok_at: None,
            last_error: None,
            last_error_at: None,
            pending: 0,
            next_at: None,
        })
    }

    fn update_webhook(
        &self,
        site: SiteId,
        id: i64,
        change: &WebhookChange,
    ) -> StoreResult<Option<Webhook>> {
        let set = WebhookChangeRow {
            url: change.url.as_deref(),
            events: change.events.as_deref().map(events_text),
            paused: change.paused,
        };
        self.write(|c| {
            if set.changes() {
                diesel::update(
                    webhooks::table
                        .filter(webhooks::id.eq(id))
                        .filter(webhooks::site_id.eq(site.0)),
                )
                .set(&set)
                .execute(c)?;
            }
            let Some(row) = webhook_row(c, site, id)? else {
                return Ok(None);
            };
            Ok(with_pending(c, vec![row])?.pop())
        })
    }

    fn delete_webhook(&self, site: SiteId, id: i64) -> StoreResult<bool> {
        self.write(|c| {
            // Locked first: an append recording deliveries for it commits before this
            // reads them, and none records any after.
            if Db::lock_webhook(c, id)? != Some(site.0) {
                return Ok(false);
            }
            diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::webhook_id.eq(id)))
                .execute(c)?;
            diesel::delete(webhooks::table.find(id)).execute(c)?;
            Ok(true)
        })
    }

    fn deliveries(
        &self,
        site: SiteId,
        id: i64,
        state: Option<DeliveryState>,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Option<Vec<Delivery>>> {
        self.read(|c| {
            if !has_webhook(c, site, id)? {
                return Ok(None);
            }
            let mut q = webhook_deliveries::table
                .filter(webhook_deliveries::webhook_id.eq(id))
                .into_boxed();
            if let Some(state) = state {
                q = q.filter(webhook_deliveries::state.eq(state.as_str()));
            }
            if let Some(before) = before {
                q = q.filter(webhook_deliveries::id.lt(before));
            }
            let rows = q
                .order(webhook_deliveries::id.desc())
                .limit(limit as i64)
                .select(DeliveryRow::as_select())
                .load(c)?;
            Ok(Some(DeliveryRow::deliveries(rows)?))
        })
    }

    fn due_deliveries(
        &self,
        now: i64,
        sites: Option<&[SiteId]>,
        skip: &[i64],
        limit: usize,
    ) -> StoreResult<Vec<DueDelivery>> {
        type Row = (DeliveryRow, i64, String, String);
        // The due deliveries of the sites `only` names (or of every site).
        let due = |c: &mut Conn, only: Option<&[i64]>| -> StoreResult<Vec<DueDelivery>> {
            let mut q = webhook_deliveries::table
                .inner_join(webhooks::table)
                .filter(webhook_deliveries::state.eq(DeliveryState::Pending.as_str()))
                .filter(webhook_deliveries::next_at.le(now))
                .filter(webhooks::paused.eq(false))
                .into_boxed();
            if !skip.is_empty() {
                q = q.filter(webhooks::id.ne_all(skip.to_vec()));
            }
            if let Some(only) = only {
                q = q.filter(webhooks::site_id.eq_any(only.to_vec()));
            }
            let rows: Vec<Row> = q
                .order((webhook_deliveries::next_at, webhook_deliveries::id))
                .limit(limit as i64)
                .select((
                    DeliveryRow::as_select(),
                    webhooks::site_id,
                    webhooks::url,
                    webhooks::secret,
                ))
                .load(c)?;
            rows.into_iter()
                .map(|(row, site, url, secret)| {
                    Ok(DueDelivery {
                        delivery: row.delivery()?,
                        site: SiteId(site),
                        url,
                        secret,
                    })
                })
                .collect()
        };
        self.read(|c| {
            let Some(sites) = sites else {
                return due(c, None);
            };
            let ids: Vec<i64> = sites.iter().map(|s| s.0).collect();
            let mut found = Vec::new();
            for chunk in ids.chunks(IDS_PER_QUERY) {
                found.extend(due(c, Some(chunk))?);
            }
            // Each chunk's are in order; together, only once sorted again.
            found.sort_by_key(|d| (d.delivery.next_at, d.delivery.id));
            found.truncate(limit);
            Ok(found)
        })
    }

    fn record_attempt(&self, id: i64, now: i64, attempt: &Attempt) -> StoreResult<bool> {
        let (state, next_at, status, error) = match attempt {
            Attempt::Delivered { status } => (DeliveryState::Delivered, None, Some(*status), None),
            Attempt::Retry { at, status, error } => (
                DeliveryState::Pending,
                Some(*at),
                *status,
                Some(error.as_str()),
            ),
            Attempt::Failed { status, error } => {
                (DeliveryState::Failed, None, *status, Some(error.as_str()))
            }
        };
        let pending = DeliveryState::Pending.as_str();
        self.write(|c| {
            let hook: Option<i64> = webhook_deliveries::table
                .filter(webhook_deliveries::id.eq(id))
                .filter(webhook_deliveries::state.eq(pending))
                .select(webhook_deliveries::webhook_id)
                .first(c)
                .optional()?;
            // The webhook's row before its delivery's, as every writer locks them.
            let Some(hook) = hook else { return Ok(false) };
            if Db::lock_webhook(c, hook)?.is_none() {
                return Ok(false);
            }
            // Conditional: an attempt recorded meanwhile, or a delivery given up, stays.
            let n = diesel::update(
                webhook_deliveries::table
                    .filter(webhook_deliveries::id.eq(id))
                    .filter(webhook_deliveries::state.eq(pending)),
            )
            .set((
                webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
                webhook_deliveries::state.eq(state.as_str()),
                webhook_deliveries::next_at.eq(next_at),
                webhook_deliveries::last_status.eq(status.map(i64::from)),
                webhook_deliveries::last_error.eq(error),
            ))
            .execute(c)?;
            if n == 0 {
                return Ok(false);
            }
            let q = diesel::update(webhooks::table.find(hook));
            match error {
                None => q.set(webhooks::last_ok_at.eq(Some(now))).execute(c)?,
                Some(error) => q
                    .set((
                        webhooks::last_error.eq(Some(error)),
                        webhooks::last_error_at.eq(Some(now)),
                    ))
                    .execute(c)?,
            };
            Ok(true)
        })
    }

    fn retry_delivery(&self, site: SiteId, id: i64, delivery: i64, now: i64) -> StoreResult<bool> {
        self.write(|c| {
            if !has_webhook(c, site, id)? {
                return Ok(false);
            }
            let n = diesel::update(
                webhook_deliveries::table
                    .filter(webhook_deliveries::id.eq(delivery))
                    .filter(webhook_deliveries::webhook_id.eq(id))
                    .filter(webhook_deliveries::state.eq(DeliveryState::Failed.as_str())),
            )
            .set((
                webhook_deliveries::state.eq(DeliveryState::Pending.as_str()),
                webhook_deliveries::next_at.eq(Some(now)),
            ))
            .execute(c)?;
            Ok(n > 0)
        })
    }

    fn prune_deliveries(&self, give_up_before: i64, forget_before: i64) -> StoreResult<u64> {
        self.write(|c| {
            let given_up = diesel::update(
                webhook_deliveries::table
                    .filter(webhook_deliveries::state.eq(DeliveryState::Pending.as_str()))
                    .filter(webhook_deliveries::next_at.lt(give_up_before)),
            )
            .set((
                webhook_deliveries::state.eq(DeliveryState::Failed.as_str()),
                webhook_deliveries::next_at.eq(None::<i64>),
                webhook_deliveries::last_error.eq(Some(GIVEN_UP)),
            ))
            .execute(c)?;
            let done = [
                DeliveryState::Delivered.as_str(),
                DeliveryState::Failed.as_str(),
            ];
            let forgotten = diesel::delete(
                webhook_deliveries::table
                    .filter(webhook_deliveries::state.eq_any(done))
                    .filter(webhook_deliveries::created_at.lt(forget_before)),
            )
            .execute(c)?;
            Ok((given_up + forgotten) as u64)
        })
    }
}
