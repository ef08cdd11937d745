//! Holding many idle connections (`idle`) or parked long-polls (`polls`) and measuring
//! the server's resident memory per connection from `/healthz`.
//!
//! Owns: opening connections in batches (so the accept backlog is not overrun), and —
//! when one process's file limit is not enough — re-executing `kefu-load` as worker
//! processes, each with its own source addresses, each reporting `ready N` on stdout and
//! exiting when its stdin closes (or at its time limit).

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::report::{self, Progress};
use crate::Cli;
use kefu_load::drive::{drive, Counters, Work};
use kefu_load::mix;
use kefu_load::net::{Target, Tr};
use kefu_load::session::Peer;

/// Connections one process opens at most (the hard file limit here is 20,000).
pub(crate) const PER_PROCESS: usize = 19_000;

/// Open `n` lingering visitors; returns their tasks. Connections answer pings (or keep
/// polling) until `stop`.
async fn open(
    t: &Arc<Target>,
    kind: &str,
    n: usize,
    site: &str,
    counters: &Arc<Counters>,
    stop: &watch::Receiver<bool>,
    deadline: Instant,
) -> Vec<JoinHandle<Peer>> {
    let tr = if kind == "polls" { Tr::Lp } else { Tr::Ws };
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let mut p = Peer::visitor(&format!("i{i}"), site);
        let w = Work {
            messages: 0,
            window: 1,
            every: None,
            transports: vec![tr],
            dead_after: Duration::from_secs(60),
            deadline,
            seed: i as u64,
            linger: true,
            counters: Some(counters.clone()),
            cut: None,
            before_cut: None,
        };
        let (t, stop) = (t.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            drive(&mut p, t, w, None, None, stop).await;
            p
        }));
        if i % 250 == 249 {
            while counters.welcomes.load(Ordering::Relaxed) + 500 < i as u64
                && Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    tasks
}

async fn wait_welcomes(counters: &Counters, n: usize, deadline: Instant) -> u64 {
    let mut last = (0, Instant::now());
    loop {
        let w = counters.welcomes.load(Ordering::Relaxed);
        if w >= n as u64 || Instant::now() >= deadline {
            return w;
        }
        if w != last.0 {
            last = (w, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(15) {
            return w; // no progress for 15 s: the server refuses more
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A worker process: open, report, hold until stdin closes.
pub(crate) async fn worker(
    t: &Arc<Target>,
    kind: &str,
    n: usize,
    site: &str,
) -> Result<bool, String> {
    let counters = Arc::new(Counters::default());
    let (stop_tx, stop) = watch::channel(false);
    let deadline = Instant::now() + Duration::from_secs(600);
    let tasks = open(t, kind, n, site, &counters, &stop, deadline).await;
    let ready = wait_welcomes(&counters, n, deadline).await;
    println!("ready {ready}");
    let _ = tokio::task::spawn_blocking(|| {
        let mut buf = [0u8; 64];
        while matches!(std::io::stdin().read(&mut buf), Ok(k) if k > 0) {}
    })
    .await;
    let _ = stop_tx.send(true);
    for h in tasks {
        h.abort();
    }
    Ok(true)
}

/// Kills its worker processes when dropped, whatever happened.
struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            drop(c.stdin.take());
        }
        let until = std::time::Instant::now() + Duration::from_secs(10);
        for c in &mut self.0 {
            while std::time::Instant::now() < until {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `idle` / `polls`: hold `conns` connections and measure the server's memory for them.
pub(crate) async fn hold(
    cli: &Cli,
    t: &Arc<Target>,
    kind: &str,
    conns: usize,
    secs: u64,
) -> Result<bool, String> {
    let (result, summary, ok) = hold_inner(cli, t, kind, conns, secs).await?;
    report::finish(cli.common.out.clone(), kind, &result, &summary)?;
    Ok(ok)
}

/// [`hold`] without the output: (result, summary lines, all held).
pub(crate) async fn hold_inner(
    cli: &Cli,
    t: &Arc<Target>,
    kind: &str,
    conns: usize,
    hold: u64,
) -> Result<(serde_json::Value, Vec<String>, bool), String> {
    let c = &cli.common;
    let (_, site) = mix::login_site(t, &c.email, &c.password).await?;
    let mut gauge = report::gauge_conn(t);
    let before = report::health(&mut gauge, "/healthz").await?;
    let deadline =
        Instant::now() + Duration::from_secs(c.time_limit.saturating_sub(hold + 10).max(10));
    let counters = Arc::new(Counters::default());
    let (stop_tx, stop) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut workers = Workers(Vec::new());
    let started = Instant::now();
    let ready = if conns <= PER_PROCESS {
        let bar = Progress::start(kind, conns as u64, Arc::new(Default::default()), c.quiet);
        let ctr = bar.counter();
        let watcher = {
            let counters = counters.clone();
            tokio::spawn(async move {
                loop {
                    ctr.store(counters.welcomes.load(Ordering::Relaxed), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        tasks = open(t, kind, conns, &site, &counters, &stop, deadline).await;
        let r = wait_welcomes(&counters, conns, deadline).await;
        watcher.abort();
        r
    } else {
        let n = conns.div_ceil(PER_PROCESS);
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..n {
            let share = conns / n + usize::from(i < conns % n);
            let mut child = Command::new(&exe)
                .args([
                    "--url",
                    &c.url,
                    "--sources",
                    &c.sources.to_string(),
                    "--quiet",
                ])
                .args(["--time-limit", &c.time_limit.to_string()])
                .args([
                    "worker",
                    "--kind",
                    kind,
                    "--conns",
                    &share.to_string(),
                    "--site",
                    &site,
                ])
                .args([
                    "--first-source",
                    &(i as u8).saturating_mul(c.sources).to_string(),
                ])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| format!("starting a worker: {e}"))?;
            let out = child.stdout.take().expect("piped");
            workers.0.push(child);
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if let Some(k) = line
                        .strip_prefix("ready ")
                        .and_then(|k| k.trim().parse::<u64>().ok())
                    {
                        let _ = tx.send(k);
                    }
                }
            });
        }
        drop(tx);
        let mut ready = 0;
        for _ in 0..n {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(k)) => ready += k,
                _ => return Err("a worker did not report in time".into()),
            }
        }
        ready
    };
    let opened_in = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(hold)).await;
    let after = report::health(&mut gauge, "/healthz").await?;
    let rss = |v: &serde_json::Value| v["rss_bytes"].as_u64().unwrap_or(0) as f64;
    let per = (rss(&after) - rss(&before)) / ready.max(1) as f64;
    let _ = stop_tx.send(true);
    for h in tasks {
        h.abort();
    }
    drop(workers);
    let what = if kind == "polls" {
        "parked long-poll"
    } else {
        "idle WebSocket visitor"
    };
    let result = json!({
        "scenario": kind, "requested": conns, "held": ready, "opened_in_s": opened_in,
        "hold_s": hold, "processes": conns.div_ceil(PER_PROCESS), "sources": c.sources,
        "healthz_before": before, "healthz_after": after,
        "rss_bytes_per_connection": per,
    });
    let summary = vec![
        format!(
            "{ready} of {conns} connections held ({} process(es), opened in {opened_in:.1} s)",
            conns.div_ceil(PER_PROCESS)
        ),
        format!(
            "server: connections {} channels {} rss {:.1} MiB → {:.1} MiB",
            after["connections"],
            after["channels"],
            rss(&before) / 1048576.0,
            rss(&after) / 1048576.0
        ),
        format!(
            "resident memory per {what}: {:.0} bytes ({:.2} KB)",
            per,
            per / 1000.0
        ),
    ];
    Ok((result, summary, ready as usize == conns))
}
