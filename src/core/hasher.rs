//! Password checks on a small pool of their own, with a bounded queue.
//!
//! Owns: the threads that run argon2 for sign-ins, the memory they hash in, and refusing
//! at once when every thread is busy and the queue is full. An argon2id check needs about
//! 19 MiB; run on the shared blocking pool (hundreds of threads), a flood of sign-ins
//! made that many threads each allocate and free 19 MiB, and the allocator kept most of it
//! (glibc raises its mmap threshold after large frees, so later blocks come from per-thread
//! arenas that are rarely returned). Here each thread allocates its memory once and hashes
//! in it for ever after: the process holds `threads × 19 MiB` whatever the load.
//!
//! Half of the queue is kept for checks the caller does not suspect (sign-ins from
//! addresses that have not failed lately): suspect checks are refused once the checks
//! queued or running fill the threads and half the queue, so a flood from many addresses
//! cannot keep everyone else's sign-ins out.
//!
//! Knows nothing of agents, the store or HTTP.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use argon2::password_hash::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

/// Hashes asking for more memory than this are refused rather than run (kefu's own are
/// 19 MiB): a hash in the database is trusted, but not to make the process allocate
/// without bound.
const MAX_BLOCKS: usize = 256 * 1024; // 256 MiB of 1 KiB blocks

/// Why a check did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HashError {
    #[error("every password check is busy: try again in a moment")]
    Busy,
    #[error("the password checker stopped")]
    Stopped,
}

struct Job {
    password: String,
    hash: String,
    done: oneshot::Sender<bool>,
}

/// The pool. Dropping it lets its threads finish their queue and exit.
pub(crate) struct Hasher {
    jobs: Mutex<SyncSender<Job>>,
    /// Checks queued or running (a thread counts its job down when it is done).
    admitted: Arc<AtomicUsize>,
    /// Most checks queued or running when a suspect one is admitted: the threads and
    /// half the queue.
    suspect_limit: usize,
}

impl Hasher {
    /// `threads` workers and room for `queue` waiting checks.
    pub(crate) fn new(threads: usize, queue: usize) -> Hasher {
        let (tx, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        let admitted = Arc::new(AtomicUsize::new(0));
        let threads = threads.max(1);
        for i in 0..threads {
            let (rx, admitted) = (rx.clone(), admitted.clone());
            std::thread::Builder::new()
                .name(format!("kefu-hash-{i}"))
                .spawn(move || {
                    let mut memory: Vec<Block> = Vec::new();
                    loop {
                        let job = {
                            let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
                            rx.recv()
                        };
                        let Ok(job) = job else { break };
                        let ok = verify_in(&mut memory, &job.password, &job.hash);
                        admitted.fetch_sub(1, Ordering::AcqRel);
                        let _ = job.done.send(ok);
                    }
                })
                .expect("spawn a password thread");
        }
        Hasher {
            jobs: Mutex::new(tx),
            admitted,
            suspect_limit: threads + queue / 2,
        }
    }

    /// Does `password` match the argon2 PHC string `hash`? `Busy` at once when the queue
    /// is full, or, for a `suspect` check, when the threads and half the queue are taken.
    pub(crate) async fn verify(
        &self,
        password: &str,
        hash: &str,
        suspect: bool,
    ) -> Result<bool, HashError> {
        let limit = if suspect {
            self.suspect_limit
        } else {
            usize::MAX
        };
        if self
            .admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_err()
        {
            return Err(HashError::Busy);
        }
        let (done, rx) = oneshot::channel();
        let job = Job {
            password: password.to_string(),
            hash: hash.to_string(),
            done,
        };
        let sent = {
            let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
            jobs.try_send(job)
        };
        match sent {
            Ok(()) => rx.await.map_err(|_| HashError::Stopped),
            Err(e) => {
                self.admitted.fetch_sub(1, Ordering::AcqRel);
                match e {
                    TrySendError::Full(_) => Err(HashError::Busy),
                    TrySendError::Disconnected(_) => Err(HashError::Stopped),
                }
            }
        }
    }
}

/// Check `password` against `hash`, hashing in `memory` (grown once to the size the
/// hash asks for, then reused).
fn verify_in(memory: &mut Vec<Block>, password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let blocks = params.block_count();
    if blocks > MAX_BLOCKS {
        return false;
    }
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut out = [0u8; 64];
    let out = &mut out[..expected.len()];
    let argon = Argon2::new(algorithm, version, params);
    if argon
        .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..blocks])
        .is_err()
    {
        return false;
    }
    // `Output` compares in constant time.
    Output::new(out).is_ok_and(|o| o == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn checks_like_argon2_and_refuses_when_full() {
        let hash = crate::core::auth::hash_password("secret-pw").unwrap();
        let h = Hasher::new(1, 1);
        assert_eq!(h.verify("secret-pw", &hash, false).await, Ok(true));
        assert_eq!(h.verify("Secret-pw", &hash, false).await, Ok(false));
        assert_eq!(h.verify("secret-pw", "not a hash", true).await, Ok(false));
        // One thread busy, one waiting: the next is refused at once.
        let (a, b, c) = tokio::join!(
            h.verify("x", &hash, false),
            h.verify("y", &hash, false),
            h.verify("z", &hash, false)
        );
        let busy = [a, b, c]
            .iter()
            .filter(|r| **r == Err(HashError::Busy))
            .count();
        assert!(busy >= 1, "a full queue refuses");
    }

    #[tokio::test]
    async fn suspect_checks_leave_half_the_queue_to_the_others() {
        let hash = crate::core::auth::hash_password("secret-pw").unwrap();
        // One thread and room for four: suspects get the thread and two places.
        let h = Hasher::new(1, 4);
        let (a, b, c, d, e) = tokio::join!(
            h.verify("a", &hash, true),
            h.verify("b", &hash, true),
            h.verify("c", &hash, true),
            h.verify("d", &hash, true),
            h.verify("secret-pw", &hash, false)
        );
        assert_eq!([a, b, c], [Ok(false), Ok(false), Ok(false)]);
        assert_eq!(d, Err(HashError::Busy), "a fourth suspect is refused");
        assert_eq!(e, Ok(true), "the one not suspected still gets a place");
        // Every check done: all places are free again.
        assert_eq!(h.admitted.load(Ordering::Acquire), 0);
    }

    #[test]
    fn memory_is_allocated_once_and_reused() {
        let hash = crate::core::auth::hash_password("pw-12345678").unwrap();
        let mut memory = Vec::new();
        assert!(verify_in(&mut memory, "pw-12345678", &hash));
        let (len, ptr) = (memory.len(), memory.as_ptr());
        assert_eq!(len, 19 * 1024, "kefu's hashes use 19 MiB");
        assert!(!verify_in(&mut memory, "wrong", &hash));
        assert_eq!((memory.len(), memory.as_ptr()), (len, ptr));
    }
}
