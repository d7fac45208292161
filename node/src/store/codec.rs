//! The stored byte form of blocks and pool entries: their JSON with each address replaced by a number from the `addresses` table.
//!
//! Why not the block's own JSON: three of a typical block's ~2,300 bytes of
//! JSON are addresses (~600 characters each), repeated in block after block.
//! redb keeps a value in a 4 KiB page, so such blocks take one page each
//! (~4.2 KB on disk), and loading them would parse every address as an RSA
//! key again: 300,000 key parses and copies for 100,000 blocks. Numbering the
//! addresses makes a stored block ~600 bytes (several per page) and lets a
//! load parse each distinct address once and share it.
//!
//! Decoding goes through the chain's checked conversions (`PreviousHash`'s
//! deserializer, `Transaction::from_parts`), so the form rules live in
//! one place.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};
use wallet::{Address, Amount, Nonce, Signature};

use crate::chain::{Block, PreviousHash, Sender, Timestamp, Transaction};

/// A block as stored.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredBlock<'a> {
    index: u64,
    previous_hash: PreviousHash,
    proof: u64,
    timestamp: Number,
    #[serde(borrow)]
    transactions: Vec<StoredTransaction<'a>>,
}

/// A transaction as stored: addresses are numbers; a reward has no sender.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredTransaction<'a> {
    amount: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nonce: Option<u64>,
    recipient: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sender: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    signature: Option<Cow<'a, str>>,
}

/// The writer's side: gives addresses their numbers, remembering the new ones
/// so they can be written to the `addresses` table in the same commit.
#[derive(Default)]
pub(crate) struct Encoder {
    ids: HashMap<String, u32>,
    /// Numbered since the last commit.
    new: Vec<(u32, String)>,
    /// The same addresses parsed, for the readers' address book once committed.
    new_parsed: Vec<Address>,
}

impl Encoder {
    /// An encoder that knows the stored addresses, in id order.
    pub(crate) fn new(stored: Vec<String>) -> Self {
        let ids = stored.into_iter().zip(0..).collect();
        Encoder {
            ids,
            new: Vec::new(),
            new_parsed: Vec::new(),
        }
    }

    /// How many addresses are numbered, stored or not.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// The numbered address texts in id order (for the readers' address book).
    pub(crate) fn texts(&self) -> Vec<String> {
        let mut texts = vec![String::new(); self.ids.len()];
        for (text, &id) in &self.ids {
            texts[id as usize].clone_from(text);
        }
        texts
    }

    fn id(&mut self, address: &Address) -> u32 {
        if let Some(&id) = self.ids.get(address.as_str()) {
            return id;
        }
        let id = u32::try_from(self.ids.len()).expect("fewer than 4 billion distinct addresses");
        self.ids.insert(address.as_str().to_owned(), id);
        self.new.push((id, address.as_str().to_owned()));
        self.new_parsed.push(address.clone());
        id
    }

    /// The addresses numbered since the last commit, to be stored in the same commit as the entries using them.
    pub(crate) fn unstored(&self) -> &[(u32, String)] {
        &self.new
    }

    /// The commit holding [`Encoder::unstored`] succeeded: returns those
    /// addresses parsed, in id order (they follow every address stored before).
    pub(crate) fn committed(&mut self) -> Vec<Address> {
        self.new.clear();
        std::mem::take(&mut self.new_parsed)
    }

    /// The commit failed: forgets the unstored numbers, so they are given again.
    pub(crate) fn forget_unstored(&mut self) {
        self.new_parsed.clear();
        for (_, text) in self.new.drain(..) {
            self.ids.remove(&text);
        }
    }

    fn stored<'a>(&mut self, tx: &'a Transaction) -> StoredTransaction<'a> {
        match tx {
            Transaction::Reward { recipient, amount } => StoredTransaction {
                amount: amount.get(),
                nonce: None,
                recipient: self.id(recipient),
                sender: None,
                signature: None,
            },
            Transaction::Signed {
                transfer,
                signature,
            } => StoredTransaction {
                amount: transfer.amount.get(),
                nonce: transfer.nonce.map(Nonce::get),
                recipient: self.id(&transfer.recipient),
                sender: Some(self.id(&transfer.sender)),
                signature: Some(Cow::Borrowed(signature.as_str())),
            },
        }
    }

    pub(crate) fn block(&mut self, block: &Block) -> Vec<u8> {
        let stored = StoredBlock {
            index: block.index,
            previous_hash: block.previous_hash,
            proof: block.proof,
            timestamp: match serde_json::to_value(&block.timestamp) {
                Ok(Value::Number(number)) => number,
                _ => unreachable!("a timestamp serializes as a JSON number"),
            },
            transactions: block
                .transactions
                .iter()
                .map(|tx| self.stored(tx))
                .collect(),
        };
        serde_json::to_vec(&stored).expect("a stored block serializes to JSON")
    }

    pub(crate) fn transaction(&mut self, tx: &Transaction) -> Vec<u8> {
        let stored = self.stored(tx);
        serde_json::to_vec(&stored).expect("a stored transaction serializes to JSON")
    }
}

/// Where decoding finds the address an id stands for.
pub(crate) trait AddressSource {
    /// The address numbered `id`; an error text if there is none or it is invalid.
    fn address(&mut self, id: u32) -> Result<Address, String>;
}

/// Addresses already looked up, by number: each is parsed or fetched once.
#[derive(Default)]
pub(crate) struct KnownAddresses(Vec<Option<Address>>);

impl KnownAddresses {
    /// The address numbered `id`, from `look_up` the first time.
    pub(crate) fn get_or_look_up(
        &mut self,
        id: u32,
        look_up: impl FnOnce() -> Result<Address, String>,
    ) -> Result<Address, String> {
        let at = id as usize;
        if let Some(Some(address)) = self.0.get(at) {
            return Ok(address.clone());
        }
        let address = look_up()?;
        if self.0.len() <= at {
            self.0.resize(at + 1, None);
        }
        self.0[at] = Some(address.clone());
        Ok(address)
    }
}

/// The loader's side: decodes stored entries, parsing each address once.
pub(crate) struct Decoder {
    texts: Vec<String>,
    parsed: KnownAddresses,
}

impl Decoder {
    /// A decoder for the stored addresses, in id order.
    pub(crate) fn new(texts: Vec<String>) -> Self {
        Decoder {
            texts,
            parsed: KnownAddresses::default(),
        }
    }

    /// The address texts, for the writer's [`Encoder`].
    pub(crate) fn into_texts(self) -> Vec<String> {
        self.texts
    }

    pub(crate) fn block(&mut self, bytes: &[u8]) -> Result<Block, String> {
        decode_block(bytes, self)
    }

    pub(crate) fn transaction(&mut self, bytes: &[u8]) -> Result<Transaction, String> {
        let stored: StoredTransaction<'_> =
            serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        checked(stored, self)
    }
}

impl AddressSource for Decoder {
    fn address(&mut self, id: u32) -> Result<Address, String> {
        let texts = &self.texts;
        self.parsed.get_or_look_up(id, || {
            let text = texts
                .get(id as usize)
                .ok_or_else(|| format!("address {id} is not in the addresses table"))?;
            parse_address(id, text)
        })
    }
}

/// Parses the stored address numbered `id`.
pub(crate) fn parse_address(id: u32, text: &str) -> Result<Address, String> {
    Address::parse(text).map_err(|e| format!("stored address {id} is invalid: {e}"))
}

/// Decodes a stored block, its addresses from `addresses`.
pub(crate) fn decode_block(
    bytes: &[u8],
    addresses: &mut impl AddressSource,
) -> Result<Block, String> {
    let stored: StoredBlock<'_> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let transactions = stored
        .transactions
        .into_iter()
        .enumerate()
        .map(|(at, tx)| checked(tx, addresses).map_err(|e| format!("transaction {at}: {e}")))
        .collect::<Result<_, _>>()?;
    Ok(Block {
        index: stored.index,
        previous_hash: stored.previous_hash,
        proof: stored.proof,
        timestamp: Timestamp::from(stored.timestamp),
        transactions,
    })
}

/// Rebuilds a transaction through the chain's one checked constructor.
fn checked(
    tx: StoredTransaction<'_>,
    addresses: &mut impl AddressSource,
) -> Result<Transaction, String> {
    let amount = Amount::new(tx.amount).map_err(|e| e.to_string())?;
    let recipient = addresses.address(tx.recipient)?;
    let sender = match tx.sender {
        None => Sender::Reward,
        Some(id) => Sender::Address(addresses.address(id)?),
    };
    let nonce = tx
        .nonce
        .map(Nonce::new)
        .transpose()
        .map_err(|e| e.to_string())?;
    let signature = tx
        .signature
        .map(|text| Signature::parse(&text))
        .transpose()
        .map_err(|e| e.to_string())?;
    Transaction::from_parts(sender, recipient, amount, nonce, signature).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wallet::Wallet;

    fn signed(from: &Wallet, to: &Wallet, amount: u64, nonce: Option<u64>) -> Transaction {
        let nonce = nonce.map(|n| Nonce::new(n).unwrap());
        Transaction::sign(from, to.address(), Amount::new(amount).unwrap(), nonce)
    }

    fn round_trip(blocks: &[Block], pool: &[Transaction]) -> (Vec<Block>, Vec<Transaction>) {
        let mut encoder = Encoder::default();
        let stored_blocks: Vec<Vec<u8>> = blocks.iter().map(|b| encoder.block(b)).collect();
        let stored_pool: Vec<Vec<u8>> = pool.iter().map(|tx| encoder.transaction(tx)).collect();
        let texts: Vec<String> = encoder.unstored().iter().map(|(_, t)| t.clone()).collect();
        let mut decoder = Decoder::new(texts);
        (
            stored_blocks
                .iter()
                .map(|b| decoder.block(b).unwrap())
                .collect(),
            stored_pool
                .iter()
                .map(|tx| decoder.transaction(tx).unwrap())
                .collect(),
        )
    }

    #[test]
    fn every_form_of_block_and_transaction_survives_storage_exactly() {
        let alice = Wallet::generate();
        let bob = Wallet::generate();
        let genesis = Block::genesis(1_700_000_000.25);
        let reward = Transaction::Reward {
            recipient: alice.address().clone(),
            amount: Amount::new(1).unwrap(),
        };
        let second = Block {
            index: 2,
            previous_hash: PreviousHash::Hash(genesis.hash()),
            proof: 12345,
            timestamp: Timestamp::now(),
            transactions: vec![
                signed(&alice, &bob, 5, Some(0)),
                signed(&bob, &alice, 1, None),
                reward.clone(),
            ],
        };
        let int_block: Block = serde_json::from_str(
            r#"{"index":1,"previous_hash":1,"proof":1,"timestamp":1700000000,"transactions":[]}"#,
        )
        .unwrap();
        let blocks = vec![genesis, second.clone(), int_block];
        let pool = vec![signed(&alice, &bob, 9_007_199_254_740_991, Some(7))];
        let (loaded_blocks, loaded_pool) = round_trip(&blocks, &pool);
        assert_eq!(loaded_blocks, blocks);
        assert_eq!(loaded_pool, pool);
        for (loaded, original) in loaded_blocks.iter().zip(&blocks) {
            // Same JSON, hence the same hash: an integer timestamp stayed an integer.
            assert_eq!(
                serde_json::to_string(loaded).unwrap(),
                serde_json::to_string(original).unwrap()
            );
        }
        // Two wallets, numbered once each however often they appear.
        let mut encoder = Encoder::default();
        encoder.block(&second);
        encoder.block(&second);
        assert_eq!(encoder.unstored().len(), 2);
        encoder.committed();
        encoder.block(&second);
        assert!(encoder.unstored().is_empty());
        // A failed commit's numbers are given again.
        let carol = Wallet::generate();
        let to_carol = signed(&alice, &carol, 1, None);
        encoder.transaction(&to_carol);
        assert_eq!(encoder.unstored(), [(2, carol.address().to_string())]);
        encoder.forget_unstored();
        encoder.transaction(&to_carol);
        assert_eq!(encoder.unstored(), [(2, carol.address().to_string())]);
    }

    #[test]
    fn damaged_stored_forms_are_refused() {
        let alice = Wallet::generate();
        let texts = vec![alice.address().to_string()];
        let mut encoder = Encoder::new(texts.clone());
        let tx = signed(&alice, &alice, 5, Some(3));
        let block = Block {
            index: 2,
            previous_hash: PreviousHash::Hash(Block::genesis(0.0).hash()),
            proof: 1,
            timestamp: Timestamp::now(),
            transactions: vec![tx.clone()],
        };
        let good = String::from_utf8(encoder.block(&block)).unwrap();
        assert!(encoder.unstored().is_empty(), "alice was already numbered");
        let mut decoder = Decoder::new(texts);
        assert_eq!(decoder.block(good.as_bytes()).unwrap(), block);
        let sig = tx.signature().unwrap().as_str().to_owned();
        let damaged = [
            good.replace("\"proof\"", "\"proff\""),
            good.replace("\"amount\":5", "\"amount\":0"),
            good.replace("\"amount\":5", "\"amount\":5.5"),
            good.replace("\"nonce\":3", "\"nonce\":-1"),
            good.replace("\"sender\":0", "\"sender\":1"),
            good.replace("\"recipient\":0", "\"recipient\":\"0\""),
            good.replace(&sig, &sig[1..]),
            good.replace(&format!(",\"signature\":\"{sig}\""), ""),
            good.replace(",\"sender\":0", ""),
            good.replace("\"transactions\":[{", "\"transactions\":[{\"extra\":1,"),
            good.replace("\"previous_hash\":\"", "\"previous_hash\":\"0"),
            good[..good.len() - 1].to_owned(),
        ];
        for text in damaged {
            assert_ne!(text, good, "each damage must change the text");
            assert!(decoder.block(text.as_bytes()).is_err(), "accepted {text}");
        }
        let mut bad_address = Decoder::new(vec!["not an address".to_owned()]);
        let err = bad_address.block(good.as_bytes()).unwrap_err();
        assert!(err.contains("stored address 0 is invalid"), "{err}");
    }
}
