//! Long-polling, XDomainRequest and JSONP carry the same streams as WebSocket.

mod support;

use std::collections::BTreeMap;

use kefu::vocab::TransportKind;
use serde_json::{json, Value};
use support::*;

fn hello(site: &str, visitor: Option<&str>, resume: Option<Value>) -> Value {
    let mut h = json!({"t":"hello","v":1,"site":site,"role":"visitor"});
    if let Some(v) = visitor {
        h["visitor"] = json!(v);
    }
    if let Some(r) = resume {
        h["resume"] = r;
    }
    h
}

async fn fast_server(dir: &std::path::Path) -> TestServer {
    start_with(dir, |c| {
        c.poll_timeout_ms = 700;
        c.chan_idle_ms = 3000;
    })
    .await
}

#[tokio::test]
async fn each_http_transport_sends_receives_and_resumes() {
    let dir = temp_dir();
    let srv = fast_server(dir.path()).await;
    for kind in ["lp", "xdr", "jsonp"] {
        let mut c = HttpClient::open(srv.addr, kind, &hello(&srv.site_key, None, None)).await;
        let w = c.recv_type("welcome").await;
        let token = w["visitor"].as_str().unwrap().to_string();
        let (s, b) = c
            .send(&json!({"t":"msg","cid":format!("{kind}1"),"body":"hi"}))
            .await;
        assert_eq!(s, 200, "{b}");
        let ack = c.recv_type("ack").await;
        assert_eq!(ack["off"], 1);
        let conv = ack["conv"].clone();
        let epoch = c.logged("conv").expect("conv frame")["epoch"].clone();
        // A poll whose answer was lost is repeated with the same ack: same frames again.
        c.send(&json!({"t":"ping"})).await;
        let mut first = c.poll_raw(c.ack).await;
        while first["frames"].as_array().unwrap().is_empty() {
            first = c.poll_raw(c.ack).await;
        }
        // Frames that arrived since may follow, but the answer starts the same.
        let again = c.poll_raw(c.ack).await;
        assert_eq!(first["from"], again["from"]);
        let (f, a) = (
            first["frames"].as_array().unwrap(),
            again["frames"].as_array().unwrap(),
        );
        assert!(
            a.len() >= f.len() && a[..f.len()] == f[..],
            "a repeated poll gets the same frames: {first} / {again}"
        );
        // A poll cut mid-way (the client gives up on it) loses nothing: the next poll
        // with the same ack gets what was sent meanwhile.
        let cut = {
            let addr = srv.addr;
            let path = format!("/v1/lp/poll?chan={}&ack={}", c.chan, c.ack);
            tokio::spawn(async move {
                let _ = tokio::time::timeout(
                    std::time::Duration::from_millis(100),
                    http(addr, "GET", &path, &[], ""),
                )
                .await;
            })
        };
        cut.await.unwrap();
        c.send(&json!({"t":"msg","cid":format!("{kind}2"),"body":"second"}))
            .await;
        let ack2 = c.recv_type("ack").await;
        assert_eq!(ack2["off"], 2);
        // A new channel resumes from the offset: only what comes after it.
        let mut r = HttpClient::open(
            srv.addr,
            kind,
            &hello(
                &srv.site_key,
                Some(&token),
                Some(json!({"conv":conv,"epoch":epoch,"after":1})),
            ),
        )
        .await;
        let w = r.recv_type("welcome").await;
        assert_eq!(w["head"], 2);
        let e = r.recv_type("e").await;
        assert_eq!(e["off"], 2);
        assert_eq!(e["cid"], format!("{kind}2"));
    }
    srv.stop().await;
}

/// One visitor, whatever carries it.
enum Link {
    Ws(Client),
    Http(HttpClient),
}

impl Link {
    async fn open(srv: &TestServer, kind: &'static str, h: Value) -> Link {
        if kind == "ws" {
            let mut c = Client::connect(&srv.ws_url()).await;
            c.send(h).await;
            Link::Ws(c)
        } else {
            Link::Http(HttpClient::open(srv.addr, kind, &h).await)
        }
    }

    async fn send(&mut self, f: Value) {
        match self {
            Link::Ws(c) => c.send(f).await,
            Link::Http(c) => assert_eq!(c.send(&f).await.0, 200),
        }
    }

    async fn frames(&mut self) -> Vec<Value> {
        match self {
            Link::Ws(c) => vec![c.recv().await],
            Link::Http(c) => c.poll().await,
        }
    }
}

#[derive(Default)]
struct Seen {
    token: Option<String>,
    conv: Option<Value>,
    epoch: Option<Value>,
    last: u64,
    got: BTreeMap<u64, String>,
    acked: Vec<String>,
}

impl Seen {
    fn apply(&mut self, f: &Value) {
        match f["t"].as_str().unwrap() {
            "welcome" => self.token = f["visitor"].as_str().map(str::to_string),
            "conv" => {
                self.conv = Some(f["conv"].clone());
                self.epoch = Some(f["epoch"].clone());
            }
            "e" => {
                let off = f["off"].as_u64().unwrap();
                assert_eq!(off, self.last + 1, "gap or duplicate");
                self.last = off;
                self.got.insert(off, f["cid"].as_str().unwrap().to_string());
            }
            "ack" => self.acked.push(f["cid"].as_str().unwrap().to_string()),
            "err" => panic!("error frame {f}"),
            _ => {}
        }
    }

    fn resume(&self) -> Option<Value> {
        self.conv
            .as_ref()
            .map(|c| json!({"conv":c,"epoch":self.epoch,"after":self.last}))
    }
}

#[tokio::test]
async fn switching_transports_mid_stream_loses_and_repeats_nothing() {
    let dir = temp_dir();
    let srv = fast_server(dir.path()).await;
    let mut seen = Seen::default();
    let mut n = 0;
    for kind in ["ws", "lp", "jsonp", "xdr", "ws"] {
        let h = hello(&srv.site_key, seen.token.as_deref(), seen.resume());
        let mut link = Link::open(&srv, kind, h).await;
        for _ in 0..10 {
            n += 1;
            link.send(json!({"t":"msg","cid":format!("m{n}"),"body":format!("via {kind}")}))
                .await;
        }
        // Read until our ten are acked and delivered, then drop the link abruptly.
        let want = n;
        while seen.acked.len() < want || (seen.last as usize) < want {
            for f in link.frames().await {
                seen.apply(&f);
            }
        }
    }
    assert_eq!(seen.got.len(), n);
    let stored = srv.stored(seen.conv.unwrap().as_i64().unwrap());
    assert_eq!(stored.len(), n);
    for e in &stored {
        assert_eq!(seen.got[&e.off.0], e.cid);
    }
    srv.stop().await;
}

#[tokio::test]
async fn two_transports_at_once_on_one_session() {
    let dir = temp_dir();
    let srv = fast_server(dir.path()).await;
    let mut ws = Client::connect(&srv.ws_url()).await;
    let w = ws.hello(&srv.site_key, None, None).await;
    let token = w["visitor"].as_str().unwrap().to_string();
    let mut lp = HttpClient::open(srv.addr, "lp", &hello(&srv.site_key, Some(&token), None)).await;
    lp.recv_type("welcome").await;
    ws.msg("from-ws", "one").await;
    assert_eq!(lp.recv_type("e").await["cid"], "from-ws");
    lp.send(&json!({"t":"msg","cid":"from-lp","body":"two"}))
        .await;
    loop {
        let e = ws.recv_type("e").await;
        if e["cid"] == "from-lp" {
            assert_eq!(e["off"], 2);
            break;
        }
    }
    srv.stop().await;
}

#[tokio::test]
async fn a_poll_answer_carries_a_whole_batch() {
    let dir = temp_dir();
    let srv = fast_server(dir.path()).await;
    let mut ws = Client::connect(&srv.ws_url()).await;
    let w = ws.hello(&srv.site_key, None, None).await;
    let token = w["visitor"].as_str().unwrap().to_string();
    for i in 1..=5 {
        ws.msg(&format!("m{i}"), "hi").await;
    }
    let mut conv = Value::Null;
    for _ in 1..=5 {
        conv = ws.recv_type("ack").await["conv"].clone();
    }
    // The same visitor resumes from 0 on long-poll: the five entries are one batch of
    // the connection (one catch-up, one flush), so they arrive in one answer.
    let h = hello(
        &srv.site_key,
        Some(&token),
        Some(json!({"conv":conv,"after":0})),
    );
    let mut lp = HttpClient::open(srv.addr, "lp", &h).await;
    for _ in 0..20 {
        let got = lp.poll().await;
        let offs: Vec<u64> = got
            .iter()
            .filter(|f| f["t"] == "e")
            .map(|f| f["off"].as_u64().unwrap())
            .collect();
        if !offs.is_empty() {
            assert_eq!(offs, [1, 2, 3, 4, 5], "one answer: {got:?}");
            srv.stop().await;
            return;
        }
    }
    panic!("no entries in time");
}

#[tokio::test]
async fn a_newer_poll_supersedes_the_parked_one() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| c.poll_timeout_ms = 5000).await;
    let mut c = HttpClient::open(srv.addr, "lp", &hello(&srv.site_key, None, None)).await;
    c.recv_type("welcome").await;
    let (addr, chan, ack) = (srv.addr, c.chan.clone(), c.ack);
    let parked = tokio::spawn(async move {
        let t = std::time::Instant::now();
        let (_, _, b) = http(
            addr,
            "GET",
            &format!("/v1/lp/poll?chan={chan}&ack={ack}"),
            &[],
            "",
        )
        .await;
        (t.elapsed(), b)
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    c.send(&json!({"t":"ping"})).await;
    // The newer poll gets the pong; the parked one ends at once, superseded or with it.
    let pong = c.recv_type("pong").await;
    assert_eq!(pong["t"], "pong");
    let (took, body) = parked.await.unwrap();
    assert!(
        took < std::time::Duration::from_millis(4000),
        "the parked poll ended early"
    );
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["superseded"] == true || !v["frames"].as_array().unwrap().is_empty(),
        "{v}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn a_jsonp_message_in_shuffled_repeated_parts_is_stored_once() {
    let dir = temp_dir();
    let srv = fast_server(dir.path()).await;
    let mut c = HttpClient::open(srv.addr, "jsonp", &hello(&srv.site_key, None, None)).await;
    c.recv_type("welcome").await;
    let body: String = (0..3000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect::<String>()
        + " 客服 \u{2028}";
    let frame = json!({"t":"msg","cid":"long1","body":body}).to_string();
    let chunks: Vec<String> = frame
        .chars()
        .collect::<Vec<_>>()
        .chunks(700)
        .map(|c| c.iter().collect())
        .collect();
    let n = chunks.len();
    assert!(n >= 4);
    let mut order: Vec<usize> = (0..n).rev().collect();
    order.insert(1, n - 1);
    order.push(0);
    order.push(2);
    for i in order {
        let path = format!(
            "/v1/jsonp/send?cb=cb&chan={}&pid=long1&i={i}&n={n}&d={}",
            c.chan,
            enc(&chunks[i])
        );
        let (s, _, b) = http(srv.addr, "GET", &path, &[], "").await;
        assert_eq!(s, 200, "{b}");
    }
    let ack = c.recv_type("ack").await;
    assert_eq!(ack["dup"], false);
    // The entry may come before or after the ack.
    let e = match c.logged("e") {
        Some(e) => e.clone(),
        None => c.recv_type("e").await,
    };
    assert_eq!(e["body"], body);
    // Repeats after completion are acknowledged without a second message.
    let path = format!(
        "/v1/jsonp/send?cb=cb&chan={}&pid=long1&i=0&n={n}&d={}",
        c.chan,
        enc(&chunks[0])
    );
    let (s, _, b) = http(srv.addr, "GET", &path, &[], "").await;
    assert_eq!(s, 200);
    assert!(b.contains(&format!("\"have\":{n}")), "{b}");
    let stored = srv.stored(ack["conv"].as_i64().unwrap());
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].body, body);
    srv.stop().await;
}

#[tokio::test]
async fn responses_carry_no_store_nosniff_and_script_safe_text() {
    let dir = temp_dir();
    let srv = fast_server(dir.path()).await;
    let h = enc(&hello(&srv.site_key, None, None).to_string());
    let (s, head, body) = http(
        srv.addr,
        "GET",
        &format!("/v1/jsonp/open?cb=k.cb_1&f={h}"),
        &[],
        "",
    )
    .await;
    assert_eq!(s, 200);
    assert!(head.contains("content-type: application/javascript"));
    assert!(head.contains("x-content-type-options: nosniff"));
    assert!(head.contains("cache-control: no-store"));
    assert!(body.starts_with("/**/k.cb_1({"), "{body}");
    let chan = body.split('"').nth(3).unwrap().to_string();
    let f = enc(&json!({"t":"msg","cid":"sep","body":"a\u{2028}b\u{2029}c"}).to_string());
    http(
        srv.addr,
        "GET",
        &format!("/v1/jsonp/send?cb=cb&chan={chan}&f={f}"),
        &[],
        "",
    )
    .await;
    let mut text = String::new();
    let mut ack = 0;
    for _ in 0..50 {
        let (_, _, b) = http(
            srv.addr,
            "GET",
            &format!("/v1/jsonp/poll?cb=cb&chan={chan}&ack={ack}"),
            &[],
            "",
        )
        .await;
        let v = unwrap_jsonp(&b);
        ack = v["from"].as_u64().unwrap() + v["frames"].as_array().unwrap().len() as u64 - 1;
        if b.contains("\"t\":\"e\"") {
            text = b;
            break;
        }
    }
    assert!(text.contains("a\\u2028b\\u2029c"), "{text}");
    assert!(!text.contains('\u{2028}') && !text.contains('\u{2029}'));
    let (s, head, _) = http(
        srv.addr,
        "GET",
        &format!("/v1/lp/poll?chan={chan}&ack=0&_=123"),
        &[("origin", "http://a.example")],
        "",
    )
    .await;
    assert_eq!(s, 200);
    assert!(head.contains("cache-control: no-store"));
    assert!(head.contains("access-control-allow-origin: http://a.example"));
    let (s, head, _) = http(
        srv.addr,
        "OPTIONS",
        "/v1/lp/send",
        &[("origin", "http://a.example")],
        "",
    )
    .await;
    assert_eq!(s, 204);
    assert!(head.contains("access-control-allow-methods"));
    srv.stop().await;
}

#[tokio::test]
async fn negotiation_lists_the_sites_transports() {
    let dir = temp_dir();
    let srv = fast_server(dir.path()).await;
    let (s, _, b) = http(
        srv.addr,
        "GET",
        &format!("/v1/negotiate?site={}", srv.site_key),
        &[],
        "",
    )
    .await;
    assert_eq!(s, 200);
    let v: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["transports"], json!(["ws", "lp", "xdr", "jsonp"]));
    assert_eq!(v["poll_timeout"], 700);
    let (s, _, b) = http(
        srv.addr,
        "GET",
        &format!("/v1/negotiate?site={}&cb=cb", srv.site_key),
        &[],
        "",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(unwrap_jsonp(&b)["v"], 1);
    let (s, _, b) = http(srv.addr, "GET", "/v1/negotiate?site=s_nope", &[], "").await;
    assert_eq!(s, 404);
    assert!(b.contains("unknown_site"));
    srv.stop().await;
}

#[tokio::test]
async fn a_site_can_disable_websocket_and_sessions_hold_bounded_connections() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| c.max_session_connections = 2).await;
    let store = kefu::store::open(&srv.db_url, &kefu::store::Options::default()).unwrap();
    let site = store.site_by_key(&srv.site_key).unwrap().unwrap();
    // Two connections of one visitor are fine; a third is refused with 4003.
    let mut a = Client::connect(&srv.ws_url()).await;
    let w = a.hello(&srv.site_key, None, None).await;
    let token = w["visitor"].as_str().unwrap().to_string();
    let mut b = HttpClient::open(srv.addr, "lp", &hello(&srv.site_key, Some(&token), None)).await;
    b.recv_type("welcome").await;
    let mut c = Client::connect(&srv.ws_url()).await;
    c.send(json!({"t":"hello","v":1,"site":srv.site_key,"role":"visitor","visitor":token}))
        .await;
    assert_eq!(c.closed_with().await, 4003);
    // Behind a hostile proxy: the site allows only the HTTP transports.
    store
        .set_transports(site.id, &[TransportKind::LongPoll, TransportKind::Jsonp])
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5200)).await; // site cache
    let (_, _, n) = http(
        srv.addr,
        "GET",
        &format!("/v1/negotiate?site={}", srv.site_key),
        &[],
        "",
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&n).unwrap()["transports"],
        json!(["lp", "jsonp"])
    );
    let mut d = Client::connect(&srv.ws_url()).await;
    d.send(json!({"t":"hello","v":1,"site":srv.site_key,"role":"visitor"}))
        .await;
    assert_eq!(d.closed_with().await, 4105);
    let mut x = HttpClient::open(srv.addr, "xdr", &hello(&srv.site_key, None, None)).await;
    assert_eq!(x.recv_type("bye").await["code"], 4105);
    let mut j = HttpClient::open(srv.addr, "jsonp", &hello(&srv.site_key, None, None)).await;
    j.recv_type("welcome").await;
    srv.stop().await;
}
