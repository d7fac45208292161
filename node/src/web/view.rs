//! What the templates show, made from chain types: short addresses, human times, transaction rows and pagers.

use wallet::Address;

use crate::chain::{Block, BlockHash, PreviousHash, Transaction};
use crate::index::TransferId;
use crate::service::node_id;

/// An address as pages show it: a short form, the full text, and the text as a query value.
#[derive(Debug, Clone)]
pub struct AddressView {
    /// 16 hex digits of the SHA-256 of the address: the same text as a
    /// node's id. Every address begins and ends with the same PEM framing,
    /// so a prefix of the base64 text would tell none apart.
    pub short: String,
    /// The whole base64 text.
    pub full: String,
    /// The text percent-encoded for a query string (base64 has `+`, `/`, `=`).
    pub query: String,
}

impl AddressView {
    /// The view of `address`.
    pub fn new(address: &Address) -> Self {
        AddressView {
            short: node_id(address),
            full: address.as_str().to_owned(),
            query: query_value(address.as_str()),
        }
    }

    /// The address page's path.
    pub fn href(&self) -> String {
        format!("/address?address={}", self.query)
    }
}

/// Percent-encodes the characters of base64 text that mean something in a query string.
pub fn query_value(base64: &str) -> String {
    let mut out = String::with_capacity(base64.len() + 16);
    for c in base64.chars() {
        match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '_' | '.' => out.push(c),
            other => {
                let mut buf = [0u8; 4];
                for byte in other.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{byte:02X}"));
                }
            }
        }
    }
    out
}

/// A block in a list: index, hash, time and how many transactions it holds.
#[derive(Debug, Clone)]
pub struct BlockRow {
    /// The block's index (1 for genesis).
    pub index: u64,
    /// Its hash in hex.
    pub hash: String,
    /// Its time, in UTC.
    pub time: String,
    /// Transactions, reward included.
    pub transactions: usize,
}

impl BlockRow {
    /// The row of `block`, whose hash is `hash`.
    pub fn new(block: &Block, hash: &BlockHash) -> Self {
        BlockRow {
            index: block.index,
            hash: hash.to_hex(),
            time: human_time(block.timestamp.as_secs_f64()),
            transactions: block.transactions.len(),
        }
    }
}

/// One transaction in a table.
#[derive(Debug, Clone)]
pub struct TxRow {
    /// The transfer id; a reward has none.
    pub id: Option<String>,
    /// The payer; `None` for a reward.
    pub from: Option<AddressView>,
    /// The payee.
    pub to: AddressView,
    /// Coins moved.
    pub amount: u64,
    /// The nonce, if the transfer has one.
    pub nonce: Option<u64>,
    /// The block it is in, if any.
    pub block: Option<u64>,
    /// Seen from one address: "in", "out", "to itself" or "reward".
    pub direction: &'static str,
}

impl TxRow {
    /// The row of `transaction`, in block `block` (or pending), seen from `viewer` if given.
    pub fn new(transaction: &Transaction, block: Option<u64>, viewer: Option<&Address>) -> Self {
        let sender = transaction.sender();
        let recipient = transaction.recipient();
        let direction = match (sender, viewer) {
            (None, _) => "reward",
            (Some(from), Some(me)) if from == me && recipient == me => "to itself",
            (Some(from), Some(me)) if from == me => "out",
            (Some(_), Some(_)) => "in",
            (Some(_), None) => "transfer",
        };
        let nonce = match transaction {
            Transaction::Signed { transfer, .. } => transfer.nonce.map(|n| n.get()),
            Transaction::Reward { .. } => None,
        };
        TxRow {
            id: TransferId::of_transaction(transaction).map(|id| id.to_string()),
            from: sender.map(AddressView::new),
            to: AddressView::new(recipient),
            amount: transaction.amount().get(),
            nonce,
            block,
            direction,
        }
    }
}

/// The previous-hash field as a page shows it.
pub fn previous_hash(previous: &PreviousHash) -> Option<String> {
    match previous {
        PreviousHash::Genesis => None,
        PreviousHash::Hash(hash) => Some(hash.to_hex()),
    }
}

/// Links to the pages of a list, 1-based.
#[derive(Debug, Clone)]
pub struct Pager {
    /// This page.
    pub page: usize,
    /// How many pages there are (at least 1).
    pub pages: usize,
    /// The path and query the page number is appended to, ending in `page=`.
    pub base: String,
}

impl Pager {
    /// The pager for `total` items shown `per_page` at a time, at the
    /// requested page (clamped into range; anything unreadable is page 1).
    pub fn new(requested: Option<&str>, total: usize, per_page: usize, base: String) -> Self {
        let pages = total.div_ceil(per_page).max(1);
        let page = requested
            .and_then(|p| p.trim().parse::<usize>().ok())
            .unwrap_or(1)
            .clamp(1, pages);
        Pager { page, pages, base }
    }

    /// The range of items (0-based, in list order) on this page.
    pub fn range(&self, total: usize, per_page: usize) -> std::ops::Range<usize> {
        let start = ((self.page - 1) * per_page).min(total);
        start..(start + per_page).min(total)
    }

    /// The previous page's link, if any.
    pub fn previous(&self) -> Option<String> {
        (self.page > 1).then(|| format!("{}{}", self.base, self.page - 1))
    }

    /// The next page's link, if any.
    pub fn next(&self) -> Option<String> {
        (self.page < self.pages).then(|| format!("{}{}", self.base, self.page + 1))
    }
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC`; anything outside
/// the years 0 to 9999 is shown as the raw number.
pub fn human_time(secs: f64) -> String {
    if !(0.0..253_402_300_800.0).contains(&secs) {
        return format!("{secs} s");
    }
    // In range, so the whole seconds fit an i64 exactly.
    let whole = secs.floor() as i64;
    let (days, rest) = (whole.div_euclid(86_400), whole.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_utc_dates() {
        assert_eq!(human_time(0.0), "1970-01-01 00:00:00 UTC");
        assert_eq!(human_time(951_782_400.5), "2000-02-29 00:00:00 UTC");
        assert_eq!(human_time(1_798_761_599.0), "2026-12-31 23:59:59 UTC");
        assert_eq!(human_time(-1.0), "-1 s");
    }

    #[test]
    fn pages_clamp_and_link() {
        let pager = Pager::new(Some("9"), 45, 20, "/blocks?page=".into());
        assert_eq!((pager.page, pager.pages), (3, 3));
        assert_eq!(pager.range(45, 20), 40..45);
        assert_eq!(pager.previous().as_deref(), Some("/blocks?page=2"));
        assert_eq!(pager.next(), None);
        let first = Pager::new(Some("x"), 0, 20, "/pool?page=".into());
        assert_eq!((first.page, first.pages, first.range(0, 20)), (1, 1, 0..0));
    }

    #[test]
    fn base64_is_escaped_for_a_query() {
        assert_eq!(query_value("ab+/c="), "ab%2B%2Fc%3D");
    }
}
