//! Crash: the real `kefu` binary is killed with SIGKILL three times while visitors and an
//! agent are writing over every transport, and restarted on the same SQLite file (on a
//! new port each time; clients reach it through a calm relay that is re-pointed). Then:
//! every message acknowledged before any kill is in the log at its acknowledged offset
//! (a client never resends an acknowledged message, so a lost commit would show as a
//! missing message), nothing is duplicated or reordered, and every client resumed with
//! no gap.
//!
//! SQLite's own: what a SIGKILL leaves of the file (WAL, synchronous) is the point, so it
//! runs on a SQLite file whatever `KEFU_TEST_BACKEND` says. A database server's commits
//! are the server's to keep (`tests/db_outage.rs` cuts the link to one instead).

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use support::process::Process;

use kefu::ids::{ConversationId, Offset};
use kefu::protocol::Role;
use kefu_chaos::{Faults, Proxy};
use kefu_load::net::{Target, Tr};
use kefu_load::{mix, verify};
use tokio::time::Instant;

fn spawn(db: &Path) -> Process {
    support::process::spawn(
        &["serve"],
        &[
            ("KEFU_DATABASE_URL", format!("sqlite://{}", db.display())),
            ("KEFU_ADMIN_PASSWORD", "crash-test-pw".into()),
            ("KEFU_HEARTBEAT_MS", "300".into()),
            ("KEFU_POLL_TIMEOUT_MS", "400".into()),
            ("KEFU_CHAN_IDLE_MS", "3000".into()),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kefu.db");
    let mut srv = spawn(&db);
    let site = srv.site.clone().expect("first run creates a site");
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), srv.addr, Faults::calm(), 1)
        .await
        .unwrap();
    let t = Target::new(proxy.addr(), vec![], Duration::from_millis(1400)).unwrap();
    let token = mix::login_site(&t, "admin@localhost", "crash-test-pw")
        .await
        .unwrap()
        .0;
    let counters = std::sync::Arc::new(kefu_load::drive::Counters::default());
    let plan = mix::Mix {
        visitors: 10,
        per_visitor: 50,
        agents: 1,
        per_conv_agent: 10,
        window: 4,
        every: Some(Duration::from_millis(60)),
        transports: vec![Tr::Ws, Tr::Lp, Tr::Jsonp],
        dead_after: Duration::from_millis(2000),
        deadline: Instant::now() + Duration::from_secs(45),
        seed: 99,
        progress: Some(counters.clone()),
    };
    let run = tokio::spawn({
        let (t, token, plan, site) = (t.clone(), token.clone(), plan.clone(), site.clone());
        async move { mix::run(&t, &site, &[token], &plan).await }
    });
    let mut kills = 0;
    let mut acked_at_kill = Vec::new();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(900)).await;
        acked_at_kill.push(counters.acks.load(std::sync::atomic::Ordering::Relaxed));
        srv.child.kill().expect("kill -9");
        srv.child.wait().unwrap();
        kills += 1;
        srv = tokio::task::spawn_blocking({
            let db = db.clone();
            move || spawn(&db)
        })
        .await
        .unwrap();
        proxy.set_upstream(srv.addr).unwrap();
        proxy.cut_all(); // links still pointing at the dead process
    }
    assert_eq!(kills, 3);
    let expected = plan.visitors as u64 * (plan.per_visitor + plan.per_conv_agent);
    assert!(
        acked_at_kill[0] > 0 && acked_at_kill[2] < expected,
        "the kills did not fall mid-load: acked at each kill {acked_at_kill:?} of {expected}"
    );
    let peers = run.await.unwrap();
    // One last kill, then read the file as the next start would.
    drop(srv);

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
    let store = kefu::store::open(
        &format!("sqlite://{}", db.display()),
        &kefu::store::Options::default(),
    )
    .unwrap();
    let logs: HashMap<ConversationId, verify::Log> = convs
        .iter()
        .map(|&c| {
            let es = store.read_after(c, Offset(0), 1_000_000).unwrap();
            (c, es.into_iter().map(|e| (e.off, e.cid)).collect())
        })
        .collect();
    let verdict = verify::verify(&peers, &logs);
    assert!(verdict.clean(), "{verdict:#?}");
    assert_eq!(verdict.messages_made, expected, "{verdict:#?}");
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
    let links: u64 = peers.iter().map(|p| p.stats.links).sum();
    assert!(
        links >= 4 * peers.len() as u64,
        "every client reconnected after each kill: {links} links for {} peers",
        peers.len()
    );
    eprintln!("crash: {kills} kills (acked so far at each: {acked_at_kill:?}), {links} links, {verdict:?}");
}
