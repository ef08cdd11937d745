//! kefu — a live-chat gateway. Visitors on any browser and agents in a console talk
//! through one server; every conversation is a durable, offset-addressed stream, so no
//! transport cut can lose, duplicate or reorder a message. `docs/protocol.md` is the wire
//! contract, `docs/architecture.md` the map.
//!
//! # Layout
//!
//! Dependencies point one way, down this list:
//!
//! - `main.rs` (binary): flags, config file, env, tracing, exit codes.
//! - [`server`]: accept loop, connection cap, graceful shutdown.
//! - [`http`]: routing by `(method, path)`, origin checks and CORS, the REST API, the
//!   HTTP requests and answers of channels (long-poll, XDomainRequest, JSONP), errors →
//!   statuses; kefu's own outbound requests (webhook deliveries).
//! - [`transport`]: WebSocket framing (RFC 6455 on the socket, no buffers while idle);
//!   the channel transport (a socket stand-in) that long-poll, XDomainRequest and JSONP
//!   carry.
//! - [`web`]: HTTP primitives (body type, the error type with its statuses and JSON body,
//!   query parsing).
//! - [`core`]: sessions, streams, offsets, acks, dedupe, fan-out, the single writer,
//!   every background task (tracked, so shutdown awaits or cancels each), and the
//!   services the REST API calls (who may do what, and every rule of what is sent).
//! - [`protocol`]: frame types and validation, no I/O — what `core` parses and sends; it
//!   knows nothing of connections or storage.
//! - [`store`]: `Store` = the `Log`, `Directory`, `Settings`, `Search`, `Webhooks` and `Cluster` traits, the
//!   records and errors they speak in, one group-commit rule for every backend; the
//!   backends (`sqlite` on the shared diesel queries of `store::sql`, and `memory`) and
//!   the conformance suite they all pass.
//! - [`config`], [`ids`], [`vocab`]: every tunable; the identifier newtypes; the words
//!   every layer spells the same way (roles, senders, entry kinds, transports), each
//!   defined once.
//!
//! `fuzzing` (hidden) holds the entry points of the fuzz targets in `fuzz/`.
//!
//! Test and measurement tools are crates of their own that this one never depends on:
//! `tools/kefu-load` (the load tool, a client of this library's protocol types) and
//! `tools/kefu-chaos` (the fault-injecting proxy of the chaos and crash tests).

pub mod config;
pub mod core;
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod http;
pub mod ids;
pub mod protocol;
pub mod server;
pub mod store;
pub(crate) mod transport;
pub mod vocab;
pub(crate) mod web;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::core::auth::Bootstrap;
use crate::core::hub::Hub;

/// A server ready to run: the store is open and migrated, the port is bound.
pub struct Prepared {
    pub listener: TcpListener,
    pub addr: SocketAddr,
    pub hub: Hub,
    /// What a first run created (site and admin), to print once.
    pub bootstrap: Option<Bootstrap>,
}

/// Open the store, run migrations, create the first site and admin on a new database,
/// start the writer, and bind the listening socket. With a `node_id`, join the cluster
/// first (refused when another live node has that id).
pub async fn prepare(config: Config) -> anyhow::Result<Prepared> {
    prepare_as(config, false).await
}

/// A routing server alone (`kefu router`): it answers `/v1/route` (and `/healthz`) from
/// the nodes' heartbeats and leases in the database, and serves no site itself.
pub async fn prepare_router(config: Config) -> anyhow::Result<Prepared> {
    prepare_as(config, true).await
}

async fn prepare_as(config: Config, router: bool) -> anyhow::Result<Prepared> {
    config.validate()?;
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let mut config = config;
    if config.public_url.is_empty() {
        config.public_url = format!("http://{addr}");
    }
    let origins = first_site_origins(&config, addr);
    let (url, options, password) = (
        config.database_url.clone(),
        store::Options::from_config(&config),
        config.admin_password.clone(),
    );
    let cluster = core::cluster::Cluster::new(&config, router);
    let (store, bootstrap, desk, cluster) =
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let store: Arc<dyn store::Store> = Arc::from(store::open(&url, &options)?);
            if router {
                return Ok((store, None, Vec::new(), cluster));
            }
            let boot = core::auth::bootstrap(&*store, &origins, &password)?;
            let desk = match &cluster {
                // A node of a cluster loads each site's desk when it takes the site.
                Some(c) => {
                    c.join(&*store)?;
                    Vec::new()
                }
                None => store.desk_conversations(None)?,
            };
            Ok((store, boot, desk, cluster))
        })
        .await??;
    let allow_private = config.webhook_allow_private_addresses;
    let hub = Hub::start(Arc::new(config), store, desk, cluster);
    hub.start_webhooks(Arc::new(http::outbound::HttpPoster::new(allow_private)));
    Ok(Prepared {
        listener,
        addr,
        hub,
        bootstrap,
    })
}

/// Origins the first site allows: the public URL, and its localhost/127.0.0.1 twins.
fn first_site_origins(config: &Config, addr: SocketAddr) -> Vec<String> {
    let mut v = vec![config.public_url.trim_end_matches('/').to_string()];
    if addr.ip().is_loopback() {
        for host in ["127.0.0.1", "localhost"] {
            let o = format!("http://{host}:{}", addr.port());
            if !v.contains(&o) {
                v.push(o);
            }
        }
    }
    v
}
