//! The help desk: assignment by availability and load, the queue, transfer, re-assignment
//! of unanswered conversations, and closing.

mod support;

use serde_json::{json, Value};
use support::*;

/// Add agent `email` (password "pw-<email>") to the first site, straight in the database.
fn add_agent(srv: &TestServer, email: &str, name: &str) {
    let store = kefu::store::open(&srv.db_url, &kefu::store::Options::default()).unwrap();
    let site = store.site_by_key(&srv.site_key).unwrap().unwrap();
    let hash = kefu::core::auth::hash_password(&format!("pw-{email}")).unwrap();
    store
        .add_agent(site.id, email, name, kefu::vocab::AgentRole::Agent, &hash)
        .unwrap();
}

async fn agent(srv: &TestServer, email: &str, password: &str) -> (Client, i64) {
    let body = json!({"email":email,"password":password}).to_string();
    let (s, _, b) = http(srv.addr, "POST", "/v1/login", &[], &body).await;
    assert_eq!(s, 200, "{b}");
    let b: Value = serde_json::from_str(&b).unwrap();
    let mut a = Client::connect(&srv.ws_url()).await;
    a.send(json!({"t":"hello","v":1,"site":srv.site_key,"role":"agent","token":b["token"]}))
        .await;
    a.recv_type("welcome").await;
    (a, b["agent"]["id"].as_i64().unwrap())
}

async fn admin(srv: &TestServer) -> (Client, i64) {
    agent(srv, "admin@localhost", "test-password").await
}

async fn visitor_writes(srv: &TestServer, cid: &str) -> (Client, Value) {
    let mut v = Client::connect(&srv.ws_url()).await;
    v.hello(&srv.site_key, None, None).await;
    v.msg(cid, "hello?").await;
    let conv = v.recv_type("conv").await["conv"].clone();
    (v, conv)
}

/// The next `e` of the given kind.
async fn entry_of_kind(c: &mut Client, kind: &str) -> Value {
    loop {
        let e = c.recv_type("e").await;
        if e["kind"] == kind {
            return e;
        }
    }
}

#[tokio::test]
async fn a_new_conversation_goes_to_an_available_agent() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let (mut a, _) = admin(&srv).await;
    let team = a.recv_type("team").await;
    assert_eq!(team["agents"][0]["name"], "Admin");
    let (mut v, conv) = visitor_writes(&srv, "m1").await;
    let assigned = a.recv_type("assigned").await;
    assert_eq!(assigned["conv"], conv);
    let join = entry_of_kind(&mut v, "join").await;
    assert_eq!(
        (join["role"].as_str(), join["body"].as_str()),
        (Some("agent"), Some("Admin"))
    );
    assert_eq!(a.recv_type("team").await["agents"][0]["load"], 1);
    srv.stop().await;
}

#[tokio::test]
async fn without_a_free_agent_conversations_queue_and_are_served_in_order() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| c.agent_capacity = 1).await;
    let (mut v1, c1) = visitor_writes(&srv, "a").await;
    assert_eq!(v1.recv_type("queue").await["position"], 1);
    let (mut v2, c2) = visitor_writes(&srv, "b").await;
    assert_eq!(v2.recv_type("queue").await["position"], 2);
    // An agent comes on line: the first is served, the second moves up.
    let (mut a, aid) = admin(&srv).await;
    assert_eq!(a.recv_type("assigned").await["conv"], c1);
    assert_eq!(v1.recv_type("queue").await["position"], 0);
    assert_eq!(v2.recv_type("queue").await["position"], 1);
    // At capacity: closing the first serves the second.
    a.send(json!({"t":"close","conv":c1})).await;
    assert_eq!(a.recv_type("assigned").await["conv"], c2);
    assert_eq!(v2.recv_type("queue").await["position"], 0);
    let close = entry_of_kind(&mut v1, "close").await;
    assert_eq!(close["sender"], format!("a{aid}"));
    // The first visitor writes again: a new conversation.
    v1.msg("again", "one more thing").await;
    let c3 = v1.recv_type("conv").await["conv"].clone();
    assert_ne!(c3, c1);
    srv.stop().await;
}

#[tokio::test]
async fn the_least_busy_agent_gets_the_next_conversation() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    add_agent(&srv, "b@x", "Bea");
    let (mut a, aid) = admin(&srv).await;
    let (mut b, bid) = agent(&srv, "b@x", "pw-b@x").await;
    let mut owners = Vec::new();
    let mut visitors = Vec::new();
    for i in 0..4 {
        let (v, conv) = visitor_writes(&srv, &format!("v{i}")).await;
        visitors.push(v);
        // Whoever got it, it is exactly one of them.
        let got = tokio::select! {
            f = a.recv_type("assigned") => (aid, f),
            f = b.recv_type("assigned") => (bid, f),
        };
        assert_eq!(got.1["conv"], conv);
        owners.push(got.0);
    }
    let a_load = owners.iter().filter(|o| **o == aid).count();
    assert_eq!(a_load, 2, "two each: {owners:?}");
    srv.stop().await;
}

#[tokio::test]
async fn transfers_and_reassignment_of_unanswered_conversations() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| c.reassign_after_ms = 800).await;
    add_agent(&srv, "b@x", "Bea");
    let (mut a, _) = admin(&srv).await;
    let (mut v, conv) = visitor_writes(&srv, "m1").await;
    assert_eq!(a.recv_type("assigned").await["conv"], conv);
    let (mut b, bid) = agent(&srv, "b@x", "pw-b@x").await;
    // Admin answers (so it is not re-assigned), then hands it to Bea.
    a.send(json!({"t":"msg","conv":conv,"cid":"a1","body":"Hi!"}))
        .await;
    a.recv_type("ack").await;
    a.send(json!({"t":"transfer","conv":conv,"to":bid})).await;
    assert_eq!(b.recv_type("assigned").await["conv"], conv);
    let t = entry_of_kind(&mut v, "transfer").await;
    assert_eq!(t["body"], "Bea");
    // A transfer to someone not on line is refused.
    a.send(json!({"t":"transfer","conv":conv,"to":999})).await;
    assert_eq!(a.recv_type("err").await["code"], "unknown_agent");
    // Bea does not answer: after 0.8 s it goes back to the admin.
    assert_eq!(a.recv_type("assigned").await["conv"], conv);
    let back = entry_of_kind(&mut v, "transfer").await;
    assert_eq!(back["body"], "Admin");
    // Visitors cannot transfer or close.
    v.send(json!({"t":"close","conv":conv})).await;
    assert_eq!(v.recv_type("err").await["code"], "bad_frame");
    srv.stop().await;
}

#[tokio::test]
async fn a_closed_conversation_is_reopened_by_an_agent_of_its_site() {
    let dir = temp_dir();
    // The agent's client reads only now and then: a long heartbeat keeps a loaded test
    // machine from dropping it as dead meanwhile.
    let srv = start_with(dir.path(), |c| c.heartbeat_ms = 30_000).await;
    let (mut a, aid) = admin(&srv).await;
    let (mut v, c1) = visitor_writes(&srv, "m1").await;
    assert_eq!(a.recv_type("assigned").await["conv"], c1);
    // Only closed conversations reopen.
    a.send(json!({"t":"reopen","conv":c1})).await;
    let err = a.recv_type("err").await;
    assert_eq!(
        (err["code"].as_str(), err["of"].as_str(), &err["conv"]),
        (Some("bad_frame"), Some("reopen"), &c1)
    );
    a.send(json!({"t":"close","conv":c1})).await;
    entry_of_kind(&mut v, "close").await;
    // Visitors cannot reopen.
    v.send(json!({"t":"reopen","conv":c1})).await;
    assert_eq!(v.recv_type("err").await["code"], "bad_frame");
    // Nor can another site's agent: the conversation does not exist for it.
    let other = second_site(&srv);
    let token = token_of(&srv, "agent@other", "other-pw").await;
    let mut o = Client::connect(&srv.ws_url()).await;
    o.send(json!({"t":"hello","v":1,"site":other,"role":"agent","token":token}))
        .await;
    o.recv_type("welcome").await;
    o.send(json!({"t":"reopen","conv":c1})).await;
    assert_eq!(o.recv_type("err").await["code"], "unknown_conv");

    a.send(json!({"t":"reopen","conv":c1})).await;
    assert_eq!(a.recv_type("assigned").await["conv"], c1);
    let e = entry_of_kind(&mut v, "reopen").await;
    assert_eq!(
        (e["sender"].clone(), e["body"].as_str()),
        (json!(format!("a{aid}")), Some("Admin"))
    );
    // The visitor's next message goes on in the same conversation.
    v.msg("m2", "thanks for coming back").await;
    let m = entry_of_kind(&mut v, "msg").await;
    assert_eq!(
        (&m["conv"], m["body"].as_str()),
        (&c1, Some("thanks for coming back"))
    );
    let stored: Vec<String> = srv
        .stored(c1.as_i64().unwrap())
        .iter()
        .map(|e| e.kind.to_string())
        .collect();
    assert_eq!(stored, ["msg", "join", "close", "reopen", "msg"]);

    // Closed again, and the visitor starts a new conversation: the old one cannot be
    // reopened while the new one is open.
    a.send(json!({"t":"close","conv":c1})).await;
    entry_of_kind(&mut v, "close").await;
    v.msg("m3", "another question").await;
    // The new conversation is opened in the same transaction as the message: its ack
    // and the `conv` frame come in either order (stored before the agent acts on it).
    let (mut c2, mut acked) = (Value::Null, Value::Null);
    while c2.is_null() || acked.is_null() {
        let f = v.recv().await;
        match f["t"].as_str() {
            Some("conv") => c2 = f["conv"].clone(),
            Some("ack") if f["cid"] == "m3" => acked = f["conv"].clone(),
            _ => {}
        }
    }
    assert_ne!(c2, c1);
    assert_eq!(acked, c2);
    a.send(json!({"t":"reopen","conv":c1})).await;
    let err = a.recv_type("err").await;
    assert_eq!(err["code"], "bad_frame");
    assert!(err["msg"]
        .as_str()
        .unwrap()
        .contains("another open conversation"));
    // Once that one is closed too, the old one comes back to the visitor's tab, which
    // moved on to the new one: it is told (`conv`) and gets the old stream from the start.
    a.send(json!({"t":"close","conv":c2})).await;
    entry_of_kind(&mut v, "close").await;
    a.send(json!({"t":"reopen","conv":c1})).await;
    assert_eq!(v.recv_type("conv").await["conv"], c1);
    let f = v.recv_type("following").await;
    assert_eq!(f["conv"], c1);
    let first = v.recv_type("e").await;
    assert_eq!((&first["conv"], first["off"].as_u64()), (&c1, Some(1)));
    v.msg("m4", "back to the first").await;
    let ack = v.recv_type("ack").await;
    assert_eq!((ack["cid"].as_str(), &ack["conv"]), (Some("m4"), &c1));
    srv.stop().await;
}
