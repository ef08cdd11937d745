//! Background work: every task the process runs besides the request in hand.
//!
//! Owns: spawning and tracking the process's tasks, of two kinds, and the two halves of
//! stopping them at shutdown.
//!
//! - *Connection tasks* — a TCP connection being served, the connection behind a
//!   WebSocket or an HTTP channel, the commits a closed connection still waits for, a
//!   refusal being written. They end by themselves once the shutdown signal fires;
//!   `drain` awaits the last of them, bounded by a grace period.
//! - *Timers* — the hub's ticker (re-assignment, automatic invitations, idle close), a
//!   visitor session's grace, a channel's first-poll and reaping timers. They would run
//!   on; `stop_timers` cancels them and awaits their end.
//!
//! A timer is cancelled only where it awaits, so it never stops half-way through a
//! decision. What a timer decides lives in memory, except the desk entries the ticker
//! queues on the writer (a `transfer`, an idle `close`): those are queued whole before
//! its next await, and the writer commits everything queued before it stops, which it
//! is told to do only after the timers ended. Every wait goes through `tokio::time`, so
//! paused time drives them in tests. Knows nothing of what the tasks do.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A cheap-to-clone handle on the process's background tasks.
#[derive(Clone, Default)]
pub(crate) struct Tasks {
    /// Connection tasks: awaited at shutdown, never cancelled.
    conns: TaskTracker,
    /// Timers: cancelled at shutdown, then awaited.
    timers: TaskTracker,
    /// Fired once, at shutdown, to end every timer.
    cancel: CancellationToken,
}

impl Tasks {
    pub(crate) fn new() -> Tasks {
        Tasks::default()
    }

    /// Run `task`, a connection's, to its end; shutdown waits for it (`drain`).
    pub(crate) fn spawn_conn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.conns.spawn(task);
    }

    /// Run timer `task` until it ends or shutdown cancels it (`stop_timers`). One spawned
    /// after that does not run.
    pub(crate) fn spawn_timer<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let cancel = self.cancel.clone();
        self.timers.spawn(async move {
            cancel.run_until_cancelled(task).await;
        });
    }

    /// Connection tasks still running.
    pub(crate) fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Timers still running.
    #[cfg(test)]
    pub(crate) fn timers(&self) -> usize {
        self.timers.len()
    }

    /// Wait until every connection task has ended, at most `grace`. `false`: some were
    /// still running then. Connection tasks started meanwhile are waited for too.
    pub(crate) async fn drain(&self, grace: Duration) -> bool {
        self.conns.close();
        tokio::time::timeout(grace, self.conns.wait()).await.is_ok()
    }

    /// Cancel every timer and wait until each has ended.
    pub(crate) async fn stop_timers(&self) {
        self.cancel.cancel();
        self.timers.close();
        self.timers.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use tokio::sync::oneshot;
    use tokio::time::{advance, Instant};

    use super::*;
    use crate::core::testing::settle;

    #[tokio::test(start_paused = true)]
    async fn the_drain_ends_when_the_last_connection_does() {
        let tasks = Tasks::new();
        let (end_a, a) = oneshot::channel::<()>();
        let (end_b, b) = oneshot::channel::<()>();
        tasks.spawn_conn(async move {
            let _ = a.await;
        });
        tasks.spawn_conn(async move {
            let _ = b.await;
        });
        let t = tasks.clone();
        let drained = tokio::spawn(async move {
            let ok = t.drain(Duration::from_secs(10)).await;
            (ok, Instant::now())
        });
        advance(Duration::from_secs(2)).await;
        settle().await;
        assert!(!drained.is_finished(), "two connections are still running");
        end_a.send(()).unwrap();
        advance(Duration::from_secs(2)).await;
        settle().await;
        assert!(!drained.is_finished(), "one connection is still running");
        assert_eq!(tasks.connections(), 1);
        let last = Instant::now();
        end_b.send(()).unwrap();
        let (ok, at) = drained.await.unwrap();
        assert!(ok);
        // At once, not at the next look of a polling loop.
        assert_eq!(at, last);
        assert_eq!(tasks.connections(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_drain_gives_up_after_its_grace() {
        let tasks = Tasks::new();
        tasks.spawn_conn(std::future::pending());
        let t = tasks.clone();
        let drained = tokio::spawn(async move { t.drain(Duration::from_secs(3)).await });
        advance(Duration::from_millis(2_900)).await;
        settle().await;
        assert!(!drained.is_finished());
        advance(Duration::from_millis(200)).await;
        assert!(!drained.await.unwrap(), "a connection was still running");
        assert_eq!(tasks.connections(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn stopping_cancels_timers_and_waits_for_them() {
        let tasks = Tasks::new();
        let fired = Arc::new(AtomicBool::new(false));
        let f = fired.clone();
        tasks.spawn_timer(async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            f.store(true, Ordering::Release);
        });
        advance(Duration::from_secs(30)).await;
        settle().await;
        assert_eq!(tasks.timers(), 1);
        tasks.stop_timers().await;
        assert_eq!(tasks.timers(), 0);
        advance(Duration::from_secs(60)).await;
        settle().await;
        assert!(
            !fired.load(Ordering::Acquire),
            "a cancelled timer never fires"
        );
        // A timer started after the stop does not run at all.
        let f = fired.clone();
        tasks.spawn_timer(async move { f.store(true, Ordering::Release) });
        settle().await;
        assert!(!fired.load(Ordering::Acquire));
        assert_eq!(tasks.timers(), 0);
    }
}
