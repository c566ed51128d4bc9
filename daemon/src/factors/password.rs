//! Passwords, stored as Argon2id hashes (PHC strings) with the crate's recommended parameters
//! (19 MiB, 2 passes, 1 lane: OWASP's minimum for Argon2id).

use crate::model::ValidationError;
use argon2::{Argon2, PasswordHash, PasswordHasher};

/// Longer inputs are refused so that hashing cost stays bounded.
const MAX_BYTES: usize = 1024;

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Checks a new password against the site's policy (length only, as NIST SP 800-63B advises:
/// no composition rules).
pub fn check_policy(password: &str, min_length: u32) -> Result<(), ValidationError> {
    let length = password.chars().count();
    if length < min_length as usize {
        return Err(ValidationError::new(
            "password",
            format!("must be at least {min_length} characters"),
        ));
    }
    if password.len() > MAX_BYTES {
        return Err(ValidationError::new(
            "password",
            "must be at most 1024 bytes",
        ));
    }
    if password.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "password",
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Hashes with a fresh random salt, on a blocking thread: it takes ~10 ms in release, which a
/// runtime thread must not spend.
pub async fn hash_off_runtime(password: &str) -> Result<String, HashError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|e| HashError(e.to_string()))?
}

/// Hashes with a fresh random salt. Takes ~10 ms in release: in async code, use
/// [`hash_off_runtime`].
pub fn hash(password: &str) -> Result<String, HashError> {
    let hash: PasswordHash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| HashError(e.to_string()))?;
    Ok(hash.to_string())
}

/// Whether `password` matches `stored` (with the parameters stored in it). The comparison is
/// constant-time; a malformed stored hash never matches. Waits, without holding a runtime
/// thread, while one of the verifier threads works on it.
///
/// Verification runs on a fixed pool, one thread a core, each keeping its Argon2 working
/// memory (19 MiB) between calls: allocating it afresh made the kernel map and zero it for
/// every sign-in (a tenth of the hash's cost), and more hashes at once than cores only slow
/// each other down. Requests queue in order, so the wait is fair.
pub async fn verify(password: &str, stored: &str) -> bool {
    if let Some(matched) = verifier_pool().submit(password, stored).await {
        return matched;
    }
    // The pool is gone (it never is while the process runs): verify on a blocking thread.
    let (password, stored) = (password.to_owned(), stored.to_owned());
    tokio::task::spawn_blocking(move || verify_now(&password, &stored))
        .await
        .unwrap_or(false)
}

/// [`verify`] for a caller outside the async runtime (the benchmark measures the daemon's own
/// verification path with it): the same pool, waited for on this thread.
pub fn verify_blocking(password: &str, stored: &str) -> bool {
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job = Job {
        password: password.to_owned(),
        stored: stored.to_owned(),
        reply,
    };
    match verifier_pool().jobs.send(job) {
        Ok(()) => answer.blocking_recv().unwrap_or(false),
        Err(_) => verify_now(password, stored),
    }
}

struct Job {
    password: String,
    stored: String,
    reply: tokio::sync::oneshot::Sender<bool>,
}

struct VerifierPool {
    jobs: std::sync::mpsc::SyncSender<Job>,
}

impl VerifierPool {
    fn start() -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(1024);
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        for index in 0..threads {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || {
                    yield_to_requests();
                    loop {
                        let job = match queue.lock() {
                            Ok(receiver) => receiver.recv(),
                            Err(poisoned) => poisoned.into_inner().recv(),
                        };
                        let Ok(job) = job else { return };
                        let matched = verify_now(&job.password, &job.stored);
                        let _ = job.reply.send(matched);
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password verifier thread");
            }
        }
        Self { jobs }
    }

    async fn submit(&self, password: &str, stored: &str) -> Option<bool> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        // A full queue (over a thousand waiting hashes) is not waited out on a runtime thread.
        self.jobs
            .try_send(Job {
                password: password.to_owned(),
                stored: stored.to_owned(),
                reply,
            })
            .ok()?;
        answer.await.ok()
    }
}

/// Lowers this thread's CPU priority (nice 10). A hash is 15 ms of one core; every other step
/// of a sign-in, a token refresh or a database round trip is far shorter, and waits behind
/// it otherwise. At the lower priority those run the moment they can, while the hashes still
/// get every cycle left over: on a busy machine sign-ins finish sooner, and a flood of wrong
/// passwords slows the hashes queued behind it, not everything else.
fn yield_to_requests() {
    // `None` is the calling thread: Linux keeps a nice value per thread.
    if let Err(e) = rustix::process::setpriority_process(None, 10) {
        tracing::debug!(error = %e, "cannot lower the priority of a password verifier thread");
    }
}

fn verifier_pool() -> &'static VerifierPool {
    static POOL: std::sync::OnceLock<VerifierPool> = std::sync::OnceLock::new();
    POOL.get_or_init(VerifierPool::start)
}

fn verify_now(password: &str, stored: &str) -> bool {
    if password.len() > MAX_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Ok(params), Some(salt), Some(expected)) = (
        argon2::Params::try_from(&parsed),
        parsed.salt.as_ref(),
        parsed.hash.as_ref(),
    ) else {
        return false;
    };
    let Ok(algorithm) = argon2::Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(argon2::Version::try_from) {
        None => argon2::Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let blocks = params.block_count();
    let hasher = Argon2::new(algorithm, version, params);
    let mut computed = vec![0u8; expected.as_bytes().len()];
    let hashed = WORKING_MEMORY.with_borrow_mut(|memory| {
        if memory.len() != blocks {
            memory.clear();
            memory.resize(blocks, argon2::Block::default());
        }
        hasher.hash_password_into_with_memory(
            password.as_bytes(),
            salt.as_ref(),
            &mut computed,
            &mut memory[..],
        )
    });
    hashed.is_ok() && crate::secrets::constant_time_eq(&computed, expected.as_bytes())
}

thread_local! {
    static WORKING_MEMORY: std::cell::RefCell<Vec<argon2::Block>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Spends the same time as checking a real hash, for an account that does not exist, so that
/// response times do not reveal which usernames exist. Always false.
pub async fn verify_against_nothing(password: &str) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("postern timing equaliser").unwrap_or_default());
    let _ = verify(password, dummy).await;
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_only_its_own_password() {
        let stored = hash("correct horse battery").unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &stored).await);
        assert!(!verify("correct horse batterY", &stored).await);
        assert!(!verify("anything", "not a hash").await);
        assert_ne!(
            stored,
            hash("correct horse battery").unwrap(),
            "salts differ"
        );
    }

    #[tokio::test]
    async fn the_parameters_stored_in_the_hash_are_the_ones_used() {
        let light = argon2::Params::new(8192, 1, 1, None).unwrap();
        let stored = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, light)
            .hash_password(b"another password")
            .unwrap()
            .to_string();
        assert!(stored.contains("m=8192,t=1,p=1"), "{stored}");
        assert!(verify("another password", &stored).await);
        assert!(!verify("another passworD", &stored).await);
        let as_argon2i = stored.replacen("$argon2id$", "$argon2i$", 1);
        assert!(!verify("another password", &as_argon2i).await);
    }

    #[test]
    fn the_policy_counts_characters_not_bytes() {
        assert!(check_policy("ééééééé", 8).is_err());
        assert!(check_policy("éééééééé", 8).is_ok());
        assert!(check_policy("short", 8).is_err());
        assert!(check_policy(&"x".repeat(2000), 8).is_err());
        assert!(check_policy("tab\there ok", 8).is_err());
    }
}
