//! `kefu-load flood KIND`: one hostile workload against a running kefu, with legitimate
//! clients working through it, and what each side got.
//!
//! Owns: the kinds of flood and running one — the legitimate clients, from 127.0.0.1 (a
//! WebSocket, a long-poll and a JSONP visitor each writing one message every 200 ms, and
//! an agent that signs in every second or follows the typing visitor), the attackers of
//! the chosen kind from 127.0.0.2 and up (`attack.rs`), the gauges around them
//! (`gauges.rs`: the agent's sign-ins, the server's memory and CPU), and, when it is over,
//! the figures (`figures.rs`). The protocol client is the `kefu_load` library.

mod attack;
mod figures;
mod gauges;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;
use kefu::ids::ConversationId;
use kefu_load::drive::{drive, Counters, Work};
use kefu_load::mix;
use kefu_load::net::{Target, Tr};
use kefu_load::session::Peer;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use self::attack::Tally;
use self::figures::Ended;
use crate::report::Progress;
use crate::{sources, Cli};

/// What the attackers do.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Concurrent `POST /v1/login` with random emails.
    Login,
    /// Full headers of a large POST, then one body byte every 2 s.
    SlowBody,
    /// `POST /v1/lp/open` as fast as possible, never polling.
    Channels,
    /// JSONP channels sent first parts of messages that never complete.
    JsonpParts,
    /// WebSockets that never say `hello`, sending `{"t":"ping"}` every 4 s.
    NoHello,
    /// Visitor connections sending `typing` frames as fast as they can.
    Typing,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Login => "login",
            Kind::SlowBody => "slow-body",
            Kind::Channels => "channels",
            Kind::JsonpParts => "jsonp-parts",
            Kind::NoHello => "no-hello",
            Kind::Typing => "typing",
        }
    }

    /// Attackers when `--attackers` is not given.
    pub(crate) fn default_attackers(self) -> usize {
        match self {
            Kind::Login | Kind::Channels | Kind::JsonpParts => 64,
            Kind::SlowBody | Kind::NoHello => 1000,
            Kind::Typing => 1,
        }
    }

    /// Most attackers allowed: each holds a connection or two, and one process may hold
    /// about 20,000 open files.
    pub(crate) fn max_attackers(self) -> usize {
        match self {
            Kind::SlowBody | Kind::NoHello => 15_000,
            Kind::Login | Kind::Channels | Kind::JsonpParts => 1024,
            Kind::Typing => 64,
        }
    }
}

/// The options of one flood.
#[derive(Debug, Clone)]
pub(crate) struct Flood {
    pub(crate) kind: Kind,
    pub(crate) seconds: u64,
    pub(crate) attackers: usize,
    pub(crate) attack_sources: u8,
    pub(crate) server_pid: Option<u32>,
}

/// After the flood, how long legitimate clients get for their last acknowledgements.
const GRACE: Duration = Duration::from_secs(10);
/// Legitimate visitors write one message this often.
const EVERY: Duration = Duration::from_millis(200);

/// A few classes of I/O failure, so the outcome table stays small.
fn class(e: &io::Error) -> String {
    let s = match e.kind() {
        io::ErrorKind::TimedOut => "timeout",
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => "connection closed",
        io::ErrorKind::ConnectionRefused => "connection refused",
        io::ErrorKind::AddrNotAvailable | io::ErrorKind::AddrInUse => "no source port",
        _ => "other error",
    };
    s.to_string()
}

/// Run one flood: legitimate clients and attackers together for `seconds`, then the
/// figures. `Ok(false)`: the legitimate visitors' logs failed the check.
pub(crate) async fn run(cli: &Cli, addr: SocketAddr, f: &Flood) -> Result<bool, String> {
    let c = &cli.common;
    let legit = Target::new(addr, Vec::new(), Duration::from_secs(40))?;
    let attack = Target::new(addr, sources(0, f.attack_sources), Duration::from_secs(40))?;
    if let Some(pid) = f.server_pid {
        if gauges::status_of(pid).is_none() {
            return Err(format!(
                "--server-pid {pid}: cannot read /proc/{pid}/status"
            ));
        }
    }
    let (token, site) = mix::login_site(&legit, &c.email, &c.password).await?;
    let secs = Duration::from_secs(f.seconds);
    let start = Instant::now();
    let end = start + secs;
    let rss = f
        .server_pid
        .map(|pid| tokio::spawn(gauges::sample_rss(pid, start, end)));
    let (stop_tx, stop) = watch::channel(false);

    // The legitimate clients, from 127.0.0.1.
    let mut visitors = Vec::new();
    for (i, tr) in [Tr::Ws, Tr::Lp, Tr::Jsonp].into_iter().enumerate() {
        let mut p = Peer::visitor(&format!("legit_{}", tr.name()), &site);
        if f.kind == Kind::JsonpParts && tr == Tr::Jsonp {
            // Long enough to go in parts: the attack is on incomplete multi-part messages.
            p.pad = 1900;
        }
        let w = Work {
            messages: f.seconds * (1000 / EVERY.as_millis() as u64),
            window: 64,
            every: Some(EVERY),
            transports: vec![tr],
            dead_after: Duration::from_secs(10),
            deadline: end + GRACE,
            seed: c.seed ^ (0xF100 + i as u64),
            linger: false,
            counters: None,
            cut: None,
            before_cut: None,
        };
        let (t, stop) = (legit.clone(), stop.clone());
        visitors.push(tokio::spawn(async move {
            drive(&mut p, t, w, None, None, stop).await;
            p
        }));
    }
    let sign_ins = (f.kind == Kind::Login).then(|| {
        tokio::spawn(gauges::sign_in_every_second(
            legit.clone(),
            c.email.clone(),
            c.password.clone(),
            end,
        ))
    });
    let agent_counters = Arc::new(Counters::default());
    let (conv_tx, conv_rx) = mpsc::unbounded_channel::<ConversationId>();
    let agent = (f.kind == Kind::Typing).then(|| {
        let mut p = Peer::agent("legit_agent", &site, &token);
        let w = Work {
            messages: 0,
            window: 1,
            every: None,
            transports: vec![Tr::Ws],
            dead_after: Duration::from_secs(10),
            deadline: end + GRACE,
            seed: c.seed ^ 0xA6E7,
            linger: true,
            counters: Some(agent_counters.clone()),
            cut: None,
            before_cut: None,
        };
        let (t, stop) = (legit.clone(), stop.clone());
        tokio::spawn(async move {
            drive(&mut p, t, w, Some(conv_rx), None, stop).await;
            p
        })
    });

    // The attackers, from 127.0.0.2 and up.
    let tally = Arc::new(Tally::default());
    let mut attackers: Vec<JoinHandle<()>> = Vec::new();
    for i in 0..f.attackers {
        let (t, tally, site) = (attack.clone(), tally.clone(), site.clone());
        let seed = c.seed ^ ((i as u64) << 16);
        attackers.push(match f.kind {
            Kind::Login => tokio::spawn(attack::login(t, tally, end, seed)),
            Kind::SlowBody => tokio::spawn(attack::slow_body(t, tally, end)),
            Kind::Channels => tokio::spawn(attack::channels(t, tally, site, end)),
            Kind::JsonpParts => tokio::spawn(attack::jsonp_parts(t, tally, site, end, i)),
            Kind::NoHello => tokio::spawn(attack::no_hello(t, tally, end)),
            Kind::Typing => tokio::spawn(attack::typing(t, tally, site, end, conv_tx.clone())),
        });
    }
    drop(conv_tx);

    let bar = Progress::start(
        &format!("flood {}", f.kind.name()),
        f.seconds,
        Arc::new(Default::default()),
        c.quiet,
    );
    let mut typing_per_sec = Vec::new();
    let mut last_typing = 0;
    let mut tick = tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    for s in 1..=f.seconds {
        tick.tick().await;
        bar.counter().store(s, Ordering::Relaxed);
        let n = agent_counters.typing.load(Ordering::Relaxed);
        typing_per_sec.push(n - last_typing);
        last_typing = n;
    }
    // A moment for attackers to note what they held at the end, then stop them.
    tokio::time::sleep_until(end + Duration::from_millis(200)).await;
    for a in &attackers {
        a.abort();
    }
    drop(bar);
    let took = start.elapsed().as_secs_f64().max(f64::EPSILON);
    let attack_done = tally.done.load(Ordering::Relaxed);
    let attack_opened = tally.opened.load(Ordering::Relaxed);
    let attack_frames = tally.frames.load(Ordering::Relaxed);
    let outcomes = tally.outcomes();
    let rss = match rss {
        Some(h) => Some(h.await.map_err(|e| e.to_string())?),
        None => None,
    };
    for a in attackers {
        let _ = a.await;
    }
    let open_at_end = tally.open_now.load(Ordering::Relaxed).max(0);

    let mut peers = Vec::new();
    for h in visitors {
        peers.push(h.await.map_err(|e| e.to_string())?);
    }
    let _ = stop_tx.send(true);
    let agent = match agent {
        Some(h) => Some(h.await.map_err(|e| e.to_string())?),
        None => None,
    };
    let sign_ins = match sign_ins {
        Some(h) => Some(h.await.map_err(|e| e.to_string())?),
        None => None,
    };
    let convs: Vec<ConversationId> = peers.iter().filter_map(Peer::conv).collect();
    let logs = mix::fetch_logs(&legit, &token, convs).await?;
    let verdict = kefu_load::verify::verify(&peers, &logs);

    let ended = Ended {
        took,
        attack_done,
        attack_opened,
        attack_frames,
        open_peak: tally.open_peak.load(Ordering::Relaxed),
        open_at_end,
        outcomes,
        peers,
        sign_ins,
        agent,
        typing_total: agent_counters.typing.load(Ordering::Relaxed),
        typing_per_sec,
        rss,
        verdict,
    };
    figures::finish(cli, f, ended)
}
