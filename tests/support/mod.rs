//! Shared test support: a real kefu on 127.0.0.1:0 with a temp SQLite file, a WebSocket
//! client speaking the protocol, and a raw HTTP helper.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use kefu::config::Config;
use kefu::core::{Shutdown, ShutdownTrigger};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub addr: SocketAddr,
    pub site_key: String,
    pub db_path: PathBuf,
    trigger: ShutdownTrigger,
    handle: JoinHandle<()>,
}

/// A temp dir that lives as long as the test.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

pub fn test_config(dir: &Path) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: format!("sqlite://{}", dir.join("kefu.db").display()),
        sqlite_synchronous: "normal".into(),
        admin_password: "test-password".into(),
        ..Config::default()
    }
}

pub async fn start(dir: &Path) -> TestServer {
    start_with(dir, |_| {}).await
}

pub async fn start_with(dir: &Path, tweak: impl FnOnce(&mut Config)) -> TestServer {
    let mut config = test_config(dir);
    tweak(&mut config);
    let db_path = dir.join("kefu.db");
    let p = kefu::prepare(config).await.expect("server prepares");
    let addr = p.addr;
    let hub = p.hub.clone();
    let site_key = match &p.bootstrap {
        Some(b) => b.site.key.clone(),
        None => hub
            .blocking(|s| s.sites())
            .await
            .unwrap()
            .first()
            .expect("a site")
            .key
            .clone(),
    };
    let (trigger, shutdown) = Shutdown::new();
    let handle = tokio::spawn(kefu::server::run(p.listener, p.hub, shutdown));
    TestServer {
        addr,
        site_key,
        db_path,
        trigger,
        handle,
    }
}

impl TestServer {
    /// Graceful stop: drain and flush, like SIGTERM.
    pub async fn stop(self) {
        self.trigger.fire();
        tokio::time::timeout(Duration::from_secs(15), self.handle)
            .await
            .expect("server stops in time")
            .expect("server task");
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/v1/ws", self.addr)
    }

    /// Entries of `conv` as stored, read straight from the SQLite file.
    pub fn stored(&self, conv: i64) -> Vec<kefu::protocol::EntryFrame> {
        let store =
            kefu::store::open(&format!("sqlite://{}", self.db_path.display()), 1, false).unwrap();
        store
            .read_after(
                kefu::ids::ConversationId(conv),
                kefu::ids::Offset(0),
                1_000_000,
            )
            .unwrap()
    }
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

pub fn client_ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(1 << 20))
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        Client::connect_with(url, None).await.expect("connects")
    }

    pub async fn connect_with(
        url: &str,
        origin: Option<&str>,
    ) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        let mut req = url.into_client_request().unwrap();
        if let Some(o) = origin {
            req.headers_mut().insert("origin", o.parse().unwrap());
        }
        let (ws, _) =
            tokio_tungstenite::connect_async_with_config(req, Some(client_ws_config()), false)
                .await?;
        Ok(Client { ws })
    }

    pub async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::text(v.to_string()))
            .await
            .expect("send");
    }

    pub async fn send_raw(&mut self, m: Message) {
        self.ws.send(m).await.expect("send");
    }

    /// Next protocol frame, skipping server pings. Panics on close or timeout.
    pub async fn recv(&mut self) -> Value {
        loop {
            match self.next_message().await {
                Some(Message::Text(t)) => {
                    let v: Value = serde_json::from_str(t.as_str()).expect("server sends JSON");
                    if v["t"] == "ping" {
                        continue;
                    }
                    return v;
                }
                Some(Message::Close(c)) => panic!("unexpected close: {c:?}"),
                Some(_) => continue,
                None => panic!("connection ended"),
            }
        }
    }

    /// Next frame of type `t`, skipping others.
    pub async fn recv_type(&mut self, t: &str) -> Value {
        loop {
            let v = self.recv().await;
            if v["t"] == t {
                return v;
            }
        }
    }

    async fn next_message(&mut self) -> Option<Message> {
        match tokio::time::timeout(WAIT, self.ws.next()).await {
            Ok(Some(Ok(m))) => Some(m),
            Ok(Some(Err(_))) | Ok(None) => None,
            Err(_) => panic!("timed out waiting for a frame"),
        }
    }

    /// Read until the server closes; returns the close code (after any `bye`).
    pub async fn closed_with(&mut self) -> u16 {
        loop {
            match self.next_message().await {
                Some(Message::Close(Some(c))) => return u16::from(c.code),
                Some(Message::Close(None)) => return 1005,
                Some(_) => continue,
                None => return 1006,
            }
        }
    }

    pub async fn hello(
        &mut self,
        site: &str,
        visitor: Option<&str>,
        resume: Option<Value>,
    ) -> Value {
        let mut h = json!({"t": "hello", "v": 1, "site": site, "role": "visitor"});
        if let Some(v) = visitor {
            h["visitor"] = json!(v);
        }
        if let Some(r) = resume {
            h["resume"] = r;
        }
        self.send(h).await;
        self.recv_type("welcome").await
    }

    pub async fn msg(&mut self, cid: &str, body: &str) {
        self.send(json!({"t": "msg", "cid": cid, "body": body}))
            .await;
    }
}

/// A raw HTTP/1.1 request; returns (status, headers, body).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
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
