//! Site settings over the API: the site, its agents, canned responses and invitation
//! rules — admins change them, agents read them, nobody reaches another site's.

mod support;

use serde_json::{json, Value};
use support::*;

const ADMIN: (&str, &str) = ("admin@localhost", "test-password");

#[tokio::test]
async fn the_site_and_its_agents_are_read_by_agents_and_added_by_admins() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let admin = token_of(&srv, ADMIN.0, ADMIN.1).await;

    let (s, b) = api(&srv, "GET", "/v1/site", &admin, None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["site"]["key"], srv.site_key.as_str());
    assert!(b["site"].get("secret").is_none(), "the secret never leaves");

    let new = json!({"email":"bea@x","name":"Bea","password":"pw-bea-123"});
    let (s, b) = api(&srv, "POST", "/v1/agents", &admin, Some(new.clone())).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(
        (b["agent"]["role"].as_str(), b["agent"]["name"].as_str()),
        (Some("agent"), Some("Bea"))
    );
    let (s, b) = api(&srv, "POST", "/v1/agents", &admin, Some(new)).await;
    assert_eq!((s, b["error"].as_str()), (409, Some("conflict")));

    // The new agent signs in, and sees the admin on line and itself offline.
    let bea = token_of(&srv, "bea@x", "pw-bea-123").await;
    let mut a = Client::connect(&srv.ws_url()).await;
    a.send(json!({"t":"hello","v":1,"site":srv.site_key,"role":"agent","token":admin}))
        .await;
    a.recv_type("team").await;
    let (s, b) = api(&srv, "GET", "/v1/agents", &bea, None).await;
    assert_eq!(s, 200);
    let status: Vec<(&str, &str)> = b["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["email"].as_str().unwrap(), a["status"].as_str().unwrap()))
        .collect();
    assert_eq!(status, [(ADMIN.0, "online"), ("bea@x", "offline")]);

    // An agent may not add agents; bad bodies are refused with a reason.
    let (s, b) = api(
        &srv,
        "POST",
        "/v1/agents",
        &bea,
        Some(json!({"email":"c@x","name":"C","password":"pw-c-12345"})),
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (403, Some("forbidden")));
    for bad in [
        json!({"email":"nope","name":"C","password":"pw-c-12345"}),
        json!({"email":"c@x","name":"","password":"pw-c-12345"}),
        json!({"email":"c@x","name":"C","password":"short"}),
        json!({"email":"c@x","name":"C","password":"pw-c-12345","role":"root"}),
        json!({"email":"c@x"}),
    ] {
        let (s, b) = api(&srv, "POST", "/v1/agents", &admin, Some(bad.clone())).await;
        assert_eq!(s, 400, "{bad} → {b}");
        assert!(b["reason"].as_str().is_some_and(|r| !r.is_empty()));
    }
    let (s, _) = api(&srv, "GET", "/v1/site", "forged", None).await;
    assert_eq!(s, 401);
    let (s, _) = api(&srv, "PUT", "/v1/site", &admin, None).await;
    assert_eq!(s, 405);
    srv.stop().await;
}

#[tokio::test]
async fn an_admin_changes_the_site_and_its_visitors_see_it_at_once() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let admin = token_of(&srv, ADMIN.0, ADMIN.1).await;
    let change = json!({"name":"  Shop  ","origins":["https://shop.example"],"transports":["ws","lp"],"require_identity":false});
    let (s, b) = api(&srv, "PATCH", "/v1/site", &admin, Some(change)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["site"]["name"], "Shop", "trimmed");
    assert_eq!(b["site"]["origins"], json!(["https://shop.example"]));
    assert_eq!(b["site"]["transports"], json!(["ws", "lp"]));
    assert!(b["site"].get("secret").is_none());
    // A field left out stays as it is; the change is what GET and negotiation answer now.
    let (s, b) = api(
        &srv,
        "PATCH",
        "/v1/site",
        &admin,
        Some(json!({"require_identity":true})),
    )
    .await;
    assert_eq!((s, b["site"]["name"].as_str()), (200, Some("Shop")));
    assert_eq!(b["site"]["require_identity"], true);
    let (_, got) = api(&srv, "GET", "/v1/site", &admin, None).await;
    assert_eq!(got, b);
    let (s, _, n) = http(
        srv.addr,
        "GET",
        &format!("/v1/negotiate?site={}", srv.site_key),
        &[],
        "",
    )
    .await;
    assert_eq!(s, 200);
    let n: Value = serde_json::from_str(&n).unwrap();
    assert_eq!(n["transports"], json!(["ws", "lp"]), "no stale cache");

    // Refused with a reason, and nothing of a refused change is written.
    for bad in [
        json!({"name":" "}),
        json!({"origins":["shop.example"]}),
        json!({"transports":[]}),
        json!({"transports":["ws","carrier-pigeon"]}),
        json!({"name":"Other","transports":["nope"]}),
        json!(["Other"]),
    ] {
        let (s, b) = api(&srv, "PATCH", "/v1/site", &admin, Some(bad.clone())).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (400, Some("bad_request")),
            "{bad}: {b}"
        );
    }
    let (_, still) = api(&srv, "GET", "/v1/site", &admin, None).await;
    assert_eq!(still["site"]["name"], "Shop");
    // A plain agent may read the site, not change it.
    let new = json!({"email":"bea@x","name":"Bea","password":"pw-bea-123"});
    api(&srv, "POST", "/v1/agents", &admin, Some(new)).await;
    let bea = token_of(&srv, "bea@x", "pw-bea-123").await;
    let (s, b) = api(
        &srv,
        "PATCH",
        "/v1/site",
        &bea,
        Some(json!({"name":"Mine"})),
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (403, Some("forbidden")));
}

#[tokio::test]
async fn an_admin_renames_promotes_and_resets_an_agent_and_keeps_an_admin() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let admin = token_of(&srv, ADMIN.0, ADMIN.1).await;
    let new = json!({"email":"bea@x","name":"Bea","password":"pw-bea-123"});
    let (_, b) = api(&srv, "POST", "/v1/agents", &admin, Some(new)).await;
    let bea_id = b["agent"]["id"].as_i64().unwrap();
    let bea = token_of(&srv, "bea@x", "pw-bea-123").await;
    let (_, me) = api(&srv, "GET", "/v1/agents", &admin, None).await;
    let admin_id = me["agents"][0]["id"].as_i64().unwrap();

    // A plain agent changes nobody, itself included.
    let (s, _) = api(
        &srv,
        "PATCH",
        &format!("/v1/agents/{bea_id}"),
        &bea,
        Some(json!({"role":"admin"})),
    )
    .await;
    assert_eq!(s, 403);
    // The last admin cannot step down.
    let (s, b) = api(
        &srv,
        "PATCH",
        &format!("/v1/agents/{admin_id}"),
        &admin,
        Some(json!({"role":"agent"})),
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (409, Some("conflict")), "{b}");
    // Renamed, promoted, a new password: she signs in with it, the old one fails.
    let change = json!({"name":" Bea Lin ","role":"admin","password":"pw-bea-456"});
    let (s, b) = api(
        &srv,
        "PATCH",
        &format!("/v1/agents/{bea_id}"),
        &admin,
        Some(change),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (b["agent"]["name"].as_str(), b["agent"]["role"].as_str()),
        (Some("Bea Lin"), Some("admin"))
    );
    assert_eq!(login(&srv, "bea@x", "pw-bea-123").await.0, 401);
    let (s, _) = api(&srv, "GET", "/v1/site", &bea, None).await;
    assert_eq!(s, 401, "a new password ends the sessions of the old one");
    let bea = token_of(&srv, "bea@x", "pw-bea-456").await;
    // Now an admin, she may change the site; and the first admin may step down.
    let (s, _) = api(
        &srv,
        "PATCH",
        "/v1/site",
        &bea,
        Some(json!({"name":"Bea's"})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, b) = api(
        &srv,
        "PATCH",
        &format!("/v1/agents/{admin_id}"),
        &bea,
        Some(json!({"role":"agent"})),
    )
    .await;
    assert_eq!((s, b["agent"]["role"].as_str()), (200, Some("agent")));
    let (s, _) = api(
        &srv,
        "PATCH",
        "/v1/site",
        &admin,
        Some(json!({"name":"Mine"})),
    )
    .await;
    assert_eq!(s, 403, "a role takes effect at the next request");
    // Refused with a reason; nothing of a refused change is written.
    for bad in [
        json!({"name":""}),
        json!({"role":"owner"}),
        json!({"password":"short"}),
        json!({"name":"Ok","password":"short"}),
    ] {
        let (s, b) = api(
            &srv,
            "PATCH",
            &format!("/v1/agents/{bea_id}"),
            &bea,
            Some(bad.clone()),
        )
        .await;
        assert_eq!(
            (s, b["error"].as_str()),
            (400, Some("bad_request")),
            "{bad}: {b}"
        );
    }
    let (_, all) = api(&srv, "GET", "/v1/agents", &bea, None).await;
    assert_eq!(all["agents"][1]["name"], "Bea Lin");
    let (s, _) = api(
        &srv,
        "PATCH",
        "/v1/agents/999999",
        &bea,
        Some(json!({"name":"X"})),
    )
    .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn canned_responses_are_kept_per_site_and_changed_only_by_admins() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| c.max_canned = 2).await;
    let admin = token_of(&srv, ADMIN.0, ADMIN.1).await;
    let (s, b) = api(&srv, "GET", "/v1/canned", &admin, None).await;
    assert_eq!((s, &b["canned"]), (200, &json!([])));

    let hostile = "<img src=x onerror=alert(1)> we open at 9:00";
    let (s, b) = api(
        &srv,
        "POST",
        "/v1/canned",
        &admin,
        Some(json!({"shortcut":"hours","text":hostile})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let hours = b["canned"]["id"].as_i64().unwrap();
    let (s, _) = api(
        &srv,
        "POST",
        "/v1/canned",
        &admin,
        Some(json!({"shortcut":"bye","text":"Bye!"})),
    )
    .await;
    assert_eq!(s, 201);
    // Listed by shortcut, text kept as it was sent.
    let (_, b) = api(&srv, "GET", "/v1/canned", &admin, None).await;
    let list: Vec<(&str, &str)> = b["canned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["shortcut"].as_str().unwrap(), c["text"].as_str().unwrap()))
        .collect();
    assert_eq!(list, [("bye", "Bye!"), ("hours", hostile)]);

    // A taken shortcut, and the limit, are conflicts; bad shortcuts and texts are refused.
    let (s, b) = api(
        &srv,
        "POST",
        "/v1/canned",
        &admin,
        Some(json!({"shortcut":"bye","text":"again"})),
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (409, Some("conflict")), "{b}");
    let (s, b) = api(
        &srv,
        "POST",
        "/v1/canned",
        &admin,
        Some(json!({"shortcut":"third","text":"x"})),
    )
    .await;
    assert_eq!(s, 409, "max_canned: {b}");
    for bad in [
        json!({"shortcut":"Has Space","text":"x"}),
        json!({"shortcut":"","text":"x"}),
        json!({"shortcut":"x".repeat(33),"text":"x"}),
        json!({"shortcut":"ok","text":"   "}),
        json!({"shortcut":"ok","text":"x".repeat(2001)}),
        json!({"shortcut":"ok"}),
    ] {
        let (s, _) = api(&srv, "POST", "/v1/canned", &admin, Some(bad.clone())).await;
        assert_eq!(s, 400, "{bad}");
    }

    // Another site's agent sees none of them and cannot delete them; a plain agent of
    // the site reads them but cannot change them.
    second_site(&srv);
    let other = token_of(&srv, "agent@other", "other-pw").await;
    let (s, b) = api(&srv, "GET", "/v1/canned", &other, None).await;
    assert_eq!((s, &b["canned"]), (200, &json!([])));
    let (s, _) = api(&srv, "DELETE", &format!("/v1/canned/{hours}"), &other, None).await;
    assert_eq!(s, 403, "an agent (of any site) is not an admin");
    let store = kefu::store::open(&srv.db_url, &kefu::store::Options::default()).unwrap();
    let other_site = store.sites().unwrap().pop().unwrap();
    let hash = kefu::core::auth::hash_password("other-admin-pw").unwrap();
    store
        .add_agent(
            other_site.id,
            "admin@other",
            "Boss",
            kefu::vocab::AgentRole::Admin,
            &hash,
        )
        .unwrap();
    let other_admin = token_of(&srv, "admin@other", "other-admin-pw").await;
    let (s, _) = api(
        &srv,
        "DELETE",
        &format!("/v1/canned/{hours}"),
        &other_admin,
        None,
    )
    .await;
    assert_eq!(s, 404, "another site's canned response is not found");
    assert_eq!(
        store
            .canned(store.site_by_key(&srv.site_key).unwrap().unwrap().id)
            .unwrap()
            .len(),
        2
    );

    let (s, _) = api(&srv, "DELETE", &format!("/v1/canned/{hours}"), &admin, None).await;
    assert_eq!(s, 200);
    let (s, _) = api(&srv, "DELETE", &format!("/v1/canned/{hours}"), &admin, None).await;
    assert_eq!(s, 404);
    let (s, _) = api(&srv, "DELETE", "/v1/canned/abc", &admin, None).await;
    assert_eq!(s, 404);
    srv.stop().await;
}

#[tokio::test]
async fn invitation_rules_are_validated_listed_and_deleted_per_site() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| c.max_rules = 1).await;
    let admin = token_of(&srv, ADMIN.0, ADMIN.1).await;
    let rule = json!({"name":"Pricing","url":"*/pricing*","min_seconds":30,"min_visits":2,
                      "text":"Questions about pricing?"});
    let (s, b) = api(&srv, "POST", "/v1/rules", &admin, Some(rule.clone())).await;
    assert_eq!(s, 201, "{b}");
    let id = b["rule"]["id"].as_i64().unwrap();
    let (s, b) = api(&srv, "GET", "/v1/rules", &admin, None).await;
    assert_eq!(s, 200);
    let mut want = rule.clone();
    want["id"] = json!(id);
    assert_eq!(b["rules"], json!([want]));
    let (s, _) = api(&srv, "POST", "/v1/rules", &admin, Some(rule.clone())).await;
    assert_eq!(s, 409, "max_rules");
    for bad in [
        json!({"name":"","url":"","text":"x"}),
        json!({"name":"n","url":"x".repeat(501),"text":"x"}),
        json!({"name":"n","min_seconds":86_401,"text":"x"}),
        json!({"name":"n","min_visits":100_001,"text":"x"}),
        json!({"name":"n","min_seconds":-1,"text":"x"}),
        json!({"name":"n","text":""}),
    ] {
        let (s, _) = api(&srv, "POST", "/v1/rules", &admin, Some(bad.clone())).await;
        assert_eq!(s, 400, "{bad}");
    }
    second_site(&srv);
    let other = token_of(&srv, "agent@other", "other-pw").await;
    let (s, b) = api(&srv, "GET", "/v1/rules", &other, None).await;
    assert_eq!((s, &b["rules"]), (200, &json!([])));
    let (s, _) = api(&srv, "POST", "/v1/rules", &other, Some(rule)).await;
    assert_eq!(s, 403);
    let (s, _) = api(&srv, "DELETE", &format!("/v1/rules/{id}"), &admin, None).await;
    assert_eq!(s, 200);
    let (_, b) = api(&srv, "GET", "/v1/rules", &admin, None).await;
    assert_eq!(b["rules"], json!([]));
    srv.stop().await;
}

/// The visitor's next `invite`, checking it is in the admin's name.
async fn invited(v: &mut Client) -> Value {
    let inv = v.recv_type("invite").await;
    assert_eq!(inv["name"], "Admin");
    inv
}

async fn page(v: &mut Client, url: &str, visits: u32) {
    v.send(json!({"t":"page","url":url,"title":"t","ref":"","visible":true,"visits":visits}))
        .await;
}

#[tokio::test]
async fn a_rule_invites_a_matching_visitor_once() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| c.auto_invite_interval_ms = 1000).await;
    let admin = token_of(&srv, ADMIN.0, ADMIN.1).await;
    let rule = json!({"name":"Pricing","url":"*/pricing*","min_seconds":1,"min_visits":2,
                      "text":"Questions about pricing?"});
    assert_eq!(
        api(&srv, "POST", "/v1/rules", &admin, Some(rule)).await.0,
        201
    );
    let mut a = Client::connect(&srv.ws_url()).await;
    a.send(json!({"t":"hello","v":1,"site":srv.site_key,"role":"agent","token":admin}))
        .await;
    a.recv_type("welcome").await;

    let mut v1 = Client::connect(&srv.ws_url()).await;
    v1.hello(&srv.site_key, None, None).await;
    let mut v2 = Client::connect(&srv.ws_url()).await;
    v2.hello(&srv.site_key, None, None).await;
    // Right visits, wrong page; right page, too few visits: neither is invited.
    page(&mut v1, "https://shop.test/about", 5).await;
    page(&mut v2, "https://shop.test/pricing/team", 1).await;
    v1.expect_none("invite", std::time::Duration::from_millis(2500))
        .await;
    // v1 goes to the pricing page: invited once it has been there a second.
    page(&mut v1, "https://shop.test/pricing", 5).await;
    let at = std::time::Instant::now();
    let inv = invited(&mut v1).await;
    assert!(
        at.elapsed() >= std::time::Duration::from_millis(900),
        "min_seconds"
    );
    assert_eq!(inv["text"], "Questions about pricing?");
    // Agents see the visitor was invited.
    loop {
        let up = a.recv_type("visitor").await;
        if up["v"]["page"]["url"] == "https://shop.test/pricing" && up["v"]["invited"].is_i64() {
            break;
        }
    }
    v2.expect_none("invite", std::time::Duration::from_millis(500))
        .await;
    // Declined: the rule does not ask again in this session, interval or not.
    v1.send(json!({"t":"invite_reply","id":inv["id"],"accept":false}))
        .await;
    page(&mut v1, "https://shop.test/pricing?plan=pro", 6).await;
    v1.expect_none("invite", std::time::Duration::from_millis(2500))
        .await;
    srv.stop().await;
}

#[tokio::test]
async fn automatic_invitations_wait_for_an_agent_and_respect_the_interval() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| c.auto_invite_interval_ms = 3000).await;
    let admin = token_of(&srv, ADMIN.0, ADMIN.1).await;
    for (name, url, text) in [("A", "*/a", "About A?"), ("Any", "", "Need help?")] {
        let rule = json!({"name":name,"url":url,"min_seconds":0,"min_visits":0,"text":text});
        assert_eq!(
            api(&srv, "POST", "/v1/rules", &admin, Some(rule)).await.0,
            201
        );
    }
    let mut v = Client::connect(&srv.ws_url()).await;
    v.hello(&srv.site_key, None, None).await;
    page(&mut v, "https://shop.test/a", 1).await;
    // No agent on line: nobody to chat with, no invitation.
    v.expect_none("invite", std::time::Duration::from_millis(2000))
        .await;
    let mut a = Client::connect(&srv.ws_url()).await;
    a.send(json!({"t":"hello","v":1,"site":srv.site_key,"role":"agent","token":admin}))
        .await;
    a.recv_type("welcome").await;
    let first = invited(&mut v).await;
    assert_eq!(first["text"], "About A?");
    let at = std::time::Instant::now();
    v.send(json!({"t":"invite_reply","id":first["id"],"accept":false}))
        .await;
    // The second rule matches too, but not before the interval is over.
    let second = invited(&mut v).await;
    assert_eq!(second["text"], "Need help?");
    assert!(
        at.elapsed() >= std::time::Duration::from_millis(2500),
        "second invitation after {:?}",
        at.elapsed()
    );
    // Accepting opens the chat with the rule's text from the agent, who is assigned it.
    v.send(json!({"t":"invite_reply","id":second["id"],"accept":true}))
        .await;
    let conv = v.recv_type("conv").await["conv"].clone();
    assert_eq!(a.recv_type("assigned").await["conv"], conv);
    loop {
        let e = v.recv_type("e").await;
        if e["kind"] == "msg" {
            assert_eq!(
                (e["role"].as_str(), e["body"].as_str()),
                (Some("agent"), Some("Need help?"))
            );
            break;
        }
    }
    srv.stop().await;
}

#[tokio::test]
async fn nobody_is_invited_while_every_agent_is_at_capacity() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| {
        c.agent_capacity = 1;
        c.auto_invite_interval_ms = 1000;
    })
    .await;
    let admin = token_of(&srv, ADMIN.0, ADMIN.1).await;
    let rule = json!({"name":"All","url":"","min_seconds":0,"min_visits":0,"text":"Hi there"});
    assert_eq!(
        api(&srv, "POST", "/v1/rules", &admin, Some(rule)).await.0,
        201
    );
    let mut a = Client::connect(&srv.ws_url()).await;
    a.send(json!({"t":"hello","v":1,"site":srv.site_key,"role":"agent","token":admin}))
        .await;
    a.recv_type("welcome").await;
    // The only agent takes one chat: it is full.
    let mut busy = Client::connect(&srv.ws_url()).await;
    busy.hello(&srv.site_key, None, None).await;
    busy.msg("b1", "help").await;
    let conv = busy.recv_type("conv").await["conv"].clone();
    assert_eq!(a.recv_type("assigned").await["conv"], conv);
    let mut v = Client::connect(&srv.ws_url()).await;
    v.hello(&srv.site_key, None, None).await;
    page(&mut v, "https://shop.test/", 1).await;
    v.expect_none("invite", std::time::Duration::from_millis(2500))
        .await;
    // Room again: the rule was not used up meanwhile.
    a.send(json!({"t":"close","conv":conv})).await;
    assert_eq!(invited(&mut v).await["text"], "Hi there");
    srv.stop().await;
}

#[tokio::test]
async fn an_admin_creates_a_site_it_administers_within_its_limit() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| c.max_sites_per_admin = 2).await;
    let admin = token_of(&srv, ADMIN.0, ADMIN.1).await;
    for (bad, why) in [
        (json!({"name": "  "}), "name"),
        (json!({"name": "Shop", "origins": ["shop.example"]}), "http"),
        (json!({"origins": []}), "name"),
    ] {
        let (s, b) = api(&srv, "POST", "/v1/sites", &admin, Some(bad.clone())).await;
        assert_eq!(s, 400, "{bad}: {b}");
        assert!(
            b["reason"].as_str().unwrap_or("").contains(why),
            "{bad}: {b}"
        );
    }
    let (s, b) = api(
        &srv,
        "POST",
        "/v1/sites",
        &admin,
        Some(json!({"name": " Second shop ", "origins": ["https://shop2.example"]})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let key = b["site"]["key"].as_str().unwrap().to_string();
    assert_ne!(key, srv.site_key);
    assert_eq!(b["site"]["name"], "Second shop");
    assert_eq!(b["site"]["origins"], json!(["https://shop2.example"]));
    assert!(
        b["site"]["secret"].as_str().is_some_and(|s| s.len() >= 16),
        "{b}"
    );
    assert_eq!(
        (b["agent"]["email"].as_str(), b["agent"]["role"].as_str()),
        (Some(ADMIN.0), Some("admin"))
    );

    // The same person, same password, signs in to it by naming it; without a site
    // the email is ambiguous now.
    let (s, b) = login_at(srv.addr, ADMIN.0, ADMIN.1).await;
    assert_eq!(s, 400, "{b}");
    let (s, _, b) = http(
        srv.addr,
        "POST",
        "/v1/login",
        &[("content-type", "application/json")],
        &json!({"email": ADMIN.0, "password": ADMIN.1, "site": key}).to_string(),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let second: Value = serde_json::from_str(&b).unwrap();
    let second = second["token"].as_str().unwrap().to_string();
    let (_, b) = api(&srv, "GET", "/v1/site", &second, None).await;
    assert_eq!(b["site"]["key"], key.as_str());
    assert!(b["site"].get("secret").is_none(), "shown once: {b}");
    // Each token stays on its own site.
    let (_, b) = api(&srv, "GET", "/v1/site", &admin, None).await;
    assert_eq!(b["site"]["key"], srv.site_key.as_str());
    let (_, b) = api(&srv, "GET", "/v1/agents", &second, None).await;
    assert_eq!(b["agents"].as_array().unwrap().len(), 1, "{b}");

    // Two sites administered: the limit.
    let (s, b) = api(
        &srv,
        "POST",
        "/v1/sites",
        &second,
        Some(json!({"name": "Third"})),
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (409, Some("conflict")), "{b}");
    // A plain agent creates none.
    let (s, _) = api(
        &srv,
        "POST",
        "/v1/agents",
        &admin,
        Some(json!({"email":"bea@x","name":"Bea","password":"pw-bea-123"})),
    )
    .await;
    assert_eq!(s, 201);
    let bea = token_of(&srv, "bea@x", "pw-bea-123").await;
    let (s, _) = api(
        &srv,
        "POST",
        "/v1/sites",
        &bea,
        Some(json!({"name": "Mine"})),
    )
    .await;
    assert_eq!(s, 403);
    srv.stop().await;

    // Off: only the command line creates sites.
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| c.max_sites_per_admin = 0).await;
    let admin = token_of(&srv, ADMIN.0, ADMIN.1).await;
    let (s, b) = api(
        &srv,
        "POST",
        "/v1/sites",
        &admin,
        Some(json!({"name": "Shop"})),
    )
    .await;
    assert_eq!(s, 403, "{b}");
    assert!(
        b["reason"]
            .as_str()
            .unwrap()
            .contains("max_sites_per_admin"),
        "{b}"
    );
    srv.stop().await;
}
