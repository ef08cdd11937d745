//! Hostile clients cannot take kefu down: each attack is refused with a clear answer
//! while legitimate clients from another address keep being served. Attackers connect
//! from 127.0.0.2 (and up), the legitimate clients from 127.0.0.1.

mod support;

use std::net::IpAddr;
use std::time::Duration;

use serde_json::{json, Value};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn attacker(n: u8) -> Option<IpAddr> {
    Some(IpAddr::from([127, 0, 0, 2 + n]))
}

/// The sign-in flood measures this process's memory, so it runs alone; the other tests of
/// this file (servers in the same process) run beside each other, never beside it.
static MEASURED: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 4096
}

/// A visitor on WebSocket writes and is acknowledged.
async fn ws_visitor_served(srv: &TestServer, cid: &str) {
    let mut c = Client::connect(&srv.ws_url()).await;
    c.hello(&srv.site_key, None, None).await;
    c.msg(cid, "still served?").await;
    assert_eq!(c.recv_type("ack").await["cid"], cid);
}

/// A visitor on an HTTP transport writes and is acknowledged.
async fn http_visitor_served(srv: &TestServer, kind: &'static str, cid: &str) {
    let hello = json!({"t":"hello","v":1,"site":srv.site_key,"role":"visitor"});
    let mut c = HttpClient::open(srv.addr, kind, &hello).await;
    c.recv_type("welcome").await;
    let (s, b) = c
        .send(&json!({"t":"msg","cid":cid,"body":"still served?"}))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(c.recv_type("ack").await["cid"], cid);
}

fn login_body(email: &str, password: &str) -> String {
    json!({"email":email,"password":password}).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_random_email_sign_in_flood_is_refused_and_real_sign_ins_go_through() {
    let _alone = MEASURED.write().await;
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| {
        c.login_max_failures_per_address = 10;
        c.hash_threads = 2;
        c.hash_queue = 4;
    })
    .await;
    let before = rss_bytes();
    // 64 attackers at once, from two addresses, each trying random emails for 3 s.
    let until = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut tasks = Vec::new();
    for i in 0..64u32 {
        let addr = srv.addr;
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut n = 0;
            while tokio::time::Instant::now() < until {
                n += 1;
                let email = format!("nobody{i}-{n}@example.com");
                let (s, head, _) = http_from(
                    attacker((i % 2) as u8),
                    addr,
                    "POST",
                    "/v1/login",
                    &[("content-type", "application/json")],
                    &login_body(&email, "guess"),
                )
                .await;
                if s == 429 || s == 503 {
                    assert!(head.contains("retry-after:"), "{head}");
                }
                seen.push(s);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen
        }));
    }
    // Meanwhile the admin signs in, more than once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..3 {
        let (s, _, b) = http(
            srv.addr,
            "POST",
            "/v1/login",
            &[],
            &login_body("admin@localhost", "test-password"),
        )
        .await;
        assert_eq!(s, 200, "a real sign-in during the flood: {b}");
        ws_visitor_served(&srv, &format!("w{}", rss_bytes() % 1000)).await;
    }
    let mut statuses = std::collections::BTreeMap::new();
    for t in tasks {
        for s in t.await.unwrap() {
            *statuses.entry(s).or_insert(0u32) += 1;
        }
    }
    let refused =
        statuses.get(&429).copied().unwrap_or(0) + statuses.get(&503).copied().unwrap_or(0);
    assert!(
        statuses.keys().all(|s| [401, 429, 503].contains(s)),
        "attackers only get refusals: {statuses:?}"
    );
    assert!(refused > 0, "the flood hits the limits: {statuses:?}");
    // Each address failed at most its budget before being refused without hashing.
    assert!(
        statuses.get(&401).copied().unwrap_or(0) <= 2 * 10 + 64,
        "{statuses:?}"
    );
    let grown = rss_bytes().saturating_sub(before);
    assert!(
        grown < 128 * 1024 * 1024,
        "memory stays flat: grew {} MiB",
        grown >> 20
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sign_in_flood_from_many_addresses_leaves_room_for_real_sign_ins() {
    let _beside = MEASURED.read().await;
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| {
        // Addresses that may go on failing: the per-address limit does not stop this
        // flood, the password pool must.
        c.login_max_failures_per_address = 100_000;
        c.hash_threads = 1;
        c.hash_queue = 4;
    })
    .await;
    let json_ct = [("content-type", "application/json")];
    // Every attacking address has failed once already.
    for n in 0..4u8 {
        let body = login_body(&format!("first{n}@example.com"), "guess");
        let (s, _, _) =
            http_from(attacker(n), srv.addr, "POST", "/v1/login", &json_ct, &body).await;
        assert_eq!(s, 401);
    }
    // Then 4 addresses × 8 attackers try random emails, keeping the pool full.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..32u32 {
        let (addr, stop) = (srv.addr, stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut seen = std::collections::BTreeMap::new();
            let mut n = 0;
            let until = tokio::time::Instant::now() + Duration::from_secs(60);
            while !stop.load(std::sync::atomic::Ordering::Relaxed)
                && tokio::time::Instant::now() < until
            {
                n += 1;
                let body = login_body(&format!("nobody{i}-{n}@example.com"), "guess");
                let ct = [("content-type", "application/json")];
                let (s, _, _) = http_from(
                    attacker((i % 4) as u8),
                    addr,
                    "POST",
                    "/v1/login",
                    &ct,
                    &body,
                )
                .await;
                *seen.entry(s).or_insert(0u32) += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The admin signs in meanwhile, from an address that has not failed.
    for _ in 0..2 {
        let body = login_body("admin@localhost", "test-password");
        let (s, _, b) = http(srv.addr, "POST", "/v1/login", &json_ct, &body).await;
        assert_eq!(s, 200, "a real sign-in during the flood: {b}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut statuses = std::collections::BTreeMap::new();
    for t in tasks {
        for (s, n) in t.await.unwrap() {
            *statuses.entry(s).or_insert(0u32) += n;
        }
    }
    assert!(
        statuses.keys().all(|s| [401, 429, 503].contains(s)),
        "attackers only get refusals: {statuses:?}"
    );
    assert!(
        statuses.contains_key(&503),
        "the pool was full: {statuses:?}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn a_slow_request_body_is_timed_out_and_others_are_served() {
    let _beside = MEASURED.read().await;
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| c.request_timeout_ms = 1000).await;
    let mut slow = connect_from(attacker(0), srv.addr).await;
    slow.write_all(
        b"POST /v1/lp/open?tr=lp HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 200\r\n\r\n{",
    )
    .await
    .unwrap();
    let t0 = std::time::Instant::now();
    // One byte every 300 ms: never done.
    let feeder = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        loop {
            tokio::select! {
                r = slow.read(&mut buf) => match r {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                },
                _ = tokio::time::sleep(Duration::from_millis(300)) => {
                    if slow.write_all(b" ").await.is_err() {
                        break;
                    }
                }
            }
        }
        String::from_utf8_lossy(&got).to_string()
    });
    ws_visitor_served(&srv, "w1").await;
    http_visitor_served(&srv, "lp", "l1").await;
    let answer = tokio::time::timeout(Duration::from_secs(10), feeder)
        .await
        .expect("the slow request is ended")
        .unwrap();
    let took = t0.elapsed();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(took < Duration::from_secs(5), "ended after {took:?}");
    srv.stop().await;
}

#[tokio::test]
async fn connections_per_address_are_capped_without_locking_out_others() {
    let _beside = MEASURED.read().await;
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| c.max_connections_per_address = 5).await;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(connect_from(attacker(0), srv.addr).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (s, _, b) = http_from(attacker(0), srv.addr, "GET", "/healthz", &[], "").await;
    assert_eq!(s, 503, "{b}");
    assert!(b.contains("too many connections from this address"), "{b}");
    let (s, _, _) = http_from(attacker(1), srv.addr, "GET", "/healthz", &[], "").await;
    assert_eq!(s, 200, "another address is served");
    ws_visitor_served(&srv, "w1").await;
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (s, _, _) = http_from(attacker(0), srv.addr, "GET", "/healthz", &[], "").await;
    assert_eq!(s, 200, "room again once they close");
    srv.stop().await;
}

async fn lp_open_from(srv: &TestServer, src: Option<IpAddr>) -> (u16, String) {
    let hello = json!({"t":"hello","v":1,"site":srv.site_key,"role":"visitor"});
    let (s, _, b) = http_from(
        src,
        srv.addr,
        "POST",
        "/v1/lp/open?tr=lp",
        &[("content-type", "text/plain")],
        &hello.to_string(),
    )
    .await;
    (s, b)
}

async fn channels(srv: &TestServer) -> u64 {
    let (_, _, b) = http(srv.addr, "GET", "/healthz", &[], "").await;
    serde_json::from_str::<Value>(&b).unwrap()["channels"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn unpolled_channels_die_fast_and_opens_are_bounded_per_address() {
    let _beside = MEASURED.read().await;
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| {
        c.max_channels_per_address = 20;
        c.chan_first_poll_ms = 600;
    })
    .await;
    for _ in 0..20 {
        assert_eq!(lp_open_from(&srv, attacker(0)).await.0, 200);
    }
    let (s, b) = lp_open_from(&srv, attacker(0)).await;
    assert_eq!(s, 503, "{b}");
    assert!(b.contains("from this address"), "{b}");
    // Everyone else is served, on every HTTP transport.
    http_visitor_served(&srv, "lp", "l1").await;
    http_visitor_served(&srv, "xdr", "x1").await;
    http_visitor_served(&srv, "jsonp", "j1").await;
    // Never polled: gone soon, and the address may open again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while channels(&srv).await >= 20 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "unpolled channels stay"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(lp_open_from(&srv, attacker(0)).await.0, 200);
    srv.stop().await;
}

#[tokio::test]
async fn a_jsonp_part_flood_from_one_address_does_not_block_others() {
    let _beside = MEASURED.read().await;
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| {
        c.jsonp_max_pending_per_address = 4;
        c.jsonp_max_pending = 8;
    })
    .await;
    let hello = json!({"t":"hello","v":1,"site":srv.site_key,"role":"visitor"});
    let (s, _, b) = http_from(
        attacker(0),
        srv.addr,
        "GET",
        &format!("/v1/jsonp/open?cb=cb&f={}", enc(&hello.to_string())),
        &[],
        "",
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let chan = unwrap_jsonp(&b)["chan"].as_str().unwrap().to_string();
    let mut statuses = Vec::new();
    for i in 0..8 {
        let path = format!(
            "/v1/jsonp/send?cb=cb&chan={chan}&pid=p{i}&i=0&n=2&d={}",
            enc("{\"t\":")
        );
        statuses.push(
            http_from(attacker(0), srv.addr, "GET", &path, &[], "")
                .await
                .0,
        );
    }
    assert_eq!(statuses[..4], [200, 200, 200, 200]);
    assert!(statuses[4..].iter().all(|s| *s == 503), "{statuses:?}");
    // A visitor elsewhere sends a message in two parts.
    let mut c = HttpClient::open(srv.addr, "jsonp", &hello).await;
    c.recv_type("welcome").await;
    let frame = json!({"t":"msg","cid":"two-parts","body":"joined"}).to_string();
    let (a, b) = frame.split_at(frame.len() / 2);
    for (i, part) in [a, b].iter().enumerate() {
        let path = format!(
            "/v1/jsonp/send?cb=cb&chan={}&pid=two-parts&i={i}&n=2&d={}",
            c.chan,
            enc(part)
        );
        let (s, _, body) = http(srv.addr, "GET", &path, &[], "").await;
        assert_eq!(s, 200, "{body}");
    }
    assert_eq!(c.recv_type("ack").await["cid"], "two-parts");
    srv.stop().await;
}

#[tokio::test]
async fn visitors_cannot_choose_their_own_token() {
    let _beside = MEASURED.read().await;
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let mut c = Client::connect(&srv.ws_url()).await;
    let w = c.hello(&srv.site_key, Some("AAAAAAAAAAAAAAAA"), None).await;
    let issued = w["visitor"].as_str().unwrap().to_string();
    assert_ne!(issued, "AAAAAAAAAAAAAAAA", "a made-up token is replaced");
    // The issued one is kept.
    let mut c2 = Client::connect(&srv.ws_url()).await;
    let w2 = c2.hello(&srv.site_key, Some(&issued), None).await;
    assert_eq!(w2["visitor"], issued.as_str());
    assert_eq!(w2["session"], w["session"], "the same visitor");
    // A token the store already knows (made before tokens were issued) still works.
    let store = kefu::store::open(&srv.db_url, &kefu::store::Options::default()).unwrap();
    let site = store.site_by_key(&srv.site_key).unwrap().unwrap();
    let legacy = "legacyTokenFromBefore0001";
    let entry = kefu::store::NewEntry::now(
        kefu::store::ConvRef::Visitor {
            site: site.id,
            token: legacy.into(),
            named: None,
        },
        kefu::vocab::EntryKind::Msg,
        kefu::store::Author::Visitor,
        kefu::store::Cid::Keyed("old1".into()),
        "from an older widget".into(),
    );
    store.append_batch(&[entry]).unwrap();
    let mut c3 = Client::connect(&srv.ws_url()).await;
    let w3 = c3.hello(&srv.site_key, Some(legacy), None).await;
    assert_eq!(w3["visitor"], legacy);
    assert!(w3["conv"].is_i64(), "with its conversation: {w3}");
    srv.stop().await;
}

#[tokio::test]
async fn a_typing_flood_reaches_agents_bounded() {
    let _beside = MEASURED.read().await;
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| c.volatile_per_sec = 10).await;
    let token = token_of(&srv, "admin@localhost", "test-password").await;
    let mut a = Client::connect(&srv.ws_url()).await;
    a.send(json!({"t":"hello","v":1,"site":srv.site_key,"role":"agent","token":token}))
        .await;
    a.recv_type("welcome").await;
    let mut v = Client::connect(&srv.ws_url()).await;
    v.hello(&srv.site_key, None, None).await;
    v.msg("m1", "hi").await;
    let conv = v.opened().await.0["conv"].clone();
    a.send(json!({"t":"follow","conv":conv,"after":0})).await;
    a.recv_type("following").await;
    for i in 0..2000 {
        v.send(json!({"t":"typing","on": i % 2 == 0})).await;
    }
    v.msg("m2", "done typing").await;
    v.recv_type("ack").await;
    // Count what reached the agent until the message after the flood.
    let mut typing = 0;
    loop {
        let f = a.recv().await;
        if f["t"] == "typing" {
            typing += 1;
        }
        if f["t"] == "e" && f["cid"] == "m2" {
            break;
        }
    }
    assert!(typing > 0, "typing still reaches agents");
    assert!(typing <= 40, "{typing} typing frames reached the agent");
    srv.stop().await;
}
