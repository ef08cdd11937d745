//! Bad input on the HTTP transports: clear errors, nothing else affected, nothing
//! acknowledged lost, and JSONP never reflects attacker-controlled script.

mod support;

use serde_json::{json, Value};
use support::*;

fn hello(site: &str) -> Value {
    json!({"t":"hello","v":1,"site":site,"role":"visitor"})
}

async fn server(dir: &std::path::Path) -> TestServer {
    start_with(dir, |c| {
        c.poll_timeout_ms = 500;
        c.chan_idle_ms = 2000;
        c.chan_inbound = 4;
        c.jsonp_max_pending = 2;
        c.jsonp_max_parts = 8;
    })
    .await
}

#[tokio::test]
async fn jsonp_refuses_bad_callbacks_and_long_urls_without_script() {
    let dir = temp_dir();
    let srv = server(dir.path()).await;
    let h = enc(&hello(&srv.site_key).to_string());
    for cb in [
        "alert(1)",
        "a%3Bb",
        "%3Cscript%3E",
        "1x",
        "",
        "a..b",
        "x.y.z.w",
        // Browser built-ins and prototype paths: well-formed, but never called back.
        "eval",
        "alert",
        "document.write",
        "location.assign",
        "window.alert",
        "self.x",
        "top.x",
        "parent.x",
        "frames.x",
        "globalThis.x",
        "Function",
        "execScript",
        "kefu.constructor",
        "kefu._j.__proto__",
        "kefu.constructor.constructor",
    ] {
        let (s, head, body) = http(
            srv.addr,
            "GET",
            &format!("/v1/jsonp/open?cb={cb}&f={h}"),
            &[],
            "",
        )
        .await;
        assert_eq!(s, 400, "cb={cb}");
        assert!(
            head.contains("content-type: text/plain"),
            "never script: {head}"
        );
        assert!(
            !body.contains("alert") && !body.contains('<') && !body.contains('('),
            "nothing reflected: {body}"
        );
        assert!(
            !body.contains(cb) || cb.is_empty(),
            "nothing reflected: {body}"
        );
    }
    // The same rule on negotiation, the other JSONP answer.
    for cb in ["eval", "document.write", "kefu.constructor"] {
        let (s, head, body) = http(
            srv.addr,
            "GET",
            &format!("/v1/negotiate?site={}&cb={cb}", srv.site_key),
            &[],
            "",
        )
        .await;
        assert_eq!(s, 400, "negotiate cb={cb}: {body}");
        assert!(
            head.contains("content-type: text/plain"),
            "never script: {head}"
        );
        assert!(!body.contains(cb), "nothing reflected: {body}");
    }
    // The widget's own callbacks are answered with script.
    let (s, head, body) = http(
        srv.addr,
        "GET",
        &format!("/v1/negotiate?site={}&cb=kefu._j.c1", srv.site_key),
        &[],
        "",
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert!(
        head.contains("content-type: application/javascript"),
        "{head}"
    );
    assert!(body.starts_with("/**/kefu._j.c1({"), "{body}");
    let (s, _, _) = http(srv.addr, "GET", &format!("/v1/jsonp/open?f={h}"), &[], "").await;
    assert_eq!(s, 400, "a missing callback");
    let long = "a".repeat(2100);
    let (s, _, body) = http(
        srv.addr,
        "GET",
        &format!("/v1/jsonp/send?cb=cb&chan=x&f={long}"),
        &[],
        "",
    )
    .await;
    assert_eq!(s, 414, "{body}");
    srv.stop().await;
}

#[tokio::test]
async fn unknown_channels_and_impossible_acks() {
    let dir = temp_dir();
    let srv = server(dir.path()).await;
    for path in [
        "/v1/lp/poll?chan=nope&ack=0",
        "/v1/jsonp/poll?cb=cb&chan=nope&ack=0",
    ] {
        let (s, _, body) = http(srv.addr, "GET", path, &[], "").await;
        assert_eq!(s, 200);
        assert!(body.contains("\"code\":4004"), "{body}");
    }
    let (s, _, body) = http(
        srv.addr,
        "POST",
        "/v1/lp/send?chan=nope",
        &[],
        "{\"t\":\"ping\"}",
    )
    .await;
    assert_eq!(s, 200);
    assert!(body.contains("4004"));
    let c = HttpClient::open(srv.addr, "lp", &hello(&srv.site_key)).await;
    let (s, _, body) = http(
        srv.addr,
        "GET",
        &format!("/v1/lp/poll?chan={}&ack=999", c.chan),
        &[],
        "",
    )
    .await;
    assert_eq!(s, 400);
    assert!(body.contains("beyond"), "{body}");
    let (s, _, _) = http(
        srv.addr,
        "GET",
        &format!("/v1/lp/poll?chan={}&ack=-1", c.chan),
        &[],
        "",
    )
    .await;
    assert_eq!(s, 400);
    let (s, _, _) = http(srv.addr, "GET", "/v1/lp/poll?ack=0", &[], "").await;
    assert_eq!(s, 400, "missing chan");
    srv.stop().await;
}

#[tokio::test]
async fn bodies_content_types_and_queues_are_bounded() {
    let dir = temp_dir();
    let srv = server(dir.path()).await;
    let mut c = HttpClient::open(srv.addr, "lp", &hello(&srv.site_key)).await;
    c.recv_type("welcome").await;
    let path = format!("/v1/lp/send?chan={}", c.chan);
    let big = format!("[{}]", vec![r#"{"t":"ping"}"#; 20_000].join(","));
    let (s, _, body) = http(srv.addr, "POST", &path, &[], &big).await;
    assert_eq!(s, 413, "{body}");
    let (s, _, body) = http(
        srv.addr,
        "POST",
        &path,
        &[("content-type", "application/x-www-form-urlencoded")],
        "a=1",
    )
    .await;
    assert_eq!(s, 415, "{body}");
    let (s, _, _) = http(srv.addr, "POST", &path, &[], "not json").await;
    assert_eq!(s, 400);
    let (s, _, _) = http(srv.addr, "POST", &path, &[], "[]").await;
    assert_eq!(s, 400);
    // More frames than the inbound queue holds at once: refused whole, nothing taken.
    let five = format!("[{}]", [r#"{"t":"ping"}"#; 5].join(","));
    let (s, _, body) = http(srv.addr, "POST", &path, &[], &five).await;
    assert_eq!(s, 503, "{body}");
    // Bad frames inside a good body come back as error frames on the channel.
    let (s, _, _) = http(
        srv.addr,
        "POST",
        &path,
        &[],
        r#"[{"t":"nope"},{"t":"msg","cid":"ok1","body":"fine"}]"#,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(c.recv_type("err").await["code"], "bad_frame");
    assert_eq!(c.recv_type("ack").await["cid"], "ok1");
    srv.stop().await;
}

#[tokio::test]
async fn jsonp_parts_with_inconsistent_totals_or_too_many_are_refused() {
    let dir = temp_dir();
    let srv = server(dir.path()).await;
    let mut c = HttpClient::open(srv.addr, "jsonp", &hello(&srv.site_key)).await;
    c.recv_type("welcome").await;
    let chan = c.chan.clone();
    let part = |pid: &str, i: usize, n: usize, d: &str| {
        format!(
            "/v1/jsonp/send?cb=cb&chan={chan}&pid={pid}&i={i}&n={n}&d={}",
            enc(d)
        )
    };
    let (s, _, _) = http(srv.addr, "GET", &part("p1", 0, 3, "{\"t\":"), &[], "").await;
    assert_eq!(s, 200);
    let (s, _, body) = http(srv.addr, "GET", &part("p1", 1, 4, "\"ping\""), &[], "").await;
    assert_eq!(s, 400);
    assert!(body.contains("disagree"), "{body}");
    let (s, _, _) = http(srv.addr, "GET", &part("p2", 3, 3, "x"), &[], "").await;
    assert_eq!(s, 400, "index out of range");
    let (s, _, _) = http(srv.addr, "GET", &part("p3", 0, 9, "x"), &[], "").await;
    assert_eq!(s, 400, "over jsonp_max_parts");
    // A space in the part id breaks the request line itself: sent as raw bytes.
    let bad_pid = format!(
        "GET {} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
        part("bad pid", 0, 2, "x"),
        srv.addr
    );
    let (s, _, _) = http_raw(srv.addr, bad_pid.as_bytes()).await;
    assert_eq!(s, 400);
    // At most two incomplete messages per channel.
    for pid in ["q1", "q2"] {
        let (s, _, _) = http(srv.addr, "GET", &part(pid, 0, 2, "{"), &[], "").await;
        assert_eq!(s, 200);
    }
    let (s, _, body) = http(srv.addr, "GET", &part("q3", 0, 2, "{"), &[], "").await;
    assert_eq!(s, 503, "{body}");
    // Completing one frees a place; the completed message is processed once.
    let (s, _, _) = http(
        srv.addr,
        "GET",
        &part("q1", 1, 2, "\"t\":\"ping\"}"),
        &[],
        "",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(c.recv_type("pong").await["t"], "pong");
    let (s, _, _) = http(srv.addr, "GET", &part("q3", 0, 2, "{"), &[], "").await;
    assert_eq!(s, 200);
    srv.stop().await;
}

#[tokio::test]
async fn bad_offsets_and_epochs_on_a_channel_are_reported() {
    let dir = temp_dir();
    let srv = server(dir.path()).await;
    let mut c = HttpClient::open(srv.addr, "lp", &hello(&srv.site_key)).await;
    let w = c.recv_type("welcome").await;
    c.send(&json!({"t":"msg","cid":"a1","body":"x"})).await;
    let ack = c.recv_type("ack").await;
    let conv = ack["conv"].clone();
    let token = w["visitor"].as_str().unwrap();
    let mut r = HttpClient::open(
        srv.addr,
        "lp",
        &json!({"t":"hello","v":1,"site":srv.site_key,"role":"visitor","visitor":token,"resume":{"conv":conv,"epoch":1,"after":5}}),
    )
    .await;
    assert_eq!(r.recv_type("err").await["code"], "epoch_mismatch");
    assert_eq!(
        r.recv_type("e").await["off"],
        1,
        "the whole stream again in the right epoch"
    );
    r.send(&json!({"t":"follow","conv":conv,"after":7})).await;
    assert_eq!(r.recv_type("err").await["code"], "bad_offset");
    // A channel for an unknown site ends with a bye naming the reason.
    let mut u = HttpClient::open(
        srv.addr,
        "lp",
        &json!({"t":"hello","v":1,"site":"s_nope","role":"visitor"}),
    )
    .await;
    let bye = u.recv_type("bye").await;
    assert_eq!(bye["code"], 4101);
    srv.stop().await;
}

#[tokio::test]
async fn a_channel_whose_client_vanishes_is_closed_and_resumable() {
    let dir = temp_dir();
    let srv = server(dir.path()).await;
    let mut c = HttpClient::open(srv.addr, "lp", &hello(&srv.site_key)).await;
    let w = c.recv_type("welcome").await;
    c.send(&json!({"t":"msg","cid":"v1","body":"x"})).await;
    let ack = c.recv_type("ack").await;
    // Nobody polls for longer than chan_idle_ms (2 s): the channel goes away.
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    let v = c.poll_raw(c.ack).await;
    let frames = v["frames"].as_array().unwrap();
    assert!(frames.iter().any(|f| f["t"] == "bye"), "{v}");
    // A new channel resumes where the old one stopped.
    let mut r = HttpClient::open(
        srv.addr,
        "lp",
        &json!({"t":"hello","v":1,"site":srv.site_key,"role":"visitor","visitor":w["visitor"],"resume":{"conv":ack["conv"],"after":1}}),
    )
    .await;
    assert_eq!(r.recv_type("welcome").await["head"], 1);
    srv.stop().await;
}
