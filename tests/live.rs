//! Live features: presence, agent availability, typing and sneak peek, read receipts,
//! delivery notices, invitations, offline messages. Verified identity is in
//! `tests/identity.rs`.

mod support;

use serde_json::{json, Value};
use support::*;

async fn login(srv: &TestServer) -> String {
    let body = json!({"email":"admin@localhost","password":"test-password"}).to_string();
    let (s, _, b) = http(srv.addr, "POST", "/v1/login", &[], &body).await;
    assert_eq!(s, 200, "{b}");
    serde_json::from_str::<Value>(&b).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn agent(srv: &TestServer, token: &str) -> (Client, Value) {
    let mut a = Client::connect(&srv.ws_url()).await;
    a.send(json!({"t":"hello","v":1,"site":srv.site_key,"role":"agent","token":token}))
        .await;
    a.recv_type("welcome").await;
    let snap = a.recv_type("visitors").await;
    (a, snap)
}

async fn server(dir: &std::path::Path) -> TestServer {
    start_with(dir, |c| {
        c.presence_grace_ms = 300;
        c.typing_interval_ms = 0;
        c.poll_timeout_ms = 500;
    })
    .await
}

/// Next `visitor` change for visitor `id`.
async fn change_of(a: &mut Client, id: &str) -> Value {
    loop {
        let f = a.recv_type("visitor").await;
        if f["v"]["id"] == id {
            return f;
        }
    }
}

#[tokio::test]
async fn agents_see_visitors_live_and_a_snapshot_after_reconnecting() {
    let dir = temp_dir();
    let srv = server(dir.path()).await;
    let token = login(&srv).await;
    let (mut a, snap) = agent(&srv, &token).await;
    assert_eq!(snap["list"], json!([]));

    let mut v = Client::connect(&srv.ws_url()).await;
    let w = v.hello(&srv.site_key, None, None).await;
    let id = w["session"].as_str().unwrap().to_string();
    let join = change_of(&mut a, &id).await;
    assert_eq!(join["op"], "join");
    assert_eq!(join["v"]["transports"], json!(["ws"]));
    v.send(json!({"t":"page","url":"https://shop.example/p/1","title":"<b>Shoes</b>","ref":"https://search.example/?q=shoes","visible":true,"visits":3})).await;
    let up = change_of(&mut a, &id).await;
    assert_eq!(up["op"], "update");
    assert_eq!(up["v"]["page"]["url"], "https://shop.example/p/1");
    assert_eq!(
        up["v"]["page"]["title"], "<b>Shoes</b>",
        "text is relayed as data, never interpreted"
    );
    assert_eq!(up["v"]["visits"], 3);
    assert_eq!(up["v"]["pages"], 1);

    // A second tab over long-polling shows both transports.
    let mut lp = HttpClient::open(
        srv.addr,
        "lp",
        &json!({"t":"hello","v":1,"site":srv.site_key,"role":"visitor","visitor":w["visitor"]}),
    )
    .await;
    lp.recv_type("welcome").await;
    let up = change_of(&mut a, &id).await;
    assert_eq!(up["v"]["transports"], json!(["lp", "ws"]));

    // The agent reconnects: a snapshot with the visitor where it is.
    drop(a);
    let (mut a, snap) = agent(&srv, &token).await;
    let list = snap["list"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["page"]["url"], "https://shop.example/p/1");

    // The visitor leaves (both tabs): after the presence grace, `leave`.
    drop(v);
    assert_eq!(lp.send(&json!({"t":"ping"})).await.0, 200);
    http(
        srv.addr,
        "POST",
        &format!("/v1/lp/close?chan={}", lp.chan),
        &[],
        "",
    )
    .await;
    loop {
        let f = change_of(&mut a, &id).await;
        if f["op"] == "leave" {
            break;
        }
    }
    srv.stop().await;
}

/// A busy site's visitor list is one frame larger than the WebSocket write cap: the agent
/// gets all of it and stays connected (it used to be disconnected by it, reconnect, get
/// the list again, and never catch up).
#[tokio::test]
async fn an_agent_gets_the_whole_visitor_list_however_long() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| {
        c.ws_write_buffer = 4 * 1024;
        c.ws_max_write_buffer = 16 * 1024;
    })
    .await;
    let token = login(&srv).await;
    let url = format!("https://shop.example/{}", "p".repeat(400));
    let mut visitors = Vec::new();
    for _ in 0..60 {
        let mut v = Client::connect(&srv.ws_url()).await;
        v.hello(&srv.site_key, None, None).await;
        v.send(json!({"t":"page","url":url,"title":"a long page","visible":true,"visits":1}))
            .await;
        visitors.push(v);
    }
    // Every page view has arrived once a last visitor's has.
    let (mut a, _) = agent(&srv, &token).await;
    let mut last = Client::connect(&srv.ws_url()).await;
    let w = last.hello(&srv.site_key, None, None).await;
    let id = w["session"].as_str().unwrap().to_string();
    last.send(json!({"t":"page","url":url,"title":"the last","visible":true,"visits":1}))
        .await;
    loop {
        let f = change_of(&mut a, &id).await;
        if f["v"]["page"]["title"] == "the last" {
            break;
        }
    }
    drop(a);
    let (mut a, snap) = agent(&srv, &token).await;
    let list = snap["list"].as_array().unwrap();
    assert_eq!(list.len(), 61);
    let bytes = snap.to_string().len();
    assert!(
        bytes > 16 * 1024,
        "the list ({bytes} bytes) is over the cap"
    );
    assert!(list.iter().all(|v| v["page"]["url"] == url.as_str()));
    // And the agent is still connected: it sees the next change.
    last.send(
        json!({"t":"page","url":"https://shop.example/","title":"home","visible":true,"visits":1}),
    )
    .await;
    loop {
        let f = change_of(&mut a, &id).await;
        if f["v"]["page"]["title"] == "home" {
            break;
        }
    }
    srv.stop().await;
}

#[tokio::test]
async fn visitors_learn_whether_an_agent_is_available() {
    let dir = temp_dir();
    let srv = server(dir.path()).await;
    let mut v = Client::connect(&srv.ws_url()).await;
    v.hello(&srv.site_key, None, None).await;
    assert_eq!(v.recv_type("agents").await["online"], false);
    let token = login(&srv).await;
    let (mut a, _) = agent(&srv, &token).await;
    assert_eq!(v.recv_type("agents").await["online"], true);
    a.send(json!({"t":"presence","status":"away"})).await;
    assert_eq!(v.recv_type("agents").await["online"], false);
    a.send(json!({"t":"presence","status":"online"})).await;
    assert_eq!(v.recv_type("agents").await["online"], true);
    drop(a);
    assert_eq!(v.recv_type("agents").await["online"], false);
    // Visitors may not send agent frames, nor agents visitor ones.
    v.send(json!({"t":"presence","status":"away"})).await;
    assert_eq!(v.recv_type("err").await["code"], "bad_frame");
    srv.stop().await;
}

#[tokio::test]
async fn typing_sneak_peek_reads_and_delivery() {
    let dir = temp_dir();
    let srv = server(dir.path()).await;
    let token = login(&srv).await;
    let mut v = Client::connect(&srv.ws_url()).await;
    v.hello(&srv.site_key, None, None).await;
    v.msg("m1", "hello").await;
    let conv = v.opened().await.0["conv"].clone();
    let (mut a, _) = agent(&srv, &token).await;
    a.send(json!({"t":"follow","conv":conv,"after":0})).await;
    assert_eq!(a.recv_type("e").await["off"], 1);

    v.send(json!({"t":"typing","on":true,"text":"I would like to ret"}))
        .await;
    let t = a.recv_type("typing").await;
    assert_eq!(
        (t["role"].as_str(), t["text"].as_str()),
        (Some("visitor"), Some("I would like to ret"))
    );
    a.send(json!({"t":"typing","conv":conv,"on":true,"text":"the agent's draft stays private"}))
        .await;
    let t = v.recv_type("typing").await;
    assert_eq!(t["role"], "agent");
    assert_eq!(t["name"], "Admin");
    assert!(t.get("text").is_none(), "visitors never see drafts: {t}");

    // The agent's client holds offset 1: the visitor is told it was delivered.
    a.send(json!({"t":"ack","conv":conv,"off":1})).await;
    let d = v.recv_type("delivered").await;
    assert_eq!(d["upto"], 1);
    // The agent reads it: a durable `read` entry everyone in the conversation gets.
    a.send(json!({"t":"read","conv":conv,"upto":1})).await;
    assert_eq!(a.recv_type("ack").await["cid"], format!("read:{conv}:1"));
    let r = loop {
        let e = v.recv_type("e").await;
        if e["kind"] == "read" {
            break e;
        }
    };
    // Offset 2 is the desk's `join`: the read lands at 3.
    assert_eq!(
        (r["kind"].as_str(), r["upto"].as_u64(), r["off"].as_u64()),
        (Some("read"), Some(1), Some(3))
    );
    // Reading beyond what was sent is refused.
    a.send(json!({"t":"read","conv":conv,"upto":9})).await;
    assert_eq!(a.recv_type("err").await["code"], "bad_offset");
    srv.stop().await;
}

#[tokio::test]
async fn invitations_open_a_conversation_when_accepted() {
    let dir = temp_dir();
    let srv = server(dir.path()).await;
    let token = login(&srv).await;
    let (mut a, _) = agent(&srv, &token).await;
    let mut v = Client::connect(&srv.ws_url()).await;
    let w = v.hello(&srv.site_key, None, None).await;
    let id = w["session"].as_str().unwrap().to_string();
    change_of(&mut a, &id).await;

    a.send(json!({"t":"invite","visitor":id,"text":"Need help choosing a size?"}))
        .await;
    let inv = v.recv_type("invite").await;
    assert_eq!(inv["name"], "Admin");
    assert_eq!(inv["text"], "Need help choosing a size?");
    v.send(json!({"t":"invite_reply","id":inv["id"],"accept":true}))
        .await;
    let conv = v.recv_type("conv").await["conv"].clone();
    let e = v.recv_type("e").await;
    assert_eq!(
        (e["role"].as_str(), e["body"].as_str()),
        (Some("agent"), Some("Need help choosing a size?"))
    );
    let up = loop {
        let f = change_of(&mut a, &id).await;
        if f["v"]["conv"] == conv {
            break f;
        }
    };
    assert_eq!(up["op"], "update");
    // Answering twice does nothing more.
    v.send(json!({"t":"invite_reply","id":inv["id"],"accept":true}))
        .await;
    v.send(json!({"t":"ping"})).await;
    v.recv_type("pong").await;
    // The invitation's text, and the desk giving the conversation to the inviter.
    let stored = srv.stored(conv.as_i64().unwrap());
    let kinds: Vec<&str> = stored.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, vec!["msg", "join"]);

    // A visitor who left cannot be invited.
    a.send(json!({"t":"invite","visitor":"nobody-here","text":"hi"}))
        .await;
    assert_eq!(a.recv_type("err").await["code"], "unknown_visitor");
    srv.stop().await;
}

#[tokio::test]
async fn offline_messages_keep_their_contact() {
    let dir = temp_dir();
    let srv = server(dir.path()).await;
    let mut v = Client::connect(&srv.ws_url()).await;
    v.hello(&srv.site_key, None, None).await;
    v.send(json!({"t":"msg","cid":"off1","body":"Please call me back","contact":{"name":"Li Lei","email":"li@example.com"}})).await;
    // The ack and the entry come in either order.
    let (mut ack, mut e) = (None, None);
    while ack.is_none() || e.is_none() {
        let f = v.recv().await;
        assert_ne!(f["t"], "err", "{f}");
        match f["t"].as_str() {
            Some("ack") => ack = Some(f),
            Some("e") => e = Some(f),
            _ => {}
        }
    }
    let (ack, e) = (ack.unwrap(), e.unwrap());
    let stored = srv.stored(ack["conv"].as_i64().unwrap());
    assert_eq!(stored[0].contact.as_ref().unwrap().email, "li@example.com");
    assert_eq!(e["contact"]["name"], "Li Lei");
    srv.stop().await;
}
