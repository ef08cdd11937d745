//! The log never carries a secret, at any level, and failed sign-ins cannot grow it
//! without bound: the real binary at `trace`, its stderr read back.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::json;
use support::*;

#[tokio::test]
async fn secrets_are_never_logged_and_failures_are_aggregated() {
    let dir = temp_dir();
    let log = dir.path().join("stderr.log");
    let (mut child, addr, site) = serve_logging(
        dir.path(),
        &log,
        &[
            ("KEFU_ADMIN_PASSWORD", "Sup3r-Secret-Admin-Pw"),
            ("KEFU_LOG", "trace"),
            ("KEFU_LOGIN_MAX_FAILURES_PER_ADDRESS", "1000"),
            ("KEFU_LOGIN_MAX_FAILURES", "1000"),
        ],
    );
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !out.contains("Sup3r-Secret-Admin-Pw"),
        "the configured password is not logged"
    );

    // Sign in, say hello as an agent, chat as a visitor.
    let body = json!({"email":"admin@localhost","password":"Sup3r-Secret-Admin-Pw"}).to_string();
    let (s, _, b) = http(addr, "POST", "/v1/login", &[], &body).await;
    assert_eq!(s, 200, "{b}");
    let token = serde_json::from_str::<serde_json::Value>(&b).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut a = Client::connect(&format!("ws://{addr}/v1/ws")).await;
    a.send(json!({"t":"hello","v":1,"site":site,"role":"agent","token":token}))
        .await;
    a.recv_type("welcome").await;
    let (s, _, _) = http(
        addr,
        "GET",
        "/v1/conversations",
        &[("authorization", &format!("Bearer {token}"))],
        "",
    )
    .await;
    assert_eq!(s, 200);
    let mut v = Client::connect(&format!("ws://{addr}/v1/ws")).await;
    let w = v.hello(&site, None, None).await;
    let visitor = w["visitor"].as_str().unwrap().to_string();
    v.msg("m1", "hello").await;
    v.recv_type("ack").await;
    // Both leave: their connections' ends are logged (at debug, in their spans).
    drop((a, v));
    // Thirty failed sign-ins.
    for i in 0..30 {
        let body = json!({"email":format!("x{i}@y"),"password":"Wr0ng-Guess-Pw"}).to_string();
        let (s, _, _) = http(addr, "POST", "/v1/login", &[], &body).await;
        assert_eq!(s, 401);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let _ = child.kill();
    let _ = child.wait();

    let out = std::fs::read_to_string(&log).unwrap();
    assert!(
        out.contains("DEBUG") || out.contains("TRACE"),
        "verbose logging is on: {out}"
    );
    for secret in [
        "Sup3r-Secret-Admin-Pw",
        "Wr0ng-Guess-Pw",
        token.as_str(),
        visitor.as_str(),
    ] {
        assert!(!out.contains(secret), "{secret:?} appears in the log");
    }
    let reports = out
        .lines()
        .filter(|l| l.contains("failed sign-ins since the last report"))
        .count();
    assert!(
        (1..=2).contains(&reports),
        "30 failures make at most a report or two, not a line each: {reports}"
    );
}

#[tokio::test]
async fn a_closed_stdout_does_not_stop_the_server() {
    let dir = temp_dir();
    // A free port, so the address is known without reading the banner.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kefu"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env(
            "KEFU_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("kefu.db").display()),
        )
        .env("KEFU_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Nobody reads the banner: the pipe is closed before the server writes it.
    drop(child.stdout.take());
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        assert!(child.try_wait().unwrap().is_none(), "the server died");
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server never listened"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (s, _, _) = http(addr, "GET", "/healthz", &[], "").await;
    assert_eq!(s, 200, "the server goes on");
    assert!(child.try_wait().unwrap().is_none(), "still running");
    let _ = child.kill();
    let _ = child.wait();
}

/// `kefu serve` with `env`, stderr to `log`: its address and first site's key.
fn serve_logging(
    dir: &std::path::Path,
    log: &std::path::Path,
    env: &[(&str, &str)],
) -> (std::process::Child, std::net::SocketAddr, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kefu"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env(
            "KEFU_DATABASE_URL",
            format!("sqlite://{}", dir.join("kefu.db").display()),
        )
        .env("KEFU_ADMIN_PASSWORD", "a-password-for-logs")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let (mut addr, mut site) = (None, None);
    for line in out.lines() {
        let line = line.unwrap();
        if let Some(a) = line.strip_prefix("kefu is listening on http://") {
            addr = Some(a.trim().parse::<std::net::SocketAddr>().unwrap());
        }
        if let Some(k) = line.split("with key ").nth(1) {
            site = Some(k.trim().to_string());
        }
        if line.contains("agent console") {
            break;
        }
    }
    (child, addr.unwrap(), site.unwrap())
}

#[tokio::test]
async fn json_logs_carry_the_connection_span_and_text_logs_to_a_file_no_colour() {
    let dir = temp_dir();
    // JSON: every line an object; a visitor's lines name its connection's site and role.
    let log = dir.path().join("json.log");
    let (mut child, addr, site) = serve_logging(
        dir.path(),
        &log,
        &[("KEFU_LOG_FORMAT", "json"), ("KEFU_LOG", "kefu=debug")],
    );
    let mut v = Client::connect(&format!("ws://{addr}/v1/ws")).await;
    v.hello(&site, None, None).await;
    v.msg("m1", "hello").await;
    v.recv_type("ack").await;
    drop(v);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let _ = child.kill();
    let _ = child.wait();
    let out = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty(), "{out}");
    assert!(lines
        .iter()
        .all(|l| l["level"].is_string() && l["fields"].is_object()));
    let in_conn = lines
        .iter()
        .find(|l| l["span"]["name"] == "conn" && l["span"]["site"] == site.as_str())
        .unwrap_or_else(|| panic!("no line in a visitor's connection span: {out}"));
    assert_eq!(in_conn["span"]["role"], "visitor", "{in_conn}");
    assert_eq!(in_conn["span"]["transport"], "ws", "{in_conn}");
    assert!(!out.contains('\u{1b}'), "no escape codes in JSON");

    // Text, written to a file (not a terminal): no colour escape codes.
    let dir = temp_dir();
    let log = dir.path().join("text.log");
    let (mut child, addr, site) = serve_logging(dir.path(), &log, &[("KEFU_LOG", "kefu=debug")]);
    let mut v = Client::connect(&format!("ws://{addr}/v1/ws")).await;
    v.hello(&site, None, None).await;
    drop(v);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let _ = child.kill();
    let _ = child.wait();
    let out = std::fs::read_to_string(&log).unwrap();
    assert!(out.contains("DEBUG") && out.contains("peer gone"), "{out}");
    assert!(
        !out.contains('\u{1b}'),
        "escape codes in a log file: {out:?}"
    );
}
