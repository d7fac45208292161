//! The canonical byte form of blocks: exactly what CPython's `json.dumps(value, sort_keys=True)` writes.
//!
//! This is the one place that turns a value into the bytes a block hash covers.
//! [`python_json`] is a `serde_json` formatter, so it serves any `Serialize`
//! value: a `serde_json::Value` (whose maps are ordered by key) and the block
//! types, whose fields are declared in sorted order (a test checks both
//! agree). [`write_canonical_block`] writes the same bytes for a block
//! directly, for speed; a property test holds it to [`python_json`].

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter};
use serde_json::Number;

use super::{Block, PreviousHash, Transaction, REWARD_SENDER};

/// Writes `value` as CPython's `json.dumps(value, sort_keys=True)` would.
///
/// Separators are `", "` and `": "`; strings escape everything outside
/// printable ASCII as `\uXXXX` (lowercase hex, surrogate pairs above U+FFFF);
/// floats are written as Python's `repr`.
pub fn python_json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_python_json(value, &mut out);
    out
}

/// Writes [`python_json`]'s bytes of `value` into `sink` (a hasher: a
/// block's hash needs no copy of its JSON).
pub fn write_python_json<T: Serialize + ?Sized, W: Write>(value: &T, sink: W) {
    let mut serializer = serde_json::Serializer::with_formatter(sink, PythonFormatter);
    value
        .serialize(&mut serializer)
        .expect("serializing plain data with string keys into memory or a hasher cannot fail");
}

/// Appends [`python_json`]'s bytes of `block` to `out`, written directly
/// rather than through serde: the same bytes (a property test compares the
/// two on arbitrary blocks, and the shared vectors check both against
/// Python), about twice as fast, because a block's long strings (addresses,
/// signatures, its previous hash) are copied without serde_json's
/// byte-by-byte escape scan. Every block hash goes through here.
pub fn write_canonical_block(block: &Block, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"index\": ");
    write_integer(out, block.index);
    out.extend_from_slice(b", \"previous_hash\": ");
    match &block.previous_hash {
        PreviousHash::Genesis => out.push(b'1'),
        PreviousHash::Hash(hash) => {
            out.push(b'"');
            let start = out.len();
            out.resize(start + 64, 0);
            hex::encode_to_slice(hash.0, &mut out[start..]).expect("64 hex digits fit 64 bytes");
            out.push(b'"');
        }
    }
    out.extend_from_slice(b", \"proof\": ");
    write_integer(out, block.proof);
    out.extend_from_slice(b", \"timestamp\": ");
    write_number(out, block.timestamp.as_number());
    out.extend_from_slice(b", \"transactions\": [");
    for (at, transaction) in block.transactions.iter().enumerate() {
        if at > 0 {
            out.extend_from_slice(b", ");
        }
        write_transaction(out, transaction);
    }
    out.extend_from_slice(b"]}");
}

/// One transaction, its fields sorted as `TransactionFields` declares them.
fn write_transaction(out: &mut Vec<u8>, transaction: &Transaction) {
    let (amount, nonce, recipient, sender, signature) = match transaction {
        Transaction::Reward { recipient, amount } => {
            (*amount, None, recipient, REWARD_SENDER, None)
        }
        Transaction::Signed {
            transfer,
            signature,
        } => (
            transfer.amount,
            transfer.nonce,
            &transfer.recipient,
            transfer.sender.as_str(),
            Some(signature),
        ),
    };
    out.extend_from_slice(b"{\"amount\": ");
    write_integer(out, amount.get());
    if let Some(nonce) = nonce {
        out.extend_from_slice(b", \"nonce\": ");
        write_integer(out, nonce.get());
    }
    out.extend_from_slice(b", \"recipient\": ");
    write_base64(out, recipient.as_str());
    out.extend_from_slice(b", \"sender\": ");
    write_base64(out, sender);
    if let Some(signature) = signature {
        out.extend_from_slice(b", \"signature\": ");
        write_base64(out, signature.as_str());
    }
    out.push(b'}');
}

/// A string of base64 characters (an address, a signature) or the reward
/// sender `"0"`: nothing in them is ever escaped (their types only hold
/// canonical base64), so they are copied as they are.
fn write_base64(out: &mut Vec<u8>, text: &str) {
    debug_assert!(
        text.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)),
        "{text}"
    );
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
}

fn write_integer(out: &mut Vec<u8>, value: u64) {
    // The proof-of-work message's digits: no formatting machinery.
    let (digits, start) = super::pow::decimal_digits(value);
    out.extend_from_slice(&digits[start..]);
}

/// A JSON number as the formatter writes it: integers as they are, floats as Python's `repr`.
fn write_number(out: &mut Vec<u8>, number: &Number) {
    if let Some(value) = number.as_u64() {
        write_integer(out, value);
    } else if let Some(value) = number.as_i64() {
        write!(out, "{value}").expect("writing to memory cannot fail");
    } else {
        let value = number
            .as_f64()
            .expect("a JSON number is an integer or a float");
        out.extend_from_slice(python_float_repr(value).as_bytes());
    }
}

/// A `serde_json` formatter with CPython's `json.dumps` defaults (`ensure_ascii=True`).
#[derive(Debug, Clone, Copy, Default)]
pub struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn write_f64<W: ?Sized + Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        writer.write_all(python_float_repr(value).as_bytes())
    }

    fn write_f32<W: ?Sized + Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        self.write_f64(writer, f64::from(value))
    }

    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // serde_json has already escaped '"', '\\' and C0 controls; everything
        // else outside ' '..='~' is escaped here, as ensure_ascii does.
        // Nearly every fragment (addresses, signatures) is printable ASCII:
        // two word-at-a-time scans, then one write. (C0 controls never
        // reach here; DEL is the one ASCII byte left to escape.)
        if fragment.is_ascii() && !fragment.as_bytes().contains(&0x7f) {
            return writer.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (at, ch) in fragment.char_indices() {
            if (' '..='~').contains(&ch) {
                continue;
            }
            writer.write_all(&fragment.as_bytes()[start..at])?;
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            start = at + ch.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_char_escape<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        char_escape: CharEscape,
    ) -> io::Result<()> {
        let escaped: &[u8] = match char_escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"/",
            CharEscape::Backspace => b"\\b",
            CharEscape::FormFeed => b"\\f",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::AsciiControl(byte) => return write!(writer, "\\u{:04x}", byte),
        };
        writer.write_all(escaped)
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        separator(writer, first)
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        separator(writer, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }
}

/// CPython's item separator `", "`, written before every item but the first.
fn separator<W: ?Sized + Write>(writer: &mut W, first: bool) -> io::Result<()> {
    if first {
        Ok(())
    } else {
        writer.write_all(b", ")
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip, in fixed
/// notation for exponents -4..16 and scientific (`1e+16`, `1.5e-05`) outside.
pub fn python_float_repr(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        }
        .to_owned();
    }
    // Rust's `{:e}` gives the shortest round-tripping digits, as Python's repr does.
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("LowerExp output of a finite float always has an exponent");
    let exponent: i32 = exponent
        .parse()
        .expect("LowerExp exponent of a finite float is a small integer");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    if !(-4..16).contains(&exponent) {
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        return format!("{sign}{mantissa}e{exp_sign}{:02}", exponent.abs());
    }
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if exponent < 0 {
        let zeros = "0".repeat((-exponent - 1) as usize);
        return format!("{sign}0.{zeros}{digits}");
    }
    let int_len = exponent as usize + 1;
    if digits.len() <= int_len {
        let zeros = "0".repeat(int_len - digits.len());
        format!("{sign}{digits}{zeros}.0")
    } else {
        format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;
    use wallet::{Amount, Nonce, Wallet, MAX_SAFE_INTEGER};

    #[test]
    fn integers_are_written_as_rust_and_python_write_them() {
        for value in [
            0,
            1,
            9,
            10,
            99,
            100,
            12_345,
            MAX_SAFE_INTEGER,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            write_integer(&mut out, value);
            assert_eq!(out, value.to_string().into_bytes());
        }
    }

    fn wallets() -> &'static [Wallet; 2] {
        static WALLETS: OnceLock<[Wallet; 2]> = OnceLock::new();
        WALLETS.get_or_init(|| [Wallet::generate(), Wallet::generate()])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn the_direct_block_writer_writes_what_python_json_writes(
            index in any::<u64>(),
            proof in any::<u64>(),
            previous in proptest::option::of(any::<[u8; 32]>()),
            timestamp in prop_oneof![
                any::<u64>().prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
                any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(serde_json::Value::from),
            ],
            transactions in proptest::collection::vec(
                (any::<bool>(), 1..=MAX_SAFE_INTEGER, proptest::option::of(0..=MAX_SAFE_INTEGER)),
                0..4,
            ),
        ) {
            let [alice, bob] = wallets();
            let previous_hash = match previous {
                None => serde_json::Value::from(1),
                Some(bytes) => serde_json::Value::from(hex::encode(bytes)),
            };
            let header = serde_json::json!({
                "index": index,
                "previous_hash": previous_hash,
                "proof": proof,
                "timestamp": timestamp,
                "transactions": [],
            });
            let mut block = Block::from_value(&header).expect("a well-formed header");
            for (signed, amount, nonce) in transactions {
                let amount = Amount::new(amount).expect("in range");
                block.transactions.push(if signed {
                    let nonce = nonce.map(|n| Nonce::new(n).expect("in range"));
                    Transaction::sign(alice, bob.address(), amount, nonce)
                } else {
                    Transaction::Reward { recipient: bob.address().clone(), amount }
                });
            }
            let mut direct = Vec::new();
            write_canonical_block(&block, &mut direct);
            prop_assert_eq!(
                String::from_utf8(direct).expect("ASCII"),
                String::from_utf8(python_json(&block)).expect("ASCII")
            );
        }
    }

    #[test]
    fn floats_print_as_python_repr() {
        for (value, repr) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (9007199254740992.0, "9007199254740992.0"),
            (1.2345678901234568e16, "1.2345678901234568e+16"),
            (1e22, "1e+22"),
            (1e-300, "1e-300"),
            (1763769600.123456, "1763769600.123456"),
        ] {
            assert_eq!(python_float_repr(value), repr, "{value:?}");
        }
    }

    #[test]
    fn strings_escape_like_ensure_ascii() {
        let json = python_json("a\"b\\c\n\u{1}\u{7f}é😀/");
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#""a\"b\\c\n\u0001\u007f\u00e9\ud83d\ude00/""#
        );
    }
}
