//! Nothing durable is dropped: entries the server makes (reads, desk entries, accepted
//! invitations) are stored once, in their conversation, across many conversations and
//! restarts on one database; a cid from another conversation is refused, not taken for a
//! duplicate.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use kefu::vocab::{EntryKind, Sender};
use serde_json::{json, Value};
use support::*;

fn open_store(srv: &TestServer) -> Box<dyn kefu::store::Store> {
    kefu::store::open(&srv.db_url, &kefu::store::Options::default()).unwrap()
}

fn add_agent(srv: &TestServer, email: &str, name: &str) {
    let store = open_store(srv);
    let site = store.site_by_key(&srv.site_key).unwrap().unwrap();
    let hash = kefu::core::auth::hash_password(&format!("pw-{email}")).unwrap();
    store
        .add_agent(site.id, email, name, kefu::vocab::AgentRole::Agent, &hash)
        .unwrap();
}

/// Signed in and connected: `(client, agent id, API token)`.
async fn agent(srv: &TestServer, email: &str, password: &str) -> (Client, i64, String) {
    let (s, b) = login(srv, email, password).await;
    assert_eq!(s, 200, "{b}");
    let token = b["token"].as_str().unwrap().to_string();
    let mut a = Client::connect(&srv.ws_url()).await;
    a.send(json!({"t":"hello","v":1,"site":srv.site_key,"role":"agent","token":token}))
        .await;
    a.recv_type("welcome").await;
    (a, b["agent"]["id"].as_i64().unwrap(), token)
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

/// Follow `conv` from the start, and wait until `upto` was sent to this connection.
async fn follow_upto(c: &mut Client, conv: i64, upto: u64) {
    c.send(json!({"t":"follow","conv":conv,"after":0})).await;
    loop {
        let e = c.recv_type("e").await;
        if e["conv"] == conv && e["off"].as_u64().unwrap() >= upto {
            return;
        }
    }
}

/// Wait until `conv` holds `n` entries in the store.
async fn stored_len(srv: &TestServer, conv: i64, n: usize) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let have = srv.stored(conv).len();
        if have >= n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "conversation {conv} holds {have} entries, expected {n}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What the test expects each conversation to hold, in order: `(kind, sender)`.
type Expected = BTreeMap<i64, Vec<(String, String)>>;

fn expect(x: &mut Expected, conv: i64, kind: &str, sender: &str) {
    x.entry(conv)
        .or_default()
        .push((kind.to_string(), sender.to_string()));
}

#[tokio::test]
async fn server_made_entries_survive_many_restarts_once_each() {
    const RUNS: usize = 4;
    let dir = temp_dir();
    let tweak = |c: &mut kefu::config::Config| {
        c.agent_capacity = 100;
        c.idle_close_ms = 0;
    };
    let mut x = Expected::new();
    // Conversations that stay open from one run to the next: (visitor token, conv, owner).
    let mut carried: Vec<(String, i64, String)> = Vec::new();
    let mut serial = 0;
    for run in 0..RUNS {
        let srv = start_with(dir.path(), tweak).await;
        if run == 0 {
            add_agent(&srv, "bea@shop", "Bea");
        }
        let (a, a_id, api_token) = agent(&srv, "admin@localhost", "test-password").await;
        let (b, b_id, _) = agent(&srv, "bea@shop", "pw-bea@shop").await;
        let mut agents: BTreeMap<String, Client> = BTreeMap::new();
        agents.insert(format!("a{a_id}"), a);
        agents.insert(format!("a{b_id}"), b);
        let other = |s: &str| {
            if s == format!("a{a_id}") {
                format!("a{b_id}")
            } else {
                format!("a{a_id}")
            }
        };

        // The console's view after the restart: every carried conversation keeps its owner.
        let (s, list) = api(&srv, "GET", "/v1/conversations", &api_token, None).await;
        assert_eq!(s, 200, "{list}");
        for (_, conv, owner) in &carried {
            let c = list["conversations"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["conv"] == *conv)
                .unwrap_or_else(|| panic!("conversation {conv} listed: {list}"));
            assert_eq!(
                format!("a{}", c["owner"]),
                *owner,
                "run {run}: the owner of {conv} survives the restart: {c}"
            );
        }
        // Their visitors come back and write on: no new `join`, same conversation.
        for (token, conv, _) in &carried {
            let mut v = Client::connect(&srv.ws_url()).await;
            let w = v.hello(&srv.site_key, Some(token), None).await;
            assert_eq!(w["conv"], *conv, "{w}");
            serial += 1;
            v.msg(&format!("back{serial}"), "I am back").await;
            let ack = v.recv_type("ack").await;
            assert_eq!(ack["conv"], *conv);
            assert_eq!(ack["dup"], false);
            expect(
                &mut x,
                *conv,
                "msg",
                &format!("v{}", stored_visitor(&srv, *conv)),
            );
            stored_len(&srv, *conv, x[conv].len()).await;
        }
        let mut carry_next = Vec::new();

        let mut opened = Vec::new();
        for _ in 0..3 {
            let mut v = Client::connect(&srv.ws_url()).await;
            let w = v.hello(&srv.site_key, None, None).await;
            let token = w["visitor"].as_str().unwrap().to_string();
            serial += 1;
            v.msg(&format!("hi{serial}"), "hello").await;
            let conv = v.opened().await.0["conv"].as_i64().unwrap();
            let join = entry_of_kind(&mut v, "join").await;
            let owner = join["sender"].as_str().unwrap().to_string();
            let vs = format!("v{}", stored_visitor(&srv, conv));
            expect(&mut x, conv, "msg", &vs);
            expect(&mut x, conv, "join", &owner);

            // The owner reads the message, answers; the visitor reads the answer.
            let ag = agents.get_mut(&owner).unwrap();
            follow_upto(ag, conv, 2).await;
            ag.send(json!({"t":"read","conv":conv,"upto":1})).await;
            let ack = ag.recv_type("ack").await;
            assert_eq!(
                (
                    ack["cid"].as_str(),
                    ack["conv"].as_i64(),
                    ack["dup"].as_bool()
                ),
                (
                    Some(format!("read:{conv}:1").as_str()),
                    Some(conv),
                    Some(false)
                ),
                "run {run}: {ack}"
            );
            expect(&mut x, conv, "read", &owner);
            let r = entry_of_kind(&mut v, "read").await;
            assert_eq!(r["upto"], 1);
            serial += 1;
            ag.send(json!({"t":"msg","conv":conv,"cid":format!("re{serial}"),"body":"hi!"}))
                .await;
            let off = ag.recv_type("ack").await["off"].as_u64().unwrap();
            expect(&mut x, conv, "msg", &owner);
            loop {
                let e = entry_of_kind(&mut v, "msg").await;
                if e["off"] == off {
                    break;
                }
            }
            v.send(json!({"t":"read","upto":off})).await;
            let ack = v.recv_type("ack").await;
            assert_eq!(ack["cid"], format!("read:{conv}:{off}"));
            assert_eq!(ack["dup"], false, "{ack}");
            expect(&mut x, conv, "read", &vs);
            let seen = entry_of_kind(agents.get_mut(&owner).unwrap(), "read").await;
            assert_eq!(
                (seen["conv"].as_i64(), seen["upto"].as_u64()),
                (Some(conv), Some(off))
            );
            opened.push((token, conv, owner, v));
        }

        // The first is transferred and stays open into the next run.
        let (token, conv, owner, mut v) = opened.remove(0);
        let to = other(&owner);
        agents
            .get_mut(&owner)
            .unwrap()
            .send(json!({"t":"transfer","conv":conv,"to":to[1..].parse::<i64>().unwrap()}))
            .await;
        let t = entry_of_kind(&mut v, "transfer").await;
        assert_eq!(t["sender"], to.as_str());
        expect(&mut x, conv, "transfer", &to);
        carry_next.push((token, conv, to.clone()));

        // The second is closed, then reopened by the other agent, and stays open.
        let (token, conv, owner, mut v) = opened.remove(0);
        agents
            .get_mut(&owner)
            .unwrap()
            .send(json!({"t":"close","conv":conv}))
            .await;
        entry_of_kind(&mut v, "close").await;
        expect(&mut x, conv, "close", &owner);
        stored_len(&srv, conv, x[&conv].len()).await;
        let re = other(&owner);
        agents
            .get_mut(&re)
            .unwrap()
            .send(json!({"t":"reopen","conv":conv}))
            .await;
        expect(&mut x, conv, "reopen", &re);
        stored_len(&srv, conv, x[&conv].len()).await;
        carry_next.push((token, conv, re));

        // The third is closed for good.
        let (_, conv, owner, mut v) = opened.remove(0);
        agents
            .get_mut(&owner)
            .unwrap()
            .send(json!({"t":"close","conv":conv}))
            .await;
        entry_of_kind(&mut v, "close").await;
        expect(&mut x, conv, "close", &owner);

        // An invitation, accepted: its text opens the conversation, then the inviter joins.
        let inviter = format!("a{a_id}");
        let mut v = Client::connect(&srv.ws_url()).await;
        let w = v.hello(&srv.site_key, None, None).await;
        let session = w["session"].as_str().unwrap().to_string();
        let ag = agents.get_mut(&inviter).unwrap();
        let inv = loop {
            ag.send(json!({"t":"invite","visitor":session,"text":"May I help?"}))
                .await;
            // The visitor's presence may reach the desk a moment after its welcome.
            match tokio::time::timeout(Duration::from_millis(500), v.recv_type("invite")).await {
                Ok(inv) => break inv,
                Err(_) => continue,
            }
        };
        v.send(json!({"t":"invite_reply","id":inv["id"],"accept":true}))
            .await;
        let conv = v.recv_type("conv").await["conv"].as_i64().unwrap();
        expect(&mut x, conv, "msg", &inviter);
        expect(&mut x, conv, "join", &inviter);
        stored_len(&srv, conv, 2).await;

        for (_, conv, _) in &carried {
            stored_len(&srv, *conv, x[conv].len()).await;
        }
        carried = carry_next;
        drop(agents);
        srv.stop().await;
    }

    // Every entry the test caused is stored once, in its conversation, in order.
    let srv = start_with(dir.path(), tweak).await;
    let mut keys = std::collections::BTreeSet::new();
    for (conv, want) in &x {
        let got: Vec<(String, String)> = srv
            .stored(*conv)
            .iter()
            .map(|e| (e.kind.to_string(), e.sender.to_string()))
            .collect();
        assert_eq!(&got, want, "conversation {conv}");
        for e in srv.stored(*conv) {
            assert!(
                keys.insert((e.sender.to_string(), e.cid.clone())),
                "(sender, cid) {:?} is stored once in the whole log",
                (e.sender, e.cid)
            );
        }
    }
    assert_eq!(x.len(), RUNS * 4);
    // The console's view: owners and loads match the conversations still open.
    let (mut a, _, api_token) = agent(&srv, "admin@localhost", "test-password").await;
    let (_, list) = api(&srv, "GET", "/v1/conversations", &api_token, None).await;
    let open_owned: Vec<(i64, String)> = list["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["conv"].as_i64().unwrap(), format!("a{}", c["owner"])))
        .collect();
    let mut want: Vec<(i64, String)> = carried.iter().map(|(_, c, o)| (*c, o.clone())).collect();
    // Conversations carried out of earlier runs stay open too (nobody closed them).
    let mut all_open: Vec<(i64, String)> = open_owned.clone();
    all_open.sort();
    want.sort();
    for w in &want {
        assert!(all_open.contains(w), "{w:?} is open and owned: {list}");
    }
    let team = a.recv_type("team").await;
    let loads: u64 = team["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["load"].as_u64().unwrap_or(0))
        .sum();
    // The admin is the only one online now; its load counts its own open conversations.
    let mine = all_open
        .iter()
        .filter(|(_, o)| {
            team["agents"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| format!("a{}", m["id"]) == *o)
        })
        .count() as u64;
    assert_eq!(loads, mine, "{team} / {all_open:?}");
    srv.stop().await;
}

/// The visitor id (`v<id>` sender) of a conversation, from the store.
fn stored_visitor(srv: &TestServer, conv: i64) -> String {
    let e = srv.stored(conv);
    e.iter()
        .find_map(|e| match e.sender {
            Sender::Visitor(v) => Some(v.to_string()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("conversation {conv} has a visitor entry"))
}

#[tokio::test]
async fn read_receipts_reach_the_other_side_in_every_conversation() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| c.idle_close_ms = 0).await;
    let (mut a, _, _) = agent(&srv, "admin@localhost", "test-password").await;
    let mut v = Client::connect(&srv.ws_url()).await;
    let w = v.hello(&srv.site_key, None, None).await;
    let token = w["visitor"].as_str().unwrap().to_string();
    let mut convs = Vec::new();
    for n in 1..=10 {
        v.msg(&format!("q{n}"), "a question").await;
        let conv = v.opened().await.0["conv"].as_i64().unwrap();
        assert!(!convs.contains(&conv), "a new conversation each time");
        convs.push(conv);
        follow_upto(&mut a, conv, 2).await;
        // The agent reads the question (offset 1): the visitor sees it.
        a.send(json!({"t":"read","conv":conv,"upto":1})).await;
        let ack = a.recv_type("ack").await;
        assert_eq!(ack["dup"], false, "conversation {n}: {ack}");
        assert_eq!(ack["conv"], conv, "conversation {n}: {ack}");
        let r = entry_of_kind(&mut v, "read").await;
        assert_eq!(
            (r["conv"].as_i64(), r["upto"].as_u64()),
            (Some(conv), Some(1))
        );
        // The agent answers, the visitor reads the answer: the agent sees it.
        a.send(json!({"t":"msg","conv":conv,"cid":format!("r{n}"),"body":"an answer"}))
            .await;
        let off = a.recv_type("ack").await["off"].as_u64().unwrap();
        loop {
            if entry_of_kind(&mut v, "msg").await["off"] == off {
                break;
            }
        }
        v.send(json!({"t":"read","upto":off})).await;
        let ack = v.recv_type("ack").await;
        assert_eq!(ack["dup"], false, "conversation {n}: {ack}");
        let r = entry_of_kind(&mut a, "read").await;
        assert_eq!(
            (r["conv"].as_i64(), r["upto"].as_u64()),
            (Some(conv), Some(off))
        );
        // Closed, so the visitor's next message opens the next conversation.
        a.send(json!({"t":"close","conv":conv})).await;
        entry_of_kind(&mut v, "close").await;
    }
    for conv in &convs {
        let reads: Vec<_> = srv
            .stored(*conv)
            .into_iter()
            .filter(|e| e.kind == EntryKind::Read)
            .map(|e| (e.role, e.upto.map(|u| u.0)))
            .collect();
        assert_eq!(reads.len(), 2, "conversation {conv}: {reads:?}");
    }

    // A cid from another conversation is refused, over WebSocket and REST, for agents and
    // visitors alike; nothing is stored for it.
    let (last, first) = (*convs.last().unwrap(), convs[0]);
    a.send(json!({"t":"reopen","conv":last})).await;
    stored_len(&srv, last, srv.stored(last).len() + 1).await;
    a.send(json!({"t":"msg","conv":last,"cid":"r1","body":"again"}))
        .await;
    let e = a.recv_type("err").await;
    assert_eq!(
        (
            e["code"].as_str(),
            e["of"].as_str(),
            e["cid"].as_str(),
            e["conv"].as_i64()
        ),
        (Some("cid_taken"), Some("msg"), Some("r1"), Some(last)),
        "{e}"
    );
    let (_, _, api_token) = agent(&srv, "admin@localhost", "test-password").await;
    let path = format!("/v1/conversations/{last}/messages");
    let (s, b) = api(
        &srv,
        "POST",
        &path,
        &api_token,
        Some(json!({"cid":"r2","body":"x"})),
    )
    .await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(b["error"], "cid_taken", "{b}");
    let (s, b) = api(
        &srv,
        "POST",
        &path,
        &api_token,
        Some(json!({"cid":"fresh","body":"x"})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let mut v2 = Client::connect(&srv.ws_url()).await;
    let w = v2.hello(&srv.site_key, Some(&token), None).await;
    assert_eq!(w["conv"], last);
    // Without naming a conversation, a visitor's resend of an old cid is that old
    // message (stored once, maybe before its conversation was closed)…
    v2.msg("q1", "the first question's cid").await;
    let dup = v2.recv_type("ack").await;
    assert_eq!(
        (dup["dup"].as_bool(), dup["conv"].as_i64()),
        (Some(true), Some(first)),
        "{dup}"
    );
    // …naming the conversation it writes to, it is refused.
    v2.send(json!({"t":"msg","conv":last,"cid":"q1","body":"the first question's cid"}))
        .await;
    let e = v2.recv_type("err").await;
    assert_eq!(
        (e["code"].as_str(), e["cid"].as_str()),
        (Some("cid_taken"), Some("q1")),
        "{e}"
    );
    assert!(
        srv.stored(last)
            .iter()
            .all(|e| e.cid != "q1" && e.cid != "r1" && e.cid != "r2"),
        "nothing stored for a taken cid"
    );
    assert_eq!(
        srv.stored(first).iter().filter(|e| e.cid == "q1").count(),
        1
    );
    srv.stop().await;
}

#[tokio::test]
async fn a_waiting_conversation_is_taken_by_one_agent() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| c.agent_capacity = 1).await;
    add_agent(&srv, "bea@shop", "Bea");
    let (mut a, a_id, _) = agent(&srv, "admin@localhost", "test-password").await;
    let (mut b, _, _) = agent(&srv, "bea@shop", "pw-bea@shop").await;
    // Both agents are busy with one conversation each: the third waits.
    let mut vs = Vec::new();
    for n in 0..2 {
        let mut v = Client::connect(&srv.ws_url()).await;
        v.hello(&srv.site_key, None, None).await;
        v.msg(&format!("busy{n}"), "hi").await;
        v.opened().await;
        entry_of_kind(&mut v, "join").await;
        vs.push(v);
    }
    let mut v = Client::connect(&srv.ws_url()).await;
    v.hello(&srv.site_key, None, None).await;
    v.msg("wait", "anyone?").await;
    let conv = v.opened().await.0["conv"].as_i64().unwrap();
    assert_eq!(v.recv_type("queue").await["position"], 1);
    // Bea may not take what does not exist; the admin takes the waiting one.
    b.send(json!({"t":"take","conv":999_999})).await;
    assert_eq!(b.recv_type("err").await["code"], "unknown_conv");
    a.send(json!({"t":"take","conv":conv})).await;
    // The visitor is told it no longer waits, and who joined (in either order).
    let (mut join, mut left_queue) = (None, false);
    while join.is_none() || !left_queue {
        let f = v.recv().await;
        if f["t"] == "e" && f["kind"] == "join" {
            join = Some(f);
        } else if f["t"] == "queue" {
            left_queue = f["position"] == 0;
        }
    }
    let j = join.unwrap();
    assert_eq!(
        (j["sender"].as_str(), j["body"].as_str()),
        (Some(format!("a{a_id}").as_str()), Some("Admin"))
    );
    // Too late for Bea: it is the admin's now.
    b.send(json!({"t":"take","conv":conv})).await;
    let e = b.recv_type("err").await;
    assert_eq!(
        (e["code"].as_str(), e["of"].as_str(), e["conv"].as_i64()),
        (Some("owned"), Some("take"), Some(conv)),
        "{e}"
    );
    // Taking it again changes nothing: one join.
    a.send(json!({"t":"take","conv":conv})).await;
    a.send(json!({"t":"ping"})).await;
    a.recv_type("pong").await;
    let joins = srv
        .stored(conv)
        .iter()
        .filter(|e| e.kind == EntryKind::Join)
        .count();
    assert_eq!(joins, 1);
    srv.stop().await;
}

#[tokio::test]
async fn a_conversation_the_visitor_left_is_closed_when_idle() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| c.idle_close_ms = 1500).await;
    let (mut a, a_id, _) = agent(&srv, "admin@localhost", "test-password").await;
    let mut v = Client::connect(&srv.ws_url()).await;
    v.hello(&srv.site_key, None, None).await;
    v.msg("m", "hi").await;
    let conv = v.opened().await.0["conv"].as_i64().unwrap();
    entry_of_kind(&mut v, "join").await;
    // While the visitor is here it stays open, however quiet.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(srv.stored(conv).iter().all(|e| e.kind != EntryKind::Close));
    drop(v);
    follow_upto(&mut a, conv, 2).await;
    // The `close` entry, and the team's loads going down (in either order).
    let (mut close, mut team) = (None, None);
    while close.is_none() || team.is_none() {
        let f = a.recv().await;
        if f["t"] == "e" && f["kind"] == "close" {
            close = Some(f);
        } else if f["t"] == "team" && f["agents"][0]["load"] == 0 {
            team = Some(f);
        }
    }
    let c = close.unwrap();
    assert_eq!(
        (c["conv"].as_i64(), c["sender"].as_str(), c["role"].as_str()),
        (Some(conv), Some("kefu"), Some("system")),
        "{c}"
    );
    assert_eq!(team.unwrap()["agents"][0]["id"], a_id);
    let closes = srv
        .stored(conv)
        .iter()
        .filter(|e| e.kind == EntryKind::Close)
        .count();
    assert_eq!(closes, 1);
    srv.stop().await;
}
