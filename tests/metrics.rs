//! `GET /metrics`: what happened, in the Prometheus/OpenMetrics text format, and only for
//! the bearer of `metrics_token` when one is set.

mod support;

use serde_json::json;
use support::*;

/// The value of the sample named exactly `name` (with its labels), if present.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_count_hellos_appends_commits_and_sign_ins() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let mut v = Client::connect(&format!("ws://{}/v1/ws", srv.addr)).await;
    v.hello(&srv.site_key, None, None).await;
    for i in 0..3 {
        v.msg(&format!("m{i}"), "hello").await;
        v.recv_type("ack").await;
    }
    let body = json!({"email": "admin@localhost", "password": "not-the-password"}).to_string();
    let (s, _, _) = http(srv.addr, "POST", "/v1/login", &[], &body).await;
    assert_eq!(s, 401);

    let (s, headers, text) = http(srv.addr, "GET", "/metrics", &[], "").await;
    assert_eq!(s, 200, "{text}");
    assert!(headers.contains("openmetrics-text"), "{headers}");
    assert_eq!(
        sample(
            &text,
            "kefu_hellos_total{role=\"visitor\",transport=\"ws\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(&text, "kefu_entries_appended_total").is_some_and(|n| n >= 3.0),
        "{text}"
    );
    assert!(
        sample(&text, "kefu_commit_seconds_count").is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        sample(&text, "kefu_commit_batch_entries_count").is_some_and(|n| n >= 1.0),
        "{text}"
    );
    // hello + 3 msgs in; welcome + 3 acks (and maybe more) out; 3 acks timed.
    assert_eq!(
        sample(&text, "kefu_frames_in_total{transport=\"ws\"}"),
        Some(4.0),
        "{text}"
    );
    assert!(
        sample(&text, "kefu_frames_out_total{transport=\"ws\"}").is_some_and(|n| n >= 4.0),
        "{text}"
    );
    assert_eq!(sample(&text, "kefu_ack_seconds_count"), Some(3.0), "{text}");
    assert_eq!(
        sample(&text, "kefu_sign_ins_total{outcome=\"refused\"}"),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(&text, "kefu_connections").is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        sample(&text, "kefu_resident_memory_bytes").is_some_and(|n| n > 0.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "kefu_store_errors_total"),
        Some(0.0),
        "{text}"
    );
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    drop(v);
    srv.stop().await;
}

#[tokio::test]
async fn with_a_token_metrics_answer_its_bearer_only() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| c.metrics_token = "m3trics-secret".into()).await;
    let (s, _, _) = http(srv.addr, "GET", "/metrics", &[], "").await;
    assert_eq!(s, 401);
    let (s, _, _) = http(
        srv.addr,
        "GET",
        "/metrics",
        &[("authorization", "Bearer wrong")],
        "",
    )
    .await;
    assert_eq!(s, 401);
    let (s, _, text) = http(
        srv.addr,
        "GET",
        "/metrics",
        &[("authorization", "Bearer m3trics-secret")],
        "",
    )
    .await;
    assert_eq!(s, 200);
    assert!(text.contains("kefu_connections"), "{text}");
    srv.stop().await;
}
