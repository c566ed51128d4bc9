//! The costs no server can avoid, measured on this machine in the same run: Argon2id
//! verifications and ID token signatures per second, on every core at once.

use openidconnect::PrivateSigningKey;
use openidconnect::core::{CoreEdDsaPrivateSigningKey, CoreJwsSigningAlgorithm};

/// Runs `work` on every core for `seconds`; returns completed runs per second.
fn on_every_core<F: Fn() + Sync>(seconds: f64, work: F) -> f64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let run = |(): &mut ()| {
        work();
        Ok(())
    };
    crate::load::run_blocking("bound", cores, seconds, |_| Ok(()), run).per_second
}

/// Argon2id verifications per second, with the parameters the daemon hashes with.
pub fn argon2(seconds: f64) -> anyhow::Result<f64> {
    let stored = postern_daemon::factors::password::hash(crate::seed::PASSWORD)?;
    Ok(on_every_core(seconds, || {
        let _ = postern_daemon::factors::password::verify(crate::seed::PASSWORD, &stored);
    }))
}

/// A typical ID token's signing input.
const SIGNING_INPUT: &[u8] = b"eyJhbGciOiJSUzI1NiIsImtpZCI6InJzMjU2LWFiYyJ9.eyJpc3MiOiJodHRwOi8vMTI3LjAuMC4xOjgwODAiLCJzdWIiOiI2ZjFjOWQ0Ni0xYzI0LTRjNjEtOWRhZi1lNGQ0ZjY1ZjJhNzkiLCJhdWQiOiJiZW5jaCIsImV4cCI6MTc2NDAwMDAwMCwiaWF0IjoxNzY0MDAwMDAwLCJub25jZSI6ImFiYyJ9";

pub fn rs256(seconds: f64) -> anyhow::Result<f64> {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    let key = rsa::RsaPrivateKey::new(&mut rand08::rngs::OsRng, 2048)?;
    let pem = key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)?;
    // The daemon's own RS256 signer.
    let signer = postern_daemon::oidc::keys::RsaKey::from_pkcs1_pem(&pem, "bench".into())
        .map_err(anyhow::Error::msg)?;
    Ok(on_every_core(seconds, || {
        let _ = signer.sign(
            &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            SIGNING_INPUT,
        );
    }))
}

pub fn eddsa(seconds: f64) -> anyhow::Result<f64> {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let pem = key.to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)?;
    let signer =
        CoreEdDsaPrivateSigningKey::from_ed25519_pem(&pem, None).map_err(anyhow::Error::msg)?;
    Ok(on_every_core(seconds, || {
        let _ = signer.sign(&CoreJwsSigningAlgorithm::EdDsa, SIGNING_INPUT);
    }))
}
