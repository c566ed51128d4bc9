//! Signing keys for ID tokens: one active key per algorithm (RS256 always, EdDSA and ES256 for
//! clients that ask), generated on first start, stored sealed with the master key, and
//! published in the JWKS. Rotation retires the active keys; a retired key stays published
//! until every ID token it signed has expired.

use crate::clock::UnixSeconds;
use crate::model::SigningAlg;
pub use crate::model::signing_key::SigningKeyRecord;
use crate::secrets::MasterKey;
use crate::store::{Store, StoreError};
use openidconnect::core::{
    CoreEdDsaPrivateSigningKey, CoreJsonCurveType, CoreJsonWebKey, CoreJsonWebKeySet,
    CoreJwsSigningAlgorithm,
};
use openidconnect::{JsonWebKeyId, PrivateSigningKey, SigningError};
use rand::RngCore;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing key {kid}: {message}")]
    Load { kid: String, message: String },
    #[error("cannot generate a signing key: {0}")]
    Generate(String),
    #[error("cannot sign: {0}")]
    Sign(String),
}

/// A usable private key of one of the three kinds.
pub enum LoadedKey {
    Rsa(RsaKey),
    EdDsa(CoreEdDsaPrivateSigningKey),
    Es256(Es256Key),
}

// Private keys never print.
impl std::fmt::Debug for LoadedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LoadedKey({:?})", self.jose_alg())
    }
}

impl std::fmt::Debug for Es256Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Es256Key({})", self.kid.as_str())
    }
}

impl LoadedKey {
    pub fn jose_alg(&self) -> CoreJwsSigningAlgorithm {
        match self {
            Self::Rsa(_) => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            Self::EdDsa(_) => CoreJwsSigningAlgorithm::EdDsa,
            Self::Es256(_) => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        }
    }

    pub fn verification_key(&self) -> CoreJsonWebKey {
        match self {
            Self::Rsa(key) => key.as_verification_key(),
            Self::EdDsa(key) => key.as_verification_key(),
            Self::Es256(key) => key.as_verification_key(),
        }
    }
}

/// RS256 signed with ring, three times faster than the `rsa` crate that openidconnect signs
/// with: RS256 is the default algorithm, and one signature is most of a refresh grant's cost.
/// The key is still generated and parsed with `rsa`, and stored as PKCS#1 PEM as before.
pub struct RsaKey {
    pair: ring::signature::RsaKeyPair,
    public: CoreJsonWebKey,
}

impl std::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaKey(<private>)")
    }
}

impl RsaKey {
    pub fn from_pkcs1_pem(pem: &str, kid: String) -> Result<Self, String> {
        use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
        use rsa::traits::PublicKeyParts;
        let key = rsa::RsaPrivateKey::from_pkcs1_pem(pem).map_err(|e| e.to_string())?;
        let der = key.to_pkcs1_der().map_err(|e| e.to_string())?;
        let pair = ring::signature::RsaKeyPair::from_der(der.as_bytes())
            .map_err(|e| format!("ring refused the RSA key: {e}"))?;
        let public = CoreJsonWebKey::new_rsa(
            key.n().to_bytes_be(),
            key.e().to_bytes_be(),
            Some(JsonWebKeyId::new(kid)),
        );
        Ok(Self { pair, public })
    }
}

impl PrivateSigningKey for RsaKey {
    type VerificationKey = CoreJsonWebKey;

    fn sign(&self, alg: &CoreJwsSigningAlgorithm, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        if *alg != CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256 {
            return Err(SigningError::UnsupportedAlg(format!("{alg:?}")));
        }
        let mut signature = vec![0u8; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(|_| SigningError::CryptoError)?;
        Ok(signature)
    }

    fn as_verification_key(&self) -> CoreJsonWebKey {
        self.public.clone()
    }
}

/// ES256 over p256, which openidconnect verifies but does not sign with.
pub struct Es256Key {
    kid: JsonWebKeyId,
    key: p256::ecdsa::SigningKey,
}

impl PrivateSigningKey for Es256Key {
    type VerificationKey = CoreJsonWebKey;

    fn sign(&self, alg: &CoreJwsSigningAlgorithm, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        use p256::ecdsa::signature::Signer;
        if *alg != CoreJwsSigningAlgorithm::EcdsaP256Sha256 {
            return Err(SigningError::UnsupportedAlg(format!("{alg:?}")));
        }
        let signature: p256::ecdsa::Signature = self.key.sign(message);
        Ok(signature.to_bytes().to_vec())
    }

    fn as_verification_key(&self) -> CoreJsonWebKey {
        let point = self.key.verifying_key().to_sec1_point(false);
        let bytes = point.as_bytes();
        // Uncompressed SEC1: 0x04, then 32 bytes of x and 32 of y.
        let (x, y) = bytes
            .get(1..)
            .unwrap_or_default()
            .split_at(32.min(bytes.len().saturating_sub(1)));
        CoreJsonWebKey::new_ec(
            x.to_vec(),
            y.to_vec(),
            CoreJsonCurveType::P256,
            Some(self.kid.clone()),
        )
    }
}

/// What the web door needs: the active key per algorithm and the published key set.
#[derive(Debug)]
pub struct KeySet {
    pub active: HashMap<SigningAlg, (String, Arc<LoadedKey>)>,
    pub published: Vec<(String, Arc<LoadedKey>)>,
    pub jwks_json: String,
}

impl KeySet {
    /// The published key with this `kid`, for checking our own tokens (e.g. `id_token_hint`).
    pub fn published_key(&self, kid: &str) -> Option<&Arc<LoadedKey>> {
        self.published
            .iter()
            .find(|(id, _)| id == kid)
            .map(|(_, key)| key)
    }

    pub fn jwks(&self) -> CoreJsonWebKeySet {
        CoreJsonWebKeySet::new(
            self.published
                .iter()
                .map(|(_, key)| key.verification_key())
                .collect(),
        )
    }

    /// The published key set as JSON, each key with its `alg` beside `kid` and `use`: a
    /// relying party that picks keys by algorithm (or cannot parse one kind, as older
    /// mod_auth_openidc cannot parse Ed25519) then finds the right one without guessing.
    fn jwks_json(&self) -> Result<String, serde_json::Error> {
        let mut set = serde_json::to_value(self.jwks())?;
        if let Some(keys) = set.get_mut("keys").and_then(|k| k.as_array_mut()) {
            for (json, (_, key)) in keys.iter_mut().zip(&self.published) {
                if let Some(fields) = json.as_object_mut() {
                    fields.insert("alg".into(), serde_json::to_value(key.jose_alg())?);
                    fields.entry("use").or_insert_with(|| "sig".into());
                }
            }
        }
        serde_json::to_string(&set)
    }
}

/// The daemon's keys, reloaded after a rotation.
pub struct KeyRing {
    current: RwLock<Arc<KeySet>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyRing")
    }
}

impl KeyRing {
    /// Loads the stored keys, generating an active key for any algorithm that has none.
    pub async fn load(
        store: &dyn Store,
        master: &MasterKey,
        now: UnixSeconds,
        retain: u64,
    ) -> Result<Self, KeyError> {
        let records = store.signing_keys().await?;
        for alg in SigningAlg::ALL {
            if !records
                .iter()
                .any(|r| r.alg == alg && r.retired_at.is_none())
            {
                store
                    .put_signing_key(&generate(alg, master, now).await?)
                    .await?;
                tracing::info!(alg = alg.as_str(), "generated a new signing key");
            }
        }
        let ring = Self {
            current: RwLock::new(Arc::new(KeySet {
                active: HashMap::new(),
                published: Vec::new(),
                jwks_json: String::new(),
            })),
        };
        ring.reload(store, master, now, retain).await?;
        Ok(ring)
    }

    pub fn current(&self) -> Arc<KeySet> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Retires the active keys and makes fresh ones active.
    pub async fn rotate(
        &self,
        store: &dyn Store,
        master: &MasterKey,
        now: UnixSeconds,
        retain: u64,
    ) -> Result<(), KeyError> {
        let mut fresh = Vec::new();
        for alg in SigningAlg::ALL {
            fresh.push(generate(alg, master, now).await?);
        }
        for mut record in store.signing_keys().await? {
            if record.retired_at.is_none() {
                record.retired_at = Some(now);
                store.put_signing_key(&record).await?;
            }
        }
        for record in &fresh {
            store.put_signing_key(record).await?;
        }
        self.reload(store, master, now, retain).await
    }

    /// Rebuilds the in-memory set from the store, dropping retired keys older than `retain`
    /// seconds (the longest an ID token lives).
    pub async fn reload(
        &self,
        store: &dyn Store,
        master: &MasterKey,
        now: UnixSeconds,
        retain: u64,
    ) -> Result<(), KeyError> {
        let mut active = HashMap::new();
        let mut newest: HashMap<SigningAlg, (UnixSeconds, String)> = HashMap::new();
        let mut published = Vec::new();
        for record in store.signing_keys().await? {
            if let Some(retired) = record.retired_at {
                if retired.saturating_add(retain) < now {
                    store.delete_signing_key(&record.kid).await?;
                    continue;
                }
            }
            let key = Arc::new(unseal(&record, master)?);
            // Daemons that started together on an empty shared store may each have made a
            // key: all of them pick the newest (then the greatest kid), so all sign alike,
            // and the others stay published until the next rotation retires them.
            let rank = (record.created_at, record.kid.clone());
            if record.retired_at.is_none() && newest.get(&record.alg).is_none_or(|r| *r < rank) {
                newest.insert(record.alg, rank);
                active.insert(record.alg, (record.kid.clone(), key.clone()));
            }
            published.push((record.kid.clone(), key));
        }
        let mut set = KeySet {
            active,
            published,
            jwks_json: String::new(),
        };
        set.jwks_json = set.jwks_json().map_err(|e| KeyError::Sign(e.to_string()))?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
        Ok(())
    }
}

/// A new key for `alg`, sealed with the master key. An RSA key takes a good fraction of a
/// second to find, so the private key is made on a blocking thread.
async fn generate(
    alg: SigningAlg,
    master: &MasterKey,
    now: UnixSeconds,
) -> Result<SigningKeyRecord, KeyError> {
    let mut id = [0u8; 9];
    rand::rng().fill_bytes(&mut id);
    let kid = format!("{}-{}", alg.as_str().to_lowercase(), base64_url(&id));
    let private = tokio::task::spawn_blocking(move || new_private_key(alg))
        .await
        .map_err(|e| KeyError::Generate(e.to_string()))??;
    Ok(SigningKeyRecord {
        sealed_private: master.seal(&seal_context(&kid), &private),
        kid,
        alg,
        created_at: now,
        retired_at: None,
    })
}

/// A private key for `alg`, in the form `unseal` reads.
fn new_private_key(alg: SigningAlg) -> Result<Vec<u8>, KeyError> {
    Ok(match alg {
        SigningAlg::RS256 => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            let key = rsa::RsaPrivateKey::new(&mut rand08::rngs::OsRng, 2048)
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
                .map_err(|e| KeyError::Generate(e.to_string()))?
                .as_bytes()
                .to_vec()
        }
        SigningAlg::EdDSA => {
            use ed25519_dalek::pkcs8::EncodePrivateKey;
            let mut seed = [0u8; 32];
            rand::rng().fill_bytes(&mut seed);
            ed25519_dalek::SigningKey::from_bytes(&seed)
                .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
                .map_err(|e| KeyError::Generate(e.to_string()))?
                .as_bytes()
                .to_vec()
        }
        SigningAlg::ES256 => loop {
            let mut scalar = [0u8; 32];
            rand::rng().fill_bytes(&mut scalar);
            // A random 32-byte string is a valid scalar with overwhelming probability.
            if p256::ecdsa::SigningKey::from_slice(&scalar).is_ok() {
                break scalar.to_vec();
            }
        },
    })
}

/// Whether `master` opens a stored key (a restore checks the key file before loading).
pub fn opens(record: &SigningKeyRecord, master: &MasterKey) -> Result<(), KeyError> {
    unseal(record, master).map(|_| ())
}

fn unseal(record: &SigningKeyRecord, master: &MasterKey) -> Result<LoadedKey, KeyError> {
    let fail = |message: String| KeyError::Load {
        kid: record.kid.clone(),
        message,
    };
    let private = master
        .open(&seal_context(&record.kid), &record.sealed_private)
        .map_err(|e| fail(e.to_string()))?;
    let kid = Some(JsonWebKeyId::new(record.kid.clone()));
    Ok(match record.alg {
        SigningAlg::RS256 => {
            let pem = String::from_utf8(private).map_err(|e| fail(e.to_string()))?;
            LoadedKey::Rsa(RsaKey::from_pkcs1_pem(&pem, record.kid.clone()).map_err(fail)?)
        }
        SigningAlg::EdDSA => {
            let pem = String::from_utf8(private).map_err(|e| fail(e.to_string()))?;
            LoadedKey::EdDsa(CoreEdDsaPrivateSigningKey::from_ed25519_pem(&pem, kid).map_err(fail)?)
        }
        SigningAlg::ES256 => LoadedKey::Es256(Es256Key {
            kid: JsonWebKeyId::new(record.kid.clone()),
            key: p256::ecdsa::SigningKey::from_slice(&private).map_err(|e| fail(e.to_string()))?,
        }),
    })
}

fn seal_context(kid: &str) -> String {
    format!("signing-key:{kid}")
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sled_backend::SledStore;

    #[tokio::test]
    async fn keys_are_generated_once_published_and_rotated_out_after_their_tokens_expire() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let master = MasterKey::for_tests();
        let ring = KeyRing::load(&store, &master, 1_000, 600).await.unwrap();
        let first = ring.current();
        assert_eq!(first.active.len(), 3);
        let jwks: serde_json::Value = serde_json::from_str(&first.jwks_json).unwrap();
        let kinds: Vec<(&str, &str)> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| (k["kty"].as_str().unwrap(), k["alg"].as_str().unwrap()))
            .collect();
        assert!(
            jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .all(|k| k["use"] == "sig" && k["kid"].is_string())
        );
        assert_eq!(kinds.len(), 3);
        for kind in [("RSA", "RS256"), ("OKP", "EdDSA"), ("EC", "ES256")] {
            assert!(kinds.contains(&kind), "{kinds:?}");
        }
        // A restart loads the same keys instead of making new ones.
        let again = KeyRing::load(&store, &master, 1_001, 600).await.unwrap();
        assert_eq!(
            again.current().active[&SigningAlg::RS256].0,
            first.active[&SigningAlg::RS256].0
        );

        ring.rotate(&store, &master, 2_000, 600).await.unwrap();
        let rotated = ring.current();
        assert_eq!(rotated.published.len(), 6, "retired keys stay published");
        assert_ne!(
            rotated.active[&SigningAlg::EdDSA].0,
            first.active[&SigningAlg::EdDSA].0
        );
        ring.reload(&store, &master, 2_601, 600).await.unwrap();
        assert_eq!(
            ring.current().published.len(),
            3,
            "and leave once their tokens have expired"
        );
    }

    #[tokio::test]
    async fn keys_are_sealed_with_the_master_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        KeyRing::load(&store, &MasterKey::for_tests(), 1, 600)
            .await
            .unwrap();
        for record in store.signing_keys().unwrap() {
            assert!(!String::from_utf8_lossy(&record.sealed_private).contains("PRIVATE KEY"));
        }
    }
}
