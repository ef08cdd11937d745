//! Replays requests shaped like IE6–IE9's (fixtures/ie8) against a real server.

mod support;

use serde_json::Value;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn fill(name: &str, srv: &TestServer, chan: &str) -> String {
    let raw = std::fs::read_to_string(format!(
        "{}/fixtures/ie8/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let origin = format!("http://{}", srv.addr);
    let raw = raw
        .replace("{{HOST}}", &srv.addr.to_string())
        .replace("{{ORIGIN}}", &origin)
        .replace("{{SITE}}", &srv.site_key)
        .replace("{{CHAN}}", chan);
    let body_len = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.len())
        .unwrap_or(0);
    raw.replace("{{LEN}}", &body_len.to_string())
}

/// Send one raw request; returns (status, lower-cased head, body).
async fn replay(srv: &TestServer, name: &str, chan: &str) -> (u16, String, String) {
    let req = fill(name, srv, chan);
    let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    // Keep-Alive requests: read one response by its content-length.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(WAIT, s.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "connection closed early");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let head = head.to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if body.len() >= len {
                let status = head.split(' ').nth(1).unwrap().parse().unwrap();
                return (status, head, body.to_string());
            }
        }
    }
}

#[tokio::test]
async fn xdomainrequest_requests_as_ie8_sends_them() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| c.poll_timeout_ms = 500).await;
    let (s, head, body) = replay(&srv, "xdr_open.http", "").await;
    assert_eq!(s, 200, "{body}");
    assert!(
        head.contains("access-control-allow-origin"),
        "XDR needs the CORS header to read the answer"
    );
    let chan = serde_json::from_str::<Value>(&body).unwrap()["chan"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, _, body) = replay(&srv, "xdr_send.http", &chan).await;
    assert_eq!(s, 200, "{body}");
    // The recorded poll acknowledges nothing (ack=0), so it answers at once with every
    // frame so far: poll again until the entry is among them.
    let mut frames = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        let (s, head, body) = replay(&srv, "xdr_poll.http", &chan).await;
        assert_eq!(s, 200);
        assert!(head.contains("cache-control: no-store"));
        let v: Value = serde_json::from_str(&body).unwrap();
        frames = v["frames"].as_array().unwrap().clone();
        if frames.iter().any(|f| f["t"] == "e") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let e = frames
        .iter()
        .find(|f| f["t"] == "e")
        .expect("the message came back");
    assert_eq!(e["body"], "你好 from IE8");
    srv.stop().await;
}

#[tokio::test]
async fn jsonp_requests_as_ie6_and_ie7_send_them() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| c.poll_timeout_ms = 500).await;
    let (s, head, body) = replay(&srv, "jsonp_open.http", "").await;
    assert_eq!(s, 200, "{body}");
    assert!(head.contains("x-content-type-options: nosniff"));
    let inner = body
        .strip_prefix("/**/kefu.cb0(")
        .and_then(|b| b.strip_suffix(");"))
        .unwrap();
    let chan = serde_json::from_str::<Value>(inner).unwrap()["chan"]
        .as_str()
        .unwrap()
        .to_string();
    // Second part first, then the first: joined once, in order.
    let (s, _, body) = replay(&srv, "jsonp_send_part2.http", &chan).await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("\"have\":1"));
    let (s, _, body) = replay(&srv, "jsonp_send_part1.http", &chan).await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("\"have\":2"));
    let mut found = None;
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        let (_, _, body) = replay(&srv, "jsonp_poll.http", &chan).await;
        let inner = body
            .strip_prefix("/**/kefu.cb3(")
            .and_then(|b| b.strip_suffix(");"))
            .unwrap();
        let v: Value = serde_json::from_str(inner).unwrap();
        if let Some(e) = v["frames"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["t"] == "e")
        {
            found = Some(e.clone());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(found.expect("entry")["body"], "你好");
    srv.stop().await;
}
