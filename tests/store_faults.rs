//! Store faults a user sees: the database file deleted under a running server, and a
//! full disk. `/healthz` says so (503 with the reason), nothing is acknowledged that was
//! not stored, and nothing acknowledged is lost.
//!
//! SQLite's own (the file deleted, the disk under the file filling up): these servers
//! use a SQLite file whatever `KEFU_TEST_BACKEND` says (`sqlite_dir`). A database server
//! that goes away is `tests/db_outage.rs`.

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use support::*;

async fn health(addr: SocketAddr) -> (u16, String) {
    let (s, _, b) = http(addr, "GET", "/healthz", &[], "").await;
    (s, b)
}

/// Send `n` messages and return their conversation and acks' offsets (every one must be
/// acknowledged).
async fn acked(c: &mut Client, prefix: &str, n: usize) -> (i64, Vec<(String, u64)>) {
    let (mut out, mut conv) = (Vec::new(), 0);
    for i in 0..n {
        let cid = format!("{prefix}{i}");
        c.msg(&cid, &"m".repeat(200)).await;
        let ack = c.recv_type("ack").await;
        assert_eq!(ack["cid"], cid.as_str(), "{ack}");
        out.push((cid, ack["off"].as_u64().unwrap()));
        conv = ack["conv"].as_i64().unwrap();
    }
    (conv, out)
}

#[tokio::test]
async fn a_deleted_database_stops_acks_and_keeps_what_was_acknowledged() {
    let dir = sqlite_dir();
    let srv = start(dir.path()).await;
    assert_eq!(health(srv.addr).await.0, 200);
    let (s, _, b) = http(srv.addr, "GET", "/healthz/ready", &[], "").await;
    assert_eq!(
        (s, b.as_str()),
        (
            200,
            r#"{"checks":{"store":"ok","writer":"ok"},"ready":true}"#
        )
    );
    let mut c = Client::connect(&srv.ws_url()).await;
    c.hello(&srv.site_key, None, None).await;
    let (conv, before) = acked(&mut c, "d", 30).await;

    std::fs::remove_file(&srv.db_path).unwrap();
    let (s, body) = health(srv.addr).await;
    assert_eq!(s, 503, "{body}");
    assert!(body.contains("was deleted"), "{body}");
    // The readiness view says which check failed.
    let (s, _, b) = http(srv.addr, "GET", "/healthz/ready", &[], "").await;
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!((s, v["ready"].clone()), (503, false.into()), "{b}");
    assert!(
        v["checks"]["store"]
            .as_str()
            .unwrap()
            .contains("was deleted"),
        "{b}"
    );
    assert_eq!(v["checks"]["writer"], "ok", "{b}");
    // No ack after the loss: the message is refused with `store`.
    c.msg("after", "into the void?").await;
    let e = c.recv_type("err").await;
    assert_eq!(
        (e["code"].as_str(), e["cid"].as_str()),
        (Some("store"), Some("after")),
        "{e}"
    );
    assert_eq!(health(srv.addr).await.0, 503, "it stays unhealthy");
    srv.stop().await;

    // Everything acknowledged is in the copy the server saved, at its offset.
    let copy = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains(".recovered-"))
        .expect("a recovered copy next to the database");
    let stored = stored_in(&copy, conv);
    for (cid, off) in &before {
        assert!(
            stored.iter().any(|e| e.cid == *cid && e.off.0 == *off),
            "{cid} at {off} is in the recovered copy"
        );
    }
    assert!(stored.iter().all(|e| e.cid != "after"));
}

/// The real binary, with its file-size limit (`ulimit -f`, in KiB) as given, SIGXFSZ
/// ignored so a write past it fails with EFBIG as on a full disk; killed when dropped.
struct Limited {
    child: Child,
    addr: SocketAddr,
    /// The site created at first start (a restart prints none).
    site: Option<String>,
}

impl Drop for Limited {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_limited(db: &std::path::Path, kib: u64) -> Limited {
    let bin = env!("CARGO_BIN_EXE_kefu");
    let mut child = Command::new("bash")
        .args([
            "-c",
            &format!("trap '' XFSZ; ulimit -S -f {kib}; exec \"$0\" serve --listen 127.0.0.1:0"),
            bin,
        ])
        .env("KEFU_DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("KEFU_ADMIN_PASSWORD", "disk-test-pw")
        .env("KEFU_SQLITE_SYNCHRONOUS", "full")
        .env("KEFU_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kefu starts");
    let out = BufReader::new(child.stdout.take().unwrap());
    let (mut addr, mut site) = (None, None);
    for line in out.lines() {
        let line = line.unwrap();
        if let Some(a) = line.strip_prefix("kefu is listening on http://") {
            addr = Some(a.trim().parse().unwrap());
        }
        if let Some(rest) = line.split("with key ").nth(1) {
            site = Some(rest.trim().to_string());
        }
        if line.contains("agent console") {
            break;
        }
    }
    Limited {
        child,
        addr: addr.expect("kefu printed its address"),
        site,
    }
}

fn set_fsize(pid: u32, limit: &str) {
    let ok = Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--fsize={limit}")])
        .status()
        .expect("prlimit runs");
    assert!(ok.success());
}

#[tokio::test]
async fn a_full_disk_is_reported_and_recovers_without_losing_acks() {
    let dir = sqlite_dir();
    let db = dir.path().join("kefu.db");
    let srv = spawn_limited(&db, 100_000);
    let url = format!("ws://{}/v1/ws", srv.addr);
    let mut c = Client::connect(&url).await;
    let site = srv.site.clone().expect("kefu created a site");
    let w = c.hello(&site, None, None).await;
    let token = w["visitor"].as_str().unwrap().to_string();
    let mut ok = acked(&mut c, "a", 5).await.1;
    assert_eq!(health(srv.addr).await.0, 200);

    // The disk is full: no file may grow any more.
    let used: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .max()
        .unwrap();
    set_fsize(srv.child.id(), &format!("{}:", used.div_ceil(4096) * 4096));
    let mut refused = 0;
    for i in 0..400 {
        let cid = format!("f{i}");
        c.msg(&cid, &"f".repeat(2000)).await;
        let f = loop {
            let f = c.recv().await;
            if f["t"] == "ack" || f["t"] == "err" {
                break f;
            }
        };
        if f["t"] == "ack" {
            ok.push((cid, f["off"].as_u64().unwrap()));
        } else {
            assert_eq!(f["code"], "store", "{f}");
            refused += 1;
            break;
        }
    }
    assert_eq!(refused, 1, "writes fail once the file cannot grow");
    let (s, body) = health(srv.addr).await;
    assert_eq!(s, 503, "{body}");
    assert!(body.contains("store writes fail"), "{body}");

    // Space again: the next write succeeds and health is back.
    set_fsize(srv.child.id(), "unlimited:");
    ok.extend(acked(&mut c, "r", 3).await.1);
    let (s, body) = health(srv.addr).await;
    assert_eq!(s, 200, "{body}");
    let addr = srv.addr;
    drop(srv);

    // Every acknowledged message is in the log at its offset, after a restart.
    let srv = spawn_limited(&db, 1_000_000);
    assert_ne!(addr, srv.addr);
    let mut c = Client::connect(&format!("ws://{}/v1/ws", srv.addr)).await;
    let w = c.hello(&site, Some(&token), None).await;
    let conv = w["conv"]
        .as_i64()
        .expect("the visitor's conversation is open");
    let stored = stored_in(&db, conv);
    for (cid, off) in &ok {
        assert!(
            stored.iter().any(|e| e.cid == *cid && e.off.0 == *off),
            "{cid} at {off} survives"
        );
    }
}
