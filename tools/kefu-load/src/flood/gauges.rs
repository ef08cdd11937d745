//! What `kefu-load flood` measures besides the attackers: the legitimate agent signing
//! in once a second (on a new connection each time), and the server's resident memory and
//! CPU time, sampled from `/proc/PID/status` and `/proc/PID/stat`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kefu_load::http::Conn;
use kefu_load::net::Target;
use serde_json::json;
use tokio::time::Instant;

use super::class;

/// What the legitimate agent's sign-ins got.
pub(super) struct SignIns {
    pub(super) attempts: u64,
    pub(super) statuses: BTreeMap<String, u64>,
    pub(super) latency_us: Vec<u64>,
    /// Every attempt: (seconds since the flood began, outcome, ms).
    pub(super) each: Vec<(f64, String, f64)>,
}

/// The real agent signs in once a second, each time on a new connection.
pub(super) async fn sign_in_every_second(
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
        let mut conn = Conn::new(t.clone());
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

/// The server's resident memory over the flood, from `/proc/PID/status` (kB).
#[derive(Debug, Default, Clone)]
pub(super) struct Rss {
    pub(super) start_kb: u64,
    pub(super) peak_kb: u64,
    pub(super) end_kb: u64,
    pub(super) hwm_start_kb: u64,
    pub(super) hwm_end_kb: u64,
    pub(super) samples: u64,
    /// One sample a second: (seconds since the start, VmRSS kB).
    pub(super) series: Vec<(f64, u64)>,
    /// The server's CPU time (user + system), seconds, at the first and the last sample.
    pub(super) cpu_start_s: f64,
    pub(super) cpu_end_s: f64,
}

/// (VmRSS, VmHWM) of `pid` in kB.
pub(super) fn status_of(pid: u32) -> Option<(u64, u64)> {
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
pub(super) async fn sample_rss(pid: u32, start: Instant, until: Instant) -> Rss {
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

pub(super) fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}
