//! Behind a proxy that sends the PROXY protocol header (`proxy_protocol_from`): the
//! client it names is the one the per-address limits count; a trusted peer without a
//! valid header is closed; anyone else's header is just bad HTTP.

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use support::{connect_from, http_from, start_with, temp_dir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PROXY: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// A connection from the proxy announcing `client`, with nothing sent after the header.
async fn via_proxy(addr: SocketAddr, header: &[u8]) -> TcpStream {
    let mut s = connect_from(Some(PROXY), addr).await;
    s.write_all(header).await.unwrap();
    s
}

/// Send `GET /healthz` on `s`; the status line of the answer (empty: closed unanswered).
async fn healthz(mut s: TcpStream) -> String {
    let req = "GET /healthz HTTP/1.1\r\nhost: kefu\r\nconnection: close\r\n\r\n";
    let _ = s.write_all(req.as_bytes()).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).to_string();
    text.lines().next().unwrap_or("").to_string()
        + if text.contains("too many connections from this address") {
            " (per address)"
        } else {
            ""
        }
}

fn v1(client: &str) -> Vec<u8> {
    format!("PROXY TCP4 {client} 127.0.0.1 40000 443\r\n").into_bytes()
}

#[tokio::test]
async fn the_proxys_client_is_who_the_limits_count() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| {
        c.proxy_protocol_from = "127.0.0.1".into();
        c.max_connections_per_address = 2;
    })
    .await;
    // Two connections of one client through the proxy fill that client's budget...
    let held = [
        via_proxy(srv.addr, &v1("203.0.113.7")).await,
        via_proxy(srv.addr, &v1("203.0.113.7")).await,
    ];
    tokio::time::sleep(Duration::from_millis(200)).await;
    let third = via_proxy(srv.addr, &v1("203.0.113.7")).await;
    assert_eq!(
        healthz(third).await,
        "HTTP/1.1 503 Service Unavailable (per address)"
    );
    // ...and nobody else's: another client through the same proxy, in version 2 too.
    let other = via_proxy(srv.addr, &v1("203.0.113.8")).await;
    assert_eq!(healthz(other).await, "HTTP/1.1 200 OK");
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    v2.extend_from_slice(&[198, 51, 100, 1, 127, 0, 0, 1, 0x9c, 0x40, 0x01, 0xbb]);
    assert_eq!(
        healthz(via_proxy(srv.addr, &v2).await).await,
        "HTTP/1.1 200 OK"
    );
    // The proxy's own health check (UNKNOWN) counts as the proxy.
    assert_eq!(
        healthz(via_proxy(srv.addr, b"PROXY UNKNOWN\r\n").await).await,
        "HTTP/1.1 200 OK"
    );
    drop(held);

    // From the proxy, a connection without a header is closed unanswered.
    let bare = connect_from(Some(PROXY), srv.addr).await;
    assert_eq!(healthz(bare).await, "");
    let junk = via_proxy(srv.addr, b"PROXY TCP4 not-an-address 127.0.0.1 1 2\r\n").await;
    assert_eq!(healthz(junk).await, "");

    // Anyone else: plain HTTP is served, and a PROXY line is a bad request, not believed.
    let (s, _, _) = http_from(Some(OTHER), srv.addr, "GET", "/healthz", &[], "").await;
    assert_eq!(s, 200);
    let mut forged = connect_from(Some(OTHER), srv.addr).await;
    forged.write_all(&v1("203.0.113.9")).await.unwrap();
    assert!(healthz(forged).await.starts_with("HTTP/1.1 400"));
    srv.stop().await;
}

#[tokio::test]
async fn a_proxy_that_sends_no_header_in_time_is_closed() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| {
        c.proxy_protocol_from = "127.0.0.1, ::1".into();
        c.request_timeout_ms = 300;
    })
    .await;
    let mut s = via_proxy(srv.addr, b"PROXY TCP4 203.0.").await;
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("closed within the request timeout")
        .unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    let (st, _, _) = http_from(Some(OTHER), srv.addr, "GET", "/healthz", &[], "").await;
    assert_eq!(st, 200, "the server goes on");
    srv.stop().await;
}
