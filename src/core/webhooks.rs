//! Webhooks: a site's admins register endpoints, and every event of the site's log is
//! POSTed to those that take it, signed, retried until it is delivered, never lost.
//!
//! Owns: what a webhook may be (an `http(s)://` URL, the events it takes, at most
//! `webhook_max_per_site` per site, admins only, another site's answered like a missing
//! one), its secret, the delivery loop (`run`: the outbox read every `webhook_poll_ms`
//! for deliveries due, at most `webhook_concurrency` in flight and a quarter of that per
//! webhook, each attempt bounded by `webhook_timeout_ms`), what a delivery carries (its body, read from the log when it is
//! sent, and its headers), its signature, and what an attempt's outcome means (delivered,
//! retried after a doubling wait, or given up). The deliveries themselves are recorded by
//! the store in the transaction that commits their entries (`store::Webhooks`), so a
//! crash or restart between the log and the outbox cannot lose one: a delivery pending
//! when the process stopped is sent once it runs again. At least once, then: a receiver
//! dedupes by the event id. A node of a cluster delivers the events of the sites it
//! serves. Knows nothing of HTTP: a `Poster` (the edge's) sends each request.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use serde_json::json;

use super::access::{Admin, ServiceError};
use super::hub::{Hub, Inner};
use crate::config::Config;
use crate::ids::{Offset, SiteId};
use crate::protocol::EntryFrame;
use crate::store::{now_ms, Attempt, Delivery, DueDelivery, StoreResult, Webhook, WebhookChange};
use crate::vocab::{DeliveryState, Sender, WebhookEvent};

/// Most deliveries one `GET /v1/webhooks/{id}/deliveries` lists.
pub(crate) const MAX_LIST: usize = 100;
/// How often finished deliveries are pruned and overdue ones given up.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// One request to send: POST `body` to `url` with `headers` (names in lower case).
pub(crate) struct Post {
    pub(crate) url: String,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Bytes,
}

/// Why a `Post` got no 2xx answer.
#[derive(Debug)]
pub(crate) enum PostError {
    /// Not sent, and sending it again as it is would not help (the URL, or an address
    /// the server may not reach).
    Refused(String),
    /// No answer: connecting, TLS, the exchange, or no answer in time.
    Failed(String),
    /// An answer that is not 2xx: its status and the first line of its body.
    Status(u16, String),
}

/// What sends the requests: the edge's HTTP client, or a test's.
pub(crate) trait Poster: Send + Sync + 'static {
    /// Send `post`; the status of a 2xx answer.
    #[allow(clippy::type_complexity)]
    fn post(&self, post: Post)
        -> Pin<Box<dyn Future<Output = Result<u16, PostError>> + Send + '_>>;
}

/// A webhook as an admin asks for it (`None`: unchanged; at creation, `events: None` is
/// every event).
#[derive(Default)]
pub(crate) struct HookChange {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub paused: Option<bool>,
}

/// The webhook service: `Hub::webhooks`.
pub(crate) struct Webhooks<'a> {
    hub: &'a Hub,
}

impl Hub {
    pub(crate) fn webhooks(&self) -> Webhooks<'_> {
        Webhooks { hub: self }
    }
}

/// `url` is where a webhook may post: `http://` or `https://`, a host, no credentials,
/// no fragment, nothing but visible ASCII, at most 2,000 characters. (Which addresses it
/// may reach is checked when it is sent: a name resolves then.)
pub(crate) fn check_url(url: &str) -> Result<(), String> {
    if url.len() > 2000 || !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("url must be at most 2000 visible ASCII characters".into());
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("url must start with http:// or https://")?;
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.is_empty() || authority.starts_with(['.', ':']) {
        return Err("url must name a host".into());
    }
    if authority.contains('@') {
        return Err("url must not carry a user name or password".into());
    }
    if url.contains('#') {
        return Err("url must not have a fragment".into());
    }
    Ok(())
}

/// The events named, in `WebhookEvent` order, none twice; at least one.
fn events_of(words: &[String]) -> Result<Vec<WebhookEvent>, ServiceError> {
    if words.is_empty() || words.len() > 4 * WebhookEvent::ALL.len() {
        return Err(ServiceError::Invalid(
            "events must name at least one event (and each a few times at most)".into(),
        ));
    }
    let mut events = words
        .iter()
        .map(|w| w.parse::<WebhookEvent>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ServiceError::Invalid(e.to_string()))?;
    events.sort_unstable();
    events.dedup();
    Ok(events)
}

impl Webhooks<'_> {
    /// The admin's site's webhooks, oldest first.
    pub(crate) async fn list(&self, by: &Admin) -> Result<Vec<Webhook>, ServiceError> {
        let site = by.agent().site;
        Ok(self.hub.blocking(move |s| s.webhooks(site)).await?)
    }

    /// Register a webhook: `url` required, every event when `events` is `None`. Its
    /// secret is made here. `Conflict` past `webhook_max_per_site`.
    pub(crate) async fn add(&self, by: &Admin, hook: HookChange) -> Result<Webhook, ServiceError> {
        let url = hook
            .url
            .ok_or_else(|| ServiceError::Invalid("url is required".into()))?;
        check_url(&url).map_err(ServiceError::Invalid)?;
        let events = match hook.events {
            None => WebhookEvent::ALL.to_vec(),
            Some(words) => events_of(&words)?,
        };
        let change = WebhookChange {
            url: Some(url),
            events: Some(events),
            paused: Some(hook.paused.unwrap_or(false)),
        };
        let secret = format!(
            "whsec_{}",
            data_encoding::HEXLOWER.encode(&rand::random::<[u8; 24]>())
        );
        let (site, max) = (by.agent().site, self.hub.config().webhook_max_per_site);
        Ok(self
            .hub
            .blocking(move |s| s.add_webhook(site, &change, &secret, max))
            .await?)
    }

    /// Change a webhook of the admin's site: its URL, its events, paused or not.
    pub(crate) async fn update(
        &self,
        by: &Admin,
        id: i64,
        hook: HookChange,
    ) -> Result<Webhook, ServiceError> {
        if let Some(url) = &hook.url {
            check_url(url).map_err(ServiceError::Invalid)?;
        }
        let events = hook.events.as_deref().map(events_of).transpose()?;
        let change = WebhookChange {
            url: hook.url,
            events,
            paused: hook.paused,
        };
        let site = by.agent().site;
        self.hub
            .blocking(move |s| s.update_webhook(site, id, &change))
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// Delete a webhook of the admin's site, with its deliveries.
    pub(crate) async fn delete(&self, by: &Admin, id: i64) -> Result<(), ServiceError> {
        let site = by.agent().site;
        match self
            .hub
            .blocking(move |s| s.delete_webhook(site, id))
            .await?
        {
            true => Ok(()),
            false => Err(ServiceError::NotFound),
        }
    }

    /// A webhook's deliveries, newest first (in `state`, below id `before`), at most
    /// `limit` (1–`MAX_LIST`).
    pub(crate) async fn deliveries(
        &self,
        by: &Admin,
        id: i64,
        state: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Delivery>, ServiceError> {
        let state = state
            .map(|w| w.parse::<DeliveryState>())
            .transpose()
            .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        if limit == 0 || limit > MAX_LIST {
            return Err(ServiceError::Invalid(format!(
                "limit must be 1 to {MAX_LIST}"
            )));
        }
        let site = by.agent().site;
        self.hub
            .blocking(move |s| s.deliveries(site, id, state, before, limit))
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// Send a failed delivery of a webhook of the admin's site again, now.
    pub(crate) async fn retry(
        &self,
        by: &Admin,
        id: i64,
        delivery: i64,
    ) -> Result<(), ServiceError> {
        let site = by.agent().site;
        let now = now_ms();
        match self
            .hub
            .blocking(move |s| s.retry_delivery(site, id, delivery, now))
            .await?
        {
            true => Ok(()),
            false => Err(ServiceError::NotFound),
        }
    }
}

/// The `kefu-signature` header of `body` sent at `t` (seconds since the Unix epoch):
/// `t=<t>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the webhook's secret>`.
pub(crate) fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={t},v1={}",
        data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
    )
}

/// What an attempt's outcome means for its delivery, `attempts` made so far (this one
/// included), at `now`: delivered; given up (refused, or the retry period over); or
/// tried again after `webhook_retry_first_ms` doubled at each failure, capped at
/// `webhook_retry_max_ms`, and never after the period's end (the last attempt is then).
pub(crate) fn outcome(
    result: Result<u16, PostError>,
    created_at: i64,
    attempts: u32,
    now: i64,
    config: &Config,
) -> Attempt {
    let (status, error) = match result {
        Ok(status) => return Attempt::Delivered { status },
        Err(PostError::Refused(error)) => {
            return Attempt::Failed {
                status: None,
                error,
            }
        }
        Err(PostError::Failed(error)) => (None, error),
        Err(PostError::Status(status, line)) => {
            let error = if line.is_empty() {
                format!("HTTP {status}")
            } else {
                format!("HTTP {status}: {line}")
            };
            (Some(status), error)
        }
    };
    let end = created_at.saturating_add(config.webhook_retry_for_ms as i64);
    if now >= end {
        return Attempt::Failed {
            status,
            error: format!("{error} (given up: not delivered within webhook_retry_for_ms)"),
        };
    }
    let doublings = attempts.saturating_sub(1).min(40);
    let wait = config
        .webhook_retry_first_ms
        .saturating_mul(1u64 << doublings)
        .min(config.webhook_retry_max_ms);
    Attempt::Retry {
        at: now.saturating_add(wait as i64).min(end),
        status,
        error,
    }
}

/// The body of `due`, read from the log now: the event, its site and conversation, and
/// the entry as clients see it. `None` when the entry is gone.
async fn body_of(hub: &Hub, due: &DueDelivery) -> StoreResult<Option<Bytes>> {
    let d = &due.delivery;
    let (conv, off, site) = (d.conv, d.off, due.site);
    let found = hub
        .blocking(move |s| {
            let entry = s
                .read_after(conv, Offset(off.0.saturating_sub(1)), 1)?
                .into_iter()
                .find(|e| e.off == off);
            let info = s.conversation(conv)?;
            let site = s.site(site)?;
            Ok(entry.zip(info).zip(site))
        })
        .await?;
    let Some(((entry, info), site)) = found else {
        return Ok(None);
    };
    let body = json!({
        "id": d.event_id(),
        "type": d.event,
        "created_at": d.created_at,
        "site": {"key": site.key},
        "conversation": {
            "id": info.id,
            "epoch": info.epoch,
            "visitor": Sender::Visitor(info.visitor),
        },
        "entry": EntryFrame::from(&entry),
    });
    Ok(Some(Bytes::from(body.to_string())))
}

/// One attempt at `due`, recorded; the delivery's id.
async fn attempt(hub: Hub, poster: Arc<dyn Poster>, due: DueDelivery) -> i64 {
    let d = &due.delivery;
    let id = d.id;
    let body = match body_of(&hub, &due).await {
        Ok(Some(body)) => body,
        Ok(None) => {
            let gone = Attempt::Failed {
                status: None,
                error: "its entry no longer exists".into(),
            };
            let now = now_ms();
            let _ = hub
                .blocking(move |s| s.record_attempt(id, now, &gone))
                .await;
            return id;
        }
        Err(e) => {
            // Tried again at the next look at the outbox.
            tracing::warn!(delivery = id, error = %e, "webhook: cannot read its entry");
            return id;
        }
    };
    let t = now_ms() / 1000;
    let headers = vec![
        ("kefu-event", d.event.as_str().to_string()),
        ("kefu-event-id", d.event_id()),
        ("kefu-delivery", id.to_string()),
        ("kefu-attempt", (d.attempts + 1).to_string()),
        ("kefu-signature", signature(&due.secret, t, &body)),
    ];
    let config = hub.config();
    let limit = Duration::from_millis(config.webhook_timeout_ms);
    let started = Instant::now();
    let post = Post {
        url: due.url.clone(),
        headers,
        body,
    };
    let result = match tokio::time::timeout(limit, poster.post(post)).await {
        Ok(r) => r,
        Err(_) => Err(PostError::Failed(format!(
            "no answer within {} ms",
            config.webhook_timeout_ms
        ))),
    };
    let now = now_ms();
    let next = outcome(result, d.created_at, d.attempts + 1, now, config);
    let m = hub.metrics();
    m.webhook_seconds.observe(started.elapsed().as_secs_f64());
    let label = match &next {
        Attempt::Delivered { .. } => "delivered",
        Attempt::Retry { .. } => "retried",
        Attempt::Failed { .. } => "failed",
    };
    m.webhook_deliveries
        .get_or_create(&super::metrics::OutcomeLabels { outcome: label })
        .inc();
    match &next {
        Attempt::Delivered { .. } => {}
        Attempt::Retry { error, at, .. } => tracing::info!(
            webhook = d.webhook, event = %d.event_id(), attempt = d.attempts + 1,
            retry_in_ms = at - now, %error, "webhook delivery failed; will retry"
        ),
        Attempt::Failed { error, .. } => tracing::warn!(
            webhook = d.webhook, event = %d.event_id(), attempt = d.attempts + 1,
            %error, "webhook delivery given up"
        ),
    }
    if let Err(e) = hub
        .blocking(move |s| s.record_attempt(id, now, &next))
        .await
    {
        tracing::warn!(delivery = id, error = %e, "webhook: cannot record an attempt");
    }
    id
}

impl Hub {
    /// Start delivering this node's webhooks through `poster` until shutdown (a router
    /// delivers none).
    pub(crate) fn start_webhooks(&self, poster: Arc<dyn Poster>) {
        if self.cluster().is_some_and(|c| c.me().is_none()) {
            return;
        }
        let weak = self.downgrade();
        self.tasks().spawn_timer(run(weak, poster));
    }

    /// The sites whose deliveries this node makes: `None` (all) running alone.
    fn webhook_sites(&self) -> Option<Vec<SiteId>> {
        self.cluster()
            .map(|c| c.held().sites().into_iter().map(|(s, _)| s).collect())
    }
}

/// The attempts in flight: by the task making each, its delivery and webhook. Bounds
/// them in all (`webhook_concurrency`) and per webhook (a quarter of that, at least one),
/// so one slow or hanging endpoint can hold only its share and every other site's
/// deliveries keep going.
#[derive(Default)]
struct InFlight {
    by_task: HashMap<tokio::task::Id, (i64, i64)>,
    deliveries: HashSet<i64>,
    per_hook: HashMap<i64, usize>,
}

impl InFlight {
    fn len(&self) -> usize {
        self.deliveries.len()
    }

    /// The most attempts one webhook may have in flight, of `total`.
    fn hook_cap(total: usize) -> usize {
        (total / 4).max(1)
    }

    /// The webhooks at their cap: not fetched again until one of theirs ends.
    fn full_hooks(&self, total: usize) -> Vec<i64> {
        let cap = Self::hook_cap(total);
        self.per_hook
            .iter()
            .filter(|(_, n)| **n >= cap)
            .map(|(h, _)| *h)
            .collect()
    }

    /// May delivery `d` start now, with `total` attempts allowed in all?
    fn admits(&self, d: &Delivery, total: usize) -> bool {
        self.len() < total
            && !self.deliveries.contains(&d.id)
            && self.per_hook.get(&d.webhook).copied().unwrap_or(0) < Self::hook_cap(total)
    }

    fn start(&mut self, task: tokio::task::Id, d: &Delivery) {
        self.by_task.insert(task, (d.id, d.webhook));
        self.deliveries.insert(d.id);
        *self.per_hook.entry(d.webhook).or_default() += 1;
    }

    fn end(&mut self, task: tokio::task::Id) {
        let Some((id, hook)) = self.by_task.remove(&task) else {
            return;
        };
        self.deliveries.remove(&id);
        if let Some(n) = self.per_hook.get_mut(&hook) {
            *n -= 1;
            if *n == 0 {
                self.per_hook.remove(&hook);
            }
        }
    }
}

/// The delivery loop: look at the outbox, start the attempts due while there is room,
/// wait for one to end or for the next look; now and then prune. Ends with the hub.
async fn run(weak: Weak<Inner>, poster: Arc<dyn Poster>) {
    let mut attempts = tokio::task::JoinSet::new();
    let mut in_flight = InFlight::default();
    let mut pruned: Option<Instant> = None;
    let mut failing = false;
    loop {
        let Some(hub) = Hub::upgrade(&weak) else {
            break;
        };
        let config = hub.config().clone();
        let total = config.webhook_concurrency;
        if pruned.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            pruned = Some(Instant::now());
            let now = now_ms();
            let give_up = now.saturating_sub(config.webhook_retry_for_ms as i64);
            let forget = now.saturating_sub(config.webhook_keep_ms as i64);
            if let Err(e) = hub
                .blocking(move |s| s.prune_deliveries(give_up, forget))
                .await
            {
                tracing::warn!(error = %e, "webhook: cannot prune the outbox");
            }
        }
        let sites = hub.webhook_sites();
        if in_flight.len() < total && sites.as_ref().is_none_or(|s| !s.is_empty()) {
            let now = now_ms();
            // Those in flight come back too (they are still pending): ask for room beyond.
            let want = total + in_flight.len();
            let skip = in_flight.full_hooks(total);
            match hub
                .blocking(move |s| s.due_deliveries(now, sites.as_deref(), &skip, want))
                .await
            {
                Ok(due) => {
                    failing = false;
                    for d in due {
                        if in_flight.admits(&d.delivery, total) {
                            let delivery = d.delivery.clone();
                            let task = attempts.spawn(attempt(hub.clone(), poster.clone(), d));
                            in_flight.start(task.id(), &delivery);
                        }
                    }
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "webhook: cannot read the outbox");
                    }
                    failing = true;
                }
            }
        }
        drop(hub);
        let poll = Duration::from_millis(config.webhook_poll_ms);
        tokio::select! {
            Some(done) = attempts.join_next_with_id(), if !attempts.is_empty() => {
                in_flight.end(match done {
                    Ok((task, _)) => task,
                    Err(e) => e.id(),
                });
            }
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

/// A webhook as the API shows it (never its secret, except to the admin who just made
/// it: `with_secret`).
pub(crate) fn webhook_json(w: &Webhook, with_secret: bool) -> serde_json::Value {
    let mut v = json!({
        "id": w.id,
        "url": w.url,
        "events": w.events,
        "paused": w.paused,
        "created_at": w.created_at,
        "last_ok_at": w.last_ok_at,
        "last_error": w.last_error,
        "last_error_at": w.last_error_at,
        "pending": w.pending,
        "next_attempt_at": w.next_at,
    });
    if with_secret {
        v["secret"] = json!(w.secret);
    }
    v
}

/// A delivery as the API shows it.
pub(crate) fn delivery_json(d: &Delivery) -> serde_json::Value {
    json!({
        "id": d.id,
        "event_id": d.event_id(),
        "event": d.event,
        "conv": d.conv,
        "off": d.off,
        "created_at": d.created_at,
        "attempts": d.attempts,
        "state": d.state,
        "next_attempt_at": d.next_at,
        "last_status": d.last_status,
        "last_error": d.last_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_webhook_holds_at_most_a_quarter_of_the_attempts() {
        let d = |id, webhook| Delivery {
            id,
            webhook,
            conv: crate::ids::ConversationId(1),
            off: Offset(1),
            event: WebhookEvent::Message,
            created_at: 0,
            attempts: 0,
            state: DeliveryState::Pending,
            next_at: Some(0),
            last_status: None,
            last_error: None,
        };
        let mut f = InFlight::default();
        let mut tasks = tokio::task::JoinSet::new();
        let mut started = Vec::new();
        for id in 1..=4 {
            let delivery = d(id, 7);
            if f.admits(&delivery, 8) {
                let t = tasks.spawn(std::future::pending::<()>());
                f.start(t.id(), &delivery);
                started.push(t.id());
            }
        }
        assert_eq!(f.len(), 2, "8 / 4 for webhook 7");
        assert_eq!(f.full_hooks(8), [7]);
        assert!(!f.admits(&d(1, 7), 8), "in flight already");
        assert!(f.admits(&d(9, 8), 8), "another webhook still has room");
        f.end(started[0]);
        assert!(f.full_hooks(8).is_empty());
        assert!(f.admits(&d(3, 7), 8));
        assert_eq!(InFlight::hook_cap(1), 1, "at least one");
        tasks.abort_all();
    }

    #[test]
    fn urls_are_http_with_a_host_and_nothing_hidden() {
        for ok in [
            "https://hooks.example.com/kefu",
            "http://127.0.0.1:8080/in?x=1",
            "https://[::1]:9/x",
            "https://example.com",
        ] {
            assert_eq!(check_url(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("ftp://example.com/", "http:// or https://"),
            ("https://", "host"),
            ("https:///path", "host"),
            ("https://user:pw@example.com/", "user name"),
            ("https://example.com/#x", "fragment"),
            ("https://example.com/a b", "visible ASCII"),
            ("javascript:alert(1)", "http:// or https://"),
        ] {
            let e = check_url(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(check_url(&format!("https://e.com/{}", "a".repeat(2000))).is_err());
    }

    #[test]
    fn events_are_known_sorted_and_unique() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            events_of(&words(&[
                "message.created",
                "conversation.opened",
                "message.created"
            ]))
            .unwrap(),
            vec![WebhookEvent::Opened, WebhookEvent::Message]
        );
        assert!(matches!(events_of(&[]), Err(ServiceError::Invalid(_))));
        match events_of(&words(&["message.sent"])) {
            Err(ServiceError::Invalid(why)) => {
                assert!(why.contains("offline_message.left"), "{why}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_time_dot_body() {
        // Checked against an independent implementation (Python's hmac module):
        // hmac.new(b"whsec_test", b"1700000000.{\"a\":1}", "sha256").hexdigest()
        assert_eq!(
            signature("whsec_test", 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn failures_wait_twice_as_long_each_time_until_the_period_ends() {
        let c = Config {
            webhook_retry_first_ms: 1000,
            webhook_retry_max_ms: 5000,
            webhook_retry_for_ms: 60_000,
            ..Config::default()
        };
        let fail = || Err(PostError::Failed("refused".into()));
        let at = |attempts, now| match outcome(fail(), 0, attempts, now, &c) {
            Attempt::Retry { at, .. } => at,
            other => panic!("{other:?}"),
        };
        assert_eq!(at(1, 100), 1100);
        assert_eq!(at(2, 100), 2100);
        assert_eq!(at(3, 100), 4100);
        assert_eq!(at(4, 100), 5100, "capped at webhook_retry_max_ms");
        assert_eq!(at(9, 58_000), 60_000, "never after the period");
        assert!(matches!(
            outcome(fail(), 0, 10, 60_000, &c),
            Attempt::Failed { .. }
        ));
        assert_eq!(
            outcome(Ok(204), 0, 1, 5, &c),
            Attempt::Delivered { status: 204 }
        );
        match outcome(Err(PostError::Status(503, "busy".into())), 0, 1, 5, &c) {
            Attempt::Retry { status, error, .. } => {
                assert_eq!(status, Some(503));
                assert_eq!(error, "HTTP 503: busy");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            outcome(Err(PostError::Refused("private".into())), 0, 1, 5, &c),
            Attempt::Failed { status: None, .. }
        ));
    }
}
