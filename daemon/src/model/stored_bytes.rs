//! How byte fields of records (hashes, MACs, sealed secrets) are written: as base64 strings.
//!
//! serde writes bytes as a JSON array of numbers by default: a 32-byte hash becomes up to 128
//! characters that are parsed one number at a time, which was the largest part of reading a
//! user. Stores of format 2 and earlier hold those arrays, so both shapes are read; records are
//! written as base64 from format 3 on.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serializer};
use std::fmt;

/// Bytes read from either shape.
struct AnyBytes(Vec<u8>);

impl<'de> Deserialize<'de> for AnyBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AnyBytesVisitor;
        impl<'de> Visitor<'de> for AnyBytesVisitor {
            type Value = AnyBytes;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("base64 text or an array of bytes")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<AnyBytes, E> {
                STANDARD
                    .decode(text)
                    .map(AnyBytes)
                    .map_err(|e| E::custom(format!("bad base64: {e}")))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AnyBytes, A::Error> {
                let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(byte) = seq.next_element::<u8>()? {
                    bytes.push(byte);
                }
                Ok(AnyBytes(bytes))
            }
        }
        deserializer.deserialize_any(AnyBytesVisitor)
    }
}

impl AnyBytes {
    fn fixed<const N: usize, E: de::Error>(self) -> Result<[u8; N], E> {
        let length = self.0.len();
        self.0
            .try_into()
            .map_err(|_| E::invalid_length(length, &format!("{N} bytes").as_str()))
    }
}

/// `Vec<u8>` fields.
pub mod vec {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        AnyBytes::deserialize(deserializer).map(|bytes| bytes.0)
    }
}

/// `[u8; N]` fields.
pub mod fixed {
    use super::*;

    pub fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        super::vec::serialize(bytes, serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[u8; N], D::Error> {
        AnyBytes::deserialize(deserializer)?.fixed()
    }
}

/// `Option<[u8; N]>` fields.
pub mod option_fixed {
    use super::*;

    pub fn serialize<S: Serializer, const N: usize>(
        bytes: &Option<[u8; N]>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => super::vec::serialize(bytes, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<Option<[u8; N]>, D::Error> {
        Option::<AnyBytes>::deserialize(deserializer)?
            .map(AnyBytes::fixed)
            .transpose()
    }
}

/// `Option<Vec<u8>>` fields.
pub mod option_vec {
    use super::*;

    pub fn serialize<S: Serializer>(
        bytes: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => super::vec::serialize(bytes, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        Ok(Option::<AnyBytes>::deserialize(deserializer)?.map(|bytes| bytes.0))
    }
}

/// `Vec<[u8; N]>` fields.
pub mod vec_of_fixed {
    use super::*;
    use serde::ser::SerializeSeq;

    pub fn serialize<S: Serializer, const N: usize>(
        list: &[[u8; N]],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(list.len()))?;
        for bytes in list {
            seq.serialize_element(&STANDARD.encode(bytes))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<Vec<[u8; N]>, D::Error> {
        Vec::<AnyBytes>::deserialize(deserializer)?
            .into_iter()
            .map(AnyBytes::fixed)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        #[serde(with = "super::vec")]
        sealed: Vec<u8>,
        #[serde(with = "super::fixed")]
        mac: [u8; 4],
        #[serde(with = "super::option_fixed")]
        hash: Option<[u8; 2]>,
        #[serde(with = "super::vec_of_fixed")]
        codes: Vec<[u8; 2]>,
    }

    #[test]
    fn bytes_are_written_as_base64_and_read_back() {
        let sample = Sample {
            sealed: vec![0, 1, 250],
            mac: [1, 2, 3, 4],
            hash: Some([9, 9]),
            codes: vec![[1, 2], [3, 4]],
        };
        let json = serde_json::to_string(&sample).unwrap();
        assert_eq!(
            json,
            r#"{"sealed":"AAH6","mac":"AQIDBA==","hash":"CQk=","codes":["AQI=","AwQ="]}"#
        );
        assert_eq!(serde_json::from_str::<Sample>(&json).unwrap(), sample);
    }

    #[test]
    fn number_arrays_of_older_stores_are_still_read() {
        let old = r#"{"sealed":[0,1,250],"mac":[1,2,3,4],"hash":null,"codes":[[1,2],[3,4]]}"#;
        let sample: Sample = serde_json::from_str(old).unwrap();
        assert_eq!(sample.sealed, vec![0, 1, 250]);
        assert_eq!(sample.mac, [1, 2, 3, 4]);
        assert_eq!(sample.hash, None);
        assert_eq!(sample.codes, vec![[1, 2], [3, 4]]);
    }

    #[test]
    fn wrong_lengths_and_bad_base64_are_errors() {
        let short = r#"{"sealed":"","mac":"AQID","hash":null,"codes":[]}"#;
        assert!(
            serde_json::from_str::<Sample>(short)
                .unwrap_err()
                .to_string()
                .contains("4 bytes")
        );
        let bad = r#"{"sealed":"!!","mac":"AQIDBA==","hash":null,"codes":[]}"#;
        assert!(
            serde_json::from_str::<Sample>(bad)
                .unwrap_err()
                .to_string()
                .contains("base64")
        );
        let too_big = r#"{"sealed":[256],"mac":"AQIDBA==","hash":null,"codes":[]}"#;
        assert!(serde_json::from_str::<Sample>(too_big).is_err());
    }
}
