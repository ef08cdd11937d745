//! Heartbeats, the connection cap and graceful shutdown.

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn the_server_pings_and_drops_a_silent_link() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| c.heartbeat_ms = 200).await;
    let mut c = Client::connect(&srv.ws_url()).await;
    let w = c.hello(&srv.site_key, None, None).await;
    assert_eq!(w["hb"], 200);
    // A client that answers pings stays connected past the dead-link limit (1.4 s).
    let until = tokio::time::Instant::now() + Duration::from_millis(1800);
    let mut pings = 0;
    while tokio::time::Instant::now() < until {
        if let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout(
            Duration::from_millis(300),
            futures_util::StreamExt::next(&mut c.ws),
        )
        .await
        {
            if t.as_str().contains("\"ping\"") {
                pings += 1;
                c.send(json!({"t":"pong"})).await;
            }
        }
    }
    assert!(pings >= 3, "pings seen: {pings}");
    c.msg("alive", "still connected").await;
    assert_eq!(c.recv_type("ack").await["cid"], "alive");
    // A client that stays silent is closed with 4002 after 2 × heartbeat + 1 s (1.4 s)
    // from its last frame: its hello (answered later on a slower store).
    let mut silent = Client::connect(&srv.ws_url()).await;
    let t0 = std::time::Instant::now();
    silent.hello(&srv.site_key, None, None).await;
    assert_eq!(silent.closed_with().await, 4002);
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(1350) && took < Duration::from_millis(2400),
        "closed after {took:?}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn a_connection_without_hello_is_closed_in_time() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| c.hello_timeout_ms = 500).await;
    let mut c = Client::connect(&srv.ws_url()).await;
    let t0 = std::time::Instant::now();
    assert_eq!(c.closed_with().await, 4002);
    assert!(
        t0.elapsed() >= Duration::from_millis(450),
        "{:?}",
        t0.elapsed()
    );
    // Pings do not stand in for a hello.
    let mut c = Client::connect(&srv.ws_url()).await;
    for _ in 0..3 {
        c.send(json!({"t":"ping"})).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(c.closed_with().await, 4002);
    srv.stop().await;
}

#[tokio::test]
async fn connections_over_the_cap_get_503() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| c.max_connections = 2).await;
    let _a = Client::connect(&srv.ws_url()).await;
    let _b = Client::connect(&srv.ws_url()).await;
    let err = Client::connect_with(&srv.ws_url(), None)
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("503"), "{err}");
    drop(_a);
    // The slot frees once the first connection is gone.
    let mut ok = false;
    for _ in 0..50 {
        if Client::connect_with(&srv.ws_url(), None).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok, "a freed slot is reusable");
    srv.stop().await;
}

#[tokio::test]
async fn shutdown_acks_what_it_committed_and_asks_clients_to_reconnect() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let mut c = Client::connect(&srv.ws_url()).await;
    c.hello(&srv.site_key, None, None).await;
    for i in 0..200 {
        c.msg(&format!("s{i}"), "before shutdown").await;
    }
    // Stop while messages are in flight (the first is acked, the rest may not be).
    let first = c.recv_type("ack").await;
    let mut acked = vec![first["off"].as_u64().unwrap()];
    let mut conv = first["conv"].as_i64().unwrap();
    let addr = srv.addr;
    let db = srv.db_url.clone();
    srv.stop().await;
    // Everything acked before the close is in the log.
    let code = loop {
        match tokio::time::timeout(WAIT, futures_util::StreamExt::next(&mut c.ws))
            .await
            .unwrap()
        {
            Some(Ok(Message::Text(t))) => {
                let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                if v["t"] == "ack" {
                    conv = v["conv"].as_i64().unwrap();
                    acked.push(v["off"].as_u64().unwrap());
                }
            }
            Some(Ok(Message::Close(Some(f)))) => break u16::from(f.code),
            Some(Ok(_)) => {}
            _ => break 1006,
        }
    };
    assert_eq!(code, 4000);
    assert!(!acked.is_empty());
    let stored = stored_at(&db, conv);
    for off in acked {
        assert!(
            stored.iter().any(|e| e.off.0 == off),
            "acked offset {off} is stored"
        );
    }
    // The port is closed: nothing accepts any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
