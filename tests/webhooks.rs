//! Webhooks end to end: a local receiver that fails, times out and succeeds; deliveries
//! signed, retried, recorded, paused and resumed, refused for private addresses, and
//! resumed after a restart in the middle of a retry.

mod support;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use http_body_util::BodyExt;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use support::*;

const ADMIN: (&str, &str) = ("admin@localhost", "test-password");

/// What the receiver does with a request.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Status(u16),
    /// Say nothing for this long (longer than the server's timeout).
    Hang(Duration),
}

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Got {
    headers: Vec<(String, String)>,
    body: String,
    answered: u16,
}

impl Got {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// A local webhook receiver: answers from `script` in turn, then `then`, recording all.
#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    script: Arc<Mutex<VecDeque<Answer>>>,
    then: Arc<Mutex<Answer>>,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    async fn start(script: &[Answer], then: Answer) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = Receiver {
            addr: listener.local_addr().unwrap(),
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            then: Arc::new(Mutex::new(then)),
            got: Arc::new(Mutex::new(Vec::new())),
        };
        let me = r.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    break;
                };
                let me = me.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let me = me.clone();
                        async move {
                            let headers = req
                                .headers()
                                .iter()
                                .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
                                .collect();
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let answer = me
                                .script
                                .lock()
                                .unwrap()
                                .pop_front()
                                .unwrap_or(*me.then.lock().unwrap());
                            // Recorded on arrival: a request left hanging counts too.
                            me.got.lock().unwrap().push(Got {
                                headers,
                                body: String::from_utf8_lossy(&body).into_owned(),
                                answered: match answer {
                                    Answer::Hang(_) => 0,
                                    Answer::Status(s) => s,
                                },
                            });
                            let status = match answer {
                                Answer::Status(s) => s,
                                Answer::Hang(d) => {
                                    tokio::time::sleep(d).await;
                                    200
                                }
                            };
                            Ok::<_, std::convert::Infallible>(
                                http::Response::builder()
                                    .status(status)
                                    .body(http_body_util::Full::new(bytes::Bytes::from_static(
                                        b"not today\nsecond line",
                                    )))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(sock), svc)
                        .await;
                });
            }
        });
        r
    }

    fn url(&self) -> String {
        format!("http://{}/hooks/kefu", self.addr)
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    fn answer_from_now(&self, a: Answer) {
        *self.then.lock().unwrap() = a;
    }

    /// Wait (at most 20 s) until `done` holds for what was received.
    async fn until(&self, what: &str, done: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        for _ in 0..400 {
            let got = self.got();
            if done(&got) {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{what}: the receiver got {:#?}", self.got());
    }
}

/// Delivered (2xx-answered) requests, by event id.
fn delivered(got: &[Got]) -> Vec<String> {
    let mut ids: Vec<String> = got
        .iter()
        .filter(|g| (200..300).contains(&g.answered))
        .map(|g| g.header("kefu-event-id").to_string())
        .collect();
    ids.sort();
    ids
}

/// The signature header checks out for this body under `secret`, made within a minute.
fn signed(g: &Got, secret: &str) -> bool {
    let sig = g.header("kefu-signature");
    let Some((t, v1)) = sig.strip_prefix("t=").and_then(|r| r.split_once(",v1=")) else {
        return false;
    };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", g.body).as_bytes());
    let want = data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes());
    let age = kefu::store::now_ms() / 1000 - t.parse::<i64>().unwrap();
    want == v1 && (0..60).contains(&age)
}

fn fast(c: &mut kefu::config::Config) {
    c.webhook_allow_private_addresses = true;
    c.webhook_poll_ms = 50;
    c.webhook_timeout_ms = 500;
    c.webhook_retry_first_ms = 200;
    c.webhook_retry_max_ms = 400;
}

/// A visitor of the site says `body` once (acknowledged); its conversation id.
async fn visitor_says(srv: &TestServer, cid: &str, body: &str) -> i64 {
    let mut v = Client::connect(&srv.ws_url()).await;
    v.hello(&srv.site_key, None, None).await;
    v.msg(cid, body).await;
    let ack = v.recv_type("ack").await;
    ack["conv"]
        .as_i64()
        .expect("the ack names its conversation")
}

async fn register(srv: &TestServer, admin: &str, body: Value) -> Value {
    let (s, b) = api(srv, "POST", "/v1/webhooks", admin, Some(body)).await;
    assert_eq!(s, 201, "{b}");
    b["webhook"].clone()
}

#[tokio::test]
async fn events_are_signed_retried_through_errors_and_timeouts_and_delivered_once() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), fast).await;
    let rx = Receiver::start(
        &[Answer::Status(500), Answer::Hang(Duration::from_secs(3))],
        Answer::Status(204),
    )
    .await;
    let admin = token_of(&srv, ADMIN.0, ADMIN.1).await;
    let hook = register(
        &srv,
        &admin,
        json!({"url": rx.url(), "events": ["message.created", "conversation.opened"]}),
    )
    .await;
    let secret = hook["secret"]
        .as_str()
        .expect("the secret, once")
        .to_string();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    assert_eq!(
        hook["events"],
        json!(["conversation.opened", "message.created"])
    );

    let conv = visitor_says(&srv, "w-1", "Hello, is anyone there?").await;
    let got = rx
        .until("both events delivered", |g| delivered(g).len() == 2)
        .await;
    let opened = format!("{conv}.1.conversation.opened");
    let message = format!("{conv}.1.message.created");
    assert_eq!(delivered(&got), [opened.clone(), message.clone()]);
    // Through a 500 and a timeout: at least four requests, each signed.
    assert!(got.len() >= 4, "{got:#?}");
    for g in &got {
        assert!(signed(g, &secret), "a bad signature: {g:?}");
        let body = g.json();
        assert_eq!(body["id"], g.header("kefu-event-id"));
        assert_eq!(body["type"], g.header("kefu-event"));
        assert_eq!(body["site"]["key"], srv.site_key.as_str());
        assert_eq!(body["conversation"]["id"], conv);
        assert_eq!(body["entry"]["body"], "Hello, is anyone there?");
        assert_eq!(body["entry"]["role"], "visitor");
        assert!(
            !g.body.contains("\"token\""),
            "no visitor token in a webhook: {}",
            g.body
        );
    }
    let retried: Vec<&str> = got.iter().map(|g| g.header("kefu-attempt")).collect();
    assert!(
        retried.contains(&"2"),
        "a retry counts its attempt: {retried:?}"
    );

    // Nothing more arrives: each event was delivered once.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(delivered(&rx.got()).len(), 2, "{:#?}", rx.got());

    // The endpoint's state, and its deliveries.
    let (s, b) = api(&srv, "GET", "/v1/webhooks", &admin, None).await;
    assert_eq!(s, 200, "{b}");
    let w = &b["webhooks"][0];
    assert!(w.get("secret").is_none(), "the secret is shown once: {w}");
    assert_eq!(w["pending"], 0);
    assert!(w["last_ok_at"].as_i64().is_some(), "{w}");
    let err = w["last_error"].as_str().unwrap_or("");
    assert!(
        err.contains("HTTP 500: not today") || err.contains("no answer within 500 ms"),
        "{w}"
    );
    let path = format!("/v1/webhooks/{}/deliveries", hook["id"]);
    let (s, b) = api(&srv, "GET", &path, &admin, None).await;
    assert_eq!(s, 200, "{b}");
    let list = b["deliveries"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{b}");
    assert!(list
        .iter()
        .all(|d| d["state"] == "delivered" && d["last_status"] == 204));
    let attempts: i64 = list.iter().map(|d| d["attempts"].as_i64().unwrap()).sum();
    assert!(attempts >= 4, "{b}");

    // The metrics count the attempts by outcome.
    let (_, _, text) = http(srv.addr, "GET", "/metrics", &[], "").await;
    assert!(
        text.lines()
            .any(|l| l == "kefu_webhook_deliveries_total{outcome=\"delivered\"} 2"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("kefu_webhook_deliveries_total{outcome=\"retried\"}")),
        "{text}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn a_restart_in_the_middle_of_a_retry_resumes_it_with_the_same_event_id() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), fast).await;
    let rx = Receiver::start(&[], Answer::Status(503)).await;
    let admin = token_of(&srv, ADMIN.0, ADMIN.1).await;
    let hook = register(&srv, &admin, json!({"url": rx.url()})).await;
    let secret = hook["secret"].as_str().unwrap().to_string();
    let conv = visitor_says(&srv, "r-1", "Before the restart").await;
    // Failing: tried at least twice for each of its two events.
    let before = rx.until("two failed attempts each", |g| g.len() >= 4).await;
    srv.stop().await;
    let seen: Vec<String> = before
        .iter()
        .map(|g| g.header("kefu-event-id").to_string())
        .collect();

    rx.answer_from_now(Answer::Status(200));
    let srv = start_with(dir.path(), fast).await;
    let got = rx
        .until("delivered after the restart", |g| delivered(g).len() == 2)
        .await;
    let ids = delivered(&got);
    assert_eq!(
        ids,
        [
            format!("{conv}.1.conversation.opened"),
            format!("{conv}.1.message.created")
        ]
    );
    assert!(ids.iter().all(|id| seen.contains(id)), "{seen:?} {ids:?}");
    for g in got.iter().filter(|g| g.answered == 200) {
        assert!(signed(g, &secret));
        let n: u32 = g.header("kefu-attempt").parse().unwrap();
        assert!(n >= 2, "the attempts before the restart count: {g:?}");
    }
    srv.stop().await;
}

#[tokio::test]
async fn paused_webhooks_keep_their_events_private_addresses_are_refused_and_admins_decide() {
    let dir = temp_dir();
    // Private addresses not allowed (the default).
    let srv = start_with(dir.path(), |c| {
        fast(c);
        c.webhook_allow_private_addresses = false;
        c.webhook_max_per_site = 2;
    })
    .await;
    let rx = Receiver::start(&[], Answer::Status(200)).await;
    let admin = token_of(&srv, ADMIN.0, ADMIN.1).await;

    // What a webhook may be.
    for (bad, why) in [
        (json!({"url": "ftp://example.com/x"}), "http:// or https://"),
        (json!({"url": "https://user:pw@example.com/"}), "user name"),
        (json!({"events": ["message.created"]}), "url is required"),
        (json!({"url": rx.url(), "events": []}), "at least one event"),
        (
            json!({"url": rx.url(), "events": ["message.sent"]}),
            "unknown webhook event",
        ),
    ] {
        let (s, b) = api(&srv, "POST", "/v1/webhooks", &admin, Some(bad.clone())).await;
        assert_eq!(s, 400, "{bad} → {b}");
        assert!(b["reason"].as_str().unwrap().contains(why), "{bad} → {b}");
    }
    // A plain agent may not touch them.
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
    let (s, _) = api(&srv, "GET", "/v1/webhooks", &bea, None).await;
    assert_eq!(s, 403);
    let (s, _) = api(
        &srv,
        "POST",
        "/v1/webhooks",
        &bea,
        Some(json!({"url": rx.url()})),
    )
    .await;
    assert_eq!(s, 403);

    // Paused: its events are kept, not sent.
    let paused = register(&srv, &admin, json!({"url": rx.url(), "paused": true})).await;
    let refused = register(
        &srv,
        &admin,
        json!({"url": rx.url(), "events": ["message.created"]}),
    )
    .await;
    let (s, b) = api(
        &srv,
        "POST",
        "/v1/webhooks",
        &admin,
        Some(json!({"url": rx.url()})),
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (409, Some("conflict")),
        "webhook_max_per_site: {b}"
    );
    visitor_says(&srv, "p-1", "Anyone?").await;
    let list = |srv: &TestServer, admin: String| {
        let addr = srv.addr;
        async move {
            let (s, _, b) = http(
                addr,
                "GET",
                "/v1/webhooks",
                &[("authorization", &format!("Bearer {admin}"))],
                "",
            )
            .await;
            assert_eq!(s, 200);
            serde_json::from_str::<Value>(&b).unwrap()["webhooks"].clone()
        }
    };
    // The unpaused one goes to a loopback address: refused, given up at once.
    let mut hooks = Value::Null;
    for _ in 0..100 {
        hooks = list(&srv, admin.clone()).await;
        if hooks[1]["last_error"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let err = hooks[1]["last_error"].as_str().unwrap_or("");
    assert!(err.contains("webhook_allow_private_addresses"), "{hooks}");
    assert_eq!(hooks[1]["pending"], 0, "{hooks}");
    assert_eq!(hooks[0]["pending"], 2, "paused: both events kept: {hooks}");
    assert!(rx.got().is_empty(), "nothing was sent: {:?}", rx.got());

    let failed = format!("/v1/webhooks/{}/deliveries?state=failed", refused["id"]);
    let (s, b) = api(&srv, "GET", &failed, &admin, None).await;
    assert_eq!(s, 200, "{b}");
    let d = &b["deliveries"][0];
    assert_eq!(
        (d["event"].as_str(), d["attempts"].as_i64()),
        (Some("message.created"), Some(1)),
        "{b}"
    );
    // An admin sends it again: pending, then refused again.
    let retry = format!(
        "/v1/webhooks/{}/deliveries/{}/retry",
        refused["id"], d["id"]
    );
    let (s, b) = api(&srv, "POST", &retry, &admin, None).await;
    assert_eq!(s, 200, "{b}");
    for _ in 0..100 {
        let (_, b) = api(&srv, "GET", &failed, &admin, None).await;
        if b["deliveries"][0]["attempts"] == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, b) = api(&srv, "GET", &failed, &admin, None).await;
    assert_eq!(b["deliveries"][0]["attempts"], 2, "{b}");
    // Only a failed delivery can be sent again (not a pending one), and only through its
    // own webhook.
    let pending = format!("/v1/webhooks/{}/deliveries?state=pending", paused["id"]);
    let (_, b) = api(&srv, "GET", &pending, &admin, None).await;
    let waiting = &b["deliveries"][0];
    assert_eq!(waiting["attempts"], 0, "{b}");
    let early = format!(
        "/v1/webhooks/{}/deliveries/{}/retry",
        paused["id"], waiting["id"]
    );
    let (s, _) = api(&srv, "POST", &early, &admin, None).await;
    let wrong = format!("/v1/webhooks/{}/deliveries/{}/retry", paused["id"], d["id"]);
    let (s2, _) = api(&srv, "POST", &wrong, &admin, None).await;
    assert_eq!((s, s2), (404, 404));

    // Resuming the paused webhook (moved to an address it may reach: none here, so the
    // deliveries fail, which shows they were sent).
    let path = format!("/v1/webhooks/{}", paused["id"]);
    let (s, b) = api(&srv, "PATCH", &path, &admin, Some(json!({"paused": false}))).await;
    assert_eq!((s, &b["webhook"]["paused"]), (200, &json!(false)), "{b}");
    for _ in 0..100 {
        hooks = list(&srv, admin.clone()).await;
        if hooks[0]["pending"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        hooks[0]["pending"], 0,
        "resumed, its deliveries were tried: {hooks}"
    );

    // Deleting a webhook deletes its deliveries.
    let (s, _) = api(&srv, "DELETE", &path, &admin, None).await;
    assert_eq!(s, 200);
    let (s, _) = api(&srv, "GET", &format!("{path}/deliveries"), &admin, None).await;
    assert_eq!(s, 404);
    srv.stop().await;
}
