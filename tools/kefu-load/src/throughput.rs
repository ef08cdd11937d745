//! Throughput and latency runs: visitors write, agents follow every conversation and
//! read, then every log is read back and checked. The `throughput` and `latency`
//! scenarios and the kefu side of `compare-socketio` are this one run with different
//! shapes.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use kefu::ids::ConversationId;
use kefu::protocol::Role;
use kefu_load::drive::Counters;
use kefu_load::mix::{self, Mix};
use kefu_load::net::Target;
use kefu_load::session::Peer;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::report::{self, Progress};
use crate::Cli;

/// Sum of messages and entries over peers of one role.
fn sums(peers: &[Peer], role: Role) -> (u64, u64) {
    peers
        .iter()
        .filter(|p| p.role == role)
        .fold((0, 0), |(a, e), p| {
            (a + p.acked.len() as u64, e + p.stats.entries)
        })
}

/// Throughput and latency: visitors write, agents read; then the log is checked.
pub(crate) async fn run(cli: &Cli, t: &Arc<Target>, name: &str, mix: Mix) -> Result<bool, String> {
    let (result, summary, ok) = measure(cli, t, name, mix).await?;
    report::finish(cli.common.out.clone(), name, &result, &summary)?;
    Ok(ok)
}

/// [`run`] without the output: (result, summary lines, checks passed).
pub(crate) async fn measure(
    cli: &Cli,
    t: &Arc<Target>,
    name: &str,
    mut mix: Mix,
) -> Result<(Value, Vec<String>, bool), String> {
    let c = &cli.common;
    let (token, site) = mix::login_site(t, &c.email, &c.password).await?;
    let mut gauge = report::gauge_conn(t);
    let before = report::health(&mut gauge, "/healthz").await?;
    let counters = Arc::new(Counters::default());
    mix.progress = Some(counters.clone());
    let total = mix.per_visitor * mix.visitors as u64;
    let bar = Progress::start(name, total, Arc::new(Default::default()), c.quiet);
    let ticker = {
        let (counters, bar_counter) = (counters.clone(), bar.counter());
        tokio::spawn(async move {
            loop {
                bar_counter.store(counters.acks.load(Ordering::Relaxed), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let tokens = vec![token.clone(); mix.agents];
    let start = Instant::now();
    let peers = mix::run(t, &site, &tokens, &mix).await;
    let secs = start.elapsed().as_secs_f64();
    ticker.abort();
    drop(bar);
    let after = report::health(&mut gauge, "/healthz").await?;
    let convs: Vec<ConversationId> = peers
        .iter()
        .filter(|p| p.role == Role::Visitor)
        .filter_map(Peer::conv)
        .collect();
    let logs = mix::fetch_logs(t, &token, convs).await?;
    let verdict = kefu_load::verify::verify(&peers, &logs);
    let (acked, _) = sums(&peers, Role::Visitor);
    let (_, delivered) = sums(&peers, Role::Agent);
    let lat = report::latencies(&peers);
    let result = json!({
        "scenario": name,
        "visitors": mix.visitors, "agents": mix.agents, "window": mix.window,
        "transports": mix.transports.iter().map(|t| t.name()).collect::<Vec<_>>(),
        "messages_planned": total,
        "acknowledged": acked,
        "delivered_to_agents": delivered,
        "seconds": secs,
        "acked_per_second": acked as f64 / secs,
        "latency": lat,
        "healthz_before": before, "healthz_after": after,
        "verdict": verdict,
    });
    let summary = vec![
        format!(
            "{acked} of {total} messages durably acknowledged in {secs:.2} s: {:.0} msg/s",
            acked as f64 / secs
        ),
        format!(
            "{delivered} entries delivered to {} agent connection(s)",
            mix.agents
        ),
        format!("ack latency:      {}", report::pline(&lat["ack"])),
        format!("delivery latency: {}", report::pline(&lat["delivery"])),
        format!(
            "log check: {}",
            if verdict.clean() {
                "clean (0 lost, 0 duplicated, 0 reordered)".to_string()
            } else {
                format!("{:?}", verdict.problems)
            }
        ),
    ];
    Ok((result, summary, verdict.clean() && acked == total))
}
