//! Recovery codes: ten one-time codes given at enrolment, usable in place of the second factor.
//! Stored as keyed hashes (HMAC with a key derived from the master key), so a copy of the
//! database cannot be searched for them.

use crate::secrets::{MasterKey, constant_time_eq};
use rand::Rng;

pub const COUNT: usize = 10;
/// Letters and digits that cannot be confused with each other when read or typed.
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// Fresh codes in the form people type: "xxxxx-xxxxx" (about 49 bits each).
pub fn generate() -> Vec<String> {
    let mut rng = rand::rng();
    (0..COUNT)
        .map(|_| {
            let mut chars = (0..10).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
            let first: String = chars.by_ref().take(5).collect();
            let second: String = chars.collect();
            format!("{first}-{second}")
        })
        .collect()
}

/// How a code is stored.
pub fn hash(master: &MasterKey, code: &str) -> [u8; 32] {
    master.keyed_hash("recovery-code", normalize(code).as_bytes())
}

/// The position of the stored hash matching `code`, if any (each compared in constant time).
pub fn find(master: &MasterKey, stored: &[[u8; 32]], code: &str) -> Option<usize> {
    let wanted = hash(master, code);
    stored.iter().position(|h| constant_time_eq(h, &wanted))
}

/// Case, spaces and dashes do not matter when typing a code.
fn normalize(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_readable_and_found_however_they_are_typed() {
        let master = MasterKey::for_tests();
        let codes = generate();
        assert_eq!(codes.len(), COUNT);
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 11 && c.as_bytes()[5] == b'-')
        );
        let stored: Vec<[u8; 32]> = codes.iter().map(|c| hash(&master, c)).collect();
        assert_eq!(
            find(&master, &stored, &codes[3].to_uppercase().replace('-', " ")),
            Some(3)
        );
        assert_eq!(find(&master, &stored, "aaaaa-aaaaa"), None);
    }
}
