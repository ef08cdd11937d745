//! The accept loop survives running out of file descriptors: it logs, backs off, and
//! serves again once descriptors are free. Runs the real binary under a low `ulimit -n`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn get(addr: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn accept_survives_emfile() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 64 && exec \"$0\" serve")
        .arg(env!("CARGO_BIN_EXE_kefu"))
        .env("KEFU_LISTEN", "127.0.0.1:0")
        .env(
            "KEFU_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("k.db").display()),
        )
        .env("KEFU_MAX_CONNECTIONS", "5000")
        .env("KEFU_LOG", "kefu=warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("kefu is listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    let stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut s);
        s
    });

    // Hold more idle connections than the process has descriptors.
    let hogs: Vec<TcpStream> = (0..100)
        .filter_map(|_| TcpStream::connect(&addr).ok())
        .collect();
    assert!(
        hogs.len() > 64,
        "the kernel queues connections past the server's limit"
    );
    std::thread::sleep(Duration::from_millis(500));
    drop(hogs);

    // Once the idle connections are gone, the server answers again.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut ok = false;
    while Instant::now() < deadline {
        if get(&addr, "/healthz").is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let status = child.wait().unwrap();
    let log = log.join().unwrap();
    assert!(ok, "the server recovered; log:\n{log}");
    assert!(
        log.contains("accept failed"),
        "EMFILE was hit and logged; log:\n{log}"
    );
    assert!(status.success(), "SIGTERM drains and exits 0: {status:?}");
}
