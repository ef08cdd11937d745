//! WebSocket transport: hyper upgrade + tokio-tungstenite, one text message per frame.
//!
//! Owns: the per-connection buffer and size limits on the upgraded socket (the handshake
//! is answered by `http::ws`), and mapping
//! tungstenite's errors to `Inbound` (oversized → 1009, invalid UTF-8 → 1007). Knows
//! nothing of what frames mean.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use crate::config::Config;
use crate::core::conn::{Inbound, Transport, TransportClosed};
use crate::core::hub::TransportKind;

/// Small, bounded buffers (tungstenite's defaults would allocate 128 KiB per connection).
pub(crate) fn ws_config(c: &Config) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(c.ws_read_buffer)
        .write_buffer_size(c.ws_write_buffer)
        .max_write_buffer_size(c.ws_max_write_buffer)
        .max_message_size(Some(c.max_frame_bytes))
        .max_frame_size(Some(c.max_frame_bytes))
}

pub(crate) struct WsTransport {
    ws: WebSocketStream<TokioIo<Upgraded>>,
    /// How long `close` waits for the client's Close (`ws_close_wait_ms`).
    close_wait: std::time::Duration,
}

impl WsTransport {
    /// Wrap an upgraded HTTP connection as the server side of a WebSocket.
    pub(crate) async fn new(upgraded: Upgraded, config: &Config) -> WsTransport {
        let ws = WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            Role::Server,
            Some(ws_config(config)),
        )
        .await;
        WsTransport {
            ws,
            close_wait: std::time::Duration::from_millis(config.ws_close_wait_ms),
        }
    }
}

impl Transport for WsTransport {
    fn kind(&self) -> TransportKind {
        TransportKind::WebSocket
    }

    async fn recv(&mut self) -> Inbound {
        loop {
            return match self.ws.next().await {
                Some(Ok(Message::Text(t))) => Inbound::Text(t.as_str().to_owned()),
                Some(Ok(Message::Binary(_))) => Inbound::Binary,
                // Pings are answered by tungstenite itself; pongs and raw frames mean nothing here.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Close(_))) | None => Inbound::Closed,
                Some(Err(WsError::Capacity(_))) => Inbound::TooBig,
                Some(Err(WsError::Utf8(_))) => Inbound::BadUtf8,
                Some(Err(_)) => Inbound::Closed,
            };
        }
    }

    async fn send(&mut self, frame: Bytes) -> Result<(), TransportClosed> {
        let text = Utf8Bytes::try_from(frame).map_err(|_| TransportClosed)?;
        self.ws
            .send(Message::Text(text))
            .await
            .map_err(|_| TransportClosed)
    }

    async fn feed(&mut self, frame: Bytes) -> Result<(), TransportClosed> {
        let text = Utf8Bytes::try_from(frame).map_err(|_| TransportClosed)?;
        self.ws
            .feed(Message::Text(text))
            .await
            .map_err(|_| TransportClosed)
    }

    async fn flush(&mut self) -> Result<(), TransportClosed> {
        self.ws.flush().await.map_err(|_| TransportClosed)
    }

    async fn close(&mut self, code: u16, reason: &str) {
        let sent = self
            .ws
            .close(Some(CloseFrame {
                code: CloseCode::from(code),
                reason: reason.to_owned().into(),
            }))
            .await;
        if sent.is_err() {
            return;
        }
        // Wait (bounded) for the client's Close, discarding what it still sends: closing
        // the socket with unread data in it would reset the connection, and the client
        // could lose our Close frame and its code.
        let _ = tokio::time::timeout(self.close_wait, async {
            while let Some(Ok(m)) = self.ws.next().await {
                if m.is_close() {
                    break;
                }
            }
        })
        .await;
    }
}
