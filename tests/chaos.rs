//! Chaos: many visitors and an agent talk both ways through a fault-injecting proxy
//! (cuts, stalls, half-open links, slow draining, and everything cut at once, twice),
//! over WebSocket, long-polling and JSONP, switching transport on every reconnect. Then
//! every session's history is checked against the store: nothing lost, duplicated or
//! reordered, and every acknowledged message stored at its acknowledged offset.
//!
//! The client logic is the load tool's own (the `kefu_load` library, `tools/kefu-load/`),
//! so the test and the soak benchmark run the same protocol code.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use kefu::ids::ConversationId;
use kefu::protocol::Role;
use kefu_chaos::{Faults, Proxy};
use kefu_load::net::{Target, Tr};
use kefu_load::{mix, verify};
use support::*;
use tokio::time::Instant;

/// The logs of `convs` as stored, read straight from the SQLite file.
fn stored_logs(
    srv: &TestServer,
    convs: impl IntoIterator<Item = ConversationId>,
) -> HashMap<ConversationId, verify::Log> {
    convs
        .into_iter()
        .map(|c| {
            let log = srv
                .stored(c.0)
                .into_iter()
                .map(|e| (e.off, e.cid))
                .collect();
            (c, log)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_duplicated_or_reordered_through_chaos() {
    let dir = temp_dir();
    let srv = start_with(dir.path(), |c| {
        c.heartbeat_ms = 300;
        c.poll_timeout_ms = 400;
        c.chan_idle_ms = 3000;
    })
    .await;
    let faults = Faults {
        cut: 0.25,
        cut_within: Duration::from_millis(1500),
        stall: 0.1,
        stall_for: Duration::from_millis(500),
        half_open: 0.05,
        slow: 0.1,
        slow_chunk: 64,
        slow_pause: Duration::from_millis(1),
    };
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), srv.addr, faults, 20_261_128)
        .await
        .unwrap();
    let direct = Target::new(srv.addr, vec![], Duration::from_secs(5)).unwrap();
    let token = mix::login_site(&direct, "admin@localhost", "test-password")
        .await
        .unwrap()
        .0;
    let through = Target::new(proxy.addr(), vec![], Duration::from_millis(1400)).unwrap();
    let plan = mix::Mix {
        visitors: 16,
        per_visitor: 40,
        agents: 1,
        per_conv_agent: 10,
        window: 4,
        every: Some(Duration::from_millis(100)),
        transports: vec![Tr::Ws, Tr::Lp, Tr::Jsonp],
        dead_after: Duration::from_millis(2000),
        deadline: Instant::now() + Duration::from_secs(40),
        seed: 7,
        progress: None,
    };
    let site = srv.site_key.clone();
    let run = tokio::spawn({
        let (through, token, plan) = (through.clone(), token.clone(), plan.clone());
        async move { mix::run(&through, &site, &[token], &plan).await }
    });
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        proxy.cut_all();
    }
    let started = Instant::now();
    let peers = run.await.unwrap();
    eprintln!("run took {:?} (after the cuts)", started.elapsed());
    let stats = proxy.stats();
    eprintln!("proxy: {stats:?}");
    assert!(
        stats.cut_on_command > 0,
        "the proxy never cut on command: {stats:?}"
    );
    assert!(
        stats.cut + stats.half_open + stats.stalled > 0,
        "no faults: {stats:?}"
    );

    let convs: Vec<ConversationId> = peers
        .iter()
        .filter(|p| p.role == Role::Visitor)
        .filter_map(|p| p.conv())
        .collect();
    assert_eq!(
        convs.len(),
        plan.visitors,
        "every visitor got a conversation"
    );
    let logs = stored_logs(&srv, convs.iter().copied());
    let verdict = verify::verify(&peers, &logs);
    let expected = plan.visitors as u64 * (plan.per_visitor + plan.per_conv_agent);
    assert_eq!(verdict.messages_made, expected, "{verdict:#?}");
    assert!(verdict.clean(), "{verdict:#?}");
    assert_eq!(verdict.acknowledged, expected, "{verdict:#?}");
    assert_eq!(verdict.stored, expected, "{verdict:#?}");
    for p in &peers {
        for (conv, v) in &p.views {
            assert_eq!(
                v.msgs,
                plan.per_visitor + plan.per_conv_agent,
                "{} holds conv {conv} only up to {}",
                p.name,
                v.last.0
            );
            assert_eq!(v.seen, logs[conv], "{} saw conv {conv} as stored", p.name);
        }
    }
    // The run really moved between transports.
    let mut used: HashMap<&str, u64> = HashMap::new();
    for p in &peers {
        for (k, n) in &p.stats.by_transport {
            *used.entry(k).or_default() += n;
        }
    }
    assert!(used.len() == 3, "transports used: {used:?}");
    let links: u64 = peers.iter().map(|p| p.stats.links).sum();
    assert!(
        links > peers.len() as u64,
        "nobody reconnected: {links} links"
    );
    eprintln!("chaos: {stats:?}; links {links}; transports {used:?}; {verdict:?}");
    drop(proxy);
    srv.stop().await;
}
