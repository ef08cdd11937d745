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

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use kefu::ids::{ConversationId, Offset};
use kefu::protocol::Role;
use kefu_chaos::{Faults, Proxy};
use kefu_load::net::{Target, Tr};
use kefu_load::{mix, verify};
use tokio::time::Instant;

/// A running `kefu` process, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    site: Option<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(db: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kefu"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("KEFU_DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("KEFU_ADMIN_PASSWORD", "crash-test-pw")
        .env("KEFU_HEARTBEAT_MS", "300")
        .env("KEFU_POLL_TIMEOUT_MS", "400")
        .env("KEFU_CHAN_IDLE_MS", "3000")
        .env("KEFU_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kefu starts");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = std_mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut addr, mut site) = (None, None);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while addr.is_none() || (site.is_none() && std::time::Instant::now() < deadline) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let Ok(line) = rx.recv_timeout(left.min(Duration::from_millis(300))) else {
            if addr.is_some() {
                break; // a restart prints no site
            }
            assert!(left > Duration::ZERO, "kefu did not start in time");
            continue;
        };
        if let Some(u) = line.strip_prefix("kefu is listening on http://") {
            addr = Some(u.trim().parse().expect("printed address"));
        }
        if let Some((_, k)) = line.split_once("with key ") {
            site = Some(k.trim().to_string());
        }
    }
    Server {
        child,
        addr: addr.expect("address printed"),
        site,
    }
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
