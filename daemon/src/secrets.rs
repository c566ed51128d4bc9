//! The master key and what it protects. The key lives in a file outside the database directory
//! (created 0600 on first start), so a copy of the database alone yields no usable secret:
//! signing keys and TOTP seeds are sealed with it (ChaCha20-Poly1305), and keys for cookies and
//! CSRF tokens are derived from it. Random tokens are generated and hashed here too.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("key file {}: {message}", path.display())]
    KeyFile { path: PathBuf, message: String },
    #[error("a sealed secret could not be opened: wrong key file, or damaged data")]
    Unseal,
}

/// The master key. `Debug` never shows it.
pub struct MasterKey {
    key: [u8; KEY_LEN],
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// Reads the key file, or creates it (mode 0600) with a fresh random key if it is absent.
    /// Refuses a file that others can read.
    pub fn load_or_create(path: &Path) -> Result<Self, SecretsError> {
        let fail = |message: String| SecretsError::KeyFile {
            path: path.to_owned(),
            message,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let mode = std::fs::metadata(path)
                    .map_err(|e| fail(e.to_string()))?
                    .permissions()
                    .mode();
                if mode & 0o077 != 0 {
                    return Err(fail(format!(
                        "is readable by others (mode {:o}); run chmod 600 on it",
                        mode & 0o777
                    )));
                }
                let bytes = hex_decode(text.trim())
                    .filter(|b| b.len() == KEY_LEN)
                    .ok_or_else(|| fail("must hold 64 hexadecimal digits".into()))?;
                let mut key = [0u8; KEY_LEN];
                key.copy_from_slice(&bytes);
                Ok(Self { key })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; KEY_LEN];
                rand::rng().fill_bytes(&mut key);
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| fail(format!("cannot create its directory: {e}")))?;
                }
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|e| fail(format!("cannot create it: {e}")))?;
                writeln!(file, "{}", hex_encode(&key))
                    .and_then(|()| file.sync_all())
                    .map_err(|e| fail(format!("cannot write it: {e}")))?;
                tracing::info!(path = %path.display(), "created a new master key file; back it up with the database");
                Ok(Self { key })
            }
            Err(e) => Err(fail(e.to_string())),
        }
    }

    #[cfg(test)]
    pub fn for_tests() -> Self {
        Self {
            key: [7u8; KEY_LEN],
        }
    }

    /// Encrypts `plaintext`, binding it to `context` (e.g. "signing-key:<kid>") so a sealed
    /// value cannot be moved to another record.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.key));
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext,
            aad: context.as_bytes(),
        };
        // Encryption with a valid key and in-memory buffers cannot fail.
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        [nonce.as_slice(), &sealed].concat()
    }

    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, SecretsError> {
        if sealed.len() < NONCE_LEN {
            return Err(SecretsError::Unseal);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.key));
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretsError::Unseal)
    }

    /// A key for one purpose (e.g. "csrf"), derived so that purposes never share a key.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(b"postern derive ");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

impl MasterKey {
    /// A keyed hash for low-entropy secrets (recovery codes, emailed codes): without the key
    /// file, a copy of the database cannot be used to guess them offline.
    pub fn keyed_hash(&self, purpose: &str, value: &[u8]) -> [u8; 32] {
        let key = self.derive(purpose);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(value);
        mac.finalize().into_bytes().into()
    }
}

/// A random bearer token: 32 bytes from the OS, base64url without padding (43 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// How high-entropy tokens are stored: SHA-256. (Passwords, being guessable, use Argon2id.)
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Compares secrets without leaking where they differ through timing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_context() {
        let key = MasterKey::for_tests();
        let sealed = key.seal("signing-key:1", b"private");
        assert_eq!(key.open("signing-key:1", &sealed).unwrap(), b"private");
        assert!(key.open("signing-key:2", &sealed).is_err());
        let other = MasterKey {
            key: [8u8; KEY_LEN],
        };
        assert!(other.open("signing-key:1", &sealed).is_err());
        assert!(key.open("signing-key:1", b"short").is_err());
    }

    #[test]
    fn the_key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/master.key");
        let first = MasterKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(first.key, again.key);
        assert!(!format!("{first:?}").contains(&hex_encode(&first.key)));
    }

    #[test]
    fn a_readable_or_malformed_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        MasterKey::load_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = MasterKey::load_or_create(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "nothex").unwrap();
        let err = MasterKey::load_or_create(&path).unwrap_err().to_string();
        assert!(err.contains("64 hexadecimal digits"), "{err}");
    }

    #[test]
    fn tokens_are_random_and_hash_stably() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
