//! The connection logic driven through a recording transport: no sockets.

use std::sync::Arc;

use serde_json::{json, Value};

use super::*;
use crate::config::Config;
use crate::core::testing::Peer;
use crate::store::sqlite::SqliteStore;

async fn setup(tail: usize) -> (tempfile::TempDir, Hub, String) {
    let dir = tempfile::tempdir().unwrap();
    let options = crate::store::Options {
        pool_size: 2,
        synchronous: crate::config::Synchronous::Normal,
        ..Default::default()
    };
    let store = SqliteStore::open(dir.path().join("c.db").to_str().unwrap(), &options).unwrap();
    let boot = crate::core::auth::bootstrap(&store, &[], "pw")
        .unwrap()
        .unwrap();
    let config = Config {
        stream_tail: tail,
        catch_up_page: 3,
        ..Config::default()
    };
    let hub = Hub::start(Arc::new(config), Arc::new(store), Vec::new(), None);
    (dir, hub, boot.site.key)
}

#[tokio::test]
async fn resume_merges_store_and_tail_without_gap_or_duplicate() {
    let (_dir, hub, site) = setup(2).await;
    let (_trigger, shutdown) = Shutdown::new();
    let mut a = Peer::connect(&hub, &shutdown);
    a.say(json!({"t":"hello","v":1,"site":site,"role":"visitor"}));
    let w = a.next_type("welcome").await;
    for i in 1..=8 {
        a.say(json!({"t":"msg","cid":format!("c{i}"),"body":format!("b{i}")}));
    }
    let mut acked = 0;
    let mut conv = Value::Null;
    while acked < 8 {
        let f = a.next().await;
        if f["t"] == "ack" {
            acked += 1;
            conv = f["conv"].clone();
        }
    }
    // The tail holds 2 entries and pages are 3: offsets 2..=6 come from the store in
    // two pages, 7 and 8 from the tail; a message published meanwhile follows them.
    let mut b = Peer::connect(&hub, &shutdown);
    b.say(
        json!({"t":"hello","v":1,"site":site,"role":"visitor","visitor":w["visitor"],
        "resume":{"conv":conv,"after":1}}),
    );
    assert_eq!(b.next_type("welcome").await["head"], 8);
    assert_eq!(b.next().await["t"], "following");
    a.say(json!({"t":"msg","cid":"c9","body":"b9"}));
    let mut offs = Vec::new();
    while offs.len() < 8 {
        let f = b.next().await;
        if f["t"] == "e" {
            offs.push(f["off"].as_u64().unwrap());
        }
    }
    assert_eq!(offs, (2..=9).collect::<Vec<_>>());
}

#[tokio::test]
async fn acks_follow_commits_and_resends_are_answered_from_the_log() {
    let (_dir, hub, site) = setup(64).await;
    let (trigger, shutdown) = Shutdown::new();
    let mut a = Peer::connect(&hub, &shutdown);
    a.say(json!({"t":"hello","v":1,"site":site,"role":"visitor"}));
    a.next_type("welcome").await;
    a.say(json!({"t":"msg","cid":"x","body":"one"}));
    let ack = a.next_type("ack").await;
    let conv = ack["conv"].as_i64().unwrap();
    let stored = hub
        .blocking(move |s| s.read_after(ConversationId(conv), Offset(0), 10))
        .await
        .unwrap();
    assert_eq!(stored.len(), 1, "acked means committed");
    a.say(json!({"t":"msg","cid":"x","body":"one"}));
    let again = a.next_type("ack").await;
    assert_eq!(
        (again["off"].as_u64(), again["dup"].as_bool()),
        (Some(1), Some(true))
    );
    // Shutdown: bye, then close 4000.
    trigger.fire();
    assert_eq!(a.next_type("bye").await["code"], 4000);
    assert_eq!(a.next_type("closed").await["code"], 4000);
}

#[tokio::test]
async fn frames_before_hello_are_refused_and_a_flood_of_them_closes() {
    let (_dir, hub, _site) = setup(8).await;
    let (_trigger, shutdown) = Shutdown::new();
    let mut a = Peer::connect(&hub, &shutdown);
    a.say(json!({"t":"follow","conv":1,"after":0}));
    assert_eq!(a.next_type("err").await["code"], "not_ready");
    for _ in 0..20 {
        a.say_raw("garbage");
    }
    assert_eq!(a.next_type("closed").await["code"], 4104);
}

/// Heartbeats under paused time: the clock moves only when the test advances it.
mod heartbeat {
    use tokio::time::advance;

    use super::*;
    use crate::core::testing::{settle, World};

    fn world() -> World {
        let config = Config {
            heartbeat_ms: 3000,
            ..Config::default()
        };
        World::new(config, |_, _| {})
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_link_gets_pings_then_is_closed_after_two_heartbeats_and_a_second() {
        let w = world();
        let (_trigger, shutdown) = Shutdown::new();
        let mut v = w.visitor(&shutdown, None).await;
        assert_eq!(v.welcome["hb"], 3000);
        settle().await;
        v.written();
        // A ping every heartbeat; the link is dead 2 × 3 s + 1 s after its last frame.
        advance(Duration::from_millis(3_000)).await;
        assert_eq!(v.next().await["t"], "ping");
        advance(Duration::from_millis(3_000)).await;
        assert_eq!(v.next().await["t"], "ping");
        advance(Duration::from_millis(990)).await;
        settle().await;
        assert!(v.written().is_empty(), "still alive before its deadline");
        advance(Duration::from_millis(20)).await;
        let bye = v.next_type("bye").await;
        assert_eq!(bye["code"], close::HEARTBEAT_TIMEOUT);
        assert_eq!(v.next().await["code"], close::HEARTBEAT_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn any_frame_moves_the_deadline() {
        let w = world();
        let (_trigger, shutdown) = Shutdown::new();
        let mut v = w.visitor(&shutdown, None).await;
        advance(Duration::from_millis(6_500)).await;
        v.say(json!({"t":"pong"}));
        settle().await;
        advance(Duration::from_millis(6_900)).await;
        settle().await;
        assert!(
            !v.written_types().iter().any(|t| t == "bye"),
            "the pong at 6.5 s keeps it alive until 13.5 s"
        );
        advance(Duration::from_millis(200)).await;
        assert_eq!(v.next_type("bye").await["code"], close::HEARTBEAT_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn no_hello_in_time_closes() {
        let w = World::new(
            Config {
                hello_timeout_ms: 5_000,
                ..Config::default()
            },
            |_, _| {},
        );
        let (_trigger, shutdown) = Shutdown::new();
        let mut p = crate::core::testing::Peer::connect(&w.hub, &shutdown);
        settle().await;
        advance(Duration::from_millis(4_990)).await;
        settle().await;
        assert!(p.written().is_empty());
        advance(Duration::from_millis(20)).await;
        let bye = p.next_type("bye").await;
        assert_eq!(bye["code"], close::HEARTBEAT_TIMEOUT);
        assert_eq!(bye["reason"], "no hello in time");
    }
}
