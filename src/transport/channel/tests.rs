//! A channel's timers under paused time: the first poll that never came, the reaping of
//! a closed channel, and the answer a parked poll gets at shutdown.

use serde_json::json;
use tokio::time::{advance, Instant};

use super::*;
use crate::config::Config;
use crate::core::testing::{frozen, settle, World};
use crate::protocol::close;

fn open(w: &World, reg: &Arc<Registry>, shutdown: &Shutdown) -> Arc<Channel> {
    let hello = json!({"t":"hello","v":1,"site":w.site.key,"role":"visitor"}).to_string();
    reg.open(
        TransportKind::LongPoll,
        hello,
        &w.hub,
        ConnInfo::default(),
        shutdown.clone(),
    )
    .unwrap()
}

/// The frames of `chan`'s outbox, as JSON.
fn outbox(chan: &Channel) -> Vec<serde_json::Value> {
    chan.lock()
        .outbox
        .iter()
        .map(|(_, f)| serde_json::from_slice(f).unwrap())
        .collect()
}

/// A poll acknowledging `ack`, waited for without moving the clock; then the connection
/// sees the poll (its liveness) before the test moves the clock.
async fn poll(chan: &Arc<Channel>, ack: u64, shutdown: &Shutdown) -> PollResult {
    let (c, s) = (chan.clone(), shutdown.clone());
    let got = frozen(async move { c.poll(ack, Duration::from_secs(25), s).await })
        .await
        .unwrap();
    settle().await;
    got
}

#[tokio::test(start_paused = true)]
async fn a_channel_never_polled_is_closed_and_forgotten_when_its_first_poll_was_due() {
    let w = World::new(
        Config {
            chan_first_poll_ms: 10_000,
            ..Config::default()
        },
        |_, _| {},
    );
    let (_trigger, shutdown) = Shutdown::new();
    let reg = Registry::new(&w.hub);
    let chan = open(&w, &reg, &shutdown);
    settle().await;
    assert_eq!(outbox(&chan)[0]["t"], "welcome");
    advance(Duration::from_millis(9_990)).await;
    settle().await;
    assert!(reg.get(&chan.id).is_some());
    assert!(!chan.lock().closed);
    assert_eq!(w.hub.tasks().connections(), 1);
    advance(Duration::from_millis(20)).await;
    settle().await;
    assert!(chan.lock().closed, "its connection ended");
    assert!(reg.get(&chan.id).is_none(), "and nobody will read it");
    assert_eq!(reg.len(), 0);
    assert_eq!(w.hub.tasks().connections(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_silent_channel_is_closed_after_chan_idle_and_forgotten_after_another() {
    let w = World::new(
        Config {
            chan_idle_ms: 40_000,
            ..Config::default()
        },
        |_, _| {},
    );
    let (_trigger, shutdown) = Shutdown::new();
    let reg = Registry::new(&w.hub);
    let chan = open(&w, &reg, &shutdown);
    settle().await;
    let got = poll(&chan, 0, &shutdown).await;
    assert_eq!(got.from, 1);
    // The client never polls again (and never acknowledges what it got).
    advance(Duration::from_millis(39_990)).await;
    settle().await;
    assert!(
        !chan.lock().closed,
        "alive until chan_idle_ms after its last poll"
    );
    advance(Duration::from_millis(20)).await;
    settle().await;
    assert!(chan.lock().closed);
    let last = outbox(&chan).pop().unwrap();
    assert_eq!(
        (last["t"].as_str(), last["code"].as_u64()),
        (Some("bye"), Some(close::HEARTBEAT_TIMEOUT.into()))
    );
    // Kept so the `bye` can still be read, until the client is clearly gone.
    advance(Duration::from_millis(39_980)).await;
    settle().await;
    assert!(reg.get(&chan.id).is_some());
    advance(Duration::from_millis(40)).await;
    settle().await;
    assert!(reg.get(&chan.id).is_none());
}

#[tokio::test(start_paused = true)]
async fn a_closed_channel_is_forgotten_as_soon_as_its_last_frames_are_acknowledged() {
    let w = World::new(Config::default(), |_, _| {});
    let (_trigger, shutdown) = Shutdown::new();
    let reg = Registry::new(&w.hub);
    let chan = open(&w, &reg, &shutdown);
    settle().await;
    let got = poll(&chan, 0, &shutdown).await;
    let seen = got.from + got.frames.len() as u64 - 1;
    chan.close_by_client();
    settle().await;
    assert!(chan.lock().closed);
    assert!(
        reg.get(&chan.id).is_some(),
        "its frames are not acknowledged yet"
    );
    let acked = Instant::now();
    let last = poll(&chan, seen, &shutdown).await;
    assert!(last.frames.is_empty());
    // No time passes for it (but the poll's settling): the acknowledgement itself wakes
    // the reaper.
    assert!(reg.get(&chan.id).is_none());
    assert!(Instant::now() - acked <= Duration::from_millis(1));
}

#[tokio::test(start_paused = true)]
async fn a_parked_poll_answers_with_the_bye_when_the_server_shuts_down() {
    let w = World::new(Config::default(), |_, _| {});
    let (trigger, shutdown) = Shutdown::new();
    let reg = Registry::new(&w.hub);
    let chan = open(&w, &reg, &shutdown);
    settle().await;
    let got = poll(&chan, 0, &shutdown).await;
    let seen = got.from + got.frames.len() as u64 - 1;
    let (c, s) = (chan.clone(), shutdown.clone());
    let parked = tokio::spawn(async move { c.poll(seen, Duration::from_secs(25), s).await });
    settle().await;
    assert!(!parked.is_finished(), "nothing to send yet");
    let fired = Instant::now();
    trigger.fire();
    let got = parked.await.unwrap().unwrap();
    let last: serde_json::Value = serde_json::from_slice(got.frames.last().unwrap()).unwrap();
    assert_eq!(
        (last["t"].as_str(), last["code"].as_u64()),
        (Some("bye"), Some(close::RESTARTING.into()))
    );
    // As soon as the connection closed the channel, not after a fixed wait.
    assert_eq!(Instant::now(), fired);
}
