//! The figures of one `kefu-load flood`: the summary printed and the JSON result written,
//! from what the attackers, the legitimate clients and the gauges saw.

use std::collections::BTreeMap;

use kefu_load::session::Peer;
use kefu_load::verify::Verdict;
use serde_json::{json, Value};

use super::gauges::{mib, Rss, SignIns};
use super::{Flood, Kind};
use crate::report;
use crate::{sources, Cli};

/// How a flood ended.
pub(super) struct Ended {
    /// Seconds from the start to the attackers' end.
    pub(super) took: f64,
    /// Attackers' requests answered or connections ended, connections opened, frames
    /// sent; connections open at most at once and still open at the end.
    pub(super) attack_done: u64,
    pub(super) attack_opened: u64,
    pub(super) attack_frames: u64,
    pub(super) open_peak: i64,
    pub(super) open_at_end: i64,
    /// What the attackers got, by outcome.
    pub(super) outcomes: BTreeMap<String, u64>,
    /// The legitimate visitors.
    pub(super) peers: Vec<Peer>,
    pub(super) sign_ins: Option<SignIns>,
    /// The legitimate agent of a typing flood, the typing frames it got in all and in
    /// each second.
    pub(super) agent: Option<Peer>,
    pub(super) typing_total: u64,
    pub(super) typing_per_sec: Vec<u64>,
    pub(super) rss: Option<Rss>,
    /// The legitimate visitors' logs, checked.
    pub(super) verdict: Verdict,
}

/// Print the summary and write the result. `Ok(false)`: the log check failed.
pub(super) fn finish(cli: &Cli, f: &Flood, e: Ended) -> Result<bool, String> {
    let c = &cli.common;
    let Ended {
        took,
        attack_done,
        attack_opened,
        attack_frames,
        open_peak,
        open_at_end,
        outcomes,
        peers,
        sign_ins,
        agent,
        typing_total,
        typing_per_sec,
        rss,
        verdict,
    } = e;
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
        "connections_open_at_peak": open_peak,
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
            open_peak,
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
        let total = typing_total;
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
