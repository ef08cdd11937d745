//! Conformance of `Webhooks`: webhooks scoped to their site and bounded, the deliveries
//! an append records (one per event of each new entry, per webhook taking it), and the
//! outbox's life: due, attempted, retried, given up, forgotten, deleted with what they
//! belong to.

use super::{first_message, msg, new, visitor, A, B};
use crate::ids::{AgentId, ConversationId, Offset, SiteId};
use crate::store::{
    Appended, Attempt, Author, Cid, Contact, ConvRef, Delivery, NewEntry, Store, StoreError,
    WebhookChange,
};
use crate::vocab::{DeliveryState, EntryKind, WebhookEvent};

use WebhookEvent::{Assigned, Closed, Message, OfflineMessage, Opened, Reopened, Transferred};

/// A webhook taking `events`, posted to `url`.
fn hook(url: &str, events: &[WebhookEvent]) -> WebhookChange {
    WebhookChange {
        url: Some(url.into()),
        events: Some(events.to_vec()),
        paused: None,
    }
}

/// A desk entry (`join`, `transfer`, `close`, `reopen`) of agent 1 in `conv`.
fn desk(conv: ConversationId, kind: EntryKind) -> NewEntry {
    NewEntry::now(
        ConvRef::Id(conv),
        kind,
        Author::Agent(AgentId(1)),
        Cid::Made(kind.as_str()),
        String::new(),
    )
}

/// A visitor's message `cid` on `site`, committed at `ts`.
fn said_at(site: SiteId, token: &str, cid: &str, ts: i64) -> NewEntry {
    NewEntry {
        ts,
        ..msg(visitor(site, token), Author::Visitor, cid)
    }
}

/// Every delivery of webhook `id` of `site`, oldest first.
fn all(s: &dyn Store, site: SiteId, id: i64) -> Vec<Delivery> {
    let mut list = s
        .deliveries(site, id, None, None, 100_000)
        .unwrap()
        .unwrap();
    list.reverse();
    list
}

/// The (conversation, offset, event) of every delivery of webhook `id`, oldest first.
fn events(s: &dyn Store, site: SiteId, id: i64) -> Vec<(ConversationId, u64, WebhookEvent)> {
    all(s, site, id)
        .iter()
        .map(|d| (d.conv, d.off.0, d.event))
        .collect()
}

/// The ids of the deliveries due at `now` (of `sites`), in the order given.
fn due(s: &dyn Store, now: i64, sites: Option<&[SiteId]>) -> Vec<i64> {
    s.due_deliveries(now, sites, &[], 100)
        .unwrap()
        .iter()
        .map(|d| d.delivery.id)
        .collect()
}

fn state_of(s: &dyn Store, site: SiteId, id: i64, delivery: i64) -> Delivery {
    all(s, site, id)
        .into_iter()
        .find(|d| d.id == delivery)
        .unwrap_or_else(|| panic!("no delivery {delivery}"))
}

pub(crate) fn webhooks_are_added_changed_deleted_and_scoped_to_their_site(s: &dyn Store) {
    let site = s.add_site("t", &[]).unwrap().id;
    let other = s.add_site("u", &[]).unwrap().id;
    let w = s
        .add_webhook(
            site,
            &hook("https://a.example/in", &[Message, Opened, Message]),
            "k1",
            5,
        )
        .unwrap();
    assert_eq!(
        (w.site, w.url.as_str(), w.secret.as_str()),
        (site, "https://a.example/in", "k1")
    );
    assert_eq!(w.events, [Opened, Message], "in event order, none twice");
    assert!(!w.paused && w.created_at > 0);
    assert_eq!(
        (w.last_ok_at, &w.last_error, w.last_error_at),
        (None, &None, None)
    );
    assert_eq!((w.pending, w.next_at), (0, None));
    assert_eq!(s.webhooks(site).unwrap(), vec![w.clone()]);
    assert!(s.webhooks(other).unwrap().is_empty());
    let paused = WebhookChange {
        paused: Some(true),
        ..hook("http://b.example", &[])
    };
    let v = s.add_webhook(site, &paused, "k2", 5).unwrap();
    assert!(v.id > w.id && v.paused && v.events.is_empty());
    assert_eq!(
        s.webhooks(site).unwrap(),
        vec![w.clone(), v.clone()],
        "oldest first"
    );
    // Both the url and the events must be given.
    for partial in [
        WebhookChange {
            url: None,
            ..hook("x", &[Opened])
        },
        WebhookChange {
            events: None,
            ..hook("https://c.example", &[])
        },
    ] {
        let r = s.add_webhook(site, &partial, "k", 5);
        assert!(matches!(r, Err(StoreError::Invalid(_))), "{r:?}");
    }
    let r = s.add_webhook(
        SiteId(other.0 + 100),
        &hook("https://c.example", &[]),
        "k",
        5,
    );
    assert!(
        matches!(r, Err(StoreError::Invalid(_))),
        "no such site: {r:?}"
    );
    assert_eq!(s.webhooks(site).unwrap().len(), 2);

    // Changed: only what is given.
    let url = WebhookChange {
        url: Some("https://a.example/v2".into()),
        ..WebhookChange::default()
    };
    let changed = s.update_webhook(site, w.id, &url).unwrap().unwrap();
    assert_eq!(
        changed,
        crate::store::Webhook {
            url: "https://a.example/v2".into(),
            ..w.clone()
        }
    );
    let more = WebhookChange {
        events: Some(vec![Closed, Assigned]),
        paused: Some(true),
        ..WebhookChange::default()
    };
    let changed = s.update_webhook(site, w.id, &more).unwrap().unwrap();
    assert_eq!(
        (changed.url.as_str(), &changed.events, changed.paused),
        ("https://a.example/v2", &vec![Assigned, Closed], true)
    );
    let unchanged = s
        .update_webhook(site, w.id, &WebhookChange::default())
        .unwrap();
    assert_eq!(unchanged.as_ref(), Some(&changed));
    assert_eq!(s.webhooks(site).unwrap()[0], changed);
    // Another site's webhook is none of this site's.
    assert_eq!(s.update_webhook(other, w.id, &url).unwrap(), None);
    assert_eq!(s.update_webhook(site, v.id + 100, &url).unwrap(), None);
    assert_eq!(s.deliveries(other, w.id, None, None, 10).unwrap(), None);
    assert_eq!(
        s.deliveries(site, v.id + 100, None, None, 10).unwrap(),
        None
    );
    assert_eq!(
        s.deliveries(site, w.id, None, None, 10).unwrap(),
        Some(vec![])
    );
    assert!(!s.delete_webhook(other, w.id).unwrap());
    assert_eq!(s.webhooks(site).unwrap().len(), 2, "not deleted");
    assert!(s.delete_webhook(site, w.id).unwrap());
    assert!(!s.delete_webhook(site, w.id).unwrap(), "once");
    assert_eq!(s.webhooks(site).unwrap(), vec![v]);
    assert_eq!(s.deliveries(site, w.id, None, None, 10).unwrap(), None);
}

pub(crate) fn a_site_has_at_most_max_webhooks(s: &dyn Store) {
    let site = s.add_site("t", &[]).unwrap().id;
    let other = s.add_site("u", &[]).unwrap().id;
    let first = s
        .add_webhook(site, &hook("https://a.example", &[Opened]), "k", 2)
        .unwrap();
    s.add_webhook(site, &hook("https://b.example", &[Opened]), "k", 2)
        .unwrap();
    match s.add_webhook(site, &hook("https://c.example", &[Opened]), "k", 2) {
        Err(StoreError::Conflict(why)) => assert_eq!(why, "the site has 2 webhooks already"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(s.webhooks(site).unwrap().len(), 2);
    let theirs = s
        .add_webhook(other, &hook("https://c.example", &[Opened]), "k", 2)
        .unwrap();
    assert!(s.delete_webhook(site, first.id).unwrap());
    let again = s
        .add_webhook(site, &hook("https://c.example", &[Opened]), "k", 2)
        .unwrap();
    assert!(again.id > theirs.id, "ids are not reused");
}

pub(crate) fn appends_record_one_delivery_per_event_for_each_webhook_taking_it(s: &dyn Store) {
    let site = s.add_site("t", &[]).unwrap().id;
    let other = s.add_site("u", &[]).unwrap().id;
    let every = s
        .add_webhook(
            site,
            &hook("https://all.example", &WebhookEvent::ALL),
            "k",
            5,
        )
        .unwrap()
        .id;
    let messages = s
        .add_webhook(site, &hook("https://msg.example", &[Message]), "k", 5)
        .unwrap()
        .id;
    let paused = WebhookChange {
        paused: Some(true),
        ..hook("https://paused.example", &WebhookEvent::ALL)
    };
    let paused = s.add_webhook(site, &paused, "k", 5).unwrap().id;
    let theirs = s
        .add_webhook(
            other,
            &hook("https://theirs.example", &WebhookEvent::ALL),
            "k",
            5,
        )
        .unwrap()
        .id;

    // A visitor's first message opens the conversation: two events.
    let first = said_at(site, A, "m1", 1_000);
    let got = s.append_batch(&[first]).unwrap();
    let (a, _, _) = new(&got[0]);
    assert_eq!(events(s, site, every), [(a, 1, Opened), (a, 1, Message)]);
    assert_eq!(events(s, site, messages), [(a, 1, Message)]);
    assert_eq!(events(s, site, paused), [(a, 1, Opened), (a, 1, Message)]);
    assert!(
        events(s, other, theirs).is_empty(),
        "another site's entries"
    );
    let d = &all(s, site, every)[1];
    assert_eq!(
        (d.webhook, d.created_at, d.attempts, d.state, d.next_at),
        (every, 1_000, 0, DeliveryState::Pending, Some(1_000))
    );
    assert_eq!((d.last_status, &d.last_error), (None, &None));
    assert_eq!(d.event_id(), format!("{a}.1.message.created"));

    // A resend is stored once, and so makes its events once.
    let again = s.append_batch(&[said_at(site, A, "m1", 1_500)]).unwrap();
    assert!(matches!(again[0], Appended::Dup { .. }), "{again:?}");
    assert_eq!(all(s, site, every).len(), 2);

    // Desk entries, a read (no event), and the visitor's next message, in one batch.
    let read = NewEntry {
        upto: Some(Offset(1)),
        ..NewEntry::now(
            ConvRef::Id(a),
            EntryKind::Read,
            Author::Agent(AgentId(1)),
            Cid::Keyed(format!("read:{a}:1")),
            String::new(),
        )
    };
    s.append_batch(&[
        desk(a, EntryKind::Join),
        read,
        desk(a, EntryKind::Transfer),
        msg(visitor(site, A), Author::Visitor, "m2"),
        desk(a, EntryKind::Close),
    ])
    .unwrap();
    assert!(matches!(
        s.reopen_conversation(a).unwrap(),
        crate::store::Reopen::Reopened { .. }
    ));
    s.append_batch(&[desk(a, EntryKind::Reopen)]).unwrap();
    assert_eq!(
        events(s, site, every),
        [
            (a, 1, Opened),
            (a, 1, Message),
            (a, 2, Assigned),
            (a, 4, Transferred),
            (a, 5, Message),
            (a, 6, Closed),
            (a, 7, Reopened),
        ]
    );
    assert_eq!(
        events(s, site, messages),
        [(a, 1, Message), (a, 5, Message)]
    );
    assert_eq!(
        events(s, site, paused),
        events(s, site, every),
        "paused, still recorded"
    );

    // An offline message, with who to answer: its own event, not a message's.
    let offline = NewEntry {
        contact: Some(Contact {
            name: "Li".into(),
            email: "li@example.com".into(),
        }),
        ..msg(visitor(site, B), Author::Visitor, "o1")
    };
    let (b, _, _) = new(&s.append_batch(&[offline]).unwrap()[0]);
    assert_eq!(
        events(s, site, every)[7..],
        [(b, 1, Opened), (b, 1, OfflineMessage)]
    );
    assert_eq!(
        events(s, site, messages).len(),
        2,
        "it takes no offline message"
    );
    assert!(events(s, other, theirs).is_empty());

    // Their pending counts, and what is due: never a paused webhook's.
    let hooks = s.webhooks(site).unwrap();
    let pending: Vec<(i64, u64)> = hooks.iter().map(|w| (w.id, w.pending)).collect();
    assert_eq!(pending, [(every, 9), (messages, 2), (paused, 9)]);
    assert_eq!(hooks[0].next_at, Some(1_000));
    let due = s.due_deliveries(i64::MAX, None, &[], 100).unwrap();
    assert_eq!(due.len(), 11);
    assert!(due.iter().all(|d| d.delivery.webhook != paused));
    let theirs_too = s.append_batch(&[said_at(other, A, "t1", 2_000)]).unwrap();
    let (t, _, _) = new(&theirs_too[0]);
    assert_eq!(events(s, other, theirs), [(t, 1, Opened), (t, 1, Message)]);
    assert_eq!(all(s, site, every).len(), 9, "not this site's");
}

pub(crate) fn a_batch_without_events_or_webhooks_records_nothing(s: &dyn Store) {
    let site = s.add_site("t", &[]).unwrap().id;
    let bare = s.add_site("u", &[]).unwrap().id;
    let w = s
        .add_webhook(site, &hook("https://a.example", &[Closed]), "k", 5)
        .unwrap()
        .id;
    // Events this webhook does not take, on its site; events on a site with none.
    let a = first_message(s, site, A, "m1");
    first_message(s, bare, A, "m1");
    s.append_batch(&[msg(ConvRef::Id(a), Author::Agent(AgentId(1)), "m2")])
        .unwrap();
    assert!(all(s, site, w).is_empty());
    assert!(s
        .due_deliveries(i64::MAX, None, &[], 100)
        .unwrap()
        .is_empty());
    s.append_batch(&[desk(a, EntryKind::Close)]).unwrap();
    assert_eq!(events(s, site, w), [(a, 3, Closed)]);
}

pub(crate) fn large_batches_record_every_delivery(s: &dyn Store) {
    let site = s.add_site("t", &[]).unwrap().id;
    let w = s
        .add_webhook(site, &hook("https://a.example", &WebhookEvent::ALL), "k", 5)
        .unwrap()
        .id;
    let batch: Vec<NewEntry> = (0..5000)
        .map(|i| said_at(site, A, &format!("c{i}"), 1_000 + i))
        .collect();
    s.append_batch(&batch).unwrap();
    let hooks = s.webhooks(site).unwrap();
    assert_eq!((hooks[0].pending, hooks[0].next_at), (5001, Some(1_000)));
    let list = all(s, site, w);
    assert_eq!(list.len(), 5001);
    assert_eq!(
        (list[0].event, list[1].event, list[1].off),
        (Opened, Message, Offset(1))
    );
    let last = &list[5000];
    assert_eq!(
        (last.off, last.event, last.next_at),
        (Offset(5000), Message, Some(5_999))
    );
}

pub(crate) fn due_deliveries_are_by_time_and_site_and_never_paused(s: &dyn Store) {
    let one = s.add_site("one", &[]).unwrap().id;
    let two = s.add_site("two", &[]).unwrap().id;
    let w1 = s
        .add_webhook(one, &hook("https://one.example", &[Message]), "s1", 5)
        .unwrap()
        .id;
    let w2 = s
        .add_webhook(two, &hook("https://two.example", &[Message]), "s2", 5)
        .unwrap()
        .id;
    s.append_batch(&[
        said_at(one, A, "m1", 3_000),
        said_at(two, A, "m2", 2_000),
        said_at(one, B, "m3", 1_000),
    ])
    .unwrap();
    let [late, mid, early] = [
        all(s, one, w1)[0].id,
        all(s, two, w2)[0].id,
        all(s, one, w1)[1].id,
    ];
    assert!(due(s, 999, None).is_empty());
    assert_eq!(due(s, 1_000, None), [early]);
    assert_eq!(
        due(s, 5_000, None),
        [early, mid, late],
        "earliest due first"
    );
    assert_eq!(s.due_deliveries(5_000, None, &[], 2).unwrap().len(), 2);
    let others: Vec<i64> = s
        .due_deliveries(5_000, None, &[w1], 10)
        .unwrap()
        .iter()
        .map(|d| d.delivery.id)
        .collect();
    assert_eq!(others, [mid], "a skipped webhook's deliveries are left out");
    assert_eq!(due(s, 5_000, Some(&[two])), [mid]);
    assert_eq!(due(s, 5_000, Some(&[one, two])), [early, mid, late]);
    assert!(due(s, 5_000, Some(&[])).is_empty());
    let first = &s.due_deliveries(5_000, Some(&[two]), &[], 10).unwrap()[0];
    assert_eq!(
        (first.site, first.url.as_str(), first.secret.as_str()),
        (two, "https://two.example", "s2")
    );
    assert_eq!(
        (first.delivery.webhook, first.delivery.next_at),
        (w2, Some(2_000))
    );
    // Paused: its deliveries wait; resumed, they are due again.
    let pause = |paused| WebhookChange {
        paused: Some(paused),
        ..WebhookChange::default()
    };
    s.update_webhook(one, w1, &pause(true)).unwrap().unwrap();
    assert_eq!(due(s, 5_000, None), [mid]);
    s.update_webhook(one, w1, &pause(false)).unwrap().unwrap();
    assert_eq!(due(s, 5_000, None), [early, mid, late]);
    // Due at the same time: by id.
    let w3 = s
        .add_webhook(one, &hook("https://three.example", &[Message]), "s3", 5)
        .unwrap()
        .id;
    s.append_batch(&[said_at(one, "tokenCCCCCCCCCCCCCC", "m4", 500)])
        .unwrap();
    let (x, y) = (all(s, one, w1)[2].id, all(s, one, w3)[0].id);
    assert!(x < y);
    assert_eq!(due(s, 500, None), [x, y]);
}

pub(crate) fn attempts_are_recorded_on_pending_deliveries_only(s: &dyn Store) {
    let site = s.add_site("t", &[]).unwrap().id;
    let w = s
        .add_webhook(site, &hook("https://a.example", &[Message]), "k", 5)
        .unwrap()
        .id;
    s.append_batch(&[
        said_at(site, A, "m1", 1_000),
        said_at(site, A, "m2", 2_000),
        said_at(site, A, "m3", 3_000),
    ])
    .unwrap();
    let ids: Vec<i64> = all(s, site, w).iter().map(|d| d.id).collect();
    let [d1, d2, d3] = [ids[0], ids[1], ids[2]];
    let counts = |s: &dyn Store| {
        let w = &s.webhooks(site).unwrap()[0];
        (w.pending, w.next_at)
    };
    assert_eq!(counts(s), (3, Some(1_000)));

    // Failed for now: pending still, due later.
    let retry = Attempt::Retry {
        at: 9_000,
        status: Some(503),
        error: "503 Service Unavailable".into(),
    };
    assert!(s.record_attempt(d1, 5_000, &retry).unwrap());
    let d = state_of(s, site, w, d1);
    assert_eq!(
        (d.attempts, d.state, d.next_at, d.last_status),
        (1, DeliveryState::Pending, Some(9_000), Some(503))
    );
    assert_eq!(d.last_error.as_deref(), Some("503 Service Unavailable"));
    let hook = &s.webhooks(site).unwrap()[0];
    assert_eq!(
        (
            hook.last_ok_at,
            hook.last_error.as_deref(),
            hook.last_error_at
        ),
        (None, Some("503 Service Unavailable"), Some(5_000))
    );
    assert_eq!(counts(s), (3, Some(2_000)));
    assert_eq!(due(s, 8_999, None), [d2, d3]);
    assert_eq!(due(s, 9_000, None), [d2, d3, d1]);

    // Delivered: done, and the webhook answered; its last error is kept.
    assert!(s
        .record_attempt(d1, 9_000, &Attempt::Delivered { status: 204 })
        .unwrap());
    let d = state_of(s, site, w, d1);
    assert_eq!(
        (d.attempts, d.state, d.next_at, d.last_status, d.last_error),
        (2, DeliveryState::Delivered, None, Some(204), None)
    );
    let hook = &s.webhooks(site).unwrap()[0];
    assert_eq!(
        (
            hook.last_ok_at,
            hook.last_error.as_deref(),
            hook.last_error_at
        ),
        (Some(9_000), Some("503 Service Unavailable"), Some(5_000))
    );
    // Not pending any more: nothing changes.
    assert!(!s
        .record_attempt(d1, 9_500, &Attempt::Delivered { status: 200 })
        .unwrap());
    assert!(!s.record_attempt(d1, 9_500, &retry).unwrap());
    let d = state_of(s, site, w, d1);
    assert_eq!((d.attempts, d.last_status), (2, Some(204)));
    assert_eq!(s.webhooks(site).unwrap()[0].last_ok_at, Some(9_000));

    // Failed for good.
    let refused = Attempt::Failed {
        status: None,
        error: "address not allowed".into(),
    };
    assert!(s.record_attempt(d2, 6_000, &refused).unwrap());
    let d = state_of(s, site, w, d2);
    assert_eq!(
        (d.attempts, d.state, d.next_at, d.last_status),
        (1, DeliveryState::Failed, None, None)
    );
    assert_eq!(d.last_error.as_deref(), Some("address not allowed"));
    let hook = &s.webhooks(site).unwrap()[0];
    assert_eq!(
        (hook.last_error.as_deref(), hook.last_error_at),
        (Some("address not allowed"), Some(6_000))
    );
    assert!(!s.record_attempt(d2, 7_000, &refused).unwrap());
    assert_eq!(state_of(s, site, w, d2).attempts, 1);
    assert!(
        !s.record_attempt(d3 + 1_000, 7_000, &refused).unwrap(),
        "no such delivery"
    );
    assert_eq!(counts(s), (1, Some(3_000)));
    assert_eq!(due(s, i64::MAX, None), [d3]);

    // Listed by state, paged by id.
    let listed = |state, before, limit| -> Vec<i64> {
        s.deliveries(site, w, state, before, limit)
            .unwrap()
            .unwrap()
            .iter()
            .map(|d| d.id)
            .collect()
    };
    assert_eq!(listed(None, None, 10), [d3, d2, d1], "newest first");
    assert_eq!(listed(Some(DeliveryState::Delivered), None, 10), [d1]);
    assert_eq!(listed(Some(DeliveryState::Failed), None, 10), [d2]);
    assert_eq!(listed(Some(DeliveryState::Pending), None, 10), [d3]);
    assert_eq!(listed(None, Some(d3), 10), [d2, d1]);
    assert_eq!(listed(None, None, 1), [d3]);
    assert!(listed(Some(DeliveryState::Pending), Some(d3), 10).is_empty());

    // Delivered too: nothing pending.
    assert!(s
        .record_attempt(d3, 7_000, &Attempt::Delivered { status: 200 })
        .unwrap());
    assert_eq!(counts(s), (0, None));
    assert_eq!(s.webhooks(site).unwrap()[0].last_ok_at, Some(7_000));
}

pub(crate) fn failed_deliveries_are_sent_again_on_demand(s: &dyn Store) {
    let site = s.add_site("t", &[]).unwrap().id;
    let other = s.add_site("u", &[]).unwrap().id;
    let w = s
        .add_webhook(site, &hook("https://a.example", &[Message]), "k", 5)
        .unwrap()
        .id;
    let v = s
        .add_webhook(site, &hook("https://b.example", &[Message]), "k", 5)
        .unwrap()
        .id;
    s.append_batch(&[said_at(site, A, "m1", 1_000), said_at(site, A, "m2", 2_000)])
        .unwrap();
    let [failed, delivered] = [all(s, site, w)[0].id, all(s, site, w)[1].id];
    let refused = Attempt::Failed {
        status: Some(410),
        error: "410 Gone".into(),
    };
    assert!(s.record_attempt(failed, 3_000, &refused).unwrap());
    assert!(s
        .record_attempt(delivered, 3_000, &Attempt::Delivered { status: 200 })
        .unwrap());
    assert!(
        !s.retry_delivery(other, w, failed, 4_000).unwrap(),
        "not its site's"
    );
    assert!(
        !s.retry_delivery(site, v, failed, 4_000).unwrap(),
        "not that webhook's"
    );
    assert!(
        !s.retry_delivery(site, w, delivered, 4_000).unwrap(),
        "delivered"
    );
    assert_eq!(state_of(s, site, w, failed).state, DeliveryState::Failed);
    assert!(!due(s, i64::MAX, Some(&[site])).contains(&failed));
    assert!(s.retry_delivery(site, w, failed, 4_000).unwrap());
    let d = state_of(s, site, w, failed);
    assert_eq!(
        (d.state, d.next_at, d.attempts),
        (DeliveryState::Pending, Some(4_000), 1)
    );
    assert!(due(s, 4_000, None).contains(&failed));
    assert!(!due(s, 3_999, None).contains(&failed));
    assert!(
        !s.retry_delivery(site, w, failed, 5_000).unwrap(),
        "pending already"
    );
    assert_eq!(state_of(s, site, w, failed).next_at, Some(4_000));
    assert_eq!(s.webhooks(site).unwrap()[0].pending, 1);
}

pub(crate) fn old_deliveries_are_given_up_then_forgotten(s: &dyn Store) {
    let site = s.add_site("t", &[]).unwrap().id;
    let w = s
        .add_webhook(site, &hook("https://a.example", &[Message]), "k", 5)
        .unwrap()
        .id;
    let paused = WebhookChange {
        paused: Some(true),
        ..hook("https://b.example", &[Message])
    };
    let p = s.add_webhook(site, &paused, "k", 5).unwrap().id;
    s.append_batch(&[
        said_at(site, A, "m1", 1_000),
        said_at(site, A, "m2", 2_000),
        said_at(site, A, "m3", 3_000),
        said_at(site, A, "m4", 10_000),
    ])
    .unwrap();
    let ids: Vec<i64> = all(s, site, w).iter().map(|d| d.id).collect();
    let [old, delivered, failed, young] = [ids[0], ids[1], ids[2], ids[3]];
    let paused_old = all(s, site, p)[0].id;
    assert!(s
        .record_attempt(delivered, 2_500, &Attempt::Delivered { status: 200 })
        .unwrap());
    let refused = Attempt::Failed {
        status: Some(404),
        error: "404 Not Found".into(),
    };
    assert!(s.record_attempt(failed, 3_500, &refused).unwrap());

    // Pending and created before 1_500: given up, a paused webhook's too.
    assert_eq!(s.prune_deliveries(1_500, 0).unwrap(), 2);
    for (hook, id) in [(w, old), (p, paused_old)] {
        let d = state_of(s, site, hook, id);
        assert_eq!((d.state, d.next_at), (DeliveryState::Failed, None));
        assert!(d.last_error.is_some());
    }
    assert_eq!(state_of(s, site, w, young).state, DeliveryState::Pending);
    assert_eq!(s.webhooks(site).unwrap()[1].pending, 3);
    assert!(!due(s, i64::MAX, None).contains(&old));

    // Done and created before 2_500: forgotten; pending ones stay, however old.
    assert_eq!(s.prune_deliveries(0, 2_500).unwrap(), 3);
    let left: Vec<i64> = all(s, site, w).iter().map(|d| d.id).collect();
    assert_eq!(left, [failed, young]);
    assert_eq!(all(s, site, p).len(), 3, "its pending ones, m2 to m4");
    assert_eq!(
        s.prune_deliveries(1_500, 2_500).unwrap(),
        0,
        "nothing left to do"
    );
    // Both at once: given up, then forgotten in the same call when old enough (two
    // changes of that row): m4 given up on both webhooks, m2 and m3 on the paused one,
    // then m3's failure and those two forgotten.
    assert_eq!(s.prune_deliveries(20_000, 3_100).unwrap(), 7);
    assert_eq!(
        all(s, site, w).iter().map(|d| d.id).collect::<Vec<_>>(),
        [young]
    );
    assert_eq!(all(s, site, w)[0].state, DeliveryState::Failed);
    assert_eq!(all(s, site, p).len(), 1);

    // What is given up is what nothing attempted for the period: an old event being
    // retried (due later) is not, however long ago it was made.
    s.append_batch(&[said_at(site, A, "m5", 500)]).unwrap();
    let m5 = all(s, site, w).iter().map(|d| d.id).max().unwrap();
    let later = Attempt::Retry {
        at: 30_000,
        status: Some(503),
        error: "busy".into(),
    };
    assert!(s.record_attempt(m5, 600, &later).unwrap());
    assert_eq!(
        s.prune_deliveries(20_000, 0).unwrap(),
        1,
        "the paused one's m5 only"
    );
    assert_eq!(state_of(s, site, w, m5).state, DeliveryState::Pending);
    assert_eq!(s.prune_deliveries(30_001, 0).unwrap(), 1);
    assert_eq!(state_of(s, site, w, m5).state, DeliveryState::Failed);
}

pub(crate) fn deleting_a_webhook_or_a_visitor_deletes_their_deliveries(s: &dyn Store) {
    let site = s.add_site("t", &[]).unwrap().id;
    let w = s
        .add_webhook(site, &hook("https://a.example", &WebhookEvent::ALL), "k", 5)
        .unwrap()
        .id;
    let v = s
        .add_webhook(site, &hook("https://b.example", &[Message]), "k", 5)
        .unwrap()
        .id;
    let a = first_message(s, site, A, "m1");
    s.append_batch(&[desk(a, EntryKind::Close)]).unwrap();
    let a2 = first_message(s, site, A, "m2");
    let b = first_message(s, site, B, "m1");
    let gone = all(s, site, w)[0].id;
    assert_eq!(all(s, site, w).len(), 7);
    assert_eq!(all(s, site, v).len(), 3);

    // The visitor's conversations go with their deliveries, to every webhook.
    let visitor = s.conversation(a).unwrap().unwrap().visitor;
    let deleted = s.delete_visitor(site, visitor).unwrap().unwrap();
    assert_eq!(deleted.conversations, [a, a2]);
    assert_eq!(events(s, site, w), [(b, 1, Opened), (b, 1, Message)]);
    assert_eq!(events(s, site, v), [(b, 1, Message)]);
    assert!(!s
        .record_attempt(gone, 5_000, &Attempt::Delivered { status: 200 })
        .unwrap());
    let counts: Vec<u64> = s
        .webhooks(site)
        .unwrap()
        .iter()
        .map(|w| w.pending)
        .collect();
    assert_eq!(counts, [2, 1]);

    // A webhook goes with its deliveries; the others keep theirs.
    let theirs = all(s, site, w)[1].id;
    assert!(s.delete_webhook(site, w).unwrap());
    assert!(!s
        .record_attempt(theirs, 5_000, &Attempt::Delivered { status: 200 })
        .unwrap());
    let due = s.due_deliveries(i64::MAX, None, &[], 100).unwrap();
    assert_eq!(
        due.iter().map(|d| d.delivery.webhook).collect::<Vec<_>>(),
        [v]
    );
    assert_eq!(events(s, site, v), [(b, 1, Message)]);
    // New entries make none for it.
    s.append_batch(&[msg(ConvRef::Id(b), Author::Visitor, "m2")])
        .unwrap();
    assert_eq!(s.due_deliveries(i64::MAX, None, &[], 100).unwrap().len(), 2);
}
