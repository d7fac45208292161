//! A bounded cache of parsed addresses: a sender that pays often is decoded, checked and prepared for fast signature checks once, not on every transfer.

use std::sync::{Mutex, MutexGuard};

use foldhash::{HashMap, HashMapExt as _};

use wallet::{Address, WalletError};

/// How many addresses the node's cache keeps (about 2 KB each, parsed key included).
pub const CAPACITY: usize = 4096;

/// Parsed addresses by their text, at most `capacity` of them.
///
/// A cached address is what [`Address::parse`] returned for the same text,
/// and its clones share the parsed key, whose fast-check form is made by the
/// first verification: later transfers of the same sender skip both the
/// parse and that setup. Only texts that parsed are kept. When full, the
/// cache starts over: many distinct addresses (a flood of one-time keys)
/// cost what they cost without it, and never more memory than the bound.
#[derive(Debug)]
pub struct AddressCache {
    parsed: Mutex<HashMap<Box<str>, Address>>,
    capacity: usize,
}

impl Default for AddressCache {
    fn default() -> Self {
        AddressCache::new(CAPACITY)
    }
}

impl AddressCache {
    /// An empty cache keeping at most `capacity` addresses (at least one).
    pub fn new(capacity: usize) -> Self {
        AddressCache {
            parsed: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// [`Address::parse`], answered from the cache when `text` parsed before.
    pub fn parse(&self, text: &str) -> Result<Address, WalletError> {
        if let Some(address) = self.parsed().get(text) {
            return Ok(address.clone());
        }
        // Parsed outside the lock: it is the costly part.
        let address = Address::parse(text)?;
        let mut parsed = self.parsed();
        if parsed.len() >= self.capacity {
            parsed.clear();
        }
        parsed.insert(text.into(), address.clone());
        Ok(address)
    }

    /// How many addresses are cached.
    pub fn len(&self) -> usize {
        self.parsed().len()
    }

    /// Whether no address is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn parsed(&self) -> MutexGuard<'_, HashMap<Box<str>, Address>> {
        // The map is only changed by single insert/clear calls, whole at any panic point.
        self.parsed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wallet::Wallet;

    #[test]
    fn answers_as_address_parse_does() {
        let cache = AddressCache::new(8);
        let wallet = Wallet::generate();
        let text = wallet.address().as_str();
        let first = cache.parse(text).unwrap();
        let again = cache.parse(text).unwrap();
        assert_eq!(&first, wallet.address());
        assert_eq!(first, again);
        assert_eq!(cache.len(), 1);
        // A text that does not parse is refused with the same error, and not kept.
        let bad = format!("{text}A");
        assert_eq!(
            cache.parse(&bad).unwrap_err().to_string(),
            Address::parse(&bad).unwrap_err().to_string()
        );
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_cached_sender_still_checks_signatures() {
        let cache = AddressCache::new(8);
        let (payer, other) = (Wallet::generate(), Wallet::generate());
        let signature = payer.sign_message(b"pay");
        let sender = cache.parse(payer.address().as_str()).unwrap();
        assert!(sender.verify(b"pay", &signature).is_ok());
        let sender = cache.parse(payer.address().as_str()).unwrap();
        assert!(sender.verify(b"pay", &signature).is_ok());
        assert!(sender.verify(b"paid", &signature).is_err());
        let impostor = cache.parse(other.address().as_str()).unwrap();
        assert!(impostor.verify(b"pay", &signature).is_err());
    }

    #[test]
    fn never_holds_more_than_its_capacity() {
        let cache = AddressCache::new(2);
        let wallets: Vec<Wallet> = (0..3).map(|_| Wallet::generate()).collect();
        for wallet in &wallets {
            let parsed = cache.parse(wallet.address().as_str()).unwrap();
            assert_eq!(&parsed, wallet.address());
            assert!(cache.len() <= 2, "{} cached", cache.len());
        }
        // Still answers for an address it dropped.
        let first = cache.parse(wallets[0].address().as_str()).unwrap();
        assert_eq!(&first, wallets[0].address());
    }
}
