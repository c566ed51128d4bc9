//! Inputs from seeds: real, valid inputs changed a little or a lot (bits flipped, bytes
//! inserted, dropped, repeated or replaced by interesting values, pieces spliced from another
//! seed or from the target's dictionary), and now and then bytes made from nothing. A seeded
//! generator, so a run is repeatable and a crash can be found again from its seed.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const INTERESTING: &[&[u8]] = &[
    b"\0",
    b"\xff",
    b"\xff\xff\xff\xff",
    b"\x7f\xff\xff\xff",
    b"\x80",
    b"-1",
    b"0",
    b"18446744073709551616",
    b"99999999999999999999999999",
    b"%",
    b"%00",
    b"%ff",
    b"\"",
    b"'",
    b"\\",
    b"\r\n",
    b"[",
    b"{",
    b"}",
    b"=",
    b"&",
    b";",
    b".",
    b"..",
    b"/",
    b"\xc3\x28",
    b"\xf0\x9f\x92\xa9",
];

#[derive(Debug)]
pub struct Mutator {
    rng: StdRng,
}

impl Mutator {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            self.rng.random_range(0..n)
        }
    }

    pub fn chance(&mut self, one_in: u32) -> bool {
        self.rng.random_range(0..one_in) == 0
    }

    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max + 1);
        (0..len).map(|_| self.rng.random()).collect()
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A new input from `seeds` (and `dictionary` words spliced in): usually a few changes to
    /// one seed, sometimes random bytes.
    pub fn input(&mut self, seeds: &[Vec<u8>], dictionary: &[&[u8]]) -> Vec<u8> {
        if seeds.is_empty() || self.chance(20) {
            return self.bytes(256);
        }
        let mut data = self.pick(seeds).clone();
        let changes = 1 + self.below(8);
        for _ in 0..changes {
            self.change(&mut data, seeds, dictionary);
        }
        data
    }

    /// Changes `data` once, in place.
    pub fn change(&mut self, data: &mut Vec<u8>, seeds: &[Vec<u8>], dictionary: &[&[u8]]) {
        let at = self.below(data.len() + 1);
        match self.below(9) {
            0 if !data.is_empty() => {
                let i = self.below(data.len());
                data[i] ^= 1 << self.below(8);
            }
            1 if !data.is_empty() => {
                let i = self.below(data.len());
                data[i] = self.rng.random();
            }
            2 => {
                let byte = self.rng.random();
                data.insert(at, byte);
            }
            3 if !data.is_empty() => {
                let len = 1 + self.below(16.min(data.len()));
                let start = self.below(data.len() - len + 1);
                data.drain(start..start + len);
            }
            4 => {
                let word = *self.pick(INTERESTING);
                data.splice(at..at, word.iter().copied());
            }
            5 if !dictionary.is_empty() => {
                let word = *self.pick(dictionary);
                data.splice(at..at, word.iter().copied());
            }
            6 if !seeds.is_empty() => {
                let other = self.pick(seeds).clone();
                if !other.is_empty() {
                    let start = self.below(other.len());
                    let end = start + self.below(other.len() - start + 1);
                    data.splice(at..at, other[start..end].iter().copied());
                }
            }
            7 if !data.is_empty() => {
                // Repeat a piece: long runs find length and nesting limits.
                let start = self.below(data.len());
                let end = (start + 1 + self.below(8)).min(data.len());
                let piece = data[start..end].to_vec();
                for _ in 0..self.below(64) {
                    data.splice(at..at, piece.iter().copied());
                }
            }
            _ => data.truncate(at),
        }
    }
}
