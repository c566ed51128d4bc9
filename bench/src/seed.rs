//! A state directory with N users, written before the daemon starts (through the daemon's own
//! store code, as the daemon would write them). Creating users through the admin socket would
//! cost one Argon2id hash each, hours for a million; here every user shares one hash, which
//! changes nothing for the daemon: it still verifies a real Argon2id hash at every sign-in.

use anyhow::Context;
use postern_daemon::model::mfa::{MfaEnrolment, TotpSeed, totp_seal_context};
use postern_daemon::model::{KnownBrowser, MfaMethod, Role, User, UserId};
use postern_daemon::secrets::MasterKey;
use postern_daemon::store::sled_backend::SledStore;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

pub const PASSWORD: &str = "bench password, long enough";
pub const ROLE: &str = "staff";

pub fn username(index: u64) -> String {
    format!("user{index:07}")
}

/// Every user's TOTP seed is derived from their index, so the load generator can compute
/// their codes.
pub fn totp_seed(index: u64) -> Vec<u8> {
    let digest = Sha256::digest(format!("postern-bench-seed-{index}"));
    digest[..20].to_vec()
}

/// The `postern_browser` cookie of user `index`'s browser: the load signs each user in from
/// the browser they used before, as people do, so no sign-in is a "new browser" one.
pub fn browser_cookie(index: u64) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(format!("postern-bench-browser-{index}")))
}

/// Writes `users` users (TOTP enrolled, holding a role that requires MFA) into `state_dir`.
pub fn seed(state_dir: &Path, key_file: &Path, users: u64) -> anyhow::Result<()> {
    let master = MasterKey::load_or_create(key_file).context("master key")?;
    let store = SledStore::open(state_dir).context("open the store")?;
    store.insert_role(&Role {
        name: ROLE.into(),
        require_mfa: true,
        api_access: false,
        require_phishing_resistant: false,
    })?;
    let password_hash = postern_daemon::factors::password::hash(PASSWORD)?;
    let now = unix_now();
    for index in 0..users {
        let id = UserId::random();
        let sealed = master.seal(&totp_seal_context(&id), &totp_seed(index));
        let name = username(index);
        store.insert_user(&User {
            id,
            email: format!("{name}@example.com"),
            username: name,
            display_name: None,
            password_hash: password_hash.clone(),
            roles: [ROLE.to_owned()].into(),
            disabled: false,
            created_at: now,
            password_changed_at: now,
            last_login_at: None,
            email_verified: false,
            session_generation: 0,
            invited_at: None,
            known_browsers: vec![KnownBrowser {
                hash: postern_daemon::engine::known_browsers::hash_of(&browser_cookie(index)),
                last_seen: now,
            }],
            mfa: Some(MfaEnrolment {
                method: MfaMethod::Totp,
                totp: Some(TotpSeed {
                    sealed,
                    last_step: None,
                }),
                recovery_codes: Vec::new(),
                enrolled_at: now,
                passkeys: Vec::new(),
            }),
        })?;
    }
    store.flush()?;
    Ok(())
}

/// The daemon's own system clock: the bench runs beside it, on the same time.
pub fn unix_now() -> u64 {
    use postern_daemon::clock::Clock;
    postern_daemon::clock::SystemClock.unix_now()
}

/// Hands out users for sign-ins with a TOTP code each may still use. A code works once per
/// user and step, and the daemon accepts one step ahead, so a user signs in at most twice a
/// step (now, then the next step's code); with few users the pool waits for the clock.
pub struct UserPool {
    next: AtomicU64,
    /// Per user: one past the last step used (0: never used).
    used_until: Vec<AtomicU64>,
}

impl UserPool {
    pub fn new(users: u64) -> Self {
        Self {
            next: AtomicU64::new(0),
            used_until: (0..users).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// How many sign-ins and logins were handed out.
    pub fn taken(&self) -> u64 {
        self.next.load(Ordering::Relaxed)
    }

    /// A user and the code to type.
    pub fn take(&self) -> (u64, String) {
        let users = self.used_until.len() as u64;
        loop {
            let now_step = unix_now() / 30;
            for _ in 0..users.min(1000) {
                let index = self.next.fetch_add(1, Ordering::Relaxed) % users;
                let slot = &self.used_until[index as usize];
                let used_until = slot.load(Ordering::Relaxed);
                let step = now_step.max(used_until);
                if step <= now_step + 1
                    && slot
                        .compare_exchange(
                            used_until,
                            step + 1,
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        )
                        .is_ok()
                {
                    return (index, totp_code(index, step * 30));
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

fn totp_code(index: u64, at: u64) -> String {
    match totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_secret(totp_seed(index))
        .build()
    {
        Ok(totp) => totp.generate(at).to_string(),
        // The seed is 20 bytes, which totp-rs accepts; a refusal shows up as a wrong code.
        Err(_) => String::new(),
    }
}

/// Seeds a PostgreSQL database the way a site grows into one: users written to a scratch sled
/// store (as above), backed up, and the backup restored into the empty database, the path
/// `posternd migrate-store` takes.
pub async fn seed_postgres(url: &str, key_file: &Path, users: u64) -> anyhow::Result<()> {
    let scratch = tempfile::Builder::new()
        .prefix("postern-bench-seed-")
        .tempdir()?;
    let state = scratch.path().join("state");
    let backup = scratch.path().join("seed.backup");
    let (seed_state, key, file) = (state.clone(), key_file.to_owned(), backup.clone());
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        seed(&seed_state, &key, users)?;
        let store = SledStore::open(&seed_state)?;
        let out = std::fs::File::create(&file)?;
        store
            .write_backup(std::io::BufWriter::new(out), unix_now())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    })
    .await??;
    let config = postern_daemon::config::PostgresConfig {
        url: postern_daemon::config::SecretString(url.to_owned()),
        pool_size: 2,
        ..Default::default()
    };
    let target = postern_daemon::store::postgres::PgStore::open(&config)
        .await
        .context("open the PostgreSQL store")?;
    target
        .restore(&backup)
        .await
        .map_err(|e| anyhow::anyhow!("restore into PostgreSQL: {e}"))?;
    Ok(())
}
