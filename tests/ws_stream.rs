//! Streams over WebSocket: ack after commit, idempotent resends, resume after an abrupt
//! cut and after a restart, several tabs of one session, slow consumers.

mod support;

use std::collections::{BTreeMap, HashSet};

use serde_json::{json, Value};
use support::*;

fn off(v: &Value) -> u64 {
    v["off"].as_u64().expect("offset")
}

#[tokio::test]
async fn a_message_is_acked_after_commit_with_its_offset() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let mut c = Client::connect(&srv.ws_url()).await;
    let w = c.hello(&srv.site_key, None, None).await;
    assert!(
        w["conv"].is_null(),
        "a new visitor has no conversation yet: {w}"
    );
    assert!(w["visitor"].as_str().unwrap().len() >= 16);
    assert_eq!(w["hb"], 3000);
    c.msg("m1", "hello there").await;
    let (conv, ack) = c.opened().await;
    let conv_id = conv["conv"].as_i64().unwrap();
    let entry = c.recv_type("e").await;
    assert_eq!(ack["cid"], "m1");
    assert_eq!(ack["off"], 1);
    assert_eq!(ack["dup"], false);
    assert_eq!(ack["conv"], conv_id);
    assert_eq!(entry["body"], "hello there");
    assert_eq!(entry["role"], "visitor");
    // The ack means it is in the log: read the SQLite file directly.
    let stored = srv.stored(conv_id);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].cid, "m1");
    assert_eq!(stored[0].off.0, 1);
    srv.stop().await;
}

#[tokio::test]
async fn a_resent_message_gets_the_same_offset_and_is_stored_once() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let mut c = Client::connect(&srv.ws_url()).await;
    let w = c.hello(&srv.site_key, None, None).await;
    let visitor = w["visitor"].as_str().unwrap().to_string();
    c.msg("a", "one").await;
    let first = c.recv_type("ack").await;
    c.msg("b", "two").await;
    assert_eq!(c.recv_type("ack").await["off"], 2);
    c.msg("a", "one").await;
    let again = c.recv_type("ack").await;
    assert_eq!(again["off"], first["off"]);
    assert_eq!(again["dup"], true);
    // From another connection of the same visitor, too.
    let mut c2 = Client::connect(&srv.ws_url()).await;
    c2.hello(&srv.site_key, Some(&visitor), None).await;
    c2.msg("a", "one").await;
    let third = c2.recv_type("ack").await;
    assert_eq!(third["off"], 1);
    assert_eq!(third["dup"], true);
    let stored = srv.stored(first["conv"].as_i64().unwrap());
    assert_eq!(
        stored.iter().map(|e| e.cid.as_str()).collect::<Vec<_>>(),
        vec!["a", "b"]
    );
    srv.stop().await;
}

/// The client side of "exactly once": what it has received, and what is still unacked.
struct Visitor {
    token: Option<String>,
    conv: Option<(i64, u64)>,
    last: u64,
    got: BTreeMap<u64, String>,
    unacked: Vec<(String, String)>,
}

impl Visitor {
    fn new() -> Visitor {
        Visitor {
            token: None,
            conv: None,
            last: 0,
            got: BTreeMap::new(),
            unacked: Vec::new(),
        }
    }

    fn resume(&self) -> Option<Value> {
        self.conv
            .map(|(c, e)| json!({"conv": c, "epoch": e, "after": self.last}))
    }

    /// Apply one frame; panics on a gap or a duplicate.
    fn apply(&mut self, f: &Value) {
        match f["t"].as_str().unwrap() {
            "welcome" => {
                self.token = Some(f["visitor"].as_str().unwrap().to_string());
                if let Some(c) = f["conv"].as_i64() {
                    self.conv = Some((c, f["epoch"].as_u64().unwrap()));
                }
            }
            "conv" => self.conv = Some((f["conv"].as_i64().unwrap(), f["epoch"].as_u64().unwrap())),
            "e" => {
                let o = off(f);
                assert_eq!(
                    o,
                    self.last + 1,
                    "gap or duplicate: got {o} after {}",
                    self.last
                );
                self.last = o;
                self.got.insert(o, f["cid"].as_str().unwrap().to_string());
            }
            "ack" => {
                let cid = f["cid"].as_str().unwrap();
                self.unacked.retain(|(c, _)| c != cid);
            }
            "err" => panic!("unexpected error frame {f}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn an_abrupt_cut_mid_stream_resumes_without_gap_or_duplicate() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let mut v = Visitor::new();
    let total = 200;
    for i in 0..total {
        v.unacked.push((format!("m{i}"), format!("message {i}")));
    }
    let mut sent_upto = 0;
    let mut rounds = 0;
    while !v.unacked.is_empty() || v.got.len() < total {
        rounds += 1;
        assert!(rounds < 20, "did not converge");
        let mut c = Client::connect(&srv.ws_url()).await;
        c.send(json!({"t":"hello","v":1,"site":srv.site_key,"role":"visitor","visitor":v.token,"resume":v.resume()})).await;
        loop {
            let f = c.recv().await;
            v.apply(&f);
            if f["t"] == "welcome" {
                break;
            }
        }
        // Resend everything unacked (some of it may already be stored), then send a few
        // new ones, and cut the TCP connection without a close frame mid-stream.
        let resend: Vec<(String, String)> = v.unacked.iter().take(sent_upto).cloned().collect();
        for (cid, body) in &resend {
            c.msg(cid, body).await;
        }
        let fresh: Vec<(String, String)> =
            v.unacked.iter().skip(sent_upto).take(60).cloned().collect();
        for (cid, body) in &fresh {
            c.msg(cid, body).await;
        }
        sent_upto += fresh.len();
        if fresh.is_empty() {
            // Everything is sent: this last connection stays up until all is in.
            while !v.unacked.is_empty() || v.got.len() < total {
                let f = c.recv().await;
                v.apply(&f);
            }
            break;
        }
        // Read about half of what is coming, then drop the socket.
        let want = (resend.len() + fresh.len()) / 2 + 1;
        for _ in 0..want * 2 {
            let f = c.recv().await;
            v.apply(&f);
        }
        if v.unacked.is_empty() && v.got.len() == total {
            break;
        }
        drop(c);
        sent_upto = sent_upto.min(v.unacked.len());
    }
    assert!(rounds >= 2, "the test must really cut at least once");
    let conv = v.conv.unwrap().0;
    let stored = srv.stored(conv);
    assert_eq!(stored.len(), total);
    let cids: HashSet<&str> = stored.iter().map(|e| e.cid.as_str()).collect();
    assert_eq!(cids.len(), total, "every message stored exactly once");
    for (i, e) in stored.iter().enumerate() {
        assert_eq!(e.off.0, i as u64 + 1);
        assert_eq!(v.got[&e.off.0], e.cid, "the client saw the stored order");
    }
    srv.stop().await;
}

#[tokio::test]
async fn a_restart_on_the_same_database_resumes() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let mut c = Client::connect(&srv.ws_url()).await;
    let w = c.hello(&srv.site_key, None, None).await;
    let token = w["visitor"].as_str().unwrap().to_string();
    for i in 1..=10 {
        c.msg(&format!("m{i}"), &format!("body {i}")).await;
    }
    let mut acked = 0;
    let mut conv = json!(null);
    let mut epoch = json!(null);
    while acked < 10 {
        let f = c.recv().await;
        if f["t"] == "ack" {
            acked += 1;
        }
        if f["t"] == "conv" {
            conv = f["conv"].clone();
            epoch = f["epoch"].clone();
        }
    }
    srv.stop().await;
    assert_eq!(
        c.closed_with().await,
        4000,
        "shutdown asks clients to reconnect"
    );

    let srv = start(dir.path()).await;
    let mut c = Client::connect(&srv.ws_url()).await;
    let w = c
        .hello(
            &srv.site_key,
            Some(&token),
            Some(json!({"conv": conv, "epoch": epoch, "after": 6})),
        )
        .await;
    assert_eq!(w["conv"], conv);
    assert_eq!(w["epoch"], epoch);
    assert_eq!(w["head"], 10);
    assert_eq!(c.recv_type("following").await["head"], 10);
    for expect in 7..=10 {
        let e = c.recv_type("e").await;
        assert_eq!(off(&e), expect);
        assert_eq!(e["cid"], format!("m{expect}"));
    }
    c.msg("m11", "after restart").await;
    let ack = c.recv_type("ack").await;
    assert_eq!(ack["off"], 11);
    srv.stop().await;
}

#[tokio::test]
async fn every_connection_of_a_session_receives() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let mut a = Client::connect(&srv.ws_url()).await;
    let w = a.hello(&srv.site_key, None, None).await;
    let token = w["visitor"].as_str().unwrap().to_string();
    // Tab B opens before the conversation exists: it learns of it when A sends.
    let mut b = Client::connect(&srv.ws_url()).await;
    b.hello(&srv.site_key, Some(&token), None).await;
    a.msg("x1", "from tab a").await;
    let conv = b.recv_type("conv").await;
    let e = b.recv_type("e").await;
    assert_eq!(e["cid"], "x1");
    assert_eq!(e["conv"], conv["conv"]);
    // Tab C opens later and gets the history, then live entries.
    let mut c = Client::connect(&srv.ws_url()).await;
    c.hello(&srv.site_key, Some(&token), None).await;
    assert_eq!(c.recv_type("e").await["cid"], "x1");
    b.msg("x2", "from tab b").await;
    for client in [&mut a, &mut c] {
        loop {
            let e = client.recv_type("e").await;
            if e["cid"] == "x2" {
                assert_eq!(e["off"], 2);
                break;
            }
        }
    }
    // Another visitor sees none of it.
    let mut other = Client::connect(&srv.ws_url()).await;
    let w2 = other.hello(&srv.site_key, None, None).await;
    assert!(w2["conv"].is_null());
    other
        .send(json!({"t":"follow","conv":conv["conv"],"after":0}))
        .await;
    assert_eq!(other.recv_type("err").await["code"], "unknown_conv");
    srv.stop().await;
}

#[tokio::test]
async fn a_slow_consumer_is_disconnected_and_resumes() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| {
        c.write_timeout_ms = 300;
        c.ws_max_write_buffer = 8 * 1024;
        c.ws_write_buffer = 4 * 1024;
        // Long heartbeats: the slow tab must be dropped for being slow, not silent.
        c.heartbeat_ms = 60_000;
    })
    .await;
    let mut fast = Client::connect(&srv.ws_url()).await;
    let w = fast.hello(&srv.site_key, None, None).await;
    let token = w["visitor"].as_str().unwrap().to_string();
    fast.msg("first", "first").await;
    let conv = fast.opened().await.0["conv"].as_i64().unwrap();

    // The slow tab: a tiny receive buffer, and it stops reading after the hello.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let stream = sock.connect(srv.addr).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async_with_config(
        srv.ws_url(),
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
        Some(client_ws_config()),
    )
    .await
    .unwrap();
    let mut slow = Client { ws };
    slow.hello(&srv.site_key, Some(&token), None).await;

    // Flood: the fast tab sends ~10 MB that the slow tab never reads (more than the
    // kernel's largest socket send buffer here, 4 MB).
    let body = "x".repeat(2500);
    let total = 4000;
    // The fast tab reads as it goes (in windows of 50), so only the slow one lags.
    let mut acks = 0;
    for chunk in 0..total / 50 {
        for i in 0..50 {
            fast.msg(&format!("f{}", chunk * 50 + i), &body).await;
        }
        while acks < (chunk + 1) * 50 {
            if fast.recv().await["t"] == "ack" {
                acks += 1;
            }
        }
    }
    // The server gives up on it. It sends close 4001 when the socket can still take it;
    // with its buffers full the slow tab may only see the connection end (1006).
    let (_, _, health) = http(srv.addr, "GET", "/healthz", &[], "").await;
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["slow_disconnects"], 1, "{health}");
    let mut seen = 0;
    let code = loop {
        match tokio::time::timeout(WAIT, futures_util::StreamExt::next(&mut slow.ws)).await {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(_)))) => seen += 1,
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(c)))) => {
                break c.map(|c| u16::from(c.code)).unwrap_or(1005)
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_))) | Ok(None) => break 1006,
            Err(_) => panic!("the slow tab was never disconnected"),
        }
    };
    assert!(code == 4001 || code == 1006, "closed with {code}");
    assert!(
        seen < total,
        "the slow tab was cut off before the end ({seen} frames)"
    );

    // It comes back and resumes after the last entry it had: nothing missing, no repeats.
    let mut back = Client::connect(&srv.ws_url()).await;
    back.hello(
        &srv.site_key,
        Some(&token),
        Some(json!({"conv": conv, "after": 1})),
    )
    .await;
    let mut expect = 2;
    while expect <= total as u64 + 1 {
        let e = back.recv_type("e").await;
        assert_eq!(off(&e), expect);
        expect += 1;
    }
    assert_eq!(srv.stored(conv).len(), total + 1);
    srv.stop().await;
}

#[tokio::test]
async fn a_visitor_who_comes_back_within_the_grace_period_keeps_its_session() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let mut a = Client::connect(&srv.ws_url()).await;
    let w = a.hello(&srv.site_key, None, None).await;
    let token = w["visitor"].as_str().unwrap().to_string();
    // A second tab shares the session.
    let mut b = Client::connect(&srv.ws_url()).await;
    assert_eq!(
        b.hello(&srv.site_key, Some(&token), None).await["session"],
        w["session"]
    );
    // Every connection gone (a frozen phone), then back: the same session.
    drop(a);
    drop(b);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut c = Client::connect(&srv.ws_url()).await;
    assert_eq!(
        c.hello(&srv.site_key, Some(&token), None).await["session"],
        w["session"]
    );
    // Another visitor gets another one.
    let mut d = Client::connect(&srv.ws_url()).await;
    assert_ne!(
        d.hello(&srv.site_key, None, None).await["session"],
        w["session"]
    );
    srv.stop().await;
}

#[tokio::test]
async fn the_widget_is_served_with_an_etag_and_the_demo_embeds_it() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let (s, head, body) = http(srv.addr, "GET", "/widget.js", &[], "").await;
    assert_eq!(s, 200);
    assert!(head.contains("content-type: application/javascript"));
    assert!(head.contains("cache-control: public, max-age=300"));
    assert!(body.contains("kefu"), "the bundle is served");
    let etag = head
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .expect("an etag")
        .trim()
        .to_string();
    let (s, _, body) = http(
        srv.addr,
        "GET",
        "/widget.js",
        &[("if-none-match", &etag)],
        "",
    )
    .await;
    assert_eq!(s, 304);
    assert!(body.is_empty());
    let (s, _, demo) = http(srv.addr, "GET", "/demo", &[], "").await;
    assert_eq!(s, 200);
    assert!(
        demo.contains(&srv.site_key) && demo.contains("/widget.js"),
        "the demo embeds the first site"
    );
    assert!(!demo.contains("{{"), "placeholders are filled");
    let (s, head, _) = http(srv.addr, "GET", "/console", &[], "").await;
    assert_eq!(s, 200);
    assert!(head.contains("content-security-policy: default-src 'self'"));
    srv.stop().await;
}
