//! A database server that goes away and comes back, on PostgreSQL and on MariaDB/MySQL:
//! kefu reaches it through the fault proxy (`kefu-chaos`), which cuts every link and
//! refuses new ones, then relays again. While it is away visitors stay connected, their
//! messages get the retryable `err` `store` (no ack) and `/healthz` says 503; once it is
//! back, writes succeed again without a restart, and everything acknowledged before,
//! during and after is in the log exactly once.
//!
//! Needs the servers (`kefu::store::testdb`): fails, never skips, when one is unreachable.
#![cfg(any(feature = "postgres", feature = "mysql"))]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use kefu::store::testdb::{Server, TestDb};
use kefu_chaos::{Faults, Proxy};
use support::*;

async fn health(addr: SocketAddr) -> (u16, String) {
    let (s, _, b) = http(addr, "GET", "/healthz", &[], "").await;
    (s, b)
}

/// `url` with its `host:port` replaced by `addr`.
fn through(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (auth, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let user = auth.rsplit_once('@').map(|(u, _)| format!("{u}@"));
    format!("{scheme}://{}{addr}{tail}", user.unwrap_or_default())
}

/// The server's address (`host:port` of its URL, a loopback one).
fn server_addr(url: &str, default_port: u16) -> SocketAddr {
    let rest = url.split_once("://").unwrap().1;
    let auth = rest.split(['/', '?']).next().unwrap();
    let host_port = auth.rsplit('@').next().unwrap();
    let host_port = match host_port.contains(':') {
        true => host_port.to_string(),
        false => format!("{host_port}:{default_port}"),
    };
    let host_port = host_port.replace("localhost", "127.0.0.1");
    host_port
        .parse()
        .expect("the test server's address is an IP and a port")
}

/// A loopback port nothing listens on.
async fn dead_port() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

/// Send `cid` and wait for its answer: `Ok(offset)` on an ack, `Err(code)` on an `err`.
async fn send(c: &mut Client, cid: &str) -> Result<u64, String> {
    c.msg(cid, &format!("body of {cid}")).await;
    loop {
        let f = c.recv().await;
        match f["t"].as_str() {
            Some("ack") if f["cid"] == cid => return Ok(f["off"].as_u64().unwrap()),
            Some("err") if f["cid"] == cid => return Err(f["code"].as_str().unwrap().into()),
            Some("ack" | "err") => panic!("an answer to another message: {f}"),
            _ => continue,
        }
    }
}

async fn goes_away_and_comes_back(server: Server, default_port: u16) {
    let db = TestDb::new(server);
    let upstream = server_addr(db.url(), default_port);
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), upstream, Faults::calm(), 7)
        .await
        .unwrap();
    let url = through(db.url(), proxy.addr());
    let dir = sqlite_dir();
    let srv = start_with(dir.path(), |c| c.database_url = url.clone()).await;
    assert_eq!(health(srv.addr).await.0, 200);
    let mut c = Client::connect(&srv.ws_url()).await;
    c.hello(&srv.site_key, None, None).await;
    let mut acked: Vec<(String, u64)> = Vec::new();
    for i in 0..10 {
        let cid = format!("before{i}");
        acked.push((cid.clone(), send(&mut c, &cid).await.unwrap()));
    }

    // Away: every link cut, new ones refused (relayed to a port nothing listens on).
    proxy.set_upstream(dead_port().await).unwrap();
    proxy.cut_all();
    let mut refused = Vec::new();
    for i in 0..3 {
        let cid = format!("during{i}");
        assert_eq!(
            send(&mut c, &cid).await,
            Err("store".to_string()),
            "no ack while the database is away"
        );
        refused.push(cid);
    }
    let (s, body) = health(srv.addr).await;
    assert_eq!(s, 503, "{body}");

    // Back: the same server writes again; the visitor resends what was refused.
    proxy.set_upstream(upstream).unwrap();
    for cid in &refused {
        let mut tries = 0;
        let off = loop {
            match send(&mut c, cid).await {
                Ok(off) => break off,
                Err(code) if tries < 10 => {
                    assert_eq!(code, "store");
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(code) => panic!("{cid} still refused ({code}) once the database is back"),
            }
        };
        acked.push((cid.clone(), off));
    }
    for i in 0..10 {
        let cid = format!("after{i}");
        acked.push((cid.clone(), send(&mut c, &cid).await.unwrap()));
    }
    let (s, body) = health(srv.addr).await;
    assert_eq!(s, 200, "{body}");
    // A resend of something acknowledged is acknowledged again, at the same offset.
    assert_eq!(send(&mut c, "before0").await, Ok(acked[0].1));
    let conv = {
        c.msg("last", "last").await;
        c.recv_type("ack").await["conv"].as_i64().unwrap()
    };
    srv.stop().await;
    assert!(proxy.stats().cut_on_command > 0, "the links were cut");

    // Exactly once, at the acknowledged offset, in order, with no hole.
    let stored = stored_at(db.url(), conv);
    for (cid, off) in &acked {
        let found: Vec<_> = stored.iter().filter(|e| e.cid == *cid).collect();
        assert_eq!(found.len(), 1, "{cid} stored once");
        assert_eq!(found[0].off.0, *off, "{cid} at its acked offset");
    }
    let offs: Vec<u64> = stored.iter().map(|e| e.off.0).collect();
    assert_eq!(offs, (1..=offs.len() as u64).collect::<Vec<_>>());
    assert_eq!(stored.len(), acked.len() + 1);
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_goes_away_and_comes_back() {
    goes_away_and_comes_back(Server::Postgres, 5432).await;
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_goes_away_and_comes_back() {
    goes_away_and_comes_back(Server::Mysql, 3306).await;
}
