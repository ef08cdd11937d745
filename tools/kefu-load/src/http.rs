//! HTTP requests off the measured path — signing in, reading logs back, the server's
//! gauges, the floods' well-formed attacks — through hyper's own client.
//!
//! Owns: [`Conn`], one keep-alive HTTP/1.1 connection from the target's source addresses,
//! reopened when it breaks, and turning hyper's errors into `io::Error`s of the kinds the
//! rest of the tool sorts failures by. The long-poll and JSONP links are the exception:
//! their polls and sends are the hot path of the HTTP-transport benchmarks and keep the
//! hand-written client of `net.rs` (which says why).

use std::error::Error as _;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::Request;
use hyper_util::rt::TokioIo;

use crate::net::Target;

/// One keep-alive HTTP/1.1 connection, reopened when it breaks.
pub struct Conn {
    target: Arc<Target>,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    pub fn new(target: Arc<Target>) -> Conn {
        Conn {
            target,
            sender: None,
        }
    }

    /// One request → (status, body). Any failure drops the connection and is returned.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
        timeout: Duration,
    ) -> io::Result<(u16, String)> {
        let r = tokio::time::timeout(timeout, self.request_inner(method, path, headers, body))
            .await
            .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "request")));
        if r.is_err() {
            self.sender = None;
        }
        r
    }

    async fn request_inner(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> io::Result<(u16, String)> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.target.addr().to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // A kept connection the server closed since (idle, or `connection: close`) is
        // replaced before the request goes out.
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            self.sender = None;
        }
        let sender = match &mut self.sender {
            Some(s) => s,
            None => self.sender.insert(self.open().await?),
        };
        sender.ready().await.map_err(io_error)?;
        let res = sender.send_request(req).await.map_err(io_error)?;
        let status = res.status().as_u16();
        let body = res.into_body().collect().await.map_err(io_error)?;
        Ok((
            status,
            String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        ))
    }

    async fn open(&self) -> io::Result<SendRequest<Full<Bytes>>> {
        let tcp = self.target.tcp().await?;
        let (sender, conn) = http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(io_error)?;
        // The connection ends when the server closes it or the sender is dropped.
        tokio::spawn(conn);
        Ok(sender)
    }
}

/// hyper's error as an `io::Error` of the kind the underlying failure had, so that
/// "connection closed" and "timeout" are told apart from other errors.
fn io_error(e: hyper::Error) -> io::Error {
    if let Some(kind) = e
        .source()
        .and_then(|s| s.downcast_ref::<io::Error>())
        .map(io::Error::kind)
    {
        return io::Error::new(kind, e);
    }
    if e.is_incomplete_message() || e.is_closed() || e.is_canceled() {
        return io::Error::new(io::ErrorKind::UnexpectedEof, e);
    }
    if e.is_timeout() {
        return io::Error::new(io::ErrorKind::TimedOut, e);
    }
    io::Error::other(e)
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A server that answers every request on a connection with `answer`, reading
    /// requests up to their blank line (they have no bodies here), and closes after
    /// `per_conn` of them.
    async fn server(answer: &'static str, per_conn: usize) -> Arc<Target> {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    for _ in 0..per_conn {
                        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                            match s.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
                        buf.drain(..end + 4);
                        if s.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Target::new(addr, Vec::new(), Duration::from_secs(5)).unwrap()
    }

    #[tokio::test]
    async fn keeps_the_connection_and_reopens_it_when_the_server_closed_it() {
        let t = server("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", 2).await;
        let mut c = Conn::new(t);
        let mut ok = 0;
        for _ in 0..6 {
            let r = c
                .request("GET", "/healthz", &[], "", Duration::from_secs(5))
                .await;
            // A request may meet the connection closing under it: the next one reopens.
            match r {
                Ok(r) => {
                    assert_eq!(r, (200, "ok".to_string()));
                    ok += 1;
                }
                Err(e) => assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}"),
            }
        }
        assert!(ok >= 4, "{ok} of 6 answered");
    }

    #[tokio::test]
    async fn a_server_that_closes_without_answering_is_a_closed_connection() {
        let t = server("", 0).await;
        let e = Conn::new(t)
            .request("GET", "/", &[], "", Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
            ),
            "{e:?}"
        );
    }
}
