//! A fault-injecting TCP proxy for tests and the load tool.
//!
//! Owns: accepting on a loopback port, relaying every connection to a loopback upstream,
//! and spoiling some of them on purpose — cuts at a random moment, stalls, half-open
//! links (one direction silently dropped while the other still flows), slow draining
//! (small pieces with pauses) — plus cutting every live link on command. Which fault a
//! connection gets is drawn from a seeded generator, in accept order, so a run can be
//! repeated. Knows nothing of HTTP, WebSocket or kefu's frames: it moves bytes.
//!
//! Forced transport switches are the client's business: after a cut it may come back over
//! any transport; the proxy relays them all alike.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How often each fault strikes. Probabilities are per connection, drawn at accept.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Probability that a connection is cut at a random moment within `cut_within`.
    pub cut: f64,
    pub cut_within: Duration,
    /// Probability that both directions stop for a while (`stall_for`), starting at a
    /// random moment within `cut_within`.
    pub stall: f64,
    pub stall_for: Duration,
    /// Probability that one direction (chosen at random) silently drops everything from
    /// a random moment within `cut_within` on, while the other keeps flowing.
    pub half_open: f64,
    /// Probability that the link drains slowly: `slow_chunk` bytes per `slow_pause`.
    pub slow: f64,
    pub slow_chunk: usize,
    pub slow_pause: Duration,
}

impl Faults {
    /// No faults at all: a plain relay.
    pub fn calm() -> Faults {
        Faults {
            cut: 0.0,
            cut_within: Duration::from_secs(1),
            stall: 0.0,
            stall_for: Duration::ZERO,
            half_open: 0.0,
            slow: 0.0,
            slow_chunk: 1,
            slow_pause: Duration::ZERO,
        }
    }

    /// A rough mix of everything, each fault striking within `within`.
    pub fn rough(within: Duration) -> Faults {
        Faults {
            cut: 0.3,
            cut_within: within,
            stall: 0.1,
            stall_for: within / 2,
            half_open: 0.05,
            slow: 0.1,
            slow_chunk: 64,
            slow_pause: Duration::from_millis(2),
        }
    }

    fn check(&self) -> io::Result<()> {
        let probs = [self.cut, self.stall, self.half_open, self.slow];
        if probs.iter().any(|p| !(0.0..=1.0).contains(p)) {
            return Err(invalid("fault probabilities must be within 0..=1"));
        }
        if self.slow_chunk == 0 {
            return Err(invalid("slow_chunk must be at least 1"));
        }
        Ok(())
    }
}

/// What the proxy did so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub accepted: u64,
    pub cut: u64,
    pub stalled: u64,
    pub half_open: u64,
    pub slowed: u64,
    /// Links closed by [`Proxy::cut_all`].
    pub cut_on_command: u64,
    /// Links that could not reach the upstream.
    pub upstream_failed: u64,
}

/// The fate of one connection, drawn at accept.
#[derive(Debug, Clone, Default)]
struct Plan {
    cut_at: Option<Duration>,
    stall: Option<(Duration, Duration)>,
    /// (from, true = client→server direction dropped)
    drop_from: Option<(Duration, bool)>,
    slow: Option<(usize, Duration)>,
}

struct Shared {
    faults: Mutex<Faults>,
    rng: Mutex<StdRng>,
    upstream: Mutex<SocketAddr>,
    cut_gen: watch::Sender<u64>,
    accepted: AtomicU64,
    cut: AtomicU64,
    stalled: AtomicU64,
    half_open: AtomicU64,
    slowed: AtomicU64,
    cut_on_command: AtomicU64,
    upstream_failed: AtomicU64,
}

/// A running proxy. Dropping it stops accepting and cuts every link.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

fn invalid(m: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, m.to_string())
}

fn loopback(a: SocketAddr, what: &str) -> io::Result<()> {
    if a.ip().is_loopback() {
        Ok(())
    } else {
        Err(invalid(&format!(
            "the chaos proxy only works on loopback; {what} {a} is not"
        )))
    }
}

impl Proxy {
    /// Listen on `listen` (loopback, port 0 for any) and relay to `upstream` (loopback).
    pub async fn start(
        listen: SocketAddr,
        upstream: SocketAddr,
        faults: Faults,
        seed: u64,
    ) -> io::Result<Proxy> {
        loopback(listen, "listen address")?;
        loopback(upstream, "upstream")?;
        faults.check()?;
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            faults: Mutex::new(faults),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            upstream: Mutex::new(upstream),
            cut_gen: watch::channel(0).0,
            accepted: AtomicU64::new(0),
            cut: AtomicU64::new(0),
            stalled: AtomicU64::new(0),
            half_open: AtomicU64::new(0),
            slowed: AtomicU64::new(0),
            cut_on_command: AtomicU64::new(0),
            upstream_failed: AtomicU64::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(Proxy {
            addr,
            shared,
            accept,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Cut every link open now. New connections are accepted as usual.
    pub fn cut_all(&self) {
        self.shared.cut_gen.send_modify(|g| *g += 1);
    }

    /// Change the faults for connections accepted from now on.
    pub fn set_faults(&self, faults: Faults) -> io::Result<()> {
        faults.check()?;
        *self.shared.faults.lock().expect("faults lock") = faults;
        Ok(())
    }

    /// Relay new connections to another upstream (a restarted server on a new port).
    pub fn set_upstream(&self, upstream: SocketAddr) -> io::Result<()> {
        loopback(upstream, "upstream")?;
        *self.shared.upstream.lock().expect("upstream lock") = upstream;
        Ok(())
    }

    pub fn stats(&self) -> Stats {
        let s = &self.shared;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            accepted: get(&s.accepted),
            cut: get(&s.cut),
            stalled: get(&s.stalled),
            half_open: get(&s.half_open),
            slowed: get(&s.slowed),
            cut_on_command: get(&s.cut_on_command),
            upstream_failed: get(&s.upstream_failed),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut_all();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let (sock, _) = match listener.accept().await {
            Ok(x) => x,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        shared.accepted.fetch_add(1, Ordering::Relaxed);
        let plan = draw(&shared);
        let upstream = *shared.upstream.lock().expect("upstream lock");
        let cut = shared.cut_gen.subscribe();
        tokio::spawn(relay(sock, upstream, plan, cut, shared.clone()));
    }
}

fn draw(shared: &Shared) -> Plan {
    let f = shared.faults.lock().expect("faults lock").clone();
    let mut rng = shared.rng.lock().expect("rng lock");
    let within = |rng: &mut StdRng| {
        let ms = f.cut_within.as_millis().max(1) as u64;
        Duration::from_millis(rng.gen_range(0..ms))
    };
    let mut plan = Plan::default();
    if rng.gen_bool(f.cut) {
        plan.cut_at = Some(within(&mut rng));
    }
    if rng.gen_bool(f.stall) {
        plan.stall = Some((within(&mut rng), f.stall_for));
        shared.stalled.fetch_add(1, Ordering::Relaxed);
    }
    if rng.gen_bool(f.half_open) {
        let up = rng.gen_bool(0.5);
        plan.drop_from = Some((within(&mut rng), up));
        shared.half_open.fetch_add(1, Ordering::Relaxed);
    }
    if rng.gen_bool(f.slow) {
        plan.slow = Some((f.slow_chunk, f.slow_pause));
        shared.slowed.fetch_add(1, Ordering::Relaxed);
    }
    plan
}

async fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    plan: Plan,
    mut cut: watch::Receiver<u64>,
    shared: Arc<Shared>,
) {
    let server = match TcpStream::connect(upstream).await {
        Ok(s) => s,
        Err(_) => {
            shared.upstream_failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let start = Instant::now();
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up_drop = plan.drop_from.filter(|d| d.1).map(|d| d.0);
    let down_drop = plan.drop_from.filter(|d| !d.1).map(|d| d.0);
    let up = pump(cr, sw, start, plan.stall, up_drop, plan.slow);
    let down = pump(sr, cw, start, plan.stall, down_drop, plan.slow);
    let cut_at = plan.cut_at.map(|d| start + d);
    tokio::select! {
        _ = async { tokio::join!(up, down) } => {}
        _ = async {
            match cut_at {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        } => {
            shared.cut.fetch_add(1, Ordering::Relaxed);
        }
        _ = cut.changed() => {
            shared.cut_on_command.fetch_add(1, Ordering::Relaxed);
        }
    }
    // Dropping both halves of both sockets closes the link.
}

/// Copy one direction until EOF or error, applying this direction's faults.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    start: Instant,
    stall: Option<(Duration, Duration)>,
    drop_from: Option<Duration>,
    slow: Option<(usize, Duration)>,
) {
    let mut buf = vec![0u8; 8192];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let now = start.elapsed();
        if let Some(d) = drop_from {
            if now >= d {
                continue; // silently lost
            }
        }
        if let Some((at, len)) = stall {
            if now >= at && now < at + len {
                tokio::time::sleep_until(start + at + len).await;
            }
        }
        let ok = match slow {
            Some((chunk, pause)) => {
                let mut ok = true;
                for piece in buf[..n].chunks(chunk) {
                    if to.write_all(piece).await.is_err() {
                        ok = false;
                        break;
                    }
                    tokio::time::sleep(pause).await;
                }
                ok
            }
            None => to.write_all(&buf[..n]).await.is_ok(),
        };
        if !ok {
            break;
        }
    }
    let _ = to.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        a
    }

    #[tokio::test]
    async fn refuses_anything_but_loopback() {
        let up = echo_server().await;
        let far: SocketAddr = "192.0.2.1:80".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
        assert!(Proxy::start(local, far, Faults::calm(), 1).await.is_err());
        assert!(
            Proxy::start("0.0.0.0:0".parse().unwrap(), up, Faults::calm(), 1)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn relays_calmly_and_cuts_on_command() {
        let up = echo_server().await;
        let p = Proxy::start("127.0.0.1:0".parse().unwrap(), up, Faults::calm(), 7)
            .await
            .unwrap();
        let mut s = TcpStream::connect(p.addr()).await.unwrap();
        s.write_all(b"hello").await.unwrap();
        let mut got = [0u8; 5];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");
        p.cut_all();
        let mut rest = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest))
            .await
            .expect("cut closes the link")
            .unwrap_or(0);
        assert_eq!(n, 0);
        assert_eq!(p.stats().cut_on_command, 1);
    }

    #[tokio::test]
    async fn half_open_drops_one_way_only() {
        let up = echo_server().await;
        let faults = Faults {
            half_open: 1.0,
            cut_within: Duration::from_millis(1),
            ..Faults::calm()
        };
        let p = Proxy::start("127.0.0.1:0".parse().unwrap(), up, faults, 3)
            .await
            .unwrap();
        let mut s = TcpStream::connect(p.addr()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        s.write_all(b"lost?").await.unwrap();
        let mut got = [0u8; 5];
        let r = tokio::time::timeout(Duration::from_millis(300), s.read_exact(&mut got)).await;
        assert!(r.is_err(), "an echo came back through a half-open link");
        assert_eq!(p.stats().half_open, 1);
    }

    #[test]
    fn same_seed_same_plans() {
        let mk = || Shared {
            faults: Mutex::new(Faults::rough(Duration::from_secs(1))),
            rng: Mutex::new(StdRng::seed_from_u64(42)),
            upstream: Mutex::new("127.0.0.1:1".parse().unwrap()),
            cut_gen: watch::channel(0).0,
            accepted: AtomicU64::new(0),
            cut: AtomicU64::new(0),
            stalled: AtomicU64::new(0),
            half_open: AtomicU64::new(0),
            slowed: AtomicU64::new(0),
            cut_on_command: AtomicU64::new(0),
            upstream_failed: AtomicU64::new(0),
        };
        let (a, b) = (mk(), mk());
        for _ in 0..50 {
            assert_eq!(format!("{:?}", draw(&a)), format!("{:?}", draw(&b)));
        }
    }
}
