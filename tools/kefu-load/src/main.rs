//! `kefu-load`: measurements and fault injection against a running kefu on this machine.
//!
//! Owns: the command line (one subcommand per scenario), checking options (loopback
//! targets only, every run bounded in size and time) and the runtime. The scenarios are
//! dispatched in `scenarios.rs` (with the storm and the soak); throughput and latency are
//! in `throughput.rs`, the Socket.IO comparison in `socketio.rs`, idle and parked-poll
//! memory (and worker processes) in `workers.rs`, the hostile floods in `flood/`;
//! figures, the JSON result file and the summary in `report.rs`. The protocol client and
//! the log check are the library of this crate (`lib.rs`), which kefu's chaos and crash
//! tests use too.

mod flood;
mod report;
mod scenarios;
mod socketio;
mod throughput;
mod workers;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use kefu_load::net::Tr;
use kefu_load::session;

#[derive(Parser, Debug)]
#[command(
    name = "kefu-load",
    version,
    about = "Load, latency, memory and chaos measurements against a kefu on this machine (loopback only)"
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) common: Common,
    #[command(subcommand)]
    pub(crate) scenario: Scenario,
}

#[derive(Args, Debug, Clone)]
pub(crate) struct Common {
    /// The kefu server, e.g. http://127.0.0.1:8080 (loopback only).
    #[arg(long, global = true, default_value = "http://127.0.0.1:8080")]
    pub(crate) url: String,
    /// Agent e-mail for signing in (agents also learn the site key from it).
    #[arg(long, global = true, default_value = "admin@localhost")]
    pub(crate) email: String,
    /// Agent password.
    #[arg(long, global = true, env = "KEFU_ADMIN_PASSWORD", default_value = "")]
    pub(crate) password: String,
    /// Spread client connections over this many source addresses 127.0.0.2, 127.0.0.3, …
    /// (about 28k ports each towards one server address).
    #[arg(long, global = true, default_value_t = 1)]
    pub(crate) sources: u8,
    /// Stop whatever happens after this many seconds.
    #[arg(long, global = true, default_value_t = 300)]
    pub(crate) time_limit: u64,
    /// Write the JSON result here (default: kefu-load-SCENARIO.json).
    #[arg(long, global = true)]
    pub(crate) out: Option<PathBuf>,
    /// Seed of every random choice.
    #[arg(long, global = true, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Hide the progress bar.
    #[arg(long, global = true)]
    pub(crate) quiet: bool,
    /// Clients of this site on a cluster: `--url` is a router (or any node), asked
    /// before each link which node serves the site (`GET /v1/route`).
    #[arg(long, global = true)]
    pub(crate) route_site: Option<String>,
}

#[derive(Subcommand, Debug, Clone)]
pub(crate) enum Scenario {
    /// As many durably acknowledged messages per second as possible.
    Throughput {
        /// Visitors writing, each to its own conversation.
        #[arg(long, default_value_t = 200)]
        visitors: usize,
        /// Messages in all.
        #[arg(long, default_value_t = 100_000)]
        messages: u64,
        /// Unacknowledged messages per visitor at once.
        #[arg(long, default_value_t = 64)]
        window: usize,
        /// Agents following every conversation (delivery is measured at them).
        #[arg(long, default_value_t = 1)]
        agents: usize,
        /// Transports, comma-separated: ws, lp, jsonp.
        #[arg(long, default_value = "ws")]
        transport: String,
    },
    /// Ack and delivery latency at a fixed total message rate.
    Latency {
        /// Messages per second, all visitors together.
        #[arg(long, default_value_t = 10_000)]
        rate: u64,
        /// Seconds of sustained sending.
        #[arg(long, default_value_t = 10)]
        duration: u64,
        #[arg(long, default_value_t = 500)]
        visitors: usize,
        #[arg(long, default_value_t = 1)]
        agents: usize,
        #[arg(long, default_value = "ws")]
        transport: String,
    },
    /// Server memory per idle WebSocket visitor.
    Idle {
        #[arg(long, default_value_t = 10_000)]
        conns: usize,
        /// Seconds to hold them before measuring (heartbeats keep flowing).
        #[arg(long, default_value_t = 5)]
        hold: u64,
    },
    /// Server memory per parked long-poll.
    Polls {
        #[arg(long, default_value_t = 10_000)]
        conns: usize,
        #[arg(long, default_value_t = 5)]
        hold: u64,
    },
    /// Cut every client at once; time until all have resumed and hold the entries
    /// written meanwhile, with no gap.
    Storm {
        #[arg(long, default_value_t = 10_000)]
        clients: usize,
        /// Instead of cutting the links, kill this process (SIGKILL): the node serving
        /// the site, on a cluster (with `--route-site`), to time the failover.
        #[arg(long)]
        kill_pid: Option<u32>,
    },
    /// The chaos test, larger: visitors and agents both ways through the fault proxy over
    /// every transport, then every history checked against the log.
    Soak {
        #[arg(long, default_value_t = 200)]
        visitors: usize,
        #[arg(long, default_value_t = 100)]
        messages: u64,
        #[arg(long, default_value_t = 4)]
        agents: usize,
        #[arg(long, default_value = "ws,lp,jsonp")]
        transport: String,
    },
    /// The same client against kefu and a Socket.IO 4.8 relay (benches/socketio).
    CompareSocketio {
        /// The relay, e.g. http://127.0.0.1:3000 (loopback only).
        #[arg(long, default_value = "http://127.0.0.1:3000")]
        socketio_url: String,
        #[arg(long, default_value_t = 200)]
        visitors: usize,
        #[arg(long, default_value_t = 100_000)]
        messages: u64,
        #[arg(long, default_value_t = 64)]
        window: usize,
        /// Idle connections for the memory comparison.
        #[arg(long, default_value_t = 5_000)]
        conns: usize,
    },
    /// Hostile clients (from 127.0.0.2 and up) flood the server while legitimate ones
    /// (from 127.0.0.1) keep working: what each side got, and the server's memory.
    Flood {
        /// What the attackers do.
        #[arg(value_enum)]
        kind: flood::Kind,
        /// Seconds the flood lasts (legitimate clients run for all of it).
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Attackers: concurrent requesters (login, channels, jsonp-parts: 64),
        /// connections held (slow-body, no-hello: 1000) or typing connections (typing: 1).
        #[arg(long)]
        attackers: Option<usize>,
        /// Attackers spread over this many source addresses 127.0.0.2, 127.0.0.3, …
        #[arg(long, default_value_t = 1)]
        attack_sources: u8,
        /// The server's process id: its resident memory is sampled from /proc every 100 ms.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// Internal: one worker process of `idle` or `polls` (started by kefu-load itself).
    #[command(hide = true)]
    Worker {
        #[arg(long)]
        kind: String,
        #[arg(long)]
        conns: usize,
        #[arg(long)]
        site: String,
        #[arg(long, default_value_t = 0)]
        first_source: u8,
    },
}

/// `http://host:port` or `ws://host:port` → a loopback socket address, or why not.
pub(crate) fn loopback_addr(url: &str) -> Result<SocketAddr, String> {
    let rest = ["http://", "ws://"]
        .iter()
        .find_map(|p| url.strip_prefix(p))
        .ok_or_else(|| format!("{url}: give an http:// or ws:// URL"))?;
    let hostport = rest.split('/').next().unwrap_or("");
    // No name resolution: an IP literal or `localhost` only.
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !p.contains(']') => (h, p),
        _ => (hostport, "80"),
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{url}: bad port {port:?}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.parse().map_err(|_| {
            format!("{url}: give an IP address or localhost (names are not resolved)")
        })?
    };
    let a = SocketAddr::new(ip, port);
    if !a.ip().is_loopback() {
        return Err(format!(
            "{url} resolves to {a}, which is not a loopback address; kefu-load only targets this machine"
        ));
    }
    Ok(a)
}

/// Source addresses 127.0.0.(2+first) … for `n` sources.
pub(crate) fn sources(first: u8, n: u8) -> Vec<IpAddr> {
    (0..n)
        .map(|i| {
            IpAddr::V4(Ipv4Addr::new(
                127,
                0,
                0,
                2u8.saturating_add(first).saturating_add(i),
            ))
        })
        .collect()
}

pub(crate) fn transports(list: &str) -> Result<Vec<Tr>, String> {
    let v: Result<Vec<Tr>, String> = list
        .split(',')
        .map(|s| {
            Tr::parse(s.trim())
                .ok_or_else(|| format!("unknown transport {s:?}: use ws, lp or jsonp"))
        })
        .collect();
    let v = v?;
    if v.is_empty() {
        return Err("name at least one transport".into());
    }
    Ok(v)
}

fn within<T: PartialOrd + std::fmt::Display>(name: &str, v: T, lo: T, hi: T) -> Result<(), String> {
    if v < lo || v > hi {
        return Err(format!("--{name} must be between {lo} and {hi} (got {v})"));
    }
    Ok(())
}

/// An agent connection follows at most 256 conversations (the server's `max_follows`).
fn follows(visitors: usize, agents: usize) -> Result<(), String> {
    if agents > 0 && visitors.div_ceil(agents) > session::MAX_FOLLOWS {
        return Err(format!(
            "each agent can follow at most {} conversations (server max_follows): use --agents {} or more",
            session::MAX_FOLLOWS,
            visitors.div_ceil(session::MAX_FOLLOWS)
        ));
    }
    Ok(())
}

/// Reject nonsense before anything connects.
fn check(cli: &Cli) -> Result<(), String> {
    let c = &cli.common;
    loopback_addr(&c.url)?;
    within("time-limit", c.time_limit, 1, 1800)?;
    within("sources", c.sources, 1, 250)?;
    match &cli.scenario {
        Scenario::Throughput {
            visitors,
            messages,
            window,
            agents,
            transport,
        } => {
            within("visitors", *visitors, 1, 20_000)?;
            within("messages", *messages, 1, 10_000_000)?;
            within("window", *window, 1, 256)?;
            within("agents", *agents, 0, 64)?;
            if *messages < *visitors as u64 {
                return Err("--messages must be at least --visitors (one each)".into());
            }
            follows(*visitors, *agents)?;
            transports(transport)?;
        }
        Scenario::Latency {
            rate,
            duration,
            visitors,
            agents,
            transport,
        } => {
            within("rate", *rate, 1, 200_000)?;
            within("duration", *duration, 1, 600)?;
            within("visitors", *visitors, 1, 20_000)?;
            within("agents", *agents, 0, 64)?;
            if *rate * *duration < *visitors as u64 {
                return Err("--rate × --duration must give every visitor a message".into());
            }
            follows(*visitors, *agents)?;
            if *duration + 30 > c.time_limit {
                return Err("--time-limit must exceed --duration by 30 s".into());
            }
            transports(transport)?;
        }
        Scenario::Idle { conns, hold } | Scenario::Polls { conns, hold } => {
            within("conns", *conns, 1, 100_000)?;
            within("hold", *hold, 0, 600)?;
            let per_source = 25_000 * c.sources as usize;
            if *conns > per_source {
                return Err(format!(
                    "--conns {conns} needs more source addresses (about 25k each): raise --sources"
                ));
            }
        }
        Scenario::Storm { clients, .. } => within("clients", *clients, 1, 19_000)?,
        Scenario::Soak {
            visitors,
            messages,
            agents,
            transport,
        } => {
            within("visitors", *visitors, 1, 5_000)?;
            within("messages", *messages, 1, 100_000)?;
            within("agents", *agents, 1, 64)?;
            follows(*visitors, *agents)?;
            transports(transport)?;
        }
        Scenario::CompareSocketio {
            socketio_url,
            visitors,
            messages,
            window,
            conns,
        } => {
            loopback_addr(socketio_url)?;
            within("visitors", *visitors, 1, 20_000)?;
            within("messages", *messages, 1, 10_000_000)?;
            within("window", *window, 1, 256)?;
            within("conns", *conns, 1, 19_000)?;
        }
        Scenario::Flood {
            kind,
            seconds,
            attackers,
            attack_sources,
            ..
        } => {
            within("seconds", *seconds, 1, 600)?;
            within(
                "attackers",
                attackers.unwrap_or(kind.default_attackers()),
                1,
                kind.max_attackers(),
            )?;
            within("attack-sources", *attack_sources, 1, 200)?;
            if *seconds + 40 > c.time_limit {
                return Err("--time-limit must exceed --seconds by 40 s".into());
            }
            if c.sources > 1 {
                return Err("flood: legitimate clients connect from 127.0.0.1 and attackers from --attack-sources; --sources does not apply".into());
            }
        }
        Scenario::Worker { kind, conns, .. } => {
            if kind != "idle" && kind != "polls" {
                return Err("worker kind must be idle or polls".into());
            }
            within("conns", *conns, 1, workers::PER_PROCESS)?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = check(&cli) {
        eprintln!("kefu-load: {e}");
        return ExitCode::from(2);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kefu-load: {e}");
            return ExitCode::FAILURE;
        }
    };
    let limit = Duration::from_secs(cli.common.time_limit);
    let result = rt.block_on(async {
        match tokio::time::timeout(limit, scenarios::run(&cli)).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "time limit of {} s reached; stopped",
                cli.common.time_limit
            )),
        }
    });
    // Do not wait for lingering connection tasks.
    rt.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(3),
        Err(e) => {
            eprintln!("kefu-load: {e}");
            ExitCode::FAILURE
        }
    }
}
