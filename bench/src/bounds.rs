//! The costs no server can avoid, measured on this machine in the same run: Argon2id
//! verifications and ID token signatures per second, on every core at once.

use crate::load::Figure;
use openidconnect::PrivateSigningKey;
use openidconnect::core::{CoreEdDsaPrivateSigningKey, CoreJwsSigningAlgorithm};

/// A bound, measured at the start while nothing else runs, and again right before and after
/// each figure it limits: this shared machine's speed drifts by several percent within a
/// minute, so such a figure is compared with the mean of the two measurements around it.
#[derive(Debug)]
pub struct Bound {
    seconds: f64,
    measure: fn(f64) -> anyhow::Result<f64>,
    /// Every measurement, per second, in order.
    pub runs: Vec<f64>,
}

impl Bound {
    pub async fn first(
        measure: fn(f64) -> anyhow::Result<f64>,
        seconds: f64,
    ) -> anyhow::Result<Self> {
        let mut bound = Self {
            seconds,
            measure,
            runs: Vec::new(),
        };
        bound.measure().await?;
        Ok(bound)
    }

    async fn measure(&mut self) -> anyhow::Result<f64> {
        let (seconds, measure) = (self.seconds, self.measure);
        let rate = tokio::task::spawn_blocking(move || measure(seconds)).await??;
        self.runs.push(rate);
        Ok(rate)
    }

    /// Measures the bound, runs `figure`, measures again; compares the figure with the mean.
    pub async fn around(&mut self, figure: impl Future<Output = Figure>) -> anyhow::Result<Figure> {
        let before = self.measure().await?;
        let mut figure = figure.await;
        let after = self.measure().await?;
        figure.compare_with((before + after) / 2.0);
        Ok(figure)
    }

    pub fn mean(&self) -> f64 {
        self.runs.iter().sum::<f64>() / self.runs.len().max(1) as f64
    }
}

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
    let verify = argon2_verification()?;
    Ok(on_every_core(seconds, || {
        let _ = verify();
    }))
}

/// One Argon2id verification of the seeded password, made as the daemon makes it: through
/// the same verifier pool code, with the same parameters.
pub fn argon2_verification() -> anyhow::Result<impl Fn() -> anyhow::Result<()> + Sync> {
    let stored = postern_daemon::factors::password::hash(crate::seed::PASSWORD)?;
    Ok(move || {
        let matched =
            postern_daemon::factors::password::verify_blocking(crate::seed::PASSWORD, &stored);
        anyhow::ensure!(matched, "the password did not verify against its own hash");
        Ok(())
    })
}

/// A typical ID token's signing input.
const SIGNING_INPUT: &[u8] = b"eyJhbGciOiJSUzI1NiIsImtpZCI6InJzMjU2LWFiYyJ9.eyJpc3MiOiJodHRwOi8vMTI3LjAuMC4xOjgwODAiLCJzdWIiOiI2ZjFjOWQ0Ni0xYzI0LTRjNjEtOWRhZi1lNGQ0ZjY1ZjJhNzkiLCJhdWQiOiJiZW5jaCIsImV4cCI6MTc2NDAwMDAwMCwiaWF0IjoxNzY0MDAwMDAwLCJub25jZSI6ImFiYyJ9";

pub fn rs256(seconds: f64) -> anyhow::Result<f64> {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    let key = rsa::RsaPrivateKey::new(&mut rand08::rngs::OsRng, 2048)?;
    let pem = key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)?;
    // The daemon's own RS256 signer.
    let signer = postern_daemon::tokens::keys::RsaKey::from_pkcs1_pem(&pem, "bench".into())
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
