//! TOTP (RFC 6238) as authenticator apps implement it: SHA-1, 6 digits, a 30-second step by
//! default, codes one step early or late accepted. A code is accepted only for a step later
//! than the last one accepted, so no code works twice.

use base64::Engine;
use rand::RngCore;
use totp_rs::{Algorithm, Secret, Totp};

pub const DIGITS: u8 = 6;
/// RFC 4226 recommends at least 128 bits; 160 matches SHA-1's block and what apps expect.
const SEED_BYTES: usize = 20;

/// The step length and tolerance in force (site settings).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub step_seconds: u64,
    pub skew_steps: u8,
}

impl From<&crate::model::SiteSettings> for Window {
    fn from(settings: &crate::model::SiteSettings) -> Self {
        Self {
            step_seconds: settings.totp_step_seconds,
            skew_steps: settings.totp_skew_steps,
        }
    }
}

pub fn new_seed() -> Vec<u8> {
    let mut seed = vec![0u8; SEED_BYTES];
    rand::rng().fill_bytes(&mut seed);
    seed
}

fn totp(seed: &[u8], window: Window) -> Option<Totp> {
    totp_rs::Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_secret(Secret::from(seed.to_vec()))
        .with_step_duration(window.step_seconds)
        .with_skew(u16::from(window.skew_steps))
        .build()
        .ok()
}

/// What a typed code turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// Right, for this step, which is later than any accepted before.
    Accepted(u64),
    /// Right, but for a step already used: a replay (or a code typed twice).
    Replayed,
    Wrong,
}

/// Checks `code` at time `now` against steps after `last_step`. Spaces in the code are
/// ignored ("123 456").
pub fn check(seed: &[u8], code: &str, now: u64, window: Window, last_step: Option<u64>) -> Checked {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.chars().all(|c| c.is_ascii_digit()) {
        return Checked::Wrong;
    }
    let Some(totp) = totp(seed, window) else {
        return Checked::Wrong;
    };
    // totp-rs returns the earliest matching step in the window; a replay of an older code
    // matches an older step, which the last-step check refuses.
    match totp.check(&code, now) {
        Some(step) if last_step.is_none_or(|last| step > last) => Checked::Accepted(step),
        Some(_) => Checked::Replayed,
        None => Checked::Wrong,
    }
}

/// The step `code` is accepted for, if it is (see [`check`]).
pub fn verify(
    seed: &[u8],
    code: &str,
    now: u64,
    window: Window,
    last_step: Option<u64>,
) -> Option<u64> {
    match check(seed, code, now, window, last_step) {
        Checked::Accepted(step) => Some(step),
        Checked::Replayed | Checked::Wrong => None,
    }
}

/// The code an authenticator app would show at `now` (for tests and for enrolment previews).
pub fn code_at(seed: &[u8], now: u64, window: Window) -> Option<String> {
    Some(totp(seed, window)?.generate(now).to_string())
}

/// The key for manual entry: base32, in groups of four for reading aloud or typing.
pub fn manual_key(seed: &[u8]) -> String {
    let base32 = Secret::from(seed.to_vec()).to_base32();
    base32
        .trim_end_matches('=')
        .as_bytes()
        .chunks(4)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `otpauth://` URI authenticator apps scan. The label reads "Issuer: account".
pub fn otpauth_uri(seed: &[u8], issuer: &str, account: &str, window: Window) -> String {
    let mut url =
        url::Url::parse("otpauth://totp/").unwrap_or_else(|_| unreachable!("a fixed URL parses"));
    url.set_path(&format!("{issuer}:{account}"));
    url.query_pairs_mut()
        .append_pair(
            "secret",
            &Secret::from(seed.to_vec()).to_base32().replace('=', ""),
        )
        .append_pair("issuer", issuer)
        .append_pair("algorithm", "SHA1")
        .append_pair("digits", &DIGITS.to_string())
        .append_pair("period", &window.step_seconds.to_string());
    url.to_string()
}

/// The URI as a QR code, as an inline SVG (no JavaScript, no external image).
pub fn qr_svg(uri: &str) -> String {
    match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

/// A base64url identifier of a seed, for logs that must say which enrolment without showing it.
pub fn fingerprint(seed: &[u8]) -> String {
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&sha2::Sha256::digest(seed)[..6])
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Window = Window {
        step_seconds: 30,
        skew_steps: 1,
    };

    #[test]
    fn codes_match_the_rfc_6238_sha1_vectors() {
        let seed = b"12345678901234567890";
        // RFC 6238 appendix B, truncated to 6 digits.
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(code_at(seed, time, WINDOW).unwrap(), code, "at {time}");
        }
    }

    #[test]
    fn a_code_is_good_one_step_either_side_and_never_twice() {
        let seed = new_seed();
        let now = 1_800_000_000;
        let code = code_at(&seed, now, WINDOW).unwrap();
        let step = verify(&seed, &code, now, WINDOW, None).unwrap();
        assert_eq!(step, now / 30);
        assert_eq!(
            verify(&seed, &code, now, WINDOW, Some(step)),
            None,
            "replay refused"
        );
        assert_eq!(
            check(&seed, &code, now, WINDOW, Some(step)),
            Checked::Replayed,
            "and told apart from a wrong code"
        );
        assert_eq!(check(&seed, "000000", now, WINDOW, None), Checked::Wrong);
        let previous = code_at(&seed, now - 30, WINDOW).unwrap();
        assert!(
            verify(&seed, &previous, now, WINDOW, None).is_some(),
            "one step old is fine"
        );
        let older = code_at(&seed, now - 60, WINDOW).unwrap();
        assert_eq!(
            verify(&seed, &older, now, WINDOW, None),
            None,
            "two steps old is not"
        );
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(verify(&seed, &spaced, now, WINDOW, None).is_some());
        assert_eq!(verify(&seed, "12345", now, WINDOW, None), None);
        assert_eq!(verify(&seed, "abcdef", now, WINDOW, None), None);
    }

    #[test]
    fn enrolment_material_is_what_apps_expect() {
        let seed = b"12345678901234567890".to_vec();
        assert_eq!(manual_key(&seed), "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ");
        let uri = otpauth_uri(&seed, "Postern", "alice", WINDOW);
        assert!(uri.starts_with("otpauth://totp/Postern:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Postern"), "{uri}");
        assert!(qr_svg(&uri).starts_with("<?xml") || qr_svg(&uri).contains("<svg"));
    }
}
