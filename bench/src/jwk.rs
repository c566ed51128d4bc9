//! The relying party's view of posternd's JWKS: openidconnect's own key type, except that RS256
//! signatures are checked with ring.
//!
//! openidconnect checks RS256 with the `rsa` crate, which took a quarter of a millisecond per
//! ID token here, ten times ring's time. The bench's relying party shares the machine with
//! posternd, so that cost was counted against the server's sign-ins. Choosing the key (kid,
//! algorithm, use) and every claim check stay openidconnect's.

use base64::Engine;
use openidconnect::core::{
    CoreJsonWebKey, CoreJsonWebKeyType, CoreJsonWebKeyUse, CoreJwsSigningAlgorithm,
};
use openidconnect::{JsonWebKey, JsonWebKeyAlgorithm, JsonWebKeyId, SignatureVerificationError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Debug)]
pub struct RingJwk {
    key: CoreJsonWebKey,
    /// An RSA key's modulus and exponent, big-endian.
    rsa: Option<(Vec<u8>, Vec<u8>)>,
}

impl Serialize for RingJwk {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.key.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RingJwk {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let member = |name: &str| -> Option<Vec<u8>> {
            let text = value.get(name)?.as_str()?;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(text)
                .ok()
        };
        let rsa = match (
            value.get("kty").and_then(|k| k.as_str()),
            member("n"),
            member("e"),
        ) {
            (Some("RSA"), Some(n), Some(e)) => Some((n, e)),
            _ => None,
        };
        let key = CoreJsonWebKey::deserialize(value).map_err(serde::de::Error::custom)?;
        Ok(Self { key, rsa })
    }
}

impl JsonWebKey for RingJwk {
    type KeyUse = CoreJsonWebKeyUse;
    type SigningAlgorithm = CoreJwsSigningAlgorithm;

    fn key_id(&self) -> Option<&JsonWebKeyId> {
        self.key.key_id()
    }

    fn key_type(&self) -> &CoreJsonWebKeyType {
        self.key.key_type()
    }

    fn key_use(&self) -> Option<&CoreJsonWebKeyUse> {
        self.key.key_use()
    }

    fn signing_alg(&self) -> JsonWebKeyAlgorithm<&CoreJwsSigningAlgorithm> {
        self.key.signing_alg()
    }

    fn new_symmetric(key: Vec<u8>) -> Self {
        Self {
            key: CoreJsonWebKey::new_symmetric(key),
            rsa: None,
        }
    }

    fn verify_signature(
        &self,
        signature_alg: &CoreJwsSigningAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureVerificationError> {
        if *signature_alg != CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256 {
            return self.key.verify_signature(signature_alg, message, signature);
        }
        // What openidconnect checks before it verifies: an RSA key, for signatures, for RS256.
        let usable = matches!(
            self.key.key_use(),
            None | Some(CoreJsonWebKeyUse::Signature)
        ) && matches!(
            self.key.signing_alg(),
            JsonWebKeyAlgorithm::Unspecified
                | JsonWebKeyAlgorithm::Algorithm(CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256)
        );
        let Some((n, e)) = self.rsa.as_ref().filter(|_| usable) else {
            return Err(SignatureVerificationError::InvalidKey(
                "not an RSA signing key for RS256".into(),
            ));
        };
        ring::signature::RsaPublicKeyComponents { n, e }
            .verify(
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                message,
                signature,
            )
            .map_err(|_| SignatureVerificationError::CryptoError("bad RS256 signature".into()))
    }

    fn hash_bytes(&self, bytes: &[u8], alg: &CoreJwsSigningAlgorithm) -> Result<Vec<u8>, String> {
        self.key.hash_bytes(bytes, alg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openidconnect::PrivateSigningKey;

    fn rsa_pair() -> (postern_daemon::tokens::keys::RsaKey, RingJwk) {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let key = rsa::RsaPrivateKey::new(&mut rand08::rngs::OsRng, 2048).unwrap();
        let pem = key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        let signer =
            postern_daemon::tokens::keys::RsaKey::from_pkcs1_pem(&pem, "test".into()).unwrap();
        let public = serde_json::to_value(signer.as_verification_key()).unwrap();
        (signer, serde_json::from_value(public).unwrap())
    }

    #[test]
    fn rs256_signatures_are_checked_and_tampering_is_refused() {
        let (signer, public) = rsa_pair();
        let alg = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
        let signature = signer.sign(&alg, b"header.claims").unwrap();
        assert!(
            public
                .verify_signature(&alg, b"header.claims", &signature)
                .is_ok()
        );
        assert!(
            public
                .verify_signature(&alg, b"header.claimz", &signature)
                .is_err()
        );
        let mut bent = signature.clone();
        bent[10] ^= 1;
        assert!(
            public
                .verify_signature(&alg, b"header.claims", &bent)
                .is_err()
        );
        // The same key must not pass for another algorithm.
        let other = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512;
        assert!(
            public
                .verify_signature(&other, b"header.claims", &signature)
                .is_err()
        );
    }

    #[test]
    fn an_rsa_key_marked_for_encryption_is_refused() {
        let (signer, public) = rsa_pair();
        let mut json = serde_json::to_value(&public).unwrap();
        json["use"] = "enc".into();
        let for_encryption: RingJwk = serde_json::from_value(json).unwrap();
        let alg = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
        let signature = signer.sign(&alg, b"m").unwrap();
        assert!(
            for_encryption
                .verify_signature(&alg, b"m", &signature)
                .is_err()
        );
    }
}
