//! The tests' HTTP clients: hyper's, for well-formed requests ([`http`]), and a raw one
//! that sends bytes exactly as given ([`http_raw`]), for the requests that are malformed
//! on purpose or shaped as a particular old client sends them.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::WAIT;

/// One HTTP/1.1 request on a connection of its own; returns (status, lower-cased head,
/// body).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    http_from(None, addr, method, path, headers, body).await
}

/// A TCP connection to `addr` from source address `src` (e.g. 127.0.0.2, to stand for
/// another client), or from the default address.
pub async fn connect_from(src: Option<std::net::IpAddr>, addr: SocketAddr) -> TcpStream {
    match src {
        None => TcpStream::connect(addr).await.expect("connect"),
        Some(ip) => {
            let sock = tokio::net::TcpSocket::new_v4().unwrap();
            sock.bind(SocketAddr::new(ip, 0))
                .expect("bind a loopback source");
            sock.connect(addr).await.expect("connect")
        }
    }
}

/// `http`, from source address `src`: hyper's client on a new connection, with
/// `connection: close`, waiting for the server to close it as such a client does. The
/// head comes back as text (`http/1.1 200 ok`, then one `name: value` line per header,
/// lower-cased) for the tests to search. A request hyper will not send (a malformed path)
/// panics: send those bytes with [`http_raw`].
pub async fn http_from(
    src: Option<std::net::IpAddr>,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("connection", "close");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_else(|e| {
            panic!("{method} {path}: not a well-formed request ({e}); use http_raw")
        });
    let stream = connect_from(src, addr).await;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    let conn = tokio::spawn(conn.without_shutdown());
    let (parts, body) = tokio::time::timeout(WAIT, async {
        let (parts, body) = sender.send_request(req).await?.into_parts();
        Ok::<_, hyper::Error>((parts, body.collect().await?.to_bytes()))
    })
    .await
    .expect("response in time")
    .expect("a response");
    drop(sender);
    if let Ok(Ok(Ok(c))) = tokio::time::timeout(WAIT, conn).await {
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(WAIT, c.io.into_inner().read_to_end(&mut rest)).await;
    }
    let mut head = format!(
        "HTTP/1.1 {} {}",
        parts.status.as_u16(),
        parts.status.canonical_reason().unwrap_or("")
    );
    for (k, v) in &parts.headers {
        head.push_str(&format!(
            "\r\n{k}: {}",
            String::from_utf8_lossy(v.as_bytes())
        ));
    }
    (
        parts.status.as_u16(),
        head.to_ascii_lowercase(),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// Send `req`'s bytes exactly as they are (the caller writes every header, `Host`
/// included, and `connection: close`); returns (status, lower-cased head, body). For
/// requests that are malformed on purpose, or shaped as a particular client sends them;
/// any other request goes through [`http`].
pub async fn http_raw(addr: SocketAddr, req: &[u8]) -> (u16, String, String) {
    http_raw_from(None, addr, req).await
}

/// `http_raw`, from source address `src`.
pub async fn http_raw_from(
    src: Option<std::net::IpAddr>,
    addr: SocketAddr,
    req: &[u8],
) -> (u16, String, String) {
    let mut s = connect_from(src, addr).await;
    s.write_all(req).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut buf))
        .await
        .expect("response in time")
        .unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// Percent-encode for a query value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
