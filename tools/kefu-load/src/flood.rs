//! `kefu-load flood KIND`: one hostile workload against a running kefu, with legitimate
//! clients working through it, and what each side got.
//!
//! Owns: the attackers of each kind — random-email sign-ins, slow request bodies,
//! channels opened and never polled, JSONP messages whose parts never complete,
//! WebSockets that never say `hello`, a typing flood — connecting from 127.0.0.2 and up;
//! the legitimate clients around them, from 127.0.0.1 (a WebSocket, a long-poll and a
//! JSONP visitor each writing one message every 200 ms, and an agent that signs in every
//! second or follows the typing visitor); sampling the server's resident memory from
//! `/proc/PID/status`; and the figures. The protocol client is `net.rs` and `session.rs`.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::ValueEnum;
use futures_util::stream::StreamExt;
use futures_util::SinkExt;
use kefu::ids::ConversationId;
use kefu::protocol::ClientFrame;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::report::{self, Progress};
use crate::{sources, Cli};
use kefu_load::frames::Frame;
use kefu_load::mix;
use kefu_load::net::{enc, ws_connect, Down, Encoded, HttpConn, Link, Target, Tr};
use kefu_load::session::{drive, Counters, Peer, Work};

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
/// Content-Length a slow-body attacker announces (under the channel body limit, so the
/// server waits for the body instead of refusing it at once).
const SLOW_BODY_BYTES: usize = 100_000;
/// A slow-body attacker sends one byte this often.
const SLOW_BYTE_EVERY: Duration = Duration::from_secs(2);
/// A no-hello attacker sends a ping this often.
const NO_HELLO_PING_EVERY: Duration = Duration::from_secs(4);
/// An attacker whose connection was refused or failed waits this long before the next.
const RETRY_AFTER_REFUSAL: Duration = Duration::from_secs(1);

/// What the attackers achieved and got, shared by all of them.
#[derive(Default)]
struct Tally {
    /// Requests answered, or connections ended, whatever the outcome.
    done: AtomicU64,
    /// Connections (or channels) opened.
    opened: AtomicU64,
    open_now: AtomicI64,
    open_peak: AtomicI64,
    /// Frames sent (typing).
    frames: AtomicU64,
    /// Outcome → count. Keys are statuses, close codes and a few error classes.
    outcomes: Mutex<BTreeMap<String, u64>>,
}

impl Tally {
    fn note(&self, outcome: impl Into<String>) {
        self.done.fetch_add(1, Ordering::Relaxed);
        let mut m = self.outcomes.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry(outcome.into()).or_default() += 1;
    }

    fn opened(&self) {
        self.opened.fetch_add(1, Ordering::Relaxed);
        let now = self.open_now.fetch_add(1, Ordering::Relaxed) + 1;
        self.open_peak.fetch_max(now, Ordering::Relaxed);
    }

    fn closed(&self) {
        self.open_now.fetch_sub(1, Ordering::Relaxed);
    }

    fn outcomes(&self) -> BTreeMap<String, u64> {
        self.outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

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

/// The server's resident memory over the flood, from `/proc/PID/status` (kB).
#[derive(Debug, Default, Clone)]
struct Rss {
    start_kb: u64,
    peak_kb: u64,
    end_kb: u64,
    hwm_start_kb: u64,
    hwm_end_kb: u64,
    samples: u64,
    /// One sample a second: (seconds since the start, VmRSS kB).
    series: Vec<(f64, u64)>,
    /// The server's CPU time (user + system), seconds, at the first and the last sample.
    cpu_start_s: f64,
    cpu_end_s: f64,
}

/// (VmRSS, VmHWM) of `pid` in kB.
fn status_of(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// User + system CPU time of `pid`, seconds (`/proc/PID/stat`, in USER_HZ = 100 ticks a
/// second on Linux).
fn cpu_of(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces:
    // state is field 3, utime 14, stime 15.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Sample every 100 ms until `until`.
async fn sample_rss(pid: u32, start: Instant, until: Instant) -> Rss {
    let mut r = Rss::default();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut next_series = start;
    loop {
        tick.tick().await;
        let now = Instant::now();
        if let Some((rss, hwm)) = status_of(pid) {
            let cpu = cpu_of(pid).unwrap_or(0.0);
            if r.samples == 0 {
                r.start_kb = rss;
                r.hwm_start_kb = hwm;
                r.cpu_start_s = cpu;
            }
            r.cpu_end_s = cpu;
            r.samples += 1;
            r.peak_kb = r.peak_kb.max(rss);
            r.end_kb = rss;
            r.hwm_end_kb = hwm;
            if now >= next_series {
                r.series
                    .push((now.duration_since(start).as_secs_f64(), rss));
                next_series += Duration::from_secs(1);
            }
        }
        if now >= until {
            return r;
        }
    }
}

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Run one flood: legitimate clients and attackers together for `seconds`, then the
/// figures. `Ok(false)`: the legitimate visitors' logs failed the check.
pub(crate) async fn run(cli: &Cli, addr: SocketAddr, f: &Flood) -> Result<bool, String> {
    let c = &cli.common;
    let legit = Target::new(addr, Vec::new(), Duration::from_secs(40))?;
    let attack = Target::new(addr, sources(0, f.attack_sources), Duration::from_secs(40))?;
    if let Some(pid) = f.server_pid {
        if status_of(pid).is_none() {
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
        .map(|pid| tokio::spawn(sample_rss(pid, start, end)));
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
        tokio::spawn(sign_in_every_second(
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
            Kind::Login => tokio::spawn(login_attacker(t, tally, end, seed)),
            Kind::SlowBody => tokio::spawn(slow_body_attacker(t, tally, end)),
            Kind::Channels => tokio::spawn(channels_attacker(t, tally, site, end)),
            Kind::JsonpParts => tokio::spawn(jsonp_parts_attacker(t, tally, site, end, i)),
            Kind::NoHello => tokio::spawn(no_hello_attacker(t, tally, end)),
            Kind::Typing => tokio::spawn(typing_attacker(t, tally, site, end, conv_tx.clone())),
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

    // Figures.
    let mut legit_json = serde_json::Map::new();
    let mut summary = vec![format!(
        "flood {}: {} attacker(s) from {} address(es) (127.0.0.2 …) for {} s; legitimate clients from 127.0.0.1",
        f.kind.name(),
        f.attackers,
        f.attack_sources,
        f.seconds
    )];
    let per_sec = |n: u64| n as f64 / took;
    let attack_json = json!({
        "answered_or_ended": attack_done,
        "answered_or_ended_per_second": per_sec(attack_done),
        "connections_opened": attack_opened,
        "connections_opened_per_second": per_sec(attack_opened),
        "connections_open_at_peak": tally.open_peak.load(Ordering::Relaxed),
        "connections_open_at_end": open_at_end,
        "frames_sent": attack_frames,
        "frames_sent_per_second": per_sec(attack_frames),
        "outcomes": outcomes,
    });
    let got: Vec<String> = outcomes.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
    summary.push(match f.kind {
        Kind::SlowBody | Kind::NoHello => format!(
            "attackers: {attack_opened} connections opened ({:.1}/s), at most {} open at once, {open_at_end} still open at the end; {attack_done} ended or refused: {}",
            per_sec(attack_opened),
            tally.open_peak.load(Ordering::Relaxed),
            got.join(", ")
        ),
        Kind::Typing => format!(
            "attackers: {attack_frames} typing frames sent ({:.0}/s), {open_at_end} link(s) still open at the end; links ended: {}",
            per_sec(attack_frames),
            if got.is_empty() { "none".to_string() } else { got.join(", ") }
        ),
        Kind::JsonpParts => format!(
            "attackers: {attack_done} requests answered ({:.1}/s) on {attack_opened} channels ({open_at_end} open at the end): {}",
            per_sec(attack_done),
            got.join(", ")
        ),
        Kind::Login | Kind::Channels => format!(
            "attackers: {attack_done} requests answered ({:.1}/s): {}",
            per_sec(attack_done),
            got.join(", ")
        ),
    });
    let mut legit_failures = 0u64;
    let mut legit_503 = 0u64;
    for p in &peers {
        let tr = p.name.trim_start_matches("legit_").to_string();
        let acked = p.acked.len() as u64;
        let unacked = p.made.saturating_sub(acked);
        let failed: u64 =
            p.stats.failures.values().sum::<u64>() + unacked + p.violations.len() as u64;
        legit_failures += failed;
        legit_503 += p.stats.http_503;
        let lat = report::percentiles(p.stats.ack_us.iter().copied());
        summary.push(format!(
            "legit {tr:<5} {acked} of {} acked; ack {}; failures {failed} (503: {}){}",
            p.made,
            short(&lat),
            p.stats.http_503,
            if failed > 0 {
                format!(" {:?} unacked {unacked}", p.stats.failures)
            } else {
                String::new()
            }
        ));
        legit_json.insert(
            tr,
            json!({
                "made": p.made, "acked": acked, "unacked": unacked,
                "ack_latency": lat,
                "failures": failed,
                "failure_kinds": p.stats.failures,
                "http_503": p.stats.http_503,
                "violations": p.violations.iter().take(16).collect::<Vec<_>>(),
                "failure_notes": p.stats.failure_notes,
                "links": p.stats.links,
            }),
        );
    }
    let mut result = json!({
        "scenario": "flood",
        "kind": f.kind.name(),
        "seconds": f.seconds,
        "measured_seconds": took,
        "attackers": f.attackers,
        "attack_sources": sources(0, f.attack_sources).iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        "attack": attack_json,
        "legit": legit_json,
        "legit_failures": legit_failures,
        "legit_http_503": legit_503,
        "verdict": verdict,
    });
    if let Some(s) = &sign_ins {
        let lat = report::percentiles(s.latency_us.iter().copied());
        let ok = s.statuses.get("200").copied().unwrap_or(0);
        let over = s.latency_us.iter().filter(|&&us| us > 1_000_000).count();
        let failed = s.attempts - ok;
        legit_failures += failed;
        legit_503 += s.statuses.get("503").copied().unwrap_or(0);
        let when: Vec<String> = s
            .each
            .iter()
            .filter(|(_, o, _)| o != "200")
            .take(10)
            .map(|(t, o, _)| format!("{o} at {t:.1} s"))
            .collect();
        summary.push(format!(
            "legit sign-in every 1 s: {ok} of {} answered 200; {}; over 1 s: {over}; failures {failed}{}",
            s.attempts,
            short(&lat),
            if when.is_empty() {
                String::new()
            } else {
                format!(" ({})", when.join(", "))
            }
        ));
        result["sign_in"] = json!({
            "attempts": s.attempts, "ok": ok, "statuses": s.statuses,
            "latency": lat, "over_1s": over, "failures": failed,
            "each": s.each,
        });
        result["legit_failures"] = json!(legit_failures);
        result["legit_http_503"] = json!(legit_503);
    }
    if let Some(a) = &agent {
        let total = agent_counters.typing.load(Ordering::Relaxed);
        // The first second includes connecting and opening the conversation.
        let steady = &typing_per_sec[typing_per_sec.len().min(1)..];
        let mean = if steady.is_empty() {
            total as f64 / took
        } else {
            steady.iter().sum::<u64>() as f64 / steady.len() as f64
        };
        let max = typing_per_sec.iter().copied().max().unwrap_or(0);
        summary.push(format!(
            "typing frames reaching the agent: {total} in all, {mean:.1}/s (after the first second), at most {max} in one second; agent failures {}",
            a.stats.failures.values().sum::<u64>()
        ));
        result["typing_at_agent"] = json!({
            "total": total, "per_second_mean": mean, "per_second_max": max,
            "per_second": typing_per_sec, "agent_failures": a.stats.failures,
        });
    }
    match &rss {
        Some(r) => {
            summary.push(format!(
                "server RSS: start {:.1} MiB, peak {:.1} MiB (+{:.1}), end {:.1} MiB; VmHWM {:.1} → {:.1} MiB ({} samples); server CPU {:.1} s",
                mib(r.start_kb),
                mib(r.peak_kb),
                mib(r.peak_kb.saturating_sub(r.start_kb)),
                mib(r.end_kb),
                mib(r.hwm_start_kb),
                mib(r.hwm_end_kb),
                r.samples,
                r.cpu_end_s - r.cpu_start_s
            ));
            result["rss"] = json!({
                "start_kb": r.start_kb, "peak_kb": r.peak_kb, "end_kb": r.end_kb,
                "growth_to_peak_kb": r.peak_kb.saturating_sub(r.start_kb),
                "vm_hwm_start_kb": r.hwm_start_kb, "vm_hwm_end_kb": r.hwm_end_kb,
                "samples": r.samples, "per_second": r.series,
                "server_cpu_s": r.cpu_end_s - r.cpu_start_s,
            });
        }
        None => summary.push("server RSS: not sampled (give --server-pid)".into()),
    }
    summary.push(format!(
        "legitimate clients: {legit_failures} failure(s), {legit_503} of them 503; log check: {}",
        if verdict.clean() {
            "clean".to_string()
        } else {
            format!("{:?}", verdict.problems)
        }
    ));
    let name = format!("flood-{}", f.kind.name());
    report::finish(c.out.clone(), &name, &result, &summary)?;
    Ok(verdict.clean())
}

/// "p50 a / p99 b / max c ms (n)".
fn short(v: &Value) -> String {
    if v["count"] == 0 {
        return "no samples".into();
    }
    format!(
        "p50 {} / p99 {} / max {} ms",
        v["p50_ms"], v["p99_ms"], v["max_ms"]
    )
}

/// What the legitimate agent's sign-ins got.
struct SignIns {
    attempts: u64,
    statuses: BTreeMap<String, u64>,
    latency_us: Vec<u64>,
    /// Every attempt: (seconds since the flood began, outcome, ms).
    each: Vec<(f64, String, f64)>,
}

/// The real agent signs in once a second, each time on a new connection.
async fn sign_in_every_second(
    t: Arc<Target>,
    email: String,
    password: String,
    end: Instant,
) -> SignIns {
    let mut s = SignIns {
        attempts: 0,
        statuses: BTreeMap::new(),
        latency_us: Vec::new(),
        each: Vec::new(),
    };
    let start = Instant::now();
    let body = json!({"email": email, "password": password}).to_string();
    let mut next = Instant::now();
    while next < end {
        tokio::time::sleep_until(next).await;
        next += Duration::from_secs(1);
        let mut conn = HttpConn::new(t.clone());
        let t0 = Instant::now();
        let r = conn
            .request(
                "POST",
                "/v1/login",
                &[("content-type", "application/json")],
                &body,
                Duration::from_secs(10),
            )
            .await;
        s.attempts += 1;
        let took = t0.elapsed();
        s.latency_us.push(took.as_micros() as u64);
        let outcome = match r {
            Ok((status, b)) if status == 200 && !b.contains("\"token\"") => {
                "200 without a token".to_string()
            }
            Ok((status, _)) => status.to_string(),
            Err(e) => class(&e),
        };
        s.each.push((
            t0.duration_since(start).as_secs_f64(),
            outcome.clone(),
            took.as_secs_f64() * 1000.0,
        ));
        *s.statuses.entry(outcome).or_default() += 1;
    }
    s
}

/// Random emails, a wrong password, as fast as the answers come.
async fn login_attacker(t: Arc<Target>, tally: Arc<Tally>, end: Instant, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut conn = HttpConn::new(t);
    while Instant::now() < end {
        let email = format!("{:016x}@flood.invalid", rng.gen::<u64>());
        let body = json!({"email": email, "password": "not-the-password"}).to_string();
        let r = conn
            .request(
                "POST",
                "/v1/login",
                &[("content-type", "application/json")],
                &body,
                Duration::from_secs(15),
            )
            .await;
        match r {
            Ok((s, _)) => tally.note(s.to_string()),
            Err(e) => {
                tally.note(class(&e));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Full headers of a POST announcing a large body, then one byte every 2 s, until the
/// server answers or closes; then again on a new connection.
async fn slow_body_attacker(t: Arc<Target>, tally: Arc<Tally>, end: Instant) {
    let head = format!(
        "POST /v1/lp/open?tr=lp HTTP/1.1\r\nhost: {}\r\ncontent-type: text/plain\r\ncontent-length: {SLOW_BODY_BYTES}\r\n\r\n",
        t.addr
    );
    while Instant::now() < end {
        let mut s = match t.tcp().await {
            Ok(s) => s,
            Err(e) => {
                tally.note(format!("connect: {}", class(&e)));
                tokio::time::sleep(RETRY_AFTER_REFUSAL).await;
                continue;
            }
        };
        tally.opened();
        let mut got = Vec::new();
        let outcome = async {
            if s.write_all(head.as_bytes()).await.is_err() {
                return Some("closed before the headers were sent".to_string());
            }
            let mut buf = [0u8; 1024];
            let mut tick =
                tokio::time::interval_at(Instant::now() + SLOW_BYTE_EVERY, SLOW_BYTE_EVERY);
            loop {
                tokio::select! {
                    r = s.read(&mut buf) => match r {
                        Ok(0) | Err(_) => return Some(answer_of(&got)),
                        Ok(n) => {
                            if got.len() < 4096 {
                                got.extend_from_slice(&buf[..n]);
                            }
                        }
                    },
                    _ = tick.tick() => {
                        // A refused write means the server closed; its answer may be
                        // read already, or still readable.
                        let _ = s.write_all(b"x").await;
                    }
                    _ = tokio::time::sleep_until(end) => return None,
                }
            }
        }
        .await;
        // Still open at the end: counted as open.
        let Some(outcome) = outcome else { return };
        tally.closed();
        let refused = outcome.starts_with("503");
        tally.note(outcome);
        if refused {
            tokio::time::sleep(RETRY_AFTER_REFUSAL).await;
        }
    }
}

/// "408", "503", … from what the server wrote before closing.
fn answer_of(got: &[u8]) -> String {
    let text = String::from_utf8_lossy(got);
    match text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.split(' ').next())
    {
        Some(status) => status.to_string(),
        None => "closed without an answer".to_string(),
    }
}

/// `POST /v1/lp/open` as fast as the answers come; the channels are never polled.
async fn channels_attacker(t: Arc<Target>, tally: Arc<Tally>, site: String, end: Instant) {
    let hello = Encoded::new(&Peer::visitor("attacker", &site).hello());
    let mut conn = HttpConn::new(t);
    while Instant::now() < end {
        let r = conn
            .request(
                "POST",
                "/v1/lp/open?tr=lp",
                &[("content-type", "text/plain")],
                hello.text(),
                Duration::from_secs(15),
            )
            .await;
        match r {
            Ok((s, _)) => {
                if s == 200 {
                    tally.opened();
                    tally.closed(); // never polled: held by the server only
                }
                tally.note(s.to_string());
            }
            Err(e) => {
                tally.note(class(&e));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// A JSONP channel (kept polled), sent first parts of two-part messages, each with a new
/// part id, as fast as the answers come; a new channel when it ends.
async fn jsonp_parts_attacker(
    t: Arc<Target>,
    tally: Arc<Tally>,
    site: String,
    end: Instant,
    id: usize,
) {
    let hello = Peer::visitor("attacker", &site).hello();
    // The first part of a message that is never completed: not a frame on its own.
    let first_part = enc("{\"t\":\"msg\",\"cid\":\"never");
    let mut n = 0u64;
    while Instant::now() < end {
        let mut link = match Link::open(&t, Tr::Jsonp, &hello).await {
            Ok(l) => l,
            Err(e) => {
                let what = e.to_string();
                let status = what
                    .strip_prefix("open: ")
                    .and_then(|r| r.split(' ').next())
                    .unwrap_or("failed");
                tally.note(format!("open {status}"));
                tokio::time::sleep(RETRY_AFTER_REFUSAL).await;
                continue;
            }
        };
        let chan = link.chan().unwrap_or_default().to_string();
        tally.opened();
        let mut conn = HttpConn::new(t.clone());
        'chan: while Instant::now() < end {
            // Keep the poll flowing; stop when the channel ended.
            while let Ok(d) = link.rx.try_recv() {
                if matches!(d, Down::Closed(_)) {
                    tally.note("channel ended");
                    break 'chan;
                }
            }
            n += 1;
            let path =
                format!("/v1/jsonp/send?cb=cb&chan={chan}&pid=f{id}x{n}&i=0&n=2&d={first_part}");
            match conn
                .request("GET", &path, &[], "", Duration::from_secs(15))
                .await
            {
                Ok((s, b)) if s == 200 && b.contains("4004") => {
                    tally.note("200 unknown channel");
                    break 'chan;
                }
                Ok((s, _)) => tally.note(s.to_string()),
                Err(e) => {
                    tally.note(class(&e));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        if Instant::now() >= end {
            return; // still open: counted as open
        }
        tally.closed();
    }
}

/// A WebSocket that never says hello and sends `{"t":"ping"}` every 4 s, until the
/// server closes it; then another.
async fn no_hello_attacker(t: Arc<Target>, tally: Arc<Tally>, end: Instant) {
    let ping = Encoded::new(&ClientFrame::Ping);
    while Instant::now() < end {
        let ws = match ws_connect(&t, "/v1/ws").await {
            Ok(ws) => ws,
            Err(e) => {
                let what = e.to_string();
                tally.note(if what.contains(" 503") {
                    "upgrade refused 503".to_string()
                } else {
                    format!("connect: {}", class(&e))
                });
                tokio::time::sleep(RETRY_AFTER_REFUSAL).await;
                continue;
            }
        };
        tally.opened();
        let (mut sink, mut stream) = ws.split();
        let mut tick = tokio::time::interval(NO_HELLO_PING_EVERY);
        let outcome = loop {
            tokio::select! {
                m = stream.next() => match m {
                    Some(Ok(Message::Close(frame))) => {
                        break match frame {
                            Some(f) => format!("close {}", u16::from(f.code)),
                            None => "close without a code".to_string(),
                        };
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break "closed without a close frame".to_string(),
                },
                _ = tick.tick() => {
                    if sink.send(Message::text(ping.text())).await.is_err() {
                        break "closed without a close frame".to_string();
                    }
                }
                _ = tokio::time::sleep_until(end) => return, // still open: counted as open
            }
        };
        tally.closed();
        tally.note(outcome);
    }
}

/// A visitor that opens its conversation (handed to the agent on `conv`), then sends
/// `typing` frames, on and off in turn, as fast as its socket takes them.
async fn typing_attacker(
    t: Arc<Target>,
    tally: Arc<Tally>,
    site: String,
    end: Instant,
    conv: mpsc::UnboundedSender<ConversationId>,
) {
    let peer = Peer::visitor("typist", &site);
    let mut link = match Link::open(&t, Tr::Ws, &peer.hello()).await {
        Ok(l) => l,
        Err(e) => {
            tally.note(format!("open: {e:.80}"));
            return;
        }
    };
    tally.opened();
    let cid = format!("typist{}", rand::random::<u32>());
    let mut sent_msg = false;
    let opened = loop {
        match tokio::time::timeout_at(end, link.rx.recv()).await {
            Ok(Some(Down::Frame(Frame::Welcome { .. }, _))) if !sent_msg => {
                sent_msg = true;
                let m = ClientFrame::Msg {
                    cid: cid.clone(),
                    body: "about to type".into(),
                    conv: None,
                    contact: None,
                };
                if link.send(&[m]).await.is_err() {
                    break None;
                }
            }
            Ok(Some(Down::Frame(
                Frame::Ack {
                    cid: acked, conv, ..
                },
                _,
            ))) if acked == cid => {
                break Some(conv);
            }
            Ok(Some(Down::Frame(..) | Down::Alive)) => {}
            Ok(Some(Down::Closed(code))) => {
                tally.note(format!("closed {} before typing", code.unwrap_or(0)));
                tally.closed();
                return;
            }
            _ => break None,
        }
    };
    let Some(c) = opened else {
        tally.note("no conversation");
        tally.closed();
        return;
    };
    let _ = conv.send(c);
    drop(conv);
    // Let the agent follow before typing starts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Encoded once: the flood measures the server, so the attacker spends its CPU on
    // sending, not on encoding the same two frames again.
    let frames = [
        Encoded::new(&ClientFrame::Typing {
            conv: None,
            on: true,
            text: Some("typing as fast as I can".into()),
        }),
        Encoded::new(&ClientFrame::Typing {
            conv: None,
            on: false,
            text: None,
        }),
    ];
    let mut i = 0usize;
    let outcome = loop {
        if Instant::now() >= end {
            return; // still open: counted as open
        }
        while let Ok(d) = link.rx.try_recv() {
            if let Down::Closed(code) = d {
                tally.closed();
                tally.note(format!("close {}", code.unwrap_or(0)));
                return;
            }
        }
        if let Err(e) = link
            .send_encoded(std::slice::from_ref(&frames[i % 2]))
            .await
        {
            break format!("send failed: {}", class(&e));
        }
        tally.frames.fetch_add(1, Ordering::Relaxed);
        i += 1;
        if i % 256 == 0 {
            tokio::task::yield_now().await;
        }
    };
    tally.closed();
    tally.note(outcome);
}
