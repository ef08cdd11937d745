//! Bad input over WebSocket: each gets a clear error frame or close code, and the server
//! goes on serving everyone else.

mod support;

use serde_json::{json, Value};
use support::*;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

/// A bystander that keeps chatting while others misbehave.
async fn bystander_still_served(srv: &TestServer, cid: &str) {
    let mut c = Client::connect(&srv.ws_url()).await;
    c.hello(&srv.site_key, None, None).await;
    c.msg(cid, "still here").await;
    assert_eq!(c.recv_type("ack").await["cid"], cid);
}

async fn hello(c: &mut Client, srv: &TestServer) -> Value {
    c.hello(&srv.site_key, None, None).await
}

#[tokio::test]
async fn malformed_frames_get_error_frames_and_the_link_stays_up() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let mut c = Client::connect(&srv.ws_url()).await;
    // Before hello.
    c.msg("m0", "too early").await;
    assert_eq!(c.recv_type("err").await["code"], "not_ready");
    hello(&mut c, &srv).await;
    // (frame, code, of, cid): `of` and `cid` name the refused frame whenever they can be
    // read from it; messages speak the protocol, never the server's type names.
    let long = json!({"t":"msg","cid":"long","body":"x".repeat(4001)}).to_string();
    let cases: Vec<(Message, &str, Option<&str>, Option<&str>)> = vec![
        (Message::text("{not json"), "bad_json", None, None),
        (Message::text("42"), "bad_json", None, None),
        (Message::text("[1,2,3]"), "bad_json", None, None),
        (Message::text(r#""hello""#), "bad_json", None, None),
        (
            Message::text(r#"{"t":"shout"}"#),
            "bad_frame",
            Some("shout"),
            None,
        ),
        (Message::text(r#"{"t":5}"#), "bad_frame", None, None),
        (
            Message::text(r#"{"t":"msg","body":"no cid"}"#),
            "bad_frame",
            Some("msg"),
            None,
        ),
        (
            Message::text(r#"{"t":"msg","cid":"<script>","body":"x"}"#),
            "bad_frame",
            Some("msg"),
            None,
        ),
        (
            Message::text(r#"{"t":"msg","cid":"c7","body":12}"#),
            "bad_frame",
            Some("msg"),
            Some("c7"),
        ),
        (
            Message::text(r#"{"t":"follow","conv":"seven","after":0}"#),
            "bad_frame",
            Some("follow"),
            None,
        ),
        (
            Message::text(r#"{"t":"follow","conv":999999,"after":0}"#),
            "unknown_conv",
            Some("follow"),
            None,
        ),
        (Message::binary(vec![1u8, 2, 3]), "bad_frame", None, None),
        (Message::text(long), "too_long", Some("msg"), Some("long")),
        (
            Message::text(r#"{"t":"hello","v":1,"site":"x","role":"visitor"}"#),
            "not_ready",
            Some("hello"),
            None,
        ),
    ];
    for (m, code, of, cid) in cases {
        let sent = format!("{m:?}");
        c.send_raw(m).await;
        let e = c.recv_type("err").await;
        assert_eq!(e["code"], code, "{sent}: {e}");
        assert_eq!(e["of"].as_str(), of, "{sent}: {e}");
        assert_eq!(e["cid"].as_str(), cid, "{sent}: {e}");
        let msg = e["msg"].as_str().unwrap();
        assert!(msg.len() > 3, "errors explain themselves: {e}");
        for rust in [
            "i64",
            "u64",
            "ConversationId",
            "Offset",
            "ClientFrame",
            "variant",
        ] {
            assert!(!msg.contains(rust), "no Rust type names: {e}");
        }
    }
    // The same connection still works.
    c.msg("ok1", "fine now").await;
    assert_eq!(c.recv_type("ack").await["off"], 1);
    c.send(json!({"t":"ping"})).await;
    assert_eq!(c.recv_type("pong").await["t"], "pong");
    srv.stop().await;
}

#[tokio::test]
async fn too_many_bad_frames_in_a_row_close_with_4104() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| c.max_bad_frames = 3).await;
    let mut c = Client::connect(&srv.ws_url()).await;
    // Three bad frames in a row are answered; the fourth closes.
    for n in 0..3 {
        c.send_raw(Message::text("nope")).await;
        assert_eq!(
            c.recv_type("err").await["code"],
            "bad_json",
            "bad frame {n}"
        );
    }
    c.send_raw(Message::text("nope")).await;
    assert_eq!(c.closed_with().await, 4104);
    // A good frame in between starts the count again.
    let mut c = Client::connect(&srv.ws_url()).await;
    hello(&mut c, &srv).await;
    for _ in 0..3 {
        c.send_raw(Message::text("nope")).await;
        c.recv_type("err").await;
    }
    c.send(json!({"t":"ping"})).await;
    c.recv_type("pong").await;
    for _ in 0..3 {
        c.send_raw(Message::text("nope")).await;
        c.recv_type("err").await;
    }
    c.send(json!({"t":"ping"})).await;
    c.recv_type("pong").await;
    bystander_still_served(&srv, "b1").await;
    srv.stop().await;
}

#[tokio::test]
async fn an_oversized_frame_closes_with_1009() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let mut c = Client::connect(&srv.ws_url()).await;
    hello(&mut c, &srv).await;
    let big = json!({"t":"msg","cid":"big","body":"y".repeat(20_000)}).to_string();
    c.send_raw(Message::text(big)).await;
    assert_eq!(c.closed_with().await, 1009);
    bystander_still_served(&srv, "b2").await;
    srv.stop().await;
}

#[tokio::test]
async fn invalid_utf8_closes_with_1007() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let mut c = Client::connect(&srv.ws_url()).await;
    hello(&mut c, &srv).await;
    let frame = Frame::message(vec![0x7b, 0xff, 0xfe, 0x7d], OpCode::Data(Data::Text), true);
    c.send_raw(Message::Frame(frame)).await;
    assert_eq!(c.closed_with().await, 1007);
    bystander_still_served(&srv, "b3").await;
    srv.stop().await;
}

#[tokio::test]
async fn offsets_beyond_the_head_and_wrong_epochs_are_reported() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let mut c = Client::connect(&srv.ws_url()).await;
    let w = hello(&mut c, &srv).await;
    let token = w["visitor"].as_str().unwrap().to_string();
    let mut conv = Value::Null;
    for i in 0..3 {
        c.msg(&format!("m{i}"), "x").await;
        conv = c.recv_type("ack").await["conv"].clone();
    }
    // Explicit follow: refused.
    c.send(json!({"t":"follow","conv":conv,"after":99})).await;
    let e = c.recv_type("err").await;
    assert_eq!(
        (e["code"].as_str(), e["head"].as_u64()),
        (Some("bad_offset"), Some(3))
    );
    c.send(json!({"t":"follow","conv":conv,"epoch":1,"after":0}))
        .await;
    let e = c.recv_type("err").await;
    assert_eq!(e["code"], "epoch_mismatch");
    let epoch = e["epoch"].clone();
    assert_ne!(epoch, 1);
    // Cumulative ack beyond what was sent.
    c.send(json!({"t":"ack","conv":conv,"off":50})).await;
    assert_eq!(c.recv_type("err").await["code"], "bad_ack");

    // A resume beyond the head: reported, then followed from the head.
    let mut r = Client::connect(&srv.ws_url()).await;
    r.hello(
        &srv.site_key,
        Some(&token),
        Some(json!({"conv":conv,"epoch":epoch,"after":10})),
    )
    .await;
    let e = r.recv().await;
    assert_eq!(e["code"], "bad_offset");
    assert_eq!(r.recv().await["t"], "following");
    r.msg("m9", "next").await;
    assert_eq!(
        r.recv_type("e").await["off"],
        4,
        "nothing replayed, nothing skipped"
    );

    // A resume in another epoch: reported, then the whole stream again from 1.
    let mut r = Client::connect(&srv.ws_url()).await;
    r.hello(
        &srv.site_key,
        Some(&token),
        Some(json!({"conv":conv,"epoch":12345,"after":2})),
    )
    .await;
    assert_eq!(r.recv().await["code"], "epoch_mismatch");
    assert_eq!(r.recv().await["t"], "following");
    assert_eq!(r.recv_type("e").await["off"], 1);
    srv.stop().await;
}

#[tokio::test]
async fn unknown_site_bad_version_and_agent_without_login_are_closed() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let mut c = Client::connect(&srv.ws_url()).await;
    c.send(json!({"t":"hello","v":1,"site":"s_nope","role":"visitor"}))
        .await;
    assert_eq!(c.recv_type("bye").await["code"], 4101);
    assert_eq!(c.closed_with().await, 4101);

    let mut c = Client::connect(&srv.ws_url()).await;
    c.send(json!({"t":"hello","v":9,"site":srv.site_key,"role":"visitor"}))
        .await;
    assert_eq!(c.closed_with().await, 4100);

    let mut c = Client::connect(&srv.ws_url()).await;
    c.send(json!({"t":"hello","v":1,"site":srv.site_key,"role":"agent","token":"forged"}))
        .await;
    assert_eq!(c.closed_with().await, 4103);

    // Checked before the upgrade when the URL names the site.
    let err = Client::connect_with(&format!("{}?site=s_nope", srv.ws_url()), None)
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("404"), "{err}");
    bystander_still_served(&srv, "b4").await;
    srv.stop().await;
}

#[tokio::test]
async fn a_disallowed_origin_is_refused() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let evil = Some("http://evil.example");
    let url = format!("{}?site={}", srv.ws_url(), srv.site_key);
    let err = Client::connect_with(&url, evil).await.err().unwrap();
    assert!(err.to_string().contains("403"), "{err}");
    // Without ?site the hello is refused instead.
    let mut c = Client::connect_with(&srv.ws_url(), evil).await.unwrap();
    c.send(json!({"t":"hello","v":1,"site":srv.site_key,"role":"visitor"}))
        .await;
    assert_eq!(c.closed_with().await, 4102);
    // The site's own origin is welcome.
    let own = format!("http://{}", srv.addr);
    let mut c = Client::connect_with(&url, Some(&own)).await.unwrap();
    c.hello(&srv.site_key, None, None).await;
    srv.stop().await;
}

#[tokio::test]
async fn http_refusals_have_statuses_and_reasons() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let (status, _, body) = http(srv.addr, "GET", "/nope", &[], "").await;
    assert_eq!(status, 404);
    assert!(body.contains("not_found"));
    let (status, _, body) = http(srv.addr, "GET", "/v1/ws", &[], "").await;
    assert_eq!(status, 400);
    assert!(body.contains("WebSocket upgrade"), "{body}");
    let (status, _, _) = http(srv.addr, "POST", "/healthz", &[], "").await;
    assert_eq!(status, 405);
    let (status, _, body) = http(srv.addr, "GET", "/healthz", &[], "").await;
    assert_eq!(status, 200);
    assert!(body.contains("\"ok\""));
    srv.stop().await;
}
