//! The Socket.IO side of `compare-socketio`: the same workload, the same Rust client
//! machinery (tungstenite with small buffers, same source addresses), speaking Engine.IO
//! v4 / Socket.IO v5 over WebSocket to the relay in `benches/socketio/server.js`:
//! `0{…}` open, `40` connect, `42["event",…]` events, `42N[…]`/`43N[…]` acks, `2`/`3`
//! ping/pong. Then the kefu side is run with identical figures and the ratios printed.
//!
//! The relay keeps nothing durable; kefu commits every message to SQLite before acking.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::report::{self, Progress};
use crate::{loopback_addr, Cli, Scenario};
use kefu_load::mix::Mix;
use kefu_load::net::{ws_connect, Target, Tr, Ws};
use kefu_load::session::now_us;

const PATH: &str = "/socket.io/?EIO=4&transport=websocket";

/// Open an Engine.IO socket and connect to the default namespace.
async fn connect(t: &Target) -> Result<Ws, String> {
    let mut ws = ws_connect(t, PATH).await.map_err(|e| e.to_string())?;
    let first = next_text(&mut ws).await?;
    if !first.starts_with('0') {
        return Err(format!(
            "expected an Engine.IO open packet, got {first:.80}"
        ));
    }
    send(&mut ws, "40").await?;
    loop {
        let m = next_text(&mut ws).await?;
        if m.starts_with("40") {
            return Ok(ws);
        }
        if m.starts_with("44") {
            return Err(format!("connect refused: {m:.120}"));
        }
    }
}

async fn send(ws: &mut Ws, s: &str) -> Result<(), String> {
    ws.send(Message::text(s.to_string()))
        .await
        .map_err(|e| e.to_string())
}

async fn next_text(ws: &mut Ws) -> Result<String, String> {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .map_err(|_| "no packet for 60 s".to_string())?;
        match m {
            Some(Ok(Message::Text(t))) => {
                if t.as_str() == "2" {
                    send(ws, "3").await?;
                    continue;
                }
                return Ok(t.as_str().to_string());
            }
            Some(Ok(Message::Close(_))) | None => return Err("closed".into()),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.to_string()),
        }
    }
}

#[derive(Default)]
struct Samples {
    ack_us: Vec<u64>,
    e2e_us: Vec<u64>,
    acked: u64,
    delivered: u64,
}

/// A visitor: join its room, write `n` messages with at most `window` unacked, and wait
/// for its own echoes.
async fn visitor(
    t: Arc<Target>,
    i: usize,
    n: u64,
    window: usize,
    acks: Arc<AtomicU64>,
) -> Result<Samples, String> {
    let mut ws = connect(&t).await?;
    let room = format!("r{i}");
    send(&mut ws, &format!("420{}", json!(["join", room]))).await?;
    let mut s = Samples::default();
    let mut pending: HashMap<u64, Instant> = HashMap::new();
    let (mut next, mut echoes) = (1u64, 0u64);
    while s.acked < n || echoes < n {
        while next <= n && pending.len() < window {
            let m = json!(["msg", {"room": room, "cid": format!("c{i}-{next}"), "body": format!("{next} {}", now_us())}]);
            send(&mut ws, &format!("42{next}{m}")).await?;
            pending.insert(next, Instant::now());
            next += 1;
        }
        let p = next_text(&mut ws).await?;
        if let Some(rest) = p.strip_prefix("43") {
            let id: u64 = rest
                .split('[')
                .next()
                .and_then(|d| d.parse().ok())
                .unwrap_or(0);
            if let Some(t0) = pending.remove(&id) {
                s.ack_us.push(t0.elapsed().as_micros() as u64);
                s.acked += 1;
                acks.fetch_add(1, Ordering::Relaxed);
            }
        } else if p.starts_with("42[\"e\"") {
            echoes += 1;
        }
    }
    Ok(s)
}

/// An agent: join `rooms`, receive `expect` events.
async fn agent(
    t: Arc<Target>,
    rooms: Vec<String>,
    expect: u64,
    ready: Arc<AtomicU64>,
) -> Result<Samples, String> {
    let mut ws = connect(&t).await?;
    for r in &rooms {
        send(&mut ws, &format!("42{}", json!(["join", r]))).await?;
    }
    ready.fetch_add(1, Ordering::Relaxed);
    let mut s = Samples::default();
    while s.delivered < expect {
        let p = next_text(&mut ws).await?;
        if let Some(rest) = p.strip_prefix("42") {
            let v: Value = serde_json::from_str(rest).unwrap_or(Value::Null);
            if v[0] == "e" {
                s.delivered += 1;
                if let Some(us) = v[1]["body"]
                    .as_str()
                    .and_then(|b| b.split(' ').nth(1))
                    .and_then(|x| x.parse::<u64>().ok())
                {
                    s.e2e_us.push(now_us().saturating_sub(us));
                }
            }
        }
    }
    Ok(s)
}

/// Throughput against the relay, shaped like kefu's `throughput` with one agent.
async fn sio_throughput(
    t: &Arc<Target>,
    visitors: usize,
    per: u64,
    window: usize,
    quiet: bool,
) -> Result<Value, String> {
    let acks = Arc::new(AtomicU64::new(0));
    let ready = Arc::new(AtomicU64::new(0));
    let rooms: Vec<String> = (0..visitors).map(|i| format!("r{i}")).collect();
    let start = Instant::now();
    let ag = tokio::spawn(agent(
        t.clone(),
        rooms,
        per * visitors as u64,
        ready.clone(),
    ));
    while ready.load(Ordering::Relaxed) == 0 && start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let bar = Progress::start("socket.io", per * visitors as u64, acks.clone(), quiet);
    let vs: Vec<_> = (0..visitors)
        .map(|i| tokio::spawn(visitor(t.clone(), i, per, window, acks.clone())))
        .collect();
    let mut all = Samples::default();
    for h in vs {
        let s = h.await.map_err(|e| e.to_string())??;
        all.acked += s.acked;
        all.ack_us.extend(s.ack_us);
    }
    let a = tokio::time::timeout(Duration::from_secs(60), ag)
        .await
        .map_err(|_| "the agent did not receive everything".to_string())?
        .map_err(|e| e.to_string())??;
    let secs = start.elapsed().as_secs_f64();
    drop(bar);
    Ok(json!({
        "acknowledged": all.acked, "delivered_to_agents": a.delivered, "seconds": secs,
        "acked_per_second": all.acked as f64 / secs,
        "latency": {"ack": report::percentiles(all.ack_us), "delivery": report::percentiles(a.e2e_us)},
    }))
}

/// Idle sockets against the relay; resident bytes per connection from `/rss`.
async fn sio_idle(t: &Arc<Target>, conns: usize, hold: u64) -> Result<Value, String> {
    let mut gauge = report::gauge_conn(t);
    let before = report::health(&mut gauge, "/rss").await?;
    let (stop_tx, stop) = watch::channel(false);
    let ready = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for i in 0..conns {
        let (t, mut stop, r) = (t.clone(), stop.clone(), ready.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(mut ws) = connect(&t).await else {
                return;
            };
            r.fetch_add(1, Ordering::Relaxed);
            loop {
                tokio::select! {
                    r = next_text(&mut ws) => if r.is_err() { return },
                    _ = stop.changed() => return,
                }
            }
        }));
        if i % 250 == 249 {
            while ready.load(Ordering::Relaxed) + 500 < i as u64 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    let until = Instant::now() + Duration::from_secs(60);
    while (ready.load(Ordering::Relaxed) as usize) < conns && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(hold)).await;
    let after = report::health(&mut gauge, "/rss").await?;
    let held = ready.load(Ordering::Relaxed);
    let rss = |v: &Value| v["rss_bytes"].as_u64().unwrap_or(0) as f64;
    let _ = stop_tx.send(true);
    for h in tasks {
        h.abort();
    }
    Ok(
        json!({"held": held, "rss_before": before, "rss_after": after,
        "rss_bytes_per_connection": (rss(&after) - rss(&before)) / held.max(1) as f64}),
    )
}

/// `compare-socketio`: Socket.IO first, then kefu, same numbers; ratios.
pub(crate) async fn compare(cli: &Cli, t: &Arc<Target>, deadline: Instant) -> Result<bool, String> {
    let Scenario::CompareSocketio {
        socketio_url,
        visitors,
        messages,
        window,
        conns,
    } = &cli.scenario
    else {
        return Err("not a comparison".into());
    };
    let c = &cli.common;
    let per = messages / *visitors as u64;
    let st = Target::new(
        loopback_addr(socketio_url)?,
        Vec::new(),
        Duration::from_secs(40),
    )?;
    let sio_tp = sio_throughput(&st, *visitors, per, *window, c.quiet).await?;
    let sio_mem = sio_idle(&st, *conns, 3).await?;
    let mix = Mix {
        visitors: *visitors,
        per_visitor: per,
        agents: 1,
        per_conv_agent: 0,
        window: *window,
        every: None,
        transports: vec![Tr::Ws],
        dead_after: Duration::from_secs(15),
        deadline,
        seed: c.seed,
        progress: None,
    };
    let (kefu_tp, _, ok1) = crate::throughput::measure(cli, t, "throughput", mix).await?;
    let (kefu_mem, _, ok2) = crate::workers::hold_inner(cli, t, "idle", *conns, 3).await?;
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let tp_ratio = f(&kefu_tp, "acked_per_second") / f(&sio_tp, "acked_per_second");
    let mem_ratio =
        f(&kefu_mem, "rss_bytes_per_connection") / f(&sio_mem, "rss_bytes_per_connection");
    let result = json!({
        "scenario": "compare-socketio",
        "note": "Socket.IO keeps nothing durable; kefu commits every message to SQLite before acknowledging it",
        "socketio": {"throughput": sio_tp, "idle": sio_mem},
        "kefu": {"throughput": kefu_tp, "idle": kefu_mem},
        "kefu_over_socketio_msgs_per_s": tp_ratio,
        "kefu_over_socketio_bytes_per_conn": mem_ratio,
    });
    let summary = vec![
        format!("socket.io: {:.0} msg/s acked (nothing durable); ack {}", f(&sio_tp, "acked_per_second"), report::pline(&sio_tp["latency"]["ack"])),
        format!("kefu:      {:.0} msg/s acked after SQLite commit; ack {}", f(&kefu_tp, "acked_per_second"), report::pline(&kefu_tp["latency"]["ack"])),
        format!("throughput ratio kefu/socket.io: {tp_ratio:.2}×"),
        format!("memory per idle connection: socket.io {:.0} B, kefu {:.0} B; ratio kefu/socket.io {mem_ratio:.2}",
            f(&sio_mem, "rss_bytes_per_connection"), f(&kefu_mem, "rss_bytes_per_connection")),
    ];
    report::finish(c.out.clone(), "compare-socketio", &result, &summary)?;
    Ok(ok1 && ok2)
}
