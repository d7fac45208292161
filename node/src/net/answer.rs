//! Reading a peer's `/chain` answer straight into typed blocks: no JSON value of the whole answer, so memory stays near the answer's own size.
//!
//! A `serde_json::Value` of an answer costs many times its size (an answer of
//! 64 MiB of `[0,0,0,...]` became 840 MB): here each block is read into its
//! typed form as it streams by, and the first block that is not a block ends
//! the read.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::error::Category;
use serde_json::Number;

use super::fetch::FetchError;
use crate::chain::Block;

/// A page of a peer's chain: some of its blocks, and its whole length.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The blocks sent, in chain order.
    pub blocks: Vec<Block>,
    /// The peer's chain length.
    pub length: u64,
}

/// Reads a page `{"chain": [...], "length": n}` where `n` is the whole
/// chain's length; other fields are ignored. Blocks are checked for form
/// only (every other rule is the chain's to check).
pub fn parse_page(body: &[u8]) -> Result<Page, FetchError> {
    let progress = Progress::default();
    let mut reader = serde_json::Deserializer::from_slice(body);
    let answer = AnswerSeed {
        progress: &progress,
    }
    .deserialize(&mut reader)
    .and_then(|answer| reader.end().map(|()| answer));
    match answer {
        Ok((blocks, length)) => Ok(Page { blocks, length }),
        Err(e) => Err(classify(e, progress.read.get(), progress.in_block.get())),
    }
}

/// Reads a whole chain `{"chain": [...], "length": n}`: a page whose `n`
/// equals its number of blocks.
pub fn parse_chain(body: &[u8]) -> Result<Vec<Block>, FetchError> {
    let Page { blocks, length } = parse_page(body)?;
    if length != blocks.len() as u64 {
        return Err(FetchError::Malformed(format!(
            "`length` says {length} but the chain has {} blocks",
            blocks.len()
        )));
    }
    Ok(blocks)
}

/// A JSON syntax error is a malformed answer; a well-formed block that is
/// not a block (inside `chain`) is an invalid chain at that block.
fn classify(error: serde_json::Error, read: u64, in_block: bool) -> FetchError {
    match error.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            FetchError::Malformed(format!("not JSON ({error})"))
        }
        Category::Data if in_block => FetchError::InvalidBlock {
            block: read + 1,
            detail: error.to_string(),
        },
        Category::Data => FetchError::Malformed(error.to_string()),
    }
}

/// How far the reader got: blocks read, and whether it failed inside a block.
#[derive(Default)]
struct Progress {
    read: Cell<u64>,
    in_block: Cell<bool>,
}

struct AnswerSeed<'a> {
    progress: &'a Progress,
}

impl<'de> DeserializeSeed<'de> for AnswerSeed<'_> {
    type Value = (Vec<Block>, u64);

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for AnswerSeed<'_> {
    type Value = (Vec<Block>, u64);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object {\"chain\": [...], \"length\": n}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut chain = None;
        let mut length = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "chain" if chain.is_some() => {
                    return Err(de::Error::custom("`chain` appears twice"))
                }
                "chain" => {
                    chain = Some(map.next_value_seed(BlocksSeed {
                        progress: self.progress,
                    })?)
                }
                "length" => {
                    let number: Number = map
                        .next_value()
                        .map_err(|_| de::Error::custom("`length` is not a whole number"))?;
                    let whole = number.as_u64().ok_or_else(|| {
                        de::Error::custom(format!("`length` is not a whole number: {number}"))
                    })?;
                    length = Some(whole);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let chain = chain.ok_or_else(|| de::Error::custom("`chain` is missing"))?;
        let length = length.ok_or_else(|| de::Error::custom("`length` is missing"))?;
        Ok((chain, length))
    }
}

struct BlocksSeed<'a> {
    progress: &'a Progress,
}

impl<'de> DeserializeSeed<'de> for BlocksSeed<'_> {
    type Value = Vec<Block>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for BlocksSeed<'_> {
    type Value = Vec<Block>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("`chain` as a list of blocks")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // Grows as blocks arrive; a size hint from the peer is not trusted.
        let mut blocks = Vec::new();
        loop {
            match seq.next_element::<Block>() {
                Ok(Some(block)) => {
                    blocks.push(block);
                    self.progress.read.set(self.progress.read.get() + 1);
                }
                Ok(None) => return Ok(blocks),
                Err(e) => {
                    self.progress.in_block.set(true);
                    return Err(e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GENESIS: &str =
        r#"{"index": 1, "previous_hash": 1, "proof": 1, "timestamp": 0.0, "transactions": []}"#;

    #[test]
    fn reads_blocks_and_checks_the_length() {
        let one = format!(r#"{{"chain": [{GENESIS}], "length": 1, "extra": [1, 2]}}"#);
        let blocks = parse_chain(one.as_bytes()).unwrap();
        assert_eq!(blocks, vec![Block::genesis(0.0)]);
        assert!(parse_chain(br#"{"chain": [], "length": 0}"#)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn shape_errors_are_malformed_answers() {
        let two = format!(r#"{{"chain": [{GENESIS}], "length": 2}}"#);
        for (body, needle) in [
            (two.as_bytes(), "says 2 but the chain has 1"),
            (br#"{"chain": []}"#, "`length` is missing"),
            (br#"{"chain": [], "length": "1"}"#, "not a whole number"),
            (br#"{"chain": [], "length": -1}"#, "not a whole number"),
            (br#"{"chain": [], "length": 1.0}"#, "not a whole number"),
            (br#"{"length": 0}"#, "`chain` is missing"),
            (br#"{"chain": {}, "length": 0}"#, "`chain` as a list"),
            (br#"{"chain": [], "chain": [], "length": 0}"#, "twice"),
            (br#"[1, 2]"#, "a JSON object"),
            (br#"{"chain": [}"#, "not JSON"),
            (br#"{"chain": [], "length": 0} trailing"#, "not JSON"),
            (b"", "not JSON"),
        ] {
            let err = parse_chain(body).unwrap_err();
            assert!(matches!(err, FetchError::Malformed(_)), "{err:?}");
            assert!(
                err.to_string().contains(needle),
                "{err} should mention {needle}"
            );
        }
    }

    #[test]
    fn the_first_thing_that_is_not_a_block_names_its_position() {
        let body = format!(r#"{{"chain": [{GENESIS}, {GENESIS}, 0, 0, 0], "length": 5}}"#);
        match parse_chain(body.as_bytes()).unwrap_err() {
            FetchError::InvalidBlock { block, detail } => {
                assert_eq!(block, 3);
                assert!(detail.contains("integer"), "{detail}");
            }
            other => panic!("expected an invalid block, got {other:?}"),
        }
        let bad_field = format!(
            r#"{{"chain": [{}], "length": 1}}"#,
            GENESIS.replace("\"proof\"", "\"proff\"")
        );
        match parse_chain(bad_field.as_bytes()).unwrap_err() {
            FetchError::InvalidBlock { block: 1, detail } => {
                assert!(detail.contains("proff"), "{detail}")
            }
            other => panic!("expected block 1 invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_huge_list_of_zeros_stops_at_the_first() {
        let mut body = br#"{"chain": ["#.to_vec();
        for _ in 0..1_000_000 {
            body.extend_from_slice(b"0,");
        }
        body.extend_from_slice(br#"0], "length": 1000001}"#);
        assert!(matches!(
            parse_chain(&body),
            Err(FetchError::InvalidBlock { block: 1, .. })
        ));
    }
}
