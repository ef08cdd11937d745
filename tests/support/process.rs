//! The real `kefu` binary as a child process: started on 127.0.0.1:0, its address (and
//! the key of a site it created) read from what it prints, killed when dropped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

/// A running `kefu` process, killed when dropped.
pub struct Process {
    pub child: Child,
    pub addr: SocketAddr,
    /// The first site's key, when this start created it.
    pub site: Option<String>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    /// Send `signal` (`-STOP`, `-CONT`, …) to the process.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill {signal} failed");
    }
}

/// `kefu ARGS --listen 127.0.0.1:0` with `env` (and `KEFU_LOG=error` unless given).
pub fn spawn(args: &[&str], env: &[(&str, String)]) -> Process {
    spawn_logged(args, env, None)
}

/// `spawn`, its log (stderr) appended to the file `log` when given.
pub fn spawn_logged(args: &[&str], env: &[(&str, String)], log: Option<&Path>) -> Process {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kefu"));
    let stderr = match log {
        Some(p) => Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .expect("log file"),
        ),
        None => Stdio::null(),
    };
    cmd.args(args)
        .args(["--listen", "127.0.0.1:0"])
        .env("KEFU_LOG", "error")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(stderr);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("kefu starts");
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
    let deadline = Instant::now() + Duration::from_secs(20);
    while addr.is_none() || (site.is_none() && Instant::now() < deadline) {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = rx.recv_timeout(left.min(Duration::from_millis(300))) else {
            if addr.is_some() {
                break; // a restart prints no site
            }
            assert!(left > Duration::ZERO, "kefu did not start in time");
            continue;
        };
        let listening = line
            .strip_prefix("kefu is listening on http://")
            .or_else(|| line.strip_prefix("kefu router is listening on http://"));
        if let Some(u) = listening {
            addr = Some(u.trim().parse().expect("printed address"));
        }
        if let Some((_, k)) = line.split_once("with key ") {
            site = Some(k.trim().to_string());
        }
    }
    Process {
        child,
        addr: addr.expect("address printed"),
        site,
    }
}

/// Run `kefu ARGS` to its end with `env`; its stdout, or a panic with its stderr.
pub fn run(args: &[&str], env: &[(&str, String)]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kefu"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("kefu runs");
    assert!(
        out.status.success(),
        "kefu {args:?}: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
