//! Agents on the gateway: sign-in, two-way chat with a visitor, tenant isolation.

mod support;

use serde_json::{json, Value};
use support::*;

async fn agent(srv: &TestServer, site: &str, token: &str) -> Client {
    let mut a = Client::connect(&srv.ws_url()).await;
    a.send(json!({"t":"hello","v":1,"site":site,"role":"agent","token":token}))
        .await;
    let w = a.recv_type("welcome").await;
    assert!(w["visitor"].is_null());
    a
}

#[tokio::test]
async fn an_agent_and_a_visitor_chat_both_ways() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let (s, body) = login(&srv, "admin@localhost", "test-password").await;
    assert_eq!(s, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    assert_eq!(body["agent"]["site"], srv.site_key);

    let mut v = Client::connect(&srv.ws_url()).await;
    v.hello(&srv.site_key, None, None).await;
    v.msg("v1", "Is anyone there?").await;
    let conv = v.recv_type("conv").await["conv"].clone();

    let (s, _, list) = http(
        srv.addr,
        "GET",
        "/v1/conversations",
        &[("authorization", &format!("Bearer {token}"))],
        "",
    )
    .await;
    assert_eq!(s, 200);
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["conversations"][0]["conv"], conv);

    let mut a = agent(&srv, &srv.site_key, &token).await;
    a.send(json!({"t":"follow","conv":conv,"after":0})).await;
    let e = a.recv_type("e").await;
    assert_eq!(
        (e["cid"].as_str(), e["role"].as_str()),
        (Some("v1"), Some("visitor"))
    );
    a.send(json!({"t":"msg","conv":conv,"cid":"a1","body":"Hello, how can I help?"}))
        .await;
    let ack = a.recv_type("ack").await;
    // Offset 2 is the desk's `join` (the admin was assigned when it came on line).
    assert_eq!(ack["off"], 3);
    let e = loop {
        let e = v.recv_type("e").await;
        if e["kind"] == "msg" && e["role"] == "agent" {
            break e;
        }
    };
    assert_eq!(e["off"], ack["off"]);
    assert_eq!(e["role"], "agent");
    assert_eq!(e["body"], "Hello, how can I help?");
    assert!(e["sender"].as_str().unwrap().starts_with('a'));
    // An agent must name the conversation.
    a.send(json!({"t":"msg","cid":"a2","body":"where?"})).await;
    assert_eq!(a.recv_type("err").await["code"], "bad_frame");

    // History through the API.
    let (s, _, h) = http(
        srv.addr,
        "GET",
        &format!("/v1/conversations/{conv}/entries?after=2&token={token}"),
        &[],
        "",
    )
    .await;
    assert_eq!(s, 200);
    let h: Value = serde_json::from_str(&h).unwrap();
    assert_eq!(h["entries"].as_array().unwrap().len(), 1);
    assert_eq!(h["entries"][0]["cid"], "a1");
    srv.stop().await;
}

/// The id of agent `email` (on any site).
fn a_id(srv: &TestServer, email: &str) -> i64 {
    let store = kefu::store::open(&srv.db_url, &kefu::store::Options::default()).unwrap();
    store.agents_by_email(email).unwrap()[0].0.id.0
}

#[tokio::test]
async fn an_agent_never_reaches_another_sites_conversations() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let other_key = second_site(&srv);
    let mut v = Client::connect(&srv.ws_url()).await;
    v.hello(&srv.site_key, None, None).await;
    v.msg("v1", "private").await;
    let conv = v.recv_type("conv").await["conv"].clone();

    let (s, body) = login(&srv, "agent@other", "other-pw").await;
    assert_eq!(s, 200);
    let token = body["token"].as_str().unwrap().to_string();
    // Its token does not open the first site.
    let mut wrong = Client::connect(&srv.ws_url()).await;
    wrong
        .send(json!({"t":"hello","v":1,"site":srv.site_key,"role":"agent","token":token}))
        .await;
    assert_eq!(wrong.closed_with().await, 4103);
    // On its own site it cannot follow or write to the first site's conversation.
    let mut a = agent(&srv, &other_key, &token).await;
    a.send(json!({"t":"follow","conv":conv,"after":0})).await;
    assert_eq!(a.recv_type("err").await["code"], "unknown_conv");
    a.send(json!({"t":"msg","conv":conv,"cid":"x","body":"hi"}))
        .await;
    assert_eq!(a.recv_type("err").await["code"], "unknown_conv");
    // Every other frame naming the conversation is refused the same way.
    let me = a_id(&srv, "agent@other");
    for f in [
        json!({"t":"typing","conv":conv,"on":true}),
        json!({"t":"read","conv":conv,"upto":1}),
        json!({"t":"ack","conv":conv,"off":1}),
        json!({"t":"transfer","conv":conv,"to":me}),
        json!({"t":"close","conv":conv}),
        json!({"t":"reopen","conv":conv}),
    ] {
        a.send(f.clone()).await;
        let err = a.recv_type("err").await;
        assert_eq!(err["code"], "unknown_conv", "{f} → {err}");
    }
    // It does not see the first site's visitor, and cannot invite it.
    let (s, body) = login(&srv, "admin@localhost", "test-password").await;
    assert_eq!(s, 200);
    let mut admin = agent(&srv, &srv.site_key, body["token"].as_str().unwrap()).await;
    let list = admin.recv_type("visitors").await;
    let vid = list["list"][0]["id"].clone();
    assert!(vid.is_string(), "{list}");
    a.send(json!({"t":"invite","visitor":vid,"text":"psst"}))
        .await;
    assert_eq!(a.recv_type("err").await["code"], "unknown_visitor");
    v.expect_none("invite", std::time::Duration::from_millis(300))
        .await;
    // Nor can the first site's admin hand the conversation to the other site's agent.
    admin
        .send(json!({"t":"transfer","conv":conv,"to":me}))
        .await;
    assert_eq!(admin.recv_type("err").await["code"], "unknown_agent");
    // Nor through the API.
    let auth = format!("Bearer {token}");
    let (s, _, list) = http(
        srv.addr,
        "GET",
        "/v1/conversations",
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&list).unwrap()["conversations"],
        json!([])
    );
    let (s, _, _) = http(
        srv.addr,
        "GET",
        &format!("/v1/conversations/{conv}/entries"),
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(s, 404);
    // Only the visitor's message and the first site's admin taking it are stored.
    let kinds: Vec<String> = srv
        .stored(conv.as_i64().unwrap())
        .into_iter()
        .map(|e| format!("{}:{}", e.kind, e.sender))
        .collect();
    assert_eq!(kinds, ["msg:v1".to_string(), "join:a1".to_string()]);
    srv.stop().await;
}

#[tokio::test]
async fn bad_passwords_forged_and_revoked_tokens_are_refused() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| c.login_max_failures = 3).await;
    for _ in 0..3 {
        let (s, b) = login(&srv, "admin@localhost", "nope").await;
        assert_eq!(s, 401, "{b}");
    }
    let (s, b) = login(&srv, "admin@localhost", "test-password").await;
    assert_eq!(s, 429, "rate limited even with the right password: {b}");
    let (s, _, _) = http(srv.addr, "POST", "/v1/login", &[], "{not json").await;
    assert_eq!(s, 400);
    let (s, _, _) = http(
        srv.addr,
        "GET",
        "/v1/conversations",
        &[("authorization", "Bearer forged")],
        "",
    )
    .await;
    assert_eq!(s, 401);
    let (s, _, _) = http(srv.addr, "GET", "/v1/conversations", &[], "").await;
    assert_eq!(s, 401);
    srv.stop().await;

    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let (_, body) = login(&srv, "admin@localhost", "test-password").await;
    let token = body["token"].as_str().unwrap().to_string();
    let auth = format!("Bearer {token}");
    let (s, _, _) = http(
        srv.addr,
        "POST",
        "/v1/logout",
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, _) = http(
        srv.addr,
        "GET",
        "/v1/conversations",
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(s, 401, "revoked");
    let mut a = Client::connect(&srv.ws_url()).await;
    a.send(json!({"t":"hello","v":1,"site":srv.site_key,"role":"agent","token":token}))
        .await;
    assert_eq!(a.closed_with().await, 4103);
    srv.stop().await;
}

#[tokio::test]
async fn transcript_search_finds_text_literally_and_only_on_the_agents_site() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let other_key = second_site(&srv);
    let mut v = Client::connect(&srv.ws_url()).await;
    v.hello(&srv.site_key, None, None).await;
    for (cid, body) in [
        ("s1", "My order 100% never arrived"),
        ("s2", "order_id is A-17"),
        ("s3", "thanks"),
    ] {
        v.msg(cid, body).await;
        v.recv_type("ack").await;
    }
    let mut o = Client::connect(&srv.ws_url()).await;
    o.hello(&other_key, None, None).await;
    o.msg("o1", "another site's ORDER").await;
    o.recv_type("ack").await;

    let (_, body) = login(&srv, "admin@localhost", "test-password").await;
    let auth = format!("Bearer {}", body["token"].as_str().unwrap());
    let search = |q: &str| format!("/v1/search?q={}", enc(q));
    let (s, _, b) = http(
        srv.addr,
        "GET",
        &search("ORDER"),
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let hits: Value = serde_json::from_str(&b).unwrap();
    let cids: Vec<&str> = hits["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["cid"].as_str().unwrap())
        .collect();
    assert_eq!(cids, vec!["s2", "s1"], "newest first, this site only");
    // Wildcards are matched literally.
    let (_, _, b) = http(
        srv.addr,
        "GET",
        &search("0%"),
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&b).unwrap()["hits"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (_, _, b) = http(
        srv.addr,
        "GET",
        &search("r_i"),
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&b).unwrap()["hits"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (s, _, _) = http(
        srv.addr,
        "GET",
        &search("x"),
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(s, 400, "too short");
    let (s, _, _) = http(srv.addr, "GET", &search("order"), &[], "").await;
    assert_eq!(s, 401);
    srv.stop().await;
}

#[tokio::test]
async fn an_agent_writes_through_the_api_once_per_cid_and_only_on_its_site() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| c.max_body_chars = 100).await;
    second_site(&srv);
    let mut v = Client::connect(&srv.ws_url()).await;
    v.hello(&srv.site_key, None, None).await;
    v.msg("v1", "is anyone there?").await;
    let conv = v.recv_type("conv").await["conv"].clone();
    let admin = token_of(&srv, "admin@localhost", "test-password").await;
    let path = format!("/v1/conversations/{conv}/messages");
    let msg = json!({"cid":"api-1","body":"<b>Yes</b>, here"});
    let (s, first) = api(&srv, "POST", &path, &admin, Some(msg.clone())).await;
    assert_eq!(s, 201, "{first}");
    assert_eq!((&first["conv"], &first["dup"]), (&conv, &json!(false)));
    // The visitor gets it like any agent message.
    loop {
        let e = v.recv_type("e").await;
        if e["cid"] == "api-1" {
            assert_eq!(
                (e["role"].as_str(), e["body"].as_str(), &e["off"]),
                (Some("agent"), Some("<b>Yes</b>, here"), &first["off"])
            );
            break;
        }
    }
    // A retry is stored once: same offset.
    let (s, again) = api(&srv, "POST", &path, &admin, Some(msg.clone())).await;
    assert_eq!(
        (s, &again["dup"], &again["off"]),
        (200, &json!(true), &first["off"])
    );
    for (bad, status) in [
        (json!({"cid":"a b","body":"x"}), 400),
        (json!({"cid":"c","body":"  "}), 400),
        (json!({"cid":"c","body":"x".repeat(101)}), 400),
        (json!({"body":"no cid"}), 400),
    ] {
        let (s, b) = api(&srv, "POST", &path, &admin, Some(bad.clone())).await;
        assert_eq!(s, status, "{bad} → {b}");
    }
    let other = token_of(&srv, "agent@other", "other-pw").await;
    let (s, _) = api(
        &srv,
        "POST",
        &path,
        &other,
        Some(json!({"cid":"o","body":"hi"})),
    )
    .await;
    assert_eq!(s, 404, "another site's conversation");
    let (s, _) = api(
        &srv,
        "POST",
        &path,
        "forged",
        Some(json!({"cid":"f","body":"hi"})),
    )
    .await;
    assert_eq!(s, 401);
    let (s, _) = api(
        &srv,
        "POST",
        "/v1/conversations/999/messages",
        &admin,
        Some(json!({"cid":"m","body":"hi"})),
    )
    .await;
    assert_eq!(s, 404);
    let kinds: Vec<String> = srv
        .stored(conv.as_i64().unwrap())
        .into_iter()
        .filter(|e| e.kind == kefu::vocab::EntryKind::Msg)
        .map(|e| e.cid)
        .collect();
    assert_eq!(kinds, ["v1", "api-1"]);
    srv.stop().await;
}

#[tokio::test]
async fn closed_conversations_are_listed_filtered_paged_and_exported() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let token = token_of(&srv, "admin@localhost", "test-password").await;
    let mut a = agent(&srv, &srv.site_key, &token).await;
    // Three visitors' conversations; the agent answers and closes the first two.
    let mut convs = Vec::new();
    for i in 0..3 {
        let mut v = Client::connect(&srv.ws_url()).await;
        v.hello(&srv.site_key, None, None).await;
        v.msg("v1", &format!("question {i}")).await;
        let conv = v.recv_type("conv").await["conv"].as_i64().unwrap();
        convs.push(conv);
        if i < 2 {
            a.send(json!({"t":"msg","conv":conv,"cid":format!("r{i}"),"body":"Answered."}))
                .await;
            a.recv_type("ack").await;
            a.send(json!({"t":"close","conv":conv})).await;
            while v.recv_type("e").await["kind"] != "close" {}
        }
    }
    let ids = |list: &Value| -> Vec<i64> {
        list["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["conv"].as_i64().unwrap())
            .collect()
    };
    let (s, open) = api(&srv, "GET", "/v1/conversations", &token, None).await;
    assert_eq!(
        (s, ids(&open)),
        (200, vec![convs[2]]),
        "open ones by default"
    );
    let (s, closed) = api(&srv, "GET", "/v1/conversations?status=closed", &token, None).await;
    assert_eq!((s, ids(&closed)), (200, vec![convs[1], convs[0]]));
    assert_eq!(closed["conversations"][0]["status"], "closed");
    assert!(closed["conversations"][0]["created_at"].as_i64().unwrap() > 0);
    assert_eq!(closed["next"], Value::Null, "one page");

    // Pages of one, each `next` the `before` of the one after.
    let (_, p1) = api(
        &srv,
        "GET",
        "/v1/conversations?status=all&limit=1",
        &token,
        None,
    )
    .await;
    assert_eq!(ids(&p1), vec![convs[2]]);
    let (_, p2) = api(
        &srv,
        "GET",
        &format!("/v1/conversations?status=all&limit=1&before={}", p1["next"]),
        &token,
        None,
    )
    .await;
    assert_eq!(ids(&p2), vec![convs[1]]);

    // By agent, and by creation time.
    let me = a_id(&srv, "admin@localhost");
    let (_, mine) = api(
        &srv,
        "GET",
        &format!("/v1/conversations?status=all&agent={me}"),
        &token,
        None,
    )
    .await;
    assert!(ids(&mine).contains(&convs[0]) && ids(&mine).contains(&convs[1]));
    let (_, nobody) = api(
        &srv,
        "GET",
        "/v1/conversations?status=all&agent=999999",
        &token,
        None,
    )
    .await;
    assert!(ids(&nobody).is_empty());
    let (_, future) = api(
        &srv,
        "GET",
        "/v1/conversations?status=all&since=99999999999999",
        &token,
        None,
    )
    .await;
    assert!(ids(&future).is_empty());
    let (s, bad) = api(&srv, "GET", "/v1/conversations?status=maybe", &token, None).await;
    assert_eq!((s, bad["error"].as_str()), (400, Some("bad_request")));

    // The transcript: JSON with every entry, and text for people.
    let auth = format!("Bearer {token}");
    let transcript = |format: &'static str| {
        let path = format!("/v1/conversations/{}/transcript{format}", convs[0]);
        let auth = auth.clone();
        async move { http(srv.addr, "GET", &path, &[("authorization", &auth)], "").await }
    };
    let (s, head, body) = transcript("").await;
    assert_eq!(s, 200);
    assert!(head.contains(&format!(
        "content-disposition: attachment; filename=\"conversation-{}.json\"",
        convs[0]
    )));
    let t: Value = serde_json::from_str(&body).unwrap();
    let kinds: Vec<&str> = t["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"msg"));
    assert_eq!(kinds.last(), Some(&"close"));
    assert_eq!(t["head"].as_u64(), Some(kinds.len() as u64));
    let (s, head, text) = transcript("?format=text").await;
    assert_eq!(s, 200);
    assert!(head.contains("content-type: text/plain"), "{head}");
    assert!(text.contains(" UTC  Visitor: question 0\n"), "{text}");
    assert!(
        text.contains("Answered.") && text.contains("closed the conversation"),
        "{text}"
    );
    // Another site's agent reads neither list nor transcript.
    second_site(&srv);
    let other = token_of(&srv, "agent@other", "other-pw").await;
    let (_, theirs) = api(&srv, "GET", "/v1/conversations?status=all", &other, None).await;
    assert!(ids(&theirs).is_empty());
    let (s, _) = api(
        &srv,
        "GET",
        &format!("/v1/conversations/{}/transcript", convs[0]),
        &other,
        None,
    )
    .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn an_admin_deletes_a_visitors_data_on_request() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let token = token_of(&srv, "admin@localhost", "test-password").await;
    let mut a = agent(&srv, &srv.site_key, &token).await;
    let mut v = Client::connect(&srv.ws_url()).await;
    v.hello(&srv.site_key, None, None).await;
    v.msg("v1", "my first question").await;
    let first = v.recv_type("conv").await["conv"].as_i64().unwrap();
    a.send(json!({"t":"close","conv":first})).await;
    while v.recv_type("e").await["kind"] != "close" {}
    v.msg("v2", "my second question").await;
    let second = v.recv_type("conv").await["conv"].as_i64().unwrap();
    let (_, list) = api(&srv, "GET", "/v1/conversations", &token, None).await;
    let who = list["conversations"][0]["visitor"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, theirs) = api(
        &srv,
        "GET",
        &format!("/v1/conversations?status=all&visitor={who}"),
        &token,
        None,
    )
    .await;
    assert_eq!(theirs["conversations"].as_array().unwrap().len(), 2);
    // Someone else's conversation stays.
    let mut w = Client::connect(&srv.ws_url()).await;
    w.hello(&srv.site_key, None, None).await;
    w.msg("w1", "not me").await;
    let kept = w.recv_type("conv").await["conv"].as_i64().unwrap();

    // Not an admin, not this site's, not a visitor: refused.
    let new = json!({"email":"bea@x","name":"Bea","password":"pw-bea-123"});
    api(&srv, "POST", "/v1/agents", &token, Some(new)).await;
    let bea = token_of(&srv, "bea@x", "pw-bea-123").await;
    let path = format!("/v1/visitors/{who}");
    assert_eq!(api(&srv, "DELETE", &path, &bea, None).await.0, 403);
    second_site(&srv);
    // (agent@other is no admin either: an admin of another site is tested in the store.)
    assert_eq!(
        api(&srv, "DELETE", "/v1/visitors/v999999", &token, None)
            .await
            .0,
        404
    );
    assert_eq!(
        api(&srv, "DELETE", "/v1/visitors/nobody", &token, None)
            .await
            .0,
        404
    );

    let (s, b) = api(&srv, "DELETE", &path, &token, None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["deleted"]["visitor"], who.as_str());
    assert_eq!(b["deleted"]["conversations"], json!([first, second]));
    // The visitor saw its open conversation end.
    while v.recv_type("e").await["kind"] != "close" {}
    for conv in [first, second] {
        assert!(srv.stored(conv).is_empty(), "conv {conv} deleted");
        let (s, _) = api(
            &srv,
            "GET",
            &format!("/v1/conversations/{conv}/entries"),
            &token,
            None,
        )
        .await;
        assert_eq!(s, 404);
    }
    let (_, none) = api(
        &srv,
        "GET",
        &format!("/v1/conversations?status=all&visitor={who}"),
        &token,
        None,
    )
    .await;
    assert_eq!(none["conversations"], json!([]));
    let kept = srv.stored(kept);
    assert_eq!(
        kept[0].body, "not me",
        "another visitor's conversation is kept"
    );
    assert_eq!(
        api(&srv, "DELETE", &path, &token, None).await.0,
        404,
        "once"
    );
}

#[tokio::test]
async fn an_admin_removes_an_agent_whose_sockets_end_and_whose_chats_are_handed_on() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let admin = token_of(&srv, "admin@localhost", "test-password").await;
    let add = |email: &str, role: &str| json!({"email": email, "name": email.split('@').next().unwrap(), "password": "pw-12345678", "role": role});
    let (s, b) = api(
        &srv,
        "POST",
        "/v1/agents",
        &admin,
        Some(add("bea@x", "agent")),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let bea_id = b["agent"]["id"].as_i64().unwrap();
    let (s, b) = api(
        &srv,
        "POST",
        "/v1/agents",
        &admin,
        Some(add("cy@x", "admin")),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let cy_id = b["agent"]["id"].as_i64().unwrap();
    let bea = token_of(&srv, "bea@x", "pw-12345678").await;
    let cy = token_of(&srv, "cy@x", "pw-12345678").await;

    // Bea alone on line gets the visitor's conversation; then Cy comes.
    let mut bea_ws = agent(&srv, &srv.site_key, &bea).await;
    let mut v = Client::connect(&srv.ws_url()).await;
    v.hello(&srv.site_key, None, None).await;
    v.msg("v1", "Hello?").await;
    let conv = v.recv_type("ack").await["conv"].as_i64().unwrap();
    assert_eq!(bea_ws.recv_type("assigned").await["conv"], conv);
    let mut cy_ws = agent(&srv, &srv.site_key, &cy).await;

    // A plain agent may not remove anyone.
    let path = format!("/v1/agents/{bea_id}");
    let (s, _) = api(&srv, "DELETE", &path, &bea, None).await;
    assert_eq!(s, 403);
    let (s, b) = api(&srv, "DELETE", &path, &admin, None).await;
    assert_eq!(s, 200, "{b}");
    assert!(b["agent"]["removed_at"].as_i64().is_some(), "{b}");

    // Her socket ends for good; her conversation goes to Cy, in the log.
    assert_eq!(bea_ws.closed_with().await, 4103);
    assert_eq!(cy_ws.recv_type("assigned").await["conv"], conv);
    let mut kinds = Vec::new();
    for _ in 0..50 {
        kinds = srv
            .stored(conv)
            .iter()
            .map(|e| e.kind.as_str().to_string())
            .collect();
        if kinds.len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(kinds, ["msg", "join", "transfer"]);
    assert_eq!(srv.stored(conv)[2].sender.to_string(), format!("a{cy_id}"));

    // Her token and her password no longer work; she stays listed, removed, and the
    // history keeps her name.
    let (s, _) = api(&srv, "GET", "/v1/site", &bea, None).await;
    assert_eq!(s, 401);
    let (s, _) = login(&srv, "bea@x", "pw-12345678").await;
    assert_eq!(s, 401);
    let (_, b) = api(&srv, "GET", "/v1/agents", &admin, None).await;
    let listed: Vec<(&str, bool)> = b["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["email"].as_str().unwrap(), a["removed_at"].is_i64()))
        .collect();
    assert_eq!(
        listed,
        [("admin@localhost", false), ("bea@x", true), ("cy@x", false)]
    );
    let (s, _, text) = http(
        srv.addr,
        "GET",
        &format!("/v1/conversations/{conv}/transcript?format=text&token={admin}"),
        &[],
        "",
    )
    .await;
    assert_eq!(s, 200);
    assert!(text.contains("bea"), "{text}");
    // Removed is removed: not changed, not removed twice, the email stays taken.
    let (s, _) = api(&srv, "PATCH", &path, &admin, Some(json!({"name": "B"}))).await;
    assert_eq!(s, 404);
    let (s, _) = api(&srv, "DELETE", &path, &admin, None).await;
    assert_eq!(s, 404);
    let (s, _) = api(
        &srv,
        "POST",
        "/v1/agents",
        &admin,
        Some(add("bea@x", "agent")),
    )
    .await;
    assert_eq!(s, 409);

    // A site keeps an active admin: Cy may go, then the last admin may not.
    let (s, b) = api(&srv, "DELETE", &format!("/v1/agents/{cy_id}"), &admin, None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(cy_ws.closed_with().await, 4103);
    let (_, me) = api(&srv, "GET", "/v1/agents", &admin, None).await;
    let me = me["agents"][0]["id"].as_i64().unwrap();
    let (s, b) = api(&srv, "DELETE", &format!("/v1/agents/{me}"), &admin, None).await;
    assert_eq!((s, b["error"].as_str()), (409, Some("conflict")), "{b}");
    // Another site's agent is not found.
    let _other = second_site(&srv);
    let (_, others) = api(&srv, "GET", "/v1/agents", &admin, None).await;
    assert_eq!(others["agents"].as_array().unwrap().len(), 3);
    let (s, _) = api(
        &srv,
        "DELETE",
        &format!("/v1/agents/{}", cy_id + 1),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 404);
    srv.stop().await;
}
