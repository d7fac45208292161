//! `Transaction`: a reward or a signed transfer, with the one checked constructor every path (block JSON, the store, the API) goes through.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Number, Value};
use wallet::{Address, Amount, Nonce, Signature, Transfer, Wallet, WalletError};

use super::form::FormError;

/// The reserved sender of mining rewards.
pub const REWARD_SENDER: &str = "0";

/// Who pays: the reward sender `"0"` (coins are minted) or an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    /// `"0"`: a mining reward.
    Reward,
    /// A wallet address, whose signature the transfer must carry.
    Address(Address),
}

impl Sender {
    /// Reads a `sender` field: `"0"` or a canonical address.
    pub fn parse(text: &str) -> Result<Sender, FormError> {
        Sender::parse_with(text, Address::parse)
    }

    /// [`Sender::parse`] with `parse` reading an address (a cache of parsed ones).
    pub fn parse_with(
        text: &str,
        parse: impl FnOnce(&str) -> Result<Address, WalletError>,
    ) -> Result<Sender, FormError> {
        if text == REWARD_SENDER {
            return Ok(Sender::Reward);
        }
        parse(text)
            .map(Sender::Address)
            .map_err(|e| FormError::Address("sender", e))
    }
}

/// One entry of a block's `transactions` or of the pending pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transaction {
    /// The miner's reward: `{"sender": "0", "recipient", "amount"}`, no signature.
    Reward { recipient: Address, amount: Amount },
    /// A payment signed by its sender.
    Signed {
        transfer: Transfer,
        signature: Signature,
    },
}

impl Transaction {
    /// The one checked constructor: the form rules of PROTOCOL §2 that tie the
    /// fields together. Each field is already its checked type (the wallet's
    /// newtypes hold the rules of one field); this decides what they make.
    ///
    /// A reward has no signature and no nonce; a transfer has a signature.
    pub fn from_parts(
        sender: Sender,
        recipient: Address,
        amount: Amount,
        nonce: Option<Nonce>,
        signature: Option<Signature>,
    ) -> Result<Transaction, FormError> {
        match sender {
            Sender::Reward if signature.is_some() || nonce.is_some() => {
                Err(FormError::RewardFields)
            }
            Sender::Reward => Ok(Transaction::Reward { recipient, amount }),
            Sender::Address(sender) => Ok(Transaction::Signed {
                transfer: Transfer {
                    sender,
                    recipient,
                    amount,
                    nonce,
                },
                signature: signature.ok_or(FormError::MissingSignature)?,
            }),
        }
    }

    /// A transfer from `wallet` to `recipient`, signed with the wallet's key.
    pub fn sign(
        wallet: &Wallet,
        recipient: &Address,
        amount: Amount,
        nonce: Option<Nonce>,
    ) -> Transaction {
        let transfer = Transfer {
            sender: wallet.address().clone(),
            recipient: recipient.clone(),
            amount,
            nonce,
        };
        let signature = wallet.sign(&transfer);
        Transaction::Signed {
            transfer,
            signature,
        }
    }

    /// The signature, for a signed transfer.
    pub fn signature(&self) -> Option<&Signature> {
        match self {
            Transaction::Reward { .. } => None,
            Transaction::Signed { signature, .. } => Some(signature),
        }
    }

    /// The amount moved or minted.
    pub fn amount(&self) -> Amount {
        match self {
            Transaction::Reward { amount, .. } => *amount,
            Transaction::Signed { transfer, .. } => transfer.amount,
        }
    }

    /// Who receives the coins.
    pub fn recipient(&self) -> &Address {
        match self {
            Transaction::Reward { recipient, .. } => recipient,
            Transaction::Signed { transfer, .. } => &transfer.recipient,
        }
    }

    /// Who pays, if anyone: `None` for a reward.
    pub fn sender(&self) -> Option<&Address> {
        match self {
            Transaction::Reward { .. } => None,
            Transaction::Signed { transfer, .. } => Some(&transfer.sender),
        }
    }

    /// Checks the sender's signature (PROTOCOL §5 rule 4); a reward has none to check.
    pub fn verify(&self) -> Result<(), WalletError> {
        match self {
            Transaction::Reward { .. } => Ok(()),
            Transaction::Signed {
                transfer,
                signature,
            } => transfer.verify(signature),
        }
    }

    /// Reads a transaction from its JSON form, naming what is wrong.
    pub fn from_value(value: &Value) -> Result<Self, FormError> {
        let raw =
            RawTransaction::deserialize(value).map_err(|e| FormError::Structure(e.to_string()))?;
        raw.check()
    }
}

/// The JSON field order of a transaction is sorted, as the canonical form needs.
#[derive(Serialize)]
struct TransactionFields<'a> {
    amount: Amount,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<Nonce>,
    recipient: &'a Address,
    sender: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature: Option<&'a Signature>,
}

impl Serialize for Transaction {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = match self {
            Transaction::Reward { recipient, amount } => TransactionFields {
                amount: *amount,
                nonce: None,
                recipient,
                sender: REWARD_SENDER,
                signature: None,
            },
            Transaction::Signed {
                transfer,
                signature,
            } => TransactionFields {
                amount: transfer.amount,
                nonce: transfer.nonce,
                recipient: &transfer.recipient,
                sender: transfer.sender.as_str(),
                signature: Some(signature),
            },
        };
        fields.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Transaction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        RawTransaction::deserialize(deserializer)?
            .check()
            .map_err(serde::de::Error::custom)
    }
}

/// A transaction with the right field names and JSON types, not yet checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTransaction {
    amount: Number,
    #[serde(default)]
    nonce: Option<Number>,
    recipient: String,
    sender: String,
    #[serde(default)]
    signature: Option<String>,
}

impl RawTransaction {
    /// The typed transaction. In blocks and the pool amounts and nonces are
    /// JSON integers: a digit string or a float would hash differently from
    /// what every other node computes.
    pub(super) fn check(self) -> Result<Transaction, FormError> {
        let amount = self
            .amount
            .as_u64()
            .ok_or(WalletError::Amount("must be a whole number"))
            .and_then(Amount::new)
            .map_err(FormError::Amount)?;
        let recipient =
            Address::parse(&self.recipient).map_err(|e| FormError::Address("recipient", e))?;
        let sender = Sender::parse(&self.sender)?;
        let nonce = self
            .nonce
            .map(|n| {
                n.as_u64()
                    .ok_or(WalletError::Nonce("must be a whole number"))
                    .and_then(Nonce::new)
            })
            .transpose()
            .map_err(FormError::Nonce)?;
        let signature = self
            .signature
            .map(|text| Signature::parse(&text))
            .transpose()
            .map_err(FormError::Signature)?;
        Transaction::from_parts(sender, recipient, amount, nonce, signature)
    }
}
