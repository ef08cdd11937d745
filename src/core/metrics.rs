//! What `/metrics` reports (`docs/operations.md`), in the Prometheus/OpenMetrics text
//! format, with `prometheus-client`.
//!
//! Owns: the registry, the counters and histograms the rest of the core bumps (hellos,
//! closes by code, frames in and out by transport, ack latency, appends, group commits
//! and their latency, store errors, sign-ins, webhook attempts by outcome and their
//! time), and
//! the gauges read when scraped (connections, channels, live streams, the writer's queue,
//! resident memory), set by the caller just before encoding. Knows nothing of HTTP.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct HelloLabels {
    pub(crate) role: &'static str,
    pub(crate) transport: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TransportLabels {
    pub(crate) transport: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CloseLabels {
    pub(crate) code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct OutcomeLabels {
    pub(crate) outcome: &'static str,
}

/// Gauges set from the hub's own counts when scraped.
#[derive(Default)]
pub(crate) struct Now {
    pub(crate) connections: i64,
    pub(crate) channels: i64,
    pub(crate) live_streams: i64,
    pub(crate) writer_queue: i64,
    pub(crate) rss_bytes: i64,
}

pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) hellos: Family<HelloLabels, Counter>,
    pub(crate) closes: Family<CloseLabels, Counter>,
    pub(crate) frames_in: Family<TransportLabels, Counter>,
    pub(crate) frames_out: Family<TransportLabels, Counter>,
    pub(crate) ack_seconds: Histogram,
    pub(crate) appended: Counter,
    pub(crate) commit_batch: Histogram,
    pub(crate) commit_seconds: Histogram,
    pub(crate) store_errors: Counter,
    pub(crate) sign_ins: Family<OutcomeLabels, Counter>,
    pub(crate) webhook_deliveries: Family<OutcomeLabels, Counter>,
    pub(crate) webhook_seconds: Histogram,
    connections: Gauge,
    channels: Gauge,
    live_streams: Gauge,
    writer_queue: Gauge,
    rss_bytes: Gauge,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut r = Registry::with_prefix("kefu");
        let hellos = Family::<HelloLabels, Counter>::default();
        r.register(
            "hellos",
            "Hellos accepted, by role and transport",
            hellos.clone(),
        );
        let closes = Family::<CloseLabels, Counter>::default();
        r.register(
            "closes",
            "Connections the server ended, by close code (docs/protocol.md 5; 4001: too slow)",
            closes.clone(),
        );
        let frames_in = Family::<TransportLabels, Counter>::default();
        r.register(
            "frames_in",
            "Client frames received, by transport",
            frames_in.clone(),
        );
        let frames_out = Family::<TransportLabels, Counter>::default();
        r.register(
            "frames_out",
            "Server frames written, by transport",
            frames_out.clone(),
        );
        let ack_seconds = Histogram::new(exponential_buckets(0.000_25, 2.0, 14));
        r.register(
            "ack_seconds",
            "From a client's frame arriving to its ack being written (after the commit)",
            ack_seconds.clone(),
        );
        let appended = Counter::default();
        r.register(
            "entries_appended",
            "Entries committed to the log",
            appended.clone(),
        );
        let commit_batch = Histogram::new(exponential_buckets(1.0, 2.0, 11));
        r.register(
            "commit_batch_entries",
            "Entries per group commit",
            commit_batch.clone(),
        );
        let commit_seconds = Histogram::new(exponential_buckets(0.000_25, 2.0, 14));
        r.register(
            "commit_seconds",
            "Time of one group commit in the store",
            commit_seconds.clone(),
        );
        let store_errors = Counter::default();
        r.register(
            "store_errors",
            "Group commits and reopenings the store refused (not fenced ones)",
            store_errors.clone(),
        );
        let sign_ins = Family::<OutcomeLabels, Counter>::default();
        r.register(
            "sign_ins",
            "Agent sign-in attempts, by outcome (ok, refused, limited)",
            sign_ins.clone(),
        );
        let webhook_deliveries = Family::<OutcomeLabels, Counter>::default();
        r.register(
            "webhook_deliveries",
            "Webhook delivery attempts, by outcome (delivered, retried, failed: given up)",
            webhook_deliveries.clone(),
        );
        let webhook_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        r.register(
            "webhook_attempt_seconds",
            "Time of one webhook delivery attempt, to the answer's status or the timeout",
            webhook_seconds.clone(),
        );
        let gauge = |r: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            r.register(name, help, g.clone());
            g
        };
        let connections = gauge(&mut r, "connections", "Open client TCP connections");
        let channels = gauge(&mut r, "channels", "Open long-poll, XDR and JSONP channels");
        let live_streams = gauge(&mut r, "live_streams", "Conversations with a follower now");
        let writer_queue = gauge(&mut r, "writer_queue", "Writes waiting for the writer");
        let rss_bytes = gauge(
            &mut r,
            "resident_memory_bytes",
            "Resident memory of the process",
        );
        Metrics {
            registry: r,
            hellos,
            closes,
            frames_in,
            frames_out,
            ack_seconds,
            appended,
            commit_batch,
            commit_seconds,
            store_errors,
            sign_ins,
            webhook_deliveries,
            webhook_seconds,
            connections,
            channels,
            live_streams,
            writer_queue,
            rss_bytes,
        }
    }

    /// One group commit of `entries` that took `took`.
    pub(crate) fn committed(&self, entries: usize, took: Duration) {
        self.appended.inc_by(entries as u64);
        self.commit_batch.observe(entries as f64);
        self.commit_seconds.observe(took.as_secs_f64());
    }

    /// The text exposition, with the gauges set to `now`.
    pub(crate) fn encode(&self, now: &Now) -> String {
        self.connections.set(now.connections);
        self.channels.set(now.channels);
        self.live_streams.set(now.live_streams);
        self.writer_queue.set(now.writer_queue);
        self.rss_bytes.set(now.rss_bytes);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_what_happened() {
        let m = Metrics::new();
        m.hellos
            .get_or_create(&HelloLabels {
                role: "visitor",
                transport: "ws",
            })
            .inc();
        m.closes.get_or_create(&CloseLabels { code: 4001 }).inc();
        m.frames_in
            .get_or_create(&TransportLabels { transport: "lp" })
            .inc_by(2);
        m.ack_seconds.observe(0.001);
        m.committed(3, Duration::from_millis(2));
        let text = m.encode(&Now {
            connections: 7,
            ..Now::default()
        });
        for line in [
            "kefu_hellos_total{role=\"visitor\",transport=\"ws\"} 1",
            "kefu_closes_total{code=\"4001\"} 1",
            "kefu_frames_in_total{transport=\"lp\"} 2",
            "kefu_ack_seconds_count 1",
            "kefu_entries_appended_total 3",
            "kefu_commit_batch_entries_count 1",
            "kefu_commit_seconds_count 1",
            "kefu_connections 7",
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
        }
    }
}
