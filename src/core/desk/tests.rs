//! The desk's timers under paused time: re-assigning a conversation left unanswered, and
//! closing one left idle, both run by the hub's ticker.

use serde_json::json;
use tokio::time::advance;

use super::*;
use crate::config::Config;
use crate::core::testing::{settle, written, World};
use crate::core::Shutdown;
use crate::ids::Offset;
use crate::store::{now_ms, Store};
use crate::vocab::EntryKind;

fn config() -> Config {
    Config {
        // Heartbeats far apart: links stay alive through the long waits below.
        heartbeat_ms: 3_600_000,
        reassign_after_ms: 10_000,
        ..Config::default()
    }
}

/// The kinds of `conv`'s entries, in order.
fn kinds(store: &dyn Store, conv: ConversationId) -> Vec<String> {
    store
        .read_after(conv, Offset::ZERO, 100)
        .unwrap()
        .into_iter()
        .map(|e| e.kind.as_str().to_owned())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_conversation_goes_to_another_agent_after_reassign_after_ms() {
    let w = World::new(config(), |_, _| {});
    let bea = w.add_agent("bea");
    let (_trigger, shutdown) = Shutdown::new();
    let _admin = w.agent(&shutdown, &w.admin).await;
    let mut other = w.agent(&shutdown, &bea).await;
    let mut v = w.visitor(&shutdown, None).await;
    v.say(json!({"t":"msg","cid":"m1","body":"anyone?"}));
    let conv = ConversationId(v.next_type("ack").await["conv"].as_i64().unwrap());
    settle().await;
    // Both free: the least busy with the lowest id.
    assert_eq!(w.owner(conv), Some(w.admin.id));
    advance(Duration::from_millis(9_500)).await;
    settle().await;
    assert_eq!(w.owner(conv), Some(w.admin.id), "not stale yet");
    advance(Duration::from_millis(1_000)).await;
    let assigned = other.next_type("assigned").await;
    assert_eq!(assigned["conv"], conv.0);
    assert_eq!(w.owner(conv), Some(bea.id));
    written(&w.hub).await;
    assert_eq!(kinds(&*w.store, conv), ["msg", "join", "transfer"]);
}

#[tokio::test(start_paused = true)]
async fn an_answered_conversation_stays_with_its_agent() {
    let w = World::new(config(), |_, _| {});
    let bea = w.add_agent("bea");
    let (_trigger, shutdown) = Shutdown::new();
    let mut admin = w.agent(&shutdown, &w.admin).await;
    let _other = w.agent(&shutdown, &bea).await;
    let mut v = w.visitor(&shutdown, None).await;
    v.say(json!({"t":"msg","cid":"m1","body":"anyone?"}));
    let conv = ConversationId(v.next_type("ack").await["conv"].as_i64().unwrap());
    advance(Duration::from_millis(5_000)).await;
    admin.say(json!({"t":"msg","conv":conv.0,"cid":"r1","body":"here"}));
    admin.next_type("ack").await;
    advance(Duration::from_millis(60_000)).await;
    settle().await;
    assert_eq!(w.owner(conv), Some(w.admin.id));
    written(&w.hub).await;
    assert_eq!(kinds(&*w.store, conv), ["msg", "join", "msg"]);
}

#[tokio::test(start_paused = true)]
async fn the_ticker_closes_idle_conversations_whose_visitor_is_gone() {
    // Checked every idle_close_ms / 4 = 5 s. How long a conversation was silent is told
    // by its entries' timestamps (the wall clock, as the log keeps them), so the
    // conversations here are made silent for an hour, or not at all.
    const GONE: &str = "gone-visitor-token-000001";
    const BACK: &str = "back-visitor-token-000002";
    const FRESH: &str = "fresh-visitor-token-00003";
    let config = Config {
        idle_close_ms: 20_000,
        ..config()
    };
    let w = World::new(config, |store, site| {
        let entry = |token: &str, ago: i64| NewEntry {
            ts: now_ms() - ago,
            ..NewEntry::now(
                ConvRef::Visitor {
                    site: site.id,
                    token: token.into(),
                    named: None,
                },
                EntryKind::Msg,
                Author::Visitor,
                Cid::Keyed(format!("{token}-1")),
                "hello".into(),
            )
        };
        store
            .append_batch(&[
                entry(GONE, 3_600_000),
                entry(BACK, 3_600_000),
                entry(FRESH, 0),
            ])
            .unwrap();
    });
    let site = w.site.id;
    let open = |token: &str| w.store.open_conversation_of(site, token).unwrap();
    let (gone, fresh) = (open(GONE).unwrap().id, open(FRESH).unwrap().id);
    let (_trigger, shutdown) = Shutdown::new();
    let _back = w.visitor(&shutdown, Some(BACK)).await;
    assert_eq!(w.hub.queue_position(site, gone), Some(1));
    advance(Duration::from_millis(4_500)).await;
    settle().await;
    written(&w.hub).await;
    assert!(open(GONE).is_some(), "not checked yet");
    advance(Duration::from_millis(1_000)).await;
    settle().await;
    assert_eq!(w.hub.queue_position(site, gone), None);
    written(&w.hub).await;
    assert!(
        open(GONE).is_none(),
        "silent for an hour, its visitor gone: closed"
    );
    assert_eq!(kinds(&*w.store, gone), ["msg", "close"]);
    assert!(open(BACK).is_some(), "its visitor is on line");
    assert!(open(FRESH).is_some(), "written to just now");
    assert!(w.hub.queue_position(site, fresh).is_some());
}

#[tokio::test(start_paused = true)]
async fn a_removed_agents_connections_end_and_its_conversations_go_to_another_agent() {
    let w = World::new(config(), |_, _| {});
    let bea = w.add_agent("bea");
    let (_trigger, shutdown) = Shutdown::new();
    let mut gone = w.agent(&shutdown, &bea).await;
    let mut v = w.visitor(&shutdown, None).await;
    v.say(json!({"t":"msg","cid":"m1","body":"anyone?"}));
    let conv = ConversationId(v.next_type("ack").await["conv"].as_i64().unwrap());
    settle().await;
    assert_eq!(w.owner(conv), Some(bea.id), "the only one on line");
    let mut admin = w.agent(&shutdown, &w.admin).await;
    w.hub.agent_removed(w.site.id, bea.id);
    let closed = gone.next_type("closed").await;
    assert_eq!(closed["code"], crate::protocol::close::UNAUTHORIZED);
    assert_eq!(admin.next_type("assigned").await["conv"], conv.0);
    assert_eq!(w.owner(conv), Some(w.admin.id));
    written(&w.hub).await;
    assert_eq!(kinds(&*w.store, conv), ["msg", "join", "transfer"]);
    // Off the desk: a new conversation is never given to the removed agent.
    let mut v2 = w.visitor(&shutdown, None).await;
    v2.say(json!({"t":"msg","cid":"m2","body":"me too"}));
    let conv2 = ConversationId(v2.next_type("ack").await["conv"].as_i64().unwrap());
    settle().await;
    assert_eq!(w.owner(conv2), Some(w.admin.id));
}

#[tokio::test(start_paused = true)]
async fn with_nobody_free_a_removed_agents_conversations_wait_first_in_the_queue() {
    let w = World::new(config(), |_, _| {});
    let bea = w.add_agent("bea");
    let (_trigger, shutdown) = Shutdown::new();
    let mut gone = w.agent(&shutdown, &bea).await;
    let mut v = w.visitor(&shutdown, None).await;
    v.say(json!({"t":"msg","cid":"m1","body":"anyone?"}));
    let conv = ConversationId(v.next_type("ack").await["conv"].as_i64().unwrap());
    settle().await;
    assert_eq!(w.owner(conv), Some(bea.id));
    w.hub.agent_removed(w.site.id, bea.id);
    assert_eq!(gone.next_type("closed").await["code"], 4103);
    assert_eq!(w.owner(conv), None);
    assert_eq!(w.hub.queue_position(w.site.id, conv), Some(1));
    assert_eq!(v.next_type("queue").await["position"], 1);
    // The next agent to come on line takes it.
    let mut admin = w.agent(&shutdown, &w.admin).await;
    assert_eq!(admin.next_type("assigned").await["conv"], conv.0);
    written(&w.hub).await;
    assert_eq!(kinds(&*w.store, conv), ["msg", "join", "join"]);
}
