//! Shared test support: a real kefu on 127.0.0.1:0 with a database of its own, a WebSocket
//! client speaking the protocol, a client of the HTTP transports and of the agent API, and
//! (in `http.rs`) the HTTP clients under them.
//!
//! The database: a SQLite file in the test's temporary directory; or, with
//! `KEFU_TEST_BACKEND=postgres` or `mysql` (and kefu built with that cargo feature), a
//! fresh database on that server (`kefu::store::testdb`), made with the directory
//! (`temp_dir`) and dropped with it. Every server a test starts on that directory, and
//! every helper reading the stored log, uses it. Suites that are SQLite's own take
//! `sqlite_dir` instead.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use kefu::config::Config;
use kefu::core::{Shutdown, ShutdownTrigger};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

mod http;
pub mod process;
pub use http::*;

pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub addr: SocketAddr,
    pub site_key: String,
    /// The database the server uses (see `database_url`).
    pub db_url: String,
    /// Where its SQLite file is, on SQLite.
    pub db_path: PathBuf,
    trigger: ShutdownTrigger,
    handle: JoinHandle<()>,
}

/// A temp dir that lives as long as the test, and the database of the servers started on
/// it (see the module's doc).
pub struct TestDir {
    dir: tempfile::TempDir,
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    _db: Option<kefu::store::testdb::TestDb>,
}

impl TestDir {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        databases().remove(self.dir.path());
    }
}

/// The server databases of the live `TestDir`s, by directory.
fn databases() -> std::sync::MutexGuard<'static, std::collections::HashMap<PathBuf, String>> {
    static DBS: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<PathBuf, String>>> =
        std::sync::OnceLock::new();
    DBS.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// A temp dir, with a database on the backend `KEFU_TEST_BACKEND` names (`sqlite`, the
/// default, needs none). A backend this build lacks fails the test.
pub fn temp_dir() -> TestDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = std::env::var("KEFU_TEST_BACKEND").unwrap_or_default();
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    {
        use kefu::store::testdb::{Server, TestDb};
        let server = match backend.as_str() {
            "" | "sqlite" => None,
            #[cfg(feature = "postgres")]
            "postgres" => Some(Server::Postgres),
            #[cfg(feature = "mysql")]
            "mysql" => Some(Server::Mysql),
            other => panic!("KEFU_TEST_BACKEND={other}: not a backend of this build"),
        };
        let db = server.map(TestDb::new);
        if let Some(db) = &db {
            databases().insert(dir.path().to_path_buf(), db.url().to_string());
        }
        TestDir { dir, _db: db }
    }
    #[cfg(not(any(feature = "postgres", feature = "mysql")))]
    {
        assert!(
            matches!(backend.as_str(), "" | "sqlite"),
            "KEFU_TEST_BACKEND={backend}: kefu's tests were built without that backend's \
             cargo feature"
        );
        TestDir { dir }
    }
}

/// A temp dir whose servers use a SQLite file whatever `KEFU_TEST_BACKEND` says: for the
/// suites about the SQLite file itself.
pub fn sqlite_dir() -> TestDir {
    TestDir {
        dir: tempfile::tempdir().expect("temp dir"),
        #[cfg(any(feature = "postgres", feature = "mysql"))]
        _db: None,
    }
}

/// The database of the servers started on `dir`: its server database, or the SQLite
/// file `kefu.db` in it.
pub fn database_url(dir: &Path) -> String {
    match databases().get(dir) {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", dir.join("kefu.db").display()),
    }
}

pub fn test_config(dir: &Path) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: database_url(dir),
        sqlite_synchronous: kefu::config::Synchronous::Normal,
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
    let db_url = config.database_url.clone();
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
        db_url,
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

    /// Entries of `conv` as stored, read straight from the database.
    pub fn stored(&self, conv: i64) -> Vec<kefu::store::Entry> {
        stored_at(&self.db_url, conv)
    }
}

/// Entries of `conv` as stored in the SQLite file at `db`.
pub fn stored_in(db: &Path, conv: i64) -> Vec<kefu::store::Entry> {
    stored_at(&format!("sqlite://{}", db.display()), conv)
}

/// Entries of `conv` as stored in the database at `url`.
pub fn stored_at(url: &str, conv: i64) -> Vec<kefu::store::Entry> {
    let store = kefu::store::open(url, &kefu::store::Options::default()).unwrap();
    store
        .read_after(
            kefu::ids::ConversationId(conv),
            kefu::ids::Offset(0),
            1_000_000,
        )
        .unwrap()
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

    /// Next protocol frame, skipping server pings. Panics on close, or when no frame but
    /// pings came for `WAIT`.
    pub async fn recv(&mut self) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only pings for {WAIT:?}"
            );
            match self.next_message().await {
                Some(Message::Text(t)) => {
                    let v: Value = serde_json::from_str(t.as_str()).expect("server sends JSON");
                    if v["t"] == "ping" {
                        // Like a real client: a slow, loaded test machine must not look dead.
                        let _ = self.ws.send(Message::text(r#"{"t":"pong"}"#)).await;
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

    /// After a visitor's first message: its `ack` and the `conv` frame that tells the
    /// conversation's epoch, which come in that order (the ack is answered on commit, the
    /// `conv` frame follows through the session). Returns `(conv, ack)`.
    pub async fn opened(&mut self) -> (Value, Value) {
        let ack = self.recv_type("ack").await;
        let conv = self.recv_type("conv").await;
        assert_eq!(ack["conv"], conv["conv"], "{ack} {conv}");
        (conv, ack)
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

    /// Read for `d`, answering pings; panics if a frame of type `t` arrives.
    pub async fn expect_none(&mut self, t: &str, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Ok(m) = tokio::time::timeout(left, self.ws.next()).await else {
                return;
            };
            match m {
                Some(Ok(Message::Text(text))) => {
                    let v: Value = serde_json::from_str(text.as_str()).expect("JSON");
                    if v["t"] == "ping" {
                        let _ = self.ws.send(Message::text(r#"{"t":"pong"}"#)).await;
                    }
                    assert_ne!(v["t"], t, "unexpected {v}");
                }
                Some(Ok(Message::Close(c))) => panic!("unexpected close: {c:?}"),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("connection failed: {e}"),
                None => panic!("connection ended"),
            }
        }
    }

    pub async fn msg(&mut self, cid: &str, body: &str) {
        self.send(json!({"t": "msg", "cid": cid, "body": body}))
            .await;
    }
}

/// A client of the HTTP transports: long-poll (`lp`), XDomainRequest (`xdr`) or JSONP.
pub struct HttpClient {
    pub addr: SocketAddr,
    pub kind: &'static str,
    pub chan: String,
    /// Last down-sequence number received.
    pub ack: u64,
    /// Frames received and not yet taken by `recv_type`.
    pub buffered: std::collections::VecDeque<Value>,
    /// Every frame received, in order.
    pub log: Vec<Value>,
}

impl HttpClient {
    /// Open a channel with `hello`.
    pub async fn open(addr: SocketAddr, kind: &'static str, hello: &Value) -> HttpClient {
        let body = match kind {
            "jsonp" => {
                let (s, _, b) = http(
                    addr,
                    "GET",
                    &format!("/v1/jsonp/open?cb=cb&f={}", enc(&hello.to_string())),
                    &[],
                    "",
                )
                .await;
                assert_eq!(s, 200, "{b}");
                unwrap_jsonp(&b)
            }
            _ => {
                let (s, _, b) = http(
                    addr,
                    "POST",
                    &format!("/v1/lp/open?tr={kind}"),
                    &[("content-type", "text/plain")],
                    &hello.to_string(),
                )
                .await;
                assert_eq!(s, 200, "{b}");
                serde_json::from_str(&b).unwrap()
            }
        };
        HttpClient {
            addr,
            kind,
            chan: body["chan"].as_str().expect("chan").to_string(),
            ack: 0,
            buffered: Default::default(),
            log: Vec::new(),
        }
    }

    /// One poll; returns its frames and advances `ack`.
    pub async fn poll(&mut self) -> Vec<Value> {
        let v = self.poll_raw(self.ack).await;
        let from = v["from"].as_u64().unwrap();
        let frames = v["frames"].as_array().unwrap().clone();
        // Frames at or below what we hold are repeats of a lost answer: skip them.
        let mut out = Vec::new();
        for (i, f) in frames.into_iter().enumerate() {
            let seq = from + i as u64;
            if seq > self.ack || from == 0 {
                out.push(f);
                if from != 0 {
                    self.ack = seq;
                }
            }
        }
        out
    }

    pub async fn poll_raw(&self, ack: u64) -> Value {
        let (s, _, b) = match self.kind {
            "jsonp" => {
                http(
                    self.addr,
                    "GET",
                    &format!("/v1/jsonp/poll?cb=cb&chan={}&ack={ack}&_=1", self.chan),
                    &[],
                    "",
                )
                .await
            }
            _ => {
                http(
                    self.addr,
                    "GET",
                    &format!("/v1/lp/poll?chan={}&ack={ack}&_=1", self.chan),
                    &[],
                    "",
                )
                .await
            }
        };
        assert_eq!(s, 200, "{b}");
        if self.kind == "jsonp" {
            unwrap_jsonp(&b)
        } else {
            serde_json::from_str(&b).unwrap()
        }
    }

    pub async fn send(&self, frame: &Value) -> (u16, String) {
        let (s, _, b) = match self.kind {
            "jsonp" => {
                http(
                    self.addr,
                    "GET",
                    &format!(
                        "/v1/jsonp/send?cb=cb&chan={}&f={}",
                        self.chan,
                        enc(&frame.to_string())
                    ),
                    &[],
                    "",
                )
                .await
            }
            _ => {
                http(
                    self.addr,
                    "POST",
                    &format!("/v1/lp/send?chan={}", self.chan),
                    &[("content-type", "text/plain")],
                    &frame.to_string(),
                )
                .await
            }
        };
        (s, b)
    }

    /// The next frame of type `t` (earlier frames of other types are dropped), polling as
    /// needed (bounded).
    pub async fn recv_type(&mut self, t: &str) -> Value {
        for _ in 0..50 {
            while let Some(f) = self.buffered.pop_front() {
                if f["t"] == t {
                    return f;
                }
            }
            let got = self.poll().await;
            self.log.extend(got.iter().cloned());
            self.buffered.extend(got);
        }
        panic!("no {t} frame; received so far: {:?}", self.log);
    }

    /// The first frame of type `t` received so far.
    pub fn logged(&self, t: &str) -> Option<&Value> {
        self.log.iter().find(|f| f["t"] == t)
    }
}

/// `/**/cb({...});` → the JSON value.
pub fn unwrap_jsonp(body: &str) -> Value {
    let inner = body
        .strip_prefix("/**/cb(")
        .and_then(|b| b.strip_suffix(");"))
        .unwrap_or_else(|| panic!("not a JSONP answer: {body}"));
    serde_json::from_str(inner).unwrap()
}

/// `POST /v1/login` → (status, body).
pub async fn login(srv: &TestServer, email: &str, password: &str) -> (u16, Value) {
    login_at(srv.addr, email, password).await
}

/// `POST /v1/login` at `addr` → (status, body).
pub async fn login_at(addr: SocketAddr, email: &str, password: &str) -> (u16, Value) {
    let body = json!({"email": email, "password": password}).to_string();
    let (s, _, b) = http(
        addr,
        "POST",
        "/v1/login",
        &[("content-type", "application/json")],
        &body,
    )
    .await;
    (s, serde_json::from_str(&b).unwrap_or(Value::Null))
}

/// The token of a signed-in agent (panics if sign-in fails).
pub async fn token_of(srv: &TestServer, email: &str, password: &str) -> String {
    let (s, b) = login(srv, email, password).await;
    assert_eq!(s, 200, "{b}");
    b["token"].as_str().unwrap().to_string()
}

/// An API call with a bearer token → (status, JSON body or null).
pub async fn api(
    srv: &TestServer,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let (s, _, b) = http(
        srv.addr,
        method,
        path,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        &body,
    )
    .await;
    (s, serde_json::from_str(&b).unwrap_or(Value::Null))
}

/// A second site with its own agent `agent@other` (password `other-pw`), written straight
/// into the database. Returns its key.
pub fn second_site(srv: &TestServer) -> String {
    let store = kefu::store::open(&srv.db_url, &kefu::store::Options::default()).unwrap();
    let site = store.add_site("Other", &[]).unwrap();
    let hash = kefu::core::auth::hash_password("other-pw").unwrap();
    store
        .add_agent(
            site.id,
            "agent@other",
            "Other agent",
            kefu::vocab::AgentRole::Agent,
            &hash,
        )
        .unwrap();
    site.key
}
