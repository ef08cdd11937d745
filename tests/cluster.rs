//! A cluster on loopback: three `kefu` nodes and a routing server (`kefu router`) on one
//! database, visitors and agents of many sites chatting through the router over
//! WebSocket, long-poll and JSONP. One node is killed with SIGKILL (its sites move, its
//! clients re-route and resume), started again with the same id (sites rebalance back),
//! and another is stopped with SIGSTOP for longer than its leases, then continued (the
//! fence refuses what it still tries to write, and its clients go to the new owner).
//! Then: every message acknowledged is in the log once, in order, and every client saw
//! its conversations exactly as stored.
//!
//! The database is a SQLite file by default (the nodes share it on one machine); the
//! same tests run on a fresh PostgreSQL or MariaDB database when `KEFU_TEST_BACKEND`
//! names one (`support::temp_dir`), as `scripts/test.sh` does.

mod support;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use kefu::ids::{ConversationId, Offset};
use kefu::protocol::Role;
use kefu_load::net::{Target, Tr};
use kefu_load::{mix, verify};
use support::process::{self, Process};
use tokio::time::Instant;

const SITES: usize = 8;
const PASSWORD: &str = "cluster-test-pw";

fn env(db: &str, node: Option<&str>) -> Vec<(&'static str, String)> {
    let mut v = vec![
        ("KEFU_DATABASE_URL", db.to_string()),
        ("KEFU_ADMIN_PASSWORD", PASSWORD.to_string()),
        ("KEFU_NODE_BEAT_MS", "200".to_string()),
        ("KEFU_NODE_DEAD_BEATS", "3".to_string()),
        ("KEFU_HEARTBEAT_MS", "300".to_string()),
        ("KEFU_POLL_TIMEOUT_MS", "400".to_string()),
        ("KEFU_CHAN_IDLE_MS", "3000".to_string()),
        ("KEFU_LOG", "kefu=info".to_string()),
    ];
    if let Some(n) = node {
        v.push(("KEFU_NODE_ID", n.to_string()));
    }
    v
}

fn node(db: &str, id: &str, logs: &Path) -> Process {
    let log = logs.join(format!("{id}.log"));
    process::spawn_logged(&["serve"], &env(db, Some(id)), Some(&log))
}

/// Which node holds each site's lease now (live holders only).
fn holders(db: &str) -> HashMap<String, String> {
    let store = kefu::store::open(db, &kefu::store::Options::default()).unwrap();
    let now = kefu::store::now_ms();
    let sites = store.sites().unwrap();
    store
        .leases()
        .unwrap()
        .into_iter()
        .filter(|l| !l.node.is_empty() && l.expires_at >= now)
        .filter_map(|l| {
            let key = sites.iter().find(|s| s.id == l.site)?.key.clone();
            Some((key, l.node))
        })
        .collect()
}

/// Wait until every site is held by one of `nodes`.
async fn settled(db: &str, keys: &[String], nodes: &[&str]) -> HashMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let h = holders(db);
        if keys
            .iter()
            .all(|k| h.get(k).is_some_and(|n| nodes.contains(&n.as_str())))
        {
            return h;
        }
        assert!(
            Instant::now() < deadline,
            "sites not settled on {nodes:?}: {h:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The nodes' logs, for a failure's message.
fn node_logs(dir: &Path) -> String {
    ["a", "b", "c"]
        .iter()
        .map(|n| {
            let text = std::fs::read_to_string(dir.join(format!("{n}.log"))).unwrap_or_default();
            format!("--- {n}\n{text}")
        })
        .collect()
}

fn busiest<'a>(h: &HashMap<String, String>, among: &[&'a str]) -> &'a str {
    let count = |n: &str| h.values().filter(|x| *x == n).count();
    among.iter().copied().max_by_key(|n| count(n)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sites_move_without_loss_when_nodes_die_pause_and_return() {
    let dir = support::temp_dir();
    let db = support::database_url(dir.path());
    let logs = dir.path();
    let a = node(&db, "a", logs);
    let first = a.site.clone().expect("the first start creates a site");
    let mut keys = vec![first];
    for i in 1..SITES {
        let out = process::run(&["site", "add", &format!("site {i}")], &env(&db, None));
        let key = out
            .split_whitespace()
            .find(|w| w.starts_with("s_"))
            .expect("a key");
        keys.push(key.to_string());
    }
    for (i, key) in keys.iter().enumerate() {
        let email = format!("agent{i}@cluster.test");
        process::run(
            &[
                "agent",
                "add",
                "--site",
                key,
                "--email",
                &email,
                "--name",
                "Agent",
                "--password",
                PASSWORD,
            ],
            &env(&db, None),
        );
    }
    let mut nodes: HashMap<&str, Process> = HashMap::new();
    nodes.insert("a", a);
    nodes.insert("b", node(&db, "b", logs));
    nodes.insert("c", node(&db, "c", logs));
    let router = process::spawn(&["router"], &env(&db, None));
    let before = settled(&db, &keys, &["a", "b", "c"]).await;
    let used: HashSet<&String> = before.values().collect();
    assert!(
        used.len() >= 2,
        "rendezvous spread {SITES} sites: {before:?}"
    );

    // One run of visitors and an agent per site, every client routed by the router.
    let plan = mix::Mix {
        visitors: 2,
        per_visitor: 100,
        agents: 1,
        per_conv_agent: 8,
        window: 4,
        every: Some(Duration::from_millis(120)),
        transports: vec![Tr::Ws, Tr::Lp, Tr::Jsonp],
        dead_after: Duration::from_millis(2000),
        deadline: Instant::now() + Duration::from_secs(60),
        seed: 7,
        progress: None,
    };
    let mut runs = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let t = Target::routed(router.addr, key, vec![], Duration::from_millis(1400)).unwrap();
        t.reroute().await;
        let email = format!("agent{i}@cluster.test");
        let token = mix::login_site(&t, &email, PASSWORD).await.unwrap().0;
        let (key, plan) = (
            key.clone(),
            mix::Mix {
                seed: 7 + i as u64,
                ..plan.clone()
            },
        );
        runs.push(tokio::spawn(async move {
            mix::run(&t, &key, &[token], &plan).await
        }));
    }

    // kill -9 the busiest node: its sites go to the others.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let victim = busiest(&before, &["a", "b", "c"]);
    let rest: Vec<&str> = ["a", "b", "c"]
        .into_iter()
        .filter(|n| *n != victim)
        .collect();
    drop(nodes.remove(victim));
    let moved = settled(&db, &keys, &rest).await;
    // It comes back with the same id: the sites rendezvous gives it return to it.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    nodes.insert(victim, node(&db, victim, logs));
    let back = settled(&db, &keys, &["a", "b", "c"]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while holders(&db) != before {
        assert!(
            Instant::now() < deadline,
            "sites did not rebalance: {:?} vs {before:?}\n{}",
            holders(&db),
            node_logs(logs)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // SIGSTOP a node for longer than its leases; others take its sites; SIGCONT it.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let paused = busiest(&before, &rest);
    let others: Vec<&str> = ["a", "b", "c"]
        .into_iter()
        .filter(|n| *n != paused)
        .collect();
    nodes[paused].signal("-STOP");
    let stolen = settled(&db, &keys, &others).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    nodes[paused].signal("-CONT");

    let log = logs.join(format!("{paused}.log"));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(&log).unwrap();
        if text.contains("site lease lost") || text.contains("fenced") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the paused node never noticed it lost its sites:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut peers = Vec::new();
    for r in runs {
        peers.extend(r.await.unwrap());
    }
    drop(router);
    drop(nodes);

    let convs: Vec<ConversationId> = peers
        .iter()
        .filter(|p| p.role == Role::Visitor)
        .filter_map(|p| p.conv())
        .collect();
    assert_eq!(
        convs.len(),
        SITES * plan.visitors,
        "every visitor got a conversation"
    );
    let store = kefu::store::open(&db, &kefu::store::Options::default()).unwrap();
    let stored: HashMap<ConversationId, verify::Log> = convs
        .iter()
        .map(|&c| {
            let es = store.read_after(c, Offset(0), 1_000_000).unwrap();
            (c, es.into_iter().map(|e| (e.off, e.cid)).collect())
        })
        .collect();
    let verdict = verify::verify(&peers, &stored);
    let expected = (SITES * plan.visitors) as u64 * (plan.per_visitor + plan.per_conv_agent);
    assert!(verdict.clean(), "{verdict:#?}");
    assert_eq!(verdict.acknowledged, expected, "{verdict:#?}");
    assert_eq!(verdict.stored, expected, "{verdict:#?}");
    for p in &peers {
        for (conv, v) in &p.views {
            // Every message, and the log as stored up to the last entry it saw (the desk
            // of a site's new node may still add a `join` after a client is done).
            assert_eq!(
                v.msgs,
                plan.per_visitor + plan.per_conv_agent,
                "{} in conv {conv}",
                p.name
            );
            assert!(
                stored[conv].starts_with(&v.seen),
                "{} saw conv {conv} otherwise than stored: {:?} vs {:?}",
                p.name,
                v.seen,
                stored[conv]
            );
        }
    }
    let links: u64 = peers.iter().map(|p| p.stats.links).sum();
    eprintln!(
        "cluster: killed {victim}, paused {paused}; holders before {before:?}, after the kill \
         {moved:?}, back {back:?}, while paused {stolen:?}; {links} links; {verdict:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routers_and_nodes_refuse_what_is_not_theirs() {
    use serde_json::{json, Value};
    use support::http;

    let dir = support::temp_dir();
    let db = support::database_url(dir.path());
    let a = node(&db, "a", dir.path());
    let mut keys = vec![a.site.clone().unwrap()];
    for i in 1..6 {
        let out = process::run(&["site", "add", &format!("site {i}")], &env(&db, None));
        keys.push(
            out.split_whitespace()
                .find(|w| w.starts_with("s_"))
                .unwrap()
                .to_string(),
        );
    }
    let b = node(&db, "b", dir.path());
    let held = settled(&db, &keys, &["a", "b"]).await;
    let router = process::spawn(&["router"], &env(&db, None));

    // The router: every site's node, as JSON and as JSONP; unknown sites; nothing else.
    for key in &keys {
        let (s, _, body) = http(
            router.addr,
            "GET",
            &format!("/v1/route?site={key}"),
            &[],
            "",
        )
        .await;
        assert_eq!(s, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        let url = match held[key].as_str() {
            "a" => format!("http://{}", a.addr),
            _ => format!("http://{}", b.addr),
        };
        assert_eq!(v["node"], json!(held[key]), "{body}");
        assert_eq!(v["url"], json!(url), "{body}");
        assert_eq!(
            v["ws"],
            json!(format!("{}/v1/ws", url.replace("http://", "ws://")))
        );
    }
    let (s, _, body) = http(router.addr, "GET", "/v1/route?site=s_nosuchsite", &[], "").await;
    assert_eq!((s, body.contains("unknown_site")), (404, true), "{body}");
    let (s, _, body) = http(
        router.addr,
        "GET",
        "/v1/route?site=s_nosuchsite&cb=cb",
        &[],
        "",
    )
    .await;
    assert_eq!(
        s, 404,
        "JSONP refusals carry their status, as on every JSONP endpoint"
    );
    assert!(
        support::unwrap_jsonp(&body)["error"] == "unknown_site",
        "{body}"
    );
    let (s, _, _) = http(router.addr, "GET", "/v1/route", &[], "").await;
    assert_eq!(s, 400);
    for path in ["/demo", "/v1/negotiate?site=x", "/console"] {
        let (s, _, _) = http(router.addr, "GET", path, &[], "").await;
        assert_eq!(s, 404, "a routing server answers only /v1/route: {path}");
    }

    // A client for a site the other node serves is sent there, on every transport.
    let (key, to) = held
        .iter()
        .find(|(_, n)| *n == "b")
        .expect("b serves a site");
    assert_eq!(to, "b");
    let hello = json!({"t": "hello", "v": 1, "site": key, "role": "visitor"});
    let mut ws = support::Client::connect(&format!("ws://{}/v1/ws", a.addr)).await;
    ws.send(hello.clone()).await;
    let bye = ws.recv_type("bye").await;
    assert_eq!(bye["code"], 4005, "{bye}");
    assert_eq!(bye["url"], json!(format!("http://{}", b.addr)), "{bye}");
    assert_eq!(ws.closed_with().await, 4005);
    for kind in ["lp", "jsonp"] {
        let mut ch = support::HttpClient::open(a.addr, kind, &hello).await;
        let bye = ch.recv_type("bye").await;
        assert_eq!(
            (bye["code"].clone(), bye["url"].clone()),
            (json!(4005), json!(format!("http://{}", b.addr))),
            "{kind}: {bye}"
        );
    }
    // On the node that serves it, the same hello is welcome.
    let mut ws = support::Client::connect(&format!("ws://{}/v1/ws", b.addr)).await;
    ws.hello(key, None, None).await;

    // The console of any node reaches the node serving its site; the API of a node that
    // does not serve it sends appends there (421 with its URL).
    let admin_site = &keys[0];
    let (serving, other) = match held[admin_site].as_str() {
        "a" => (&a, &b),
        _ => (&b, &a),
    };
    let (s, signed_in) = support::login_at(other.addr, "admin@localhost", PASSWORD).await;
    assert_eq!(s, 200, "{signed_in}");
    let token = signed_in["token"].as_str().unwrap().to_string();
    let other_url = format!("http://{}", other.addr);
    let mut agent =
        support::Client::connect_with(&format!("ws://{}/v1/ws", serving.addr), Some(&other_url))
            .await
            .unwrap();
    agent
        .send(json!({"t": "hello", "v": 1, "site": admin_site, "role": "agent", "token": token}))
        .await;
    agent.recv_type("welcome").await;
    // A page of any other origin is no console.
    let mut stranger = support::Client::connect_with(
        &format!("ws://{}/v1/ws", serving.addr),
        Some("http://stranger.example"),
    )
    .await
    .unwrap();
    stranger
        .send(json!({"t": "hello", "v": 1, "site": admin_site, "role": "agent", "token": token}))
        .await;
    assert_eq!(stranger.closed_with().await, 4102);
    let auth = format!("Bearer {token}");
    let (s, _, answer) = http(
        other.addr,
        "POST",
        "/v1/conversations/1/messages",
        &[
            ("content-type", "application/json"),
            ("authorization", &auth),
        ],
        r#"{"cid":"rest-moved-1","body":"hello"}"#,
    )
    .await;
    let v: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(s, 421, "{answer}");
    assert_eq!(
        (v["error"].clone(), v["url"].clone()),
        (json!("moved"), json!(format!("http://{}", serving.addr))),
        "{answer}"
    );

    // A second process with a live node's id is refused, saying why.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kefu"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .envs(env(&db, Some("b")))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a clashing node id started");
    assert!(
        err.contains("node id \"b\" is in use by a live node"),
        "{err}"
    );
    // `kefu nodes` lists both, live, with their sites.
    let listed = process::run(&["nodes"], &env(&db, None));
    for (id, n) in [("a", &a), ("b", &b)] {
        let line = listed
            .lines()
            .find(|l| l.starts_with(&format!("{id}\t")))
            .unwrap();
        assert!(
            line.contains("\tlive\t") && line.contains(&n.addr.to_string()),
            "{listed}"
        );
        for (k, holder) in &held {
            assert_eq!(line.contains(k.as_str()), holder == id, "{listed}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_stops_cleanly_hands_its_sites_over_at_once() {
    use serde_json::json;

    let dir = support::temp_dir();
    let db = support::database_url(dir.path());
    // Long leases: only a release moves the sites quickly.
    let slow = |id| {
        let mut e = env(&db, Some(id));
        e.push(("KEFU_NODE_DEAD_BEATS", "50".to_string()));
        e
    };
    let a = process::spawn(&["serve"], &slow("a"));
    let key = a.site.clone().unwrap();
    let b = process::spawn(&["serve"], &slow("b"));
    let start = Instant::now();
    let holder = loop {
        if let Some(n) = holders(&db).get(&key) {
            break n.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "nobody took the site"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (stopping, staying) = if holder == "a" { (a, b) } else { (b, a) };
    let mut ws = support::Client::connect(&format!("ws://{}/v1/ws", stopping.addr)).await;
    ws.hello(&key, None, None).await;
    let stopped = Instant::now();
    stopping.signal("-TERM");
    let bye = ws.recv_type("bye").await;
    assert_eq!(
        (bye["code"].clone(), bye["url"].clone()),
        (json!(4005), json!("")),
        "{bye}"
    );
    // The other node holds the site long before the stopped node's lease (10 s) ran out.
    let other = if holder == "a" { "b" } else { "a" };
    loop {
        if holders(&db).get(&key).map(String::as_str) == Some(other) {
            break;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(5),
            "the site did not move at once"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut ws = support::Client::connect(&format!("ws://{}/v1/ws", staying.addr)).await;
    ws.hello(&key, None, None).await;
    eprintln!("clean stop: site moved in {:?}", stopped.elapsed());
}
