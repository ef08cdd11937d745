//! The accept loop and the life of each TCP connection.
//!
//! Owns: accepting (surviving EMFILE and other accept errors with a back-off), the
//! connection caps — in all and per client address (over either: a bare `503` and
//! close; the client address of a trusted proxy's connection is the one its PROXY
//! protocol header names, `proxy_header.rs`) — the whole-request deadline for headers (bodies: `web::read_body`), serving
//! HTTP/1 with upgrades, and the
//! graceful shutdown order: stop accepting → tell every connection to reconnect (the
//! shutdown signal) → await the connection tasks (bounded by the grace) → stop the
//! timers → flush the writer. Every task it starts is a connection task of the hub's
//! `Tasks`, so the drain is one await, not a watch on gauges. Knows nothing of frames or
//! storage.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::core::hub::Hub;
use crate::core::Shutdown;
use crate::http::{handle, HttpCtx};
use crate::transport::channel;

mod proxy_header;

/// Longest back-off after repeated accept errors.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Serve until `shutdown` fires, then drain and flush. Returns when it is safe to exit.
pub async fn run(listener: TcpListener, hub: Hub, shutdown: Shutdown) {
    let channels = channel::Registry::new(&hub);
    accept_loop(&listener, &hub, &channels, shutdown.clone()).await;
    drop(listener);
    // Its sites go to other nodes now: the clients told to move find them there.
    hub.leave_cluster().await;
    // Connections saw the same signal and are saying goodbye: await them, bounded.
    let grace = hub.config().shutdown_grace() + Duration::from_secs(1);
    if !hub.tasks().drain(grace).await {
        tracing::warn!(
            left = hub.connections(),
            tasks = hub.tasks().connections(),
            "connections still open at shutdown"
        );
    }
    // Timers, then the writer: it commits everything queued before it stops.
    hub.shutdown().await;
    tracing::info!("shutdown complete");
}

async fn accept_loop(
    listener: &TcpListener,
    hub: &Hub,
    channels: &Arc<channel::Registry>,
    mut shutdown: Shutdown,
) {
    let mut backoff = Duration::from_millis(10);
    let proxies = hub.config().proxy_protocol_peers();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((sock, peer)) => {
                backoff = Duration::from_millis(10);
                if proxies.contains(&peer.ip()) {
                    // A trusted proxy: the client it carries is in the header it sends
                    // first. The connection counts in the cap while that is read.
                    if !hub.try_connect() {
                        hub.tasks()
                            .spawn_conn(refuse(sock, "connection limit reached"));
                        continue;
                    }
                    let (hub2, channels, shutdown) =
                        (hub.clone(), channels.clone(), shutdown.clone());
                    hub.tasks().spawn_conn(async move {
                        let mut sock = sock;
                        let limit = hub2.config().request_timeout();
                        let client = match tokio::time::timeout(
                            limit,
                            proxy_header::read(&mut sock),
                        )
                        .await
                        {
                            Ok(Ok(client)) => client.unwrap_or(peer),
                            Ok(Err(e)) => {
                                tracing::info!(%peer, error = %e, "refused a proxied connection");
                                hub2.disconnect();
                                return;
                            }
                            Err(_) => {
                                tracing::info!(%peer, "no PROXY protocol header in time");
                                hub2.disconnect();
                                return;
                            }
                        };
                        admit(sock, client, &hub2, &channels, &shutdown, true);
                    });
                    continue;
                }
                admit(sock, peer, hub, channels, &shutdown, false);
            }
            Err(e) => {
                // EMFILE/ENFILE (out of descriptors), ECONNABORTED, ENOBUFS…: log, back
                // off, keep accepting. Connections closing will free descriptors.
                tracing::warn!(error = %e, backoff_ms = backoff.as_millis() as u64, "accept failed");
                tokio::select! {
                    _ = shutdown.wait() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
            }
        }
    }
}

/// Serve a connection from `peer` (the client's address: the TCP peer's, or what a
/// trusted proxy said), within its address's budget and the connection cap (already
/// counted in it when `counted`).
fn admit(
    sock: TcpStream,
    peer: std::net::SocketAddr,
    hub: &Hub,
    channels: &Arc<channel::Registry>,
    shutdown: &Shutdown,
    counted: bool,
) {
    let Some(held) = hub.per_address().connections.take(peer.ip()) else {
        tracing::debug!(%peer, "too many connections from one address");
        if counted {
            hub.disconnect();
        }
        hub.tasks()
            .spawn_conn(refuse(sock, "too many connections from this address"));
        return;
    };
    if !counted && !hub.try_connect() {
        hub.tasks()
            .spawn_conn(refuse(sock, "connection limit reached"));
        return;
    }
    let _ = sock.set_nodelay(true);
    let stream = Counted {
        inner: sock,
        hub: hub.clone(),
        _held: held,
    };
    let ctx = HttpCtx {
        hub: hub.clone(),
        shutdown: shutdown.clone(),
        peer,
        channels: channels.clone(),
    };
    hub.tasks().spawn_conn(serve_connection(stream, ctx));
}

/// Over a connection cap: answer 503 without parsing anything, then close.
async fn refuse(mut sock: TcpStream, reason: &str) {
    let body = format!("{{\"error\":\"overloaded\",\"reason\":\"{reason}\"}}");
    let resp = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{}",
        body.len(),
        body
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        sock.write_all(resp.as_bytes()).await?;
        // Close our side, then read (and drop) what the client already sent, briefly:
        // closing with unread data would reset the connection and could lose the answer.
        sock.shutdown().await?;
        let mut sink = [0u8; 1024];
        let mut left: usize = 64 * 1024;
        while left > 0 {
            match sock.read(&mut sink).await? {
                0 => break,
                n => left = left.saturating_sub(n),
            }
        }
        io::Result::Ok(())
    })
    .await;
}

async fn serve_connection(stream: Counted, ctx: HttpCtx) {
    let mut shutdown = ctx.shutdown.clone();
    let request_timeout = ctx.hub.config().request_timeout();
    let grace = ctx.hub.config().shutdown_grace();
    let svc = service_fn(move |req| handle(req, ctx.clone()));
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(request_timeout)
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "http connection ended with an error");
            }
        }
        _ = shutdown.wait() => {
            // A request in progress (a parked poll answering with its `bye`) gets the same
            // grace as every other connection.
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(grace, conn).await;
        }
    }
}

/// A TCP stream that counts itself in the hub's connection gauge until dropped, whether
/// it ends as plain HTTP or lives on as an upgraded WebSocket.
pub(crate) struct Counted {
    inner: TcpStream,
    hub: Hub,
    /// This connection's place in its address's budget, given back on drop.
    _held: crate::core::budget::Held,
}

impl Counted {
    /// The socket, for a transport that reads and writes it directly.
    pub(crate) fn tcp(&self) -> &TcpStream {
        &self.inner
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.hub.disconnect();
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::oneshot;
    use tokio::time::{advance, Instant};

    use super::*;
    use crate::config::Config;
    use crate::core::testing::{settle, World};

    /// A server with one connection task that ends when told to.
    async fn serving() -> (
        tokio::task::JoinHandle<()>,
        crate::core::ShutdownTrigger,
        oneshot::Sender<()>,
    ) {
        let w = World::new(
            Config {
                shutdown_grace_ms: 3_000,
                ..Config::default()
            },
            |_, _| {},
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (trigger, shutdown) = Shutdown::new();
        let (end, ended) = oneshot::channel::<()>();
        w.hub.tasks().spawn_conn(async move {
            let _ = ended.await;
        });
        let server = tokio::spawn(run(listener, w.hub.clone(), shutdown));
        settle().await;
        (server, trigger, end)
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_completes_as_soon_as_the_last_connection_ends() {
        let (server, trigger, end) = serving().await;
        trigger.fire();
        advance(Duration::from_millis(2_000)).await;
        settle().await;
        assert!(
            !server.is_finished(),
            "a connection is still saying goodbye"
        );
        let last = Instant::now();
        end.send(()).unwrap();
        server.await.unwrap();
        assert_eq!(
            Instant::now(),
            last,
            "no wait after the last connection ended"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_waits_for_connections_no_longer_than_the_grace_and_a_second() {
        let (server, trigger, _end) = serving().await;
        trigger.fire();
        advance(Duration::from_millis(3_990)).await;
        settle().await;
        assert!(!server.is_finished());
        advance(Duration::from_millis(20)).await;
        server.await.unwrap();
    }
}
