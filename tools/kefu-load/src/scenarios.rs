//! The dispatch of every scenario, and two of kefu's own: the reconnect storm and the
//! chaos soak. Throughput and latency are in `throughput.rs`, idle and parked-poll memory
//! in `workers.rs`, the Socket.IO comparison in `socketio.rs`, the floods in `flood/`.
//! Each scenario signs an agent in (which also names the site), runs, checks what it can
//! (every run verifies delivery against the log where it wrote anything), and hands
//! figures to `report`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::report::{self, Progress};
use crate::{loopback_addr, sources, transports, Cli, Scenario};
use kefu::ids::ConversationId;
use kefu::protocol::Role;
use kefu_load::drive::{drive, Counters, Work};
use kefu_load::mix::{self, Mix};
use kefu_load::net::{Target, Tr};
use kefu_load::session::Peer;

/// Run the chosen scenario. `Ok(false)`: it ran, but a correctness check failed.
pub(crate) async fn run(cli: &Cli) -> Result<bool, String> {
    let c = &cli.common;
    let addr = loopback_addr(&c.url)?;
    let srcs = if c.sources > 1 {
        sources(0, c.sources)
    } else {
        Vec::new()
    };
    let t = match &c.route_site {
        Some(site) => {
            let t = Target::routed(addr, site, srcs, Duration::from_secs(40))?;
            t.reroute().await;
            t
        }
        None => Target::new(addr, srcs, Duration::from_secs(40))?,
    };
    let deadline = Instant::now() + Duration::from_secs(c.time_limit.saturating_sub(5).max(1));
    match &cli.scenario {
        Scenario::Throughput {
            visitors,
            messages,
            window,
            agents,
            transport,
        } => {
            let mix = Mix {
                visitors: *visitors,
                per_visitor: messages / *visitors as u64,
                agents: *agents,
                per_conv_agent: 0,
                window: *window,
                every: None,
                transports: transports(transport)?,
                dead_after: Duration::from_secs(15),
                deadline,
                seed: c.seed,
                progress: None,
            };
            crate::throughput::run(cli, &t, "throughput", mix).await
        }
        Scenario::Latency {
            rate,
            duration,
            visitors,
            agents,
            transport,
        } => {
            let per = rate * duration / *visitors as u64;
            let every = Duration::from_secs_f64(*visitors as f64 / *rate as f64);
            let mix = Mix {
                visitors: *visitors,
                per_visitor: per,
                agents: *agents,
                per_conv_agent: 0,
                window: 256,
                every: Some(every),
                transports: transports(transport)?,
                dead_after: Duration::from_secs(15),
                deadline,
                seed: c.seed,
                progress: None,
            };
            crate::throughput::run(cli, &t, "latency", mix).await
        }
        Scenario::Idle { conns, hold } => {
            crate::workers::hold(cli, &t, "idle", *conns, *hold).await
        }
        Scenario::Polls { conns, hold } => {
            crate::workers::hold(cli, &t, "polls", *conns, *hold).await
        }
        Scenario::Storm { clients, kill_pid } => {
            storm(cli, &t, *clients, *kill_pid, deadline).await
        }
        Scenario::Soak {
            visitors,
            messages,
            agents,
            transport,
        } => {
            soak(
                cli,
                &t,
                *visitors,
                *messages,
                *agents,
                transports(transport)?,
                deadline,
            )
            .await
        }
        Scenario::CompareSocketio { .. } => crate::socketio::compare(cli, &t, deadline).await,
        Scenario::Flood {
            kind,
            seconds,
            attackers,
            attack_sources,
            server_pid,
        } => {
            let f = crate::flood::Flood {
                kind: *kind,
                seconds: *seconds,
                attackers: attackers.unwrap_or(kind.default_attackers()),
                attack_sources: *attack_sources,
                server_pid: *server_pid,
            };
            crate::flood::run(cli, addr, &f).await
        }
        Scenario::Worker {
            kind, conns, site, ..
        } => crate::workers::worker(&t, kind, *conns, site).await,
    }
}

/// Cut every client at once; time until all have a new welcome, and until all hold the
/// message each wrote right after the cut (resent or sent on the new link), with no gap.
async fn storm(
    cli: &Cli,
    t: &Arc<Target>,
    k: usize,
    kill_pid: Option<u32>,
    deadline: Instant,
) -> Result<bool, String> {
    let c = &cli.common;
    let (token, site) = mix::login_site(t, &c.email, &c.password).await?;
    let counters = Arc::new(Counters::default());
    let (cut_tx, cut_rx) = watch::channel(0u64);
    let (stop_tx, stop) = watch::channel(false);
    let (rep_tx, mut rep_rx) = mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    let bar = Progress::start("connect", k as u64, Arc::new(Default::default()), c.quiet);
    for i in 0..k {
        let mut p = Peer::visitor(&format!("s{i}"), &site);
        p.expect_each = 2;
        let w = Work {
            messages: 2,
            window: 1,
            every: None,
            transports: vec![Tr::Ws],
            dead_after: Duration::from_secs(15),
            deadline,
            seed: c.seed ^ i as u64,
            linger: true,
            counters: Some(counters.clone()),
            cut: Some(cut_rx.clone()),
            before_cut: Some(1),
        };
        let (t, stop, rep) = (t.clone(), stop.clone(), rep_tx.clone());
        tasks.push(tokio::spawn(async move {
            drive(&mut p, t, w, None, Some(rep), stop).await;
            p
        }));
        if i % 500 == 499 {
            // Do not outrun the accept backlog.
            while counters.welcomes.load(Ordering::Relaxed) + 200 < i as u64
                && Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        bar.counter()
            .store(counters.welcomes.load(Ordering::Relaxed), Ordering::Relaxed);
    }
    drop(rep_tx);
    let mut convs = Vec::new();
    while convs.len() < k {
        match tokio::time::timeout_at(deadline, rep_rx.recv()).await {
            Ok(Some(conv)) => convs.push(conv),
            _ => break,
        }
    }
    while (counters.acks.load(Ordering::Relaxed) as usize) < k && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(bar);
    tokio::time::sleep(Duration::from_millis(500)).await; // echoes of the first messages
    let welcomes0 = counters.welcomes.load(Ordering::Relaxed);
    let t0 = Instant::now();
    match kill_pid {
        // The clients find out by themselves, as they would from a dead node.
        Some(pid) => {
            let killed = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status()
                .map_err(|e| format!("kill: {e}"))?;
            if !killed.success() {
                return Err(format!("kill -9 {pid} failed"));
            }
        }
        None => cut_tx.send_modify(|g| *g += 1),
    }
    let (mut resumed_at, mut half_at, mut p99_at) = (None, None, None);
    while Instant::now() < deadline {
        let w = counters.welcomes.load(Ordering::Relaxed) - welcomes0;
        if half_at.is_none() && w * 2 >= k as u64 {
            half_at = Some(t0.elapsed());
        }
        if p99_at.is_none() && w * 100 >= k as u64 * 99 {
            p99_at = Some(t0.elapsed());
        }
        if resumed_at.is_none() && w >= k as u64 {
            resumed_at = Some(t0.elapsed());
        }
        if counters.settled.load(Ordering::Relaxed) >= k as u64 && resumed_at.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let caught_up = t0.elapsed();
    let all_settled = counters.settled.load(Ordering::Relaxed) >= k as u64;
    let _ = stop_tx.send(true);
    let mut peers = Vec::new();
    for h in tasks {
        if let Ok(p) = h.await {
            peers.push(p);
        }
    }
    let logs = mix::fetch_logs(t, &token, convs.iter().copied()).await?;
    let verdict = kefu_load::verify::verify(&peers, &logs);
    let holding_both = peers
        .iter()
        .filter(|p| p.views.values().all(|v| v.msgs == 2) && p.views.len() == 1)
        .count();
    let result = json!({
        "scenario": "storm",
        "clients": k,
        "conversations": convs.len(),
        "resumed_all_ms": resumed_at.map(|d| d.as_secs_f64() * 1000.0),
        "resumed_p50_ms": half_at.map(|d| d.as_secs_f64() * 1000.0),
        "resumed_p99_ms": p99_at.map(|d| d.as_secs_f64() * 1000.0),
        "killed": kill_pid,
        "caught_up_all_ms": all_settled.then_some(caught_up.as_secs_f64() * 1000.0),
        "clients_holding_both_entries": holding_both,
        "verdict": verdict,
    });
    let ms = |d: Option<Duration>| {
        d.map_or("never".to_string(), |d| {
            format!("{:.0} ms", d.as_secs_f64() * 1000.0)
        })
    };
    let summary = vec![
        match kill_pid {
            Some(pid) => format!("{k} clients, their node (pid {pid}) killed with SIGKILL"),
            None => format!("{k} clients cut at once"),
        },
        format!(
            "re-welcomed (resumed): half after {}, 99% after {}, all after {}",
            ms(half_at),
            ms(p99_at),
            ms(resumed_at)
        ),
        format!(
            "all holding their message written at the cut (acked, echoed, offset 2) after {}",
            ms(all_settled.then_some(caught_up))
        ),
        format!(
            "{holding_both} of {k} hold both their messages; gap/duplicate check: {}",
            if verdict.clean() { "clean" } else { "FAILED" }
        ),
    ];
    report::finish(c.out.clone(), "storm", &result, &summary)?;
    Ok(verdict.clean() && all_settled && holding_both == k)
}

/// The chaos test at scale, through the fault proxy, with everything cut every 5 s.
async fn soak(
    cli: &Cli,
    t: &Arc<Target>,
    visitors: usize,
    messages: u64,
    agents: usize,
    trs: Vec<Tr>,
    deadline: Instant,
) -> Result<bool, String> {
    use kefu_chaos::{Faults, Proxy};
    let c = &cli.common;
    let (token, site) = mix::login_site(t, &c.email, &c.password).await?;
    let proxy = Proxy::start(
        "127.0.0.1:0".parse().expect("literal"),
        t.addr(),
        Faults::rough(Duration::from_secs(2)),
        c.seed,
    )
    .await
    .map_err(|e| format!("proxy: {e}"))?;
    let through = Target::new(proxy.addr(), Vec::new(), Duration::from_secs(40))?;
    let counters = Arc::new(Counters::default());
    let per_conv_agent = (messages / 4).max(1);
    let mix = Mix {
        visitors,
        per_visitor: messages,
        agents,
        per_conv_agent,
        window: 8,
        every: Some(Duration::from_millis(20)),
        transports: trs,
        dead_after: Duration::from_secs(8),
        deadline,
        seed: c.seed,
        progress: Some(counters.clone()),
    };
    let total = visitors as u64 * (messages + per_conv_agent);
    let bar = Progress::start("soak", total, Arc::new(Default::default()), c.quiet);
    let tokens = vec![token.clone(); agents];
    let run = tokio::spawn({
        let (through, site, mix) = (through.clone(), site.clone(), mix.clone());
        async move { mix::run(&through, &site, &tokens, &mix).await }
    });
    let start = Instant::now();
    let mut next_cut = Instant::now() + Duration::from_secs(5);
    while !run.is_finished() {
        bar.counter()
            .store(counters.acks.load(Ordering::Relaxed), Ordering::Relaxed);
        if Instant::now() >= next_cut {
            proxy.cut_all();
            next_cut += Duration::from_secs(5);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(bar);
    let peers = run.await.map_err(|e| e.to_string())?;
    let secs = start.elapsed().as_secs_f64();
    let stats = proxy.stats();
    let convs: Vec<ConversationId> = peers
        .iter()
        .filter(|p| p.role == Role::Visitor)
        .filter_map(Peer::conv)
        .collect();
    let logs = mix::fetch_logs(t, &token, convs).await?;
    let verdict = kefu_load::verify::verify(&peers, &logs);
    let links: u64 = peers.iter().map(|p| p.stats.links).sum();
    let result: Value = json!({
        "scenario": "soak", "visitors": visitors, "agents": agents,
        "messages_planned": total, "seconds": secs, "links": links,
        "proxy": format!("{stats:?}"), "verdict": verdict,
    });
    let summary = vec![
        format!("{} of {total} messages made, {} acknowledged, {} stored, in {secs:.1} s", verdict.messages_made, verdict.acknowledged, verdict.stored),
        format!("{links} links; proxy: {stats:?}"),
        format!("lost {}, duplicated {}, reordered {}, acked-but-missing {}, delivery mismatches {}, gaps/dups seen {}",
            verdict.lost, verdict.duplicated, verdict.reordered, verdict.acked_missing, verdict.delivery_mismatch, verdict.gaps_or_dups_seen),
    ];
    report::finish(c.out.clone(), "soak", &result, &summary)?;
    Ok(verdict.clean() && verdict.messages_made == total && verdict.acknowledged == total)
}
