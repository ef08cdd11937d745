//! Helpers for the tests of timer-driven logic under paused time
//! (`#[tokio::test(start_paused = true)]`): a hub on the memory store, a connection
//! driven through a recording transport, and ways to wait that keep the clock still.
//!
//! Paused time moves by itself whenever the runtime has nothing to run and no blocking
//! task in flight: it jumps to the next timer. Waiting on the writer thread (an OS
//! thread) looks idle to the runtime, so a test that awaited a commit, or a frame that
//! follows one, could see hours pass meanwhile. Every wait here runs on a blocking
//! thread instead (`frozen`), with a real-time bound, so time moves only when a test
//! says `tokio::time::advance`; `settle` lets everything that can run now run.

use std::future::Future;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use super::conn::{run, ConnInfo, Inbound, Transport, TransportClosed};
use super::hub::{Hub, TransportKind};
use super::Shutdown;
use crate::config::Config;
use crate::ids::{AgentId, ConversationId};
use crate::store::{Agent, Site, Store};
use crate::vocab::AgentRole;

/// How long a test waits, in real time, for something that must happen.
const PATIENCE: Duration = Duration::from_secs(10);

/// A hub on a fresh memory store, with the first site and its admin.
pub(crate) struct World {
    pub hub: Hub,
    pub store: Arc<dyn Store>,
    pub site: Site,
    pub admin: Agent,
}

impl World {
    /// A first site and admin in a memory store; `prepare` may add to the store before
    /// the hub starts (and restores the desk from it).
    pub(crate) fn new(config: Config, prepare: impl FnOnce(&dyn Store, &Site)) -> World {
        World::start(config, prepare, false)
    }

    /// `new`, the hub a node of a cluster (`config.node_id`) on the memory store: it
    /// serves the sites whose leases it takes.
    pub(crate) fn node(config: Config) -> World {
        World::start(config, |_, _| {}, true)
    }

    fn start(config: Config, prepare: impl FnOnce(&dyn Store, &Site), node: bool) -> World {
        let store: Arc<dyn Store> =
            Arc::from(crate::store::open("memory://", &Default::default()).unwrap());
        let boot = super::auth::bootstrap(&*store, &[], "pw").unwrap().unwrap();
        prepare(&*store, &boot.site);
        let admin = store
            .agents(boot.site.id)
            .unwrap()
            .into_iter()
            .next()
            .unwrap();
        let desk = store.desk_conversations(None).unwrap();
        let cluster = node
            .then(|| super::cluster::Cluster::new(&config, false))
            .flatten();
        if let Some(c) = &cluster {
            c.join(&*store).unwrap();
        }
        let hub = Hub::start(Arc::new(config), store.clone(), desk, cluster);
        World {
            hub,
            store,
            site: boot.site,
            admin,
        }
    }

    /// Another agent of the site.
    pub(crate) fn add_agent(&self, name: &str) -> Agent {
        let email = format!("{name}@example.test");
        self.store
            .add_agent(self.site.id, &email, name, AgentRole::Agent, "no password")
            .unwrap()
    }

    /// A sign-in token for `agent`.
    pub(crate) fn token(&self, agent: &Agent) -> String {
        super::login::issue_token(&*self.store, agent, 3_600_000).unwrap()
    }

    /// A connection whose first frame is a visitor's `hello` (as `visitor`, when given).
    pub(crate) async fn visitor(&self, shutdown: &Shutdown, visitor: Option<&str>) -> Peer {
        let mut p = Peer::connect(&self.hub, shutdown);
        let mut hello =
            serde_json::json!({"t":"hello","v":1,"site":self.site.key,"role":"visitor"});
        if let Some(v) = visitor {
            hello["visitor"] = v.into();
        }
        p.say(hello);
        p.welcome = p.next_type("welcome").await;
        // What the hello does after its welcome happens now, not after a later advance.
        settle().await;
        p
    }

    /// A connection signed in as `agent`.
    pub(crate) async fn agent(&self, shutdown: &Shutdown, agent: &Agent) -> Peer {
        let mut p = Peer::connect(&self.hub, shutdown);
        p.say(
            serde_json::json!({"t":"hello","v":1,"site":self.site.key,"role":"agent",
            "token":self.token(agent)}),
        );
        p.welcome = p.next_type("welcome").await;
        // What the hello does after its welcome happens now, not after a later advance.
        settle().await;
        p
    }

    /// The agent the desk gave `conv`, if any.
    pub(crate) fn owner(&self, conv: ConversationId) -> Option<AgentId> {
        self.hub.owner_of(self.site.id, conv)
    }
}

/// Let every task that can run now run (and every blocking call in flight end). Moves
/// the clock by a millisecond, once nothing else is left to run.
pub(crate) async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// Run `f` to its end on a blocking thread: meanwhile the runtime keeps running its
/// tasks, and paused time does not move by itself.
pub(crate) async fn frozen<F>(f: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || rt.block_on(f))
        .await
        .unwrap()
}

/// Wait until the writer has committed everything queued so far.
pub(crate) async fn written(hub: &Hub) {
    let w = hub.writer().clone();
    // The writer answers commands in the order they were queued.
    let _ = frozen(async move { w.reopen(ConversationId(0)).await }).await;
}

/// The client end of a connection run by `conn::run` over a recording transport.
pub(crate) struct Peer {
    tx: tokio::sync::mpsc::UnboundedSender<Inbound>,
    /// Everything the server wrote (and `{"t":"closed","code":…}` for a close); `None`
    /// only while a blocking wait holds it.
    rx: Option<mpsc::Receiver<String>>,
    /// The `welcome` it got.
    pub welcome: Value,
}

impl Peer {
    pub(crate) fn connect(hub: &Hub, shutdown: &Shutdown) -> Peer {
        let (tx, inbound) = tokio::sync::mpsc::unbounded_channel();
        let (written, rx) = mpsc::channel();
        let t = Line { inbound, written };
        tokio::spawn(run(hub.clone(), t, ConnInfo::default(), shutdown.clone()));
        Peer {
            tx,
            rx: Some(rx),
            welcome: Value::Null,
        }
    }

    pub(crate) fn say(&self, v: Value) {
        self.tx.send(Inbound::Text(v.to_string())).unwrap();
    }

    /// A text frame as it is, well-formed or not.
    pub(crate) fn say_raw(&self, text: &str) {
        self.tx.send(Inbound::Text(text.into())).unwrap();
    }

    /// The client goes away.
    pub(crate) fn hang_up(&self) {
        let _ = self.tx.send(Inbound::Closed);
    }

    /// The next frame the server wrote, waited for without moving the clock.
    pub(crate) async fn next(&mut self) -> Value {
        let rx = self.rx.take().expect("one wait at a time");
        let (rx, got) = tokio::task::spawn_blocking(move || {
            let got = rx.recv_timeout(PATIENCE);
            (rx, got)
        })
        .await
        .unwrap();
        self.rx = Some(rx);
        serde_json::from_str(&got.expect("a frame in time")).unwrap()
    }

    /// The next frame of type `t`, skipping the others.
    pub(crate) async fn next_type(&mut self, t: &str) -> Value {
        loop {
            let v = self.next().await;
            if v["t"] == t {
                return v;
            }
        }
    }

    /// Every frame written so far and not read yet.
    pub(crate) fn written(&mut self) -> Vec<Value> {
        let rx = self.rx.as_ref().expect("no wait in progress");
        rx.try_iter()
            .map(|t| serde_json::from_str(&t).unwrap())
            .collect()
    }

    /// The types of `written()`, in order.
    pub(crate) fn written_types(&mut self) -> Vec<String> {
        self.written()
            .iter()
            .map(|v| v["t"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

/// The recording transport: frames in through a channel, everything written recorded.
struct Line {
    inbound: tokio::sync::mpsc::UnboundedReceiver<Inbound>,
    written: mpsc::Sender<String>,
}

impl Transport for Line {
    fn kind(&self) -> TransportKind {
        TransportKind::WebSocket
    }
    async fn recv(&mut self) -> Inbound {
        self.inbound.recv().await.unwrap_or(Inbound::Closed)
    }
    async fn send(&mut self, frame: Bytes) -> Result<(), TransportClosed> {
        let text = String::from_utf8(frame.to_vec()).expect("frames are UTF-8");
        self.written.send(text).map_err(|_| TransportClosed)
    }
    async fn close(&mut self, code: u16, _reason: &str) {
        let _ = self
            .written
            .send(format!("{{\"t\":\"closed\",\"code\":{code}}}"));
    }
}
