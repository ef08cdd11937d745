//! Figures and their output: latency percentiles (hdrhistogram), the server's `/healthz`
//! gauges, the progress bar, and the JSON result file with its human summary.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use kefu_load::http::Conn;
use kefu_load::net::Target;
use kefu_load::session::Peer;

/// p50/p99/p99.9/max of µs samples, in ms.
pub(crate) fn percentiles(samples: impl IntoIterator<Item = u64>) -> Value {
    let mut h = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("valid bounds");
    for s in samples {
        h.saturating_record(s.max(1));
    }
    if h.is_empty() {
        return json!({"count": 0});
    }
    let ms = |us: u64| (us as f64 / 10.0).round() / 100.0;
    json!({
        "count": h.len(),
        "p50_ms": ms(h.value_at_quantile(0.5)),
        "p99_ms": ms(h.value_at_quantile(0.99)),
        "p999_ms": ms(h.value_at_quantile(0.999)),
        "max_ms": ms(h.max()),
    })
}

/// Ack and delivery latency of a set of peers.
pub(crate) fn latencies(peers: &[Peer]) -> Value {
    json!({
        "ack": percentiles(peers.iter().flat_map(|p| p.stats.ack_us.iter().copied())),
        "delivery": percentiles(peers.iter().flat_map(|p| p.stats.e2e_us.iter().copied())),
    })
}

/// `GET /healthz` (kefu) or `GET /rss` (the Socket.IO relay) as JSON.
pub(crate) async fn health(conn: &mut Conn, path: &str) -> Result<Value, String> {
    // A kept-alive connection may have been closed by the server while idle: retry once.
    let r = match conn
        .request("GET", path, &[], "", Duration::from_secs(10))
        .await
    {
        Ok(r) => Ok(r),
        Err(_) => {
            conn.request("GET", path, &[], "", Duration::from_secs(10))
                .await
        }
    };
    let (s, b) = r.map_err(|e| format!("{path}: {e}"))?;
    if s != 200 {
        return Err(format!("{path}: status {s}"));
    }
    serde_json::from_str(&b).map_err(|e| format!("{path}: {e}"))
}

/// A keep-alive connection for gauges, opened first so it is already counted.
pub(crate) fn gauge_conn(t: &Arc<Target>) -> Conn {
    Conn::new(t.clone())
}

/// A progress bar over `counter` up to `total`; it stops when the returned handle drops.
pub(crate) struct Progress {
    bar: ProgressBar,
    counter: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    pub(crate) fn start(what: &str, total: u64, counter: Arc<AtomicU64>, quiet: bool) -> Progress {
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(total)
        };
        bar.set_style(
            ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} {per_sec} eta {eta}")
                .expect("valid template"),
        );
        bar.set_message(what.to_string());
        let (b, c) = (bar.clone(), counter.clone());
        let task = tokio::spawn(async move {
            let counter = c;
            loop {
                b.set_position(counter.load(Ordering::Relaxed));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        Progress { bar, counter, task }
    }

    /// What the bar shows.
    pub(crate) fn counter(&self) -> Arc<AtomicU64> {
        self.counter.clone()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.task.abort();
        self.bar.finish_and_clear();
    }
}

/// Write the result file and print the summary lines.
pub(crate) fn finish(
    out: Option<PathBuf>,
    scenario: &str,
    result: &Value,
    summary: &[String],
) -> Result<(), String> {
    let path = out.unwrap_or_else(|| PathBuf::from(format!("kefu-load-{scenario}.json")));
    let text = serde_json::to_string_pretty(result).map_err(|e| e.to_string())?;
    std::fs::write(&path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    println!("== kefu-load {scenario} ==");
    for l in summary {
        println!("{l}");
    }
    println!("(result written to {})", path.display());
    Ok(())
}

/// "p50 a / p99 b / p99.9 c ms" from a [`percentiles`] value.
pub(crate) fn pline(v: &Value) -> String {
    if v["count"] == 0 {
        return "no samples".into();
    }
    format!(
        "p50 {} / p99 {} / p99.9 {} / max {} ms ({} samples)",
        v["p50_ms"], v["p99_ms"], v["p999_ms"], v["max_ms"], v["count"]
    )
}
