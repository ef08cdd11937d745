//! Every tunable of the server, with its documented default (`docs/config.md`).
//!
//! Owns: the `Config` struct, the words some of its fields take (`Assignment`,
//! `Synchronous`: read from the same strings in the file and the environment, refused
//! with a message naming the field), loading it from a TOML file, and the precedence rule
//! defaults < file < environment (`KEFU_*`) < flags (applied by `main`). Knows nothing of
//! what the values drive.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Server configuration. Each field says why it exists; `docs/config.md` repeats it for
/// operators.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Store location: `sqlite://path/to/file.db` (the default backend).
    pub database_url: String,
    /// Public base URL printed at start-up and used for the first site's allowed origins;
    /// derived from `listen` when empty.
    pub public_url: String,
    /// This node's id in a cluster of nodes sharing one database (`docs/deploy.md`,
    /// "Several nodes"): 1–64 of `[A-Za-z0-9_.-]`. Empty (the default): the node runs
    /// alone and serves every site, with no heartbeats and no leases.
    pub node_id: String,
    /// How often a node heartbeats its row and renews its site leases, in ms.
    pub node_beat_ms: u64,
    /// A node whose last heartbeat is older than this many beats is dead: its sites move.
    /// Its leases last as long, so a node that cannot renew them stops serving its sites
    /// before another node may take them. On the database servers a third of that time
    /// bounds a write's wait for a row lock and a silent write transaction's life.
    pub node_dead_beats: u32,
    /// Interval of server `ping` frames, in ms. A link with no inbound frame for
    /// 2 × this + 1 s is dead.
    pub heartbeat_ms: u64,
    /// Most simultaneous client connections (TCP). Past it, new connections get 503.
    pub max_connections: usize,
    /// Most simultaneous TCP connections from one address (an IPv4 address, or an IPv6
    /// /64). Past it, that address's new connections get 503; others are not affected.
    /// Visitors behind one NAT share it: leave room for an office or a campus.
    pub max_connections_per_address: usize,
    /// When set, `/metrics` answers only requests with `Authorization: Bearer <this>`.
    pub metrics_token: String,
    /// Addresses of reverse proxies that send the PROXY protocol header (HAProxy's,
    /// version 1 or 2) first on each connection, separated by spaces or commas. From
    /// them, the client address the header names is used for the per-address limits and
    /// logs; a connection from them without a valid header is closed. Empty: none.
    pub proxy_protocol_from: String,
    /// A whole HTTP request — headers and body — must arrive within this many ms, else
    /// 408 and the connection is closed (slow-body and slow-header attacks).
    pub request_timeout_ms: u64,
    /// Largest frame (WebSocket message or HTTP body) in bytes.
    pub max_frame_bytes: usize,
    /// Longest chat message body, in characters.
    pub max_body_chars: usize,
    /// Most streams one connection may follow.
    pub max_follows: usize,
    /// Bad frames in a row before the connection is closed with 4104.
    pub max_bad_frames: u32,
    /// A connection must say `hello` within this many ms of opening (other frames do not
    /// count), else it is closed with 4002.
    pub hello_timeout_ms: u64,
    /// Messages of one connection waiting for their commit before it stops reading.
    pub max_inflight: usize,
    /// Messages waiting for the writer, all connections together. Past it: `overloaded`.
    pub writer_queue: usize,
    /// Most messages committed in one transaction.
    pub writer_batch: usize,
    /// Entries of each live stream kept in memory for resumes and fan-out.
    pub stream_tail: usize,
    /// Entries read from the store per page when a client catches up.
    pub catch_up_page: usize,
    /// A write that cannot complete within this many ms marks the client slow (4001).
    pub write_timeout_ms: u64,
    /// Bytes a WebSocket connection asks of its socket at a time when no frame is half
    /// read (the rest of a frame whose header arrived is read at once). The buffer exists
    /// only while bytes wait to become frames: an idle connection holds none.
    pub ws_read_buffer: usize,
    /// Outgoing WebSocket bytes gathered before a write to the socket. Frames sent
    /// together (a catch-up page, a wake's worth of entries) go out in one write; every
    /// batch ends with a flush, so nothing waits here.
    pub ws_write_buffer: usize,
    /// Most WebSocket bytes gathered per connection before they are written: frames past
    /// it are written out first, and a single frame larger than it (a busy site's visitor
    /// list) is written from where it was encoded, not copied. Nothing stays buffered
    /// after a flush.
    pub ws_max_write_buffer: usize,
    /// After sending its Close frame, how long the server waits for the client's Close
    /// (reading and discarding anything else) before dropping the connection, in ms.
    pub ws_close_wait_ms: u64,
    /// Read-only store connections (SQLite WAL readers).
    pub read_pool_size: u32,
    /// On shutdown, how long connections get to receive their last acks and close, in ms.
    pub shutdown_grace_ms: u64,
    /// How long a parked long-poll waits for frames before answering empty, in ms.
    pub poll_timeout_ms: u64,
    /// An HTTP channel with no poll and no send for this long is closed, in ms. Must
    /// exceed `poll_timeout_ms`.
    pub chan_idle_ms: u64,
    /// Most open HTTP channels (long-poll, XDR, JSONP) in the process. Past it: 503.
    pub max_channels: usize,
    /// Most open HTTP channels opened from one address. Past it: 503 for that address.
    pub max_channels_per_address: usize,
    /// A channel must be polled within this many ms of being opened, else it is closed
    /// (a client that opens channels and never polls them holds nothing for long).
    pub chan_first_poll_ms: u64,
    /// Frames posted to one channel and not yet processed. Past it: 503, resend later.
    pub chan_inbound: usize,
    /// Unacknowledged frames one channel holds for its next poll. Past it the channel
    /// stops taking frames, and after `write_timeout_ms` is closed as slow.
    pub chan_outbox: usize,
    /// Longest request URL (path and query) on JSONP endpoints, in bytes. Past it: 414.
    pub max_url_bytes: usize,
    /// Most parts one JSONP message may be split into.
    pub jsonp_max_parts: usize,
    /// Incomplete JSONP messages per channel.
    pub jsonp_max_pending: usize,
    /// Incomplete JSONP messages in the whole process.
    pub jsonp_max_pending_total: usize,
    /// Incomplete JSONP messages of all channels opened from one address.
    pub jsonp_max_pending_per_address: usize,
    /// An incomplete JSONP message is dropped after this many ms.
    pub jsonp_part_ttl_ms: u64,
    /// Connections (sockets and HTTP channels) one visitor session may hold at once; past
    /// it a new one is closed with 4003. Bounds parked polls per session.
    pub max_session_connections: usize,
    /// Volatile frames (presence, typing, invitations) queued per connection; past it
    /// the queue is replaced by a fresh snapshot.
    pub volatile_queue: usize,
    /// A visitor whose last connection closed is shown as gone after this many ms (a
    /// page reload does not flicker in the agents' list).
    pub presence_grace_ms: u64,
    /// Least time between two forwarded `typing` frames of one connection, in ms.
    pub typing_interval_ms: u64,
    /// Volatile frames (`typing`, `page`, `presence`) one connection may send per second,
    /// with bursts of twice as many; the rest are dropped (they are volatile: the next
    /// one replaces a lost one).
    pub volatile_per_sec: u32,
    /// Pending invitations per visitor.
    pub max_invites: usize,
    /// A visitor gets at most one automatic invitation per this many ms.
    pub auto_invite_interval_ms: u64,
    /// Automatic invitation rules per site.
    pub max_rules: usize,
    /// Canned responses per site.
    pub max_canned: usize,
    /// Sites one person (an admin's email) may administer when admins create sites
    /// through the API (`POST /v1/sites`); 0: only the command line creates sites.
    pub max_sites_per_admin: usize,
    /// Open conversations one agent is given at most.
    pub agent_capacity: usize,
    /// How new conversations are given to agents: `least-busy` or `round-robin`.
    pub assignment: Assignment,
    /// A conversation its agent has not answered for this many ms goes to another agent.
    pub reassign_after_ms: u64,
    /// An open conversation whose visitor is not on line and that saw no entry for this
    /// many ms is closed (a `close` entry by kefu), so forgotten chats do not fill agents'
    /// capacity. 0: never.
    pub idle_close_ms: u64,
    /// How long a visitor session outlives its last connection, in ms, so a reload or a
    /// frozen phone that comes back keeps the same session.
    pub session_grace_ms: u64,
    /// How long an agent sign-in token stays valid, in ms.
    pub token_ttl_ms: u64,
    /// Failed sign-ins of one account (email) from one address before that address's
    /// attempts on it are refused (429)…
    pub login_max_failures: u32,
    /// Failed sign-ins of one account from all addresses together before every attempt
    /// on it is refused (guessing spread over many addresses)…
    pub login_max_failures_per_account: u32,
    /// Failed sign-ins from one address, for any emails, before that address is refused…
    pub login_max_failures_per_address: u32,
    /// …for this many ms (both limits).
    pub login_window_ms: u64,
    /// Sign-ins from one address being checked at once; more get 429 at once.
    pub login_concurrency_per_address: usize,
    /// Threads checking passwords (argon2, about 19 MiB each, allocated once).
    pub hash_threads: usize,
    /// Sign-ins waiting for a password thread, all addresses together. Past it: 503
    /// with `Retry-After` at once — the global bound on sign-in work.
    pub hash_queue: usize,
    /// Password of the admin created on a new database; random (and printed once) when
    /// empty.
    pub admin_password: String,
    /// SQLite `synchronous`: `full` (every commit fsynced: survives power loss) or
    /// `normal` (survives a process crash, not a power cut).
    pub sqlite_synchronous: Synchronous,
    /// Webhooks one site may register (`POST /v1/webhooks` answers 409 beyond).
    pub webhook_max_per_site: usize,
    /// Deliveries in flight at once, all webhooks together: the bound on the memory and
    /// sockets webhooks use, however many events wait.
    pub webhook_concurrency: usize,
    /// One delivery attempt — connecting, sending, the answer's status — must end within
    /// this many ms, else it failed and is retried.
    pub webhook_timeout_ms: u64,
    /// How often the outbox is looked at for deliveries due, in ms: the most an event
    /// waits before its first attempt (beyond the attempts already in flight).
    pub webhook_poll_ms: u64,
    /// The wait before the first retry of a failed delivery, in ms; each later wait is
    /// twice the one before, up to `webhook_retry_max_ms`.
    pub webhook_retry_first_ms: u64,
    /// The longest wait between two attempts, in ms.
    pub webhook_retry_max_ms: u64,
    /// A delivery still failing this many ms after its event is given up (`failed`;
    /// an admin may send it again). Paused webhooks' deliveries too.
    pub webhook_retry_for_ms: u64,
    /// Delivered and failed deliveries are kept this many ms (for the console and the
    /// API to show), then deleted.
    pub webhook_keep_ms: u64,
    /// Let webhooks reach loopback, private and other special-purpose addresses. Off:
    /// an admin of one site cannot make the server probe the network it runs in.
    pub webhook_allow_private_addresses: bool,
}

/// How the desk gives a new conversation to an available agent (`assignment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Assignment {
    /// The one with the fewest open conversations.
    #[serde(rename = "least-busy")]
    LeastBusy,
    /// Each in turn.
    #[serde(rename = "round-robin")]
    RoundRobin,
}

impl Assignment {
    pub const ALL: [Assignment; 2] = [Assignment::LeastBusy, Assignment::RoundRobin];

    pub fn as_str(self) -> &'static str {
        match self {
            Assignment::LeastBusy => "least-busy",
            Assignment::RoundRobin => "round-robin",
        }
    }
}

/// SQLite's `synchronous` (`sqlite_synchronous`): what a commit survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// Every commit fsynced: survives power loss.
    Full,
    /// Survives a process crash, not a power cut.
    Normal,
}

impl Synchronous {
    pub const ALL: [Synchronous; 2] = [Synchronous::Full, Synchronous::Normal];

    pub fn as_str(self) -> &'static str {
        match self {
            Synchronous::Full => "full",
            Synchronous::Normal => "normal",
        }
    }
}

/// `Display` and `FromStr` by `as_str` (`vocab`'s rule), refusing anything else with
/// `$msg`; `Deserialize` from the same strings (in the TOML file and `KEFU_*`), with the
/// same message.
macro_rules! config_words {
    ($ty:ident, $msg:literal) => {
        crate::vocab::words!($ty, |_| $msg.to_string());

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                String::deserialize(d)?
                    .parse()
                    .map_err(serde::de::Error::custom)
            }
        }
    };
}

config_words!(
    Assignment,
    "assignment must be \"least-busy\" or \"round-robin\""
);
config_words!(
    Synchronous,
    "sqlite_synchronous must be \"full\" or \"normal\""
);

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: "127.0.0.1:8080".parse().expect("valid default address"),
            database_url: "sqlite://data/kefu.db".to_string(),
            public_url: String::new(),
            node_id: String::new(),
            node_beat_ms: 1000,
            node_dead_beats: 3,
            heartbeat_ms: 3000,
            max_connections: 19_900,
            max_connections_per_address: 512,
            proxy_protocol_from: String::new(),
            metrics_token: String::new(),
            request_timeout_ms: 10_000,
            max_frame_bytes: 16 * 1024,
            max_body_chars: 4000,
            max_follows: 256,
            max_bad_frames: 16,
            hello_timeout_ms: 10_000,
            max_inflight: 256,
            writer_queue: 65_536,
            writer_batch: 4096,
            stream_tail: 64,
            catch_up_page: 256,
            write_timeout_ms: 10_000,
            ws_read_buffer: 4096,
            ws_write_buffer: 8 * 1024,
            ws_max_write_buffer: 64 * 1024,
            ws_close_wait_ms: 1000,
            read_pool_size: 4,
            shutdown_grace_ms: 3000,
            poll_timeout_ms: 25_000,
            chan_idle_ms: 40_000,
            max_channels: 19_900,
            max_channels_per_address: 256,
            chan_first_poll_ms: 10_000,
            chan_inbound: 64,
            chan_outbox: 512,
            max_url_bytes: 2048,
            jsonp_max_parts: 32,
            jsonp_max_pending: 8,
            jsonp_max_pending_total: 10_000,
            jsonp_max_pending_per_address: 64,
            jsonp_part_ttl_ms: 30_000,
            session_grace_ms: 60_000,
            max_session_connections: 32,
            volatile_queue: 256,
            presence_grace_ms: 10_000,
            typing_interval_ms: 200,
            volatile_per_sec: 10,
            max_invites: 4,
            auto_invite_interval_ms: 600_000,
            max_rules: 50,
            max_canned: 500,
            max_sites_per_admin: 20,
            agent_capacity: 5,
            assignment: Assignment::LeastBusy,
            reassign_after_ms: 60_000,
            idle_close_ms: 30 * 60 * 1000,
            admin_password: String::new(),
            token_ttl_ms: 7 * 24 * 3600 * 1000,
            login_max_failures: 5,
            login_max_failures_per_account: 50,
            login_max_failures_per_address: 20,
            login_window_ms: 300_000,
            login_concurrency_per_address: 2,
            hash_threads: 2,
            hash_queue: 16,
            sqlite_synchronous: Synchronous::Full,
            webhook_max_per_site: 10,
            webhook_concurrency: 8,
            webhook_timeout_ms: 10_000,
            webhook_poll_ms: 250,
            webhook_retry_first_ms: 10_000,
            webhook_retry_max_ms: 3_600_000,
            webhook_retry_for_ms: 3 * 24 * 3600 * 1000,
            webhook_keep_ms: 7 * 24 * 3600 * 1000,
            webhook_allow_private_addresses: false,
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Defaults overlaid with a TOML file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    /// The names of all fields (the keys of the TOML file and of `KEFU_<FIELD>`).
    pub fn field_names() -> Vec<String> {
        match toml::Table::try_from(Config::default()) {
            Ok(t) => t.keys().cloned().collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Reject values that cannot work, with a message naming the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(w) = self
            .proxy_protocol_from
            .split([' ', ','])
            .find(|w| !w.is_empty() && w.parse::<std::net::IpAddr>().is_err())
        {
            return Err(ConfigError::Invalid(format!(
                "proxy_protocol_from: {w:?} is not an IP address"
            )));
        }
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        if self.heartbeat_ms < 100 {
            return bad("heartbeat_ms must be at least 100");
        }
        if self.hello_timeout_ms < 100 {
            return bad("hello_timeout_ms must be at least 100");
        }
        if self.max_connections == 0 {
            return bad("max_connections must be at least 1");
        }
        if self.max_frame_bytes < 512 {
            return bad("max_frame_bytes must be at least 512");
        }
        if self.max_body_chars == 0 || self.max_body_chars > self.max_frame_bytes {
            return bad("max_body_chars must be between 1 and max_frame_bytes");
        }
        if self.writer_batch == 0 || self.writer_queue == 0 || self.max_inflight == 0 {
            return bad("writer_batch, writer_queue and max_inflight must be at least 1");
        }
        if self.stream_tail == 0 || self.catch_up_page == 0 {
            return bad("stream_tail and catch_up_page must be at least 1");
        }
        if self.ws_read_buffer < 256 {
            return bad("ws_read_buffer must be at least 256");
        }
        if self.ws_write_buffer >= self.ws_max_write_buffer {
            return bad("ws_write_buffer must be below ws_max_write_buffer");
        }
        if self.read_pool_size == 0 {
            return bad("read_pool_size must be at least 1");
        }
        let id_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
        if self.node_id.len() > 64 || !self.node_id.chars().all(id_ok) {
            return bad("node_id must be 1-64 characters of A-Z a-z 0-9 _ . - (or empty)");
        }
        if self.node_beat_ms < 50 || self.node_dead_beats < 2 {
            return bad("node_beat_ms must be at least 50 and node_dead_beats at least 2");
        }
        if self.poll_timeout_ms < 100 || self.chan_idle_ms <= self.poll_timeout_ms {
            return bad("poll_timeout_ms must be at least 100 and below chan_idle_ms");
        }
        if self.max_channels == 0 || self.chan_inbound == 0 || self.chan_outbox < 8 {
            return bad("max_channels and chan_inbound must be at least 1, chan_outbox at least 8");
        }
        if self.max_url_bytes < 256 || self.jsonp_max_parts == 0 || self.jsonp_max_pending == 0 {
            return bad("max_url_bytes must be at least 256; jsonp_max_parts and jsonp_max_pending at least 1");
        }
        if self.max_connections_per_address == 0
            || self.max_channels_per_address == 0
            || self.jsonp_max_pending_per_address == 0
            || self.login_concurrency_per_address == 0
        {
            return bad("per-address limits must be at least 1");
        }
        if self.webhook_concurrency == 0
            || self.webhook_timeout_ms < 100
            || self.webhook_poll_ms < 10
            || self.webhook_retry_first_ms == 0
            || self.webhook_retry_max_ms < self.webhook_retry_first_ms
        {
            return bad(
                "webhook_concurrency must be at least 1, webhook_timeout_ms at least 100, \
                 webhook_poll_ms at least 10, webhook_retry_first_ms at least 1 and at most \
                 webhook_retry_max_ms",
            );
        }
        if self.request_timeout_ms < 100 || self.chan_first_poll_ms < 100 {
            return bad("request_timeout_ms and chan_first_poll_ms must be at least 100");
        }
        if self.hash_threads == 0 || self.hash_queue == 0 || self.volatile_per_sec == 0 {
            return bad("hash_threads, hash_queue and volatile_per_sec must be at least 1");
        }
        if self.agent_capacity == 0 {
            return bad("agent_capacity must be at least 1");
        }
        Ok(())
    }

    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms)
    }

    /// No inbound frame for this long: the link is dead.
    pub fn dead_after(&self) -> Duration {
        Duration::from_millis(2 * self.heartbeat_ms + 1000)
    }

    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms)
    }

    pub fn poll_timeout(&self) -> Duration {
        Duration::from_millis(self.poll_timeout_ms)
    }

    pub fn chan_idle(&self) -> Duration {
        Duration::from_millis(self.chan_idle_ms)
    }

    pub fn presence_grace(&self) -> Duration {
        Duration::from_millis(self.presence_grace_ms)
    }

    pub fn session_grace(&self) -> Duration {
        Duration::from_millis(self.session_grace_ms)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }

    /// How long a node's silence (and a lease) lasts before it counts as dead.
    pub fn node_dead_after(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.node_beat_ms * u64::from(self.node_dead_beats))
    }

    /// The URL people open: `public_url`, else `http://<listen>`.
    /// The addresses of `proxy_protocol_from` (those that parse: `validate` refuses the
    /// rest).
    pub fn proxy_protocol_peers(&self) -> Vec<std::net::IpAddr> {
        self.proxy_protocol_from
            .split([' ', ','])
            .filter(|w| !w.is_empty())
            .filter_map(|w| w.parse().ok())
            .collect()
    }

    pub fn base_url(&self) -> String {
        if !self.public_url.is_empty() {
            return self.public_url.trim_end_matches('/').to_string();
        }
        format!("http://{}", self.listen)
    }

    /// The WebSocket endpoint under the base URL: `ws://…/v1/ws` (`wss://` behind TLS).
    pub fn ws_url(&self) -> String {
        ws_url_of(&self.base_url())
    }
}

/// The WebSocket endpoint under a base URL: `ws://…/v1/ws` (`wss://` behind TLS).
pub fn ws_url_of(base: &str) -> String {
    let rest = base
        .strip_prefix("https://")
        .map(|r| format!("wss://{r}"))
        .or_else(|| base.strip_prefix("http://").map(|r| format!("ws://{r}")));
    format!("{}/v1/ws", rest.unwrap_or_else(|| base.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_documented() {
        let doc = include_str!("../docs/config.md");
        let src = include_str!("config.rs");
        let start = src.find("pub struct Config {").unwrap();
        let end = start + src[start..].find("\n}").unwrap();
        let fields: Vec<&str> = src[start..end]
            .lines()
            .filter_map(|l| l.trim().strip_prefix("pub "))
            .filter_map(|l| l.split(':').next())
            .filter(|f| !f.starts_with("struct"))
            .collect();
        assert!(fields.len() > 30, "{fields:?}");
        for f in fields {
            assert!(
                doc.contains(&format!("| `{f}` |")),
                "docs/config.md lacks {f}"
            );
        }
    }

    #[test]
    fn field_names_cover_the_struct() {
        let names = Config::field_names();
        assert!(names.contains(&"heartbeat_ms".to_string()));
        assert!(names.contains(&"listen".to_string()));
        assert!(names.len() > 30);
    }

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn file_overrides_defaults_and_rejects_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kefu.toml");
        std::fs::write(&p, "heartbeat_ms = 500\nlisten = \"127.0.0.1:9\"\n").unwrap();
        let c = Config::from_file(&p).unwrap();
        assert_eq!(c.heartbeat_ms, 500);
        assert_eq!(c.listen.port(), 9);
        assert_eq!(c.max_frame_bytes, 16 * 1024);
        std::fs::write(&p, "heartbeat = 500\n").unwrap();
        assert!(matches!(
            Config::from_file(&p),
            Err(ConfigError::Parse { .. })
        ));
    }

    #[test]
    fn validation_names_the_field() {
        let c = Config {
            heartbeat_ms: 5,
            ..Config::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("heartbeat_ms"));
    }

    #[test]
    fn words_are_read_from_their_strings_and_a_bad_one_names_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kefu.toml");
        std::fs::write(
            &p,
            "assignment = \"round-robin\"\nsqlite_synchronous = \"normal\"\n",
        )
        .unwrap();
        let c = Config::from_file(&p).unwrap();
        assert_eq!(
            (c.assignment, c.sqlite_synchronous),
            (Assignment::RoundRobin, Synchronous::Normal)
        );
        for (text, want) in [
            (
                "sqlite_synchronous = \"off\"\n",
                "sqlite_synchronous must be \"full\" or \"normal\"",
            ),
            (
                "assignment = \"random\"\n",
                "assignment must be \"least-busy\" or \"round-robin\"",
            ),
            (
                "sqlite_synchronous = \"FULL\"\n",
                "sqlite_synchronous must be \"full\" or \"normal\"",
            ),
        ] {
            std::fs::write(&p, text).unwrap();
            let e = Config::from_file(&p).unwrap_err();
            assert!(matches!(e, ConfigError::Parse { .. }), "{text}: {e}");
            assert!(e.to_string().contains(want), "{text}: {e}");
        }
        // And back to the same strings (the names `KEFU_*` and the file use).
        let t = toml::Table::try_from(Config::default()).unwrap();
        assert_eq!(t["assignment"].as_str(), Some("least-busy"));
        assert_eq!(t["sqlite_synchronous"].as_str(), Some("full"));
    }
}
