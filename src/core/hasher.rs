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
//! Knows nothing of agents, the store or HTTP.

use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Mutex;

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
}

impl Hasher {
    /// `threads` workers and room for `queue` waiting checks.
    pub(crate) fn new(threads: usize, queue: usize) -> Hasher {
        let (tx, rx) = sync_channel::<Job>(queue);
        let rx = std::sync::Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
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
                        let _ = job.done.send(ok);
                    }
                })
                .expect("spawn a password thread");
        }
        Hasher {
            jobs: Mutex::new(tx),
        }
    }

    /// Does `password` match the argon2 PHC string `hash`? `Busy` at once when the queue
    /// is full.
    pub(crate) async fn verify(&self, password: &str, hash: &str) -> Result<bool, HashError> {
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
            Err(TrySendError::Full(_)) => Err(HashError::Busy),
            Err(TrySendError::Disconnected(_)) => Err(HashError::Stopped),
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
        assert_eq!(h.verify("secret-pw", &hash).await, Ok(true));
        assert_eq!(h.verify("Secret-pw", &hash).await, Ok(false));
        assert_eq!(h.verify("secret-pw", "not a hash").await, Ok(false));
        // One thread busy, one waiting: the next is refused at once.
        let (a, b, c) = tokio::join!(
            h.verify("x", &hash),
            h.verify("y", &hash),
            h.verify("z", &hash)
        );
        let busy = [a, b, c]
            .iter()
            .filter(|r| **r == Err(HashError::Busy))
            .count();
        assert!(busy >= 1, "a full queue refuses");
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
