//! The writer's map from a pending transaction's signature to the arrival number it is stored under, and the number the next one gets.
//!
//! The `pending` table is keyed by arrival number, so a new entry always goes
//! at the table's end (one leaf page for a whole commit) and the pool loads in
//! arrival order by reading the table in key order. Removing an entry (it was
//! mined, or replaced) needs its number: this map gives it from the signature's
//! SHA-256. It holds one entry per pending transaction (the pool is bounded
//! by `max_pool`), and is rebuilt from the table whenever the store is read
//! (open, reload), so it never has to be stored itself.

use foldhash::{HashMap, HashMapExt as _};
use wallet::Signature;

/// Arrival numbers of the stored pool entries, by signature digest.
#[derive(Debug, Default)]
pub(super) struct Arrivals {
    /// The number the next entry gets: above every stored one.
    next: u64,
    by_signature: HashMap<[u8; 32], u64>,
}

/// Why a stored pool could not be indexed: two entries with one signature.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct StoredTwice {
    /// The arrival number of the earlier entry.
    pub(super) first: u64,
}

impl Arrivals {
    /// An empty map: the next entry gets number `next`.
    pub(super) fn starting_at(next: u64) -> Arrivals {
        Arrivals {
            next,
            by_signature: HashMap::new(),
        }
    }

    /// Records a stored entry, read from the table in key order.
    pub(super) fn stored(&mut self, seq: u64, signature: &Signature) -> Result<(), StoredTwice> {
        if let Some(&first) = self.by_signature.get(signature.digest()) {
            return Err(StoredTwice { first });
        }
        self.by_signature.insert(*signature.digest(), seq);
        self.next = self.next.max(seq + 1);
        Ok(())
    }

    /// Gives `signature` the next arrival number; returns it and the number
    /// of the entry with the same signature it replaces, if any.
    pub(super) fn arrive(&mut self, signature: &Signature) -> (u64, Option<u64>) {
        let seq = self.next;
        self.next += 1;
        (seq, self.by_signature.insert(*signature.digest(), seq))
    }

    /// Forgets `signature`; returns the number its entry is stored under, if it is.
    pub(super) fn leave(&mut self, signature: &Signature) -> Option<u64> {
        self.by_signature.remove(signature.digest())
    }

    /// Forgets every entry (the whole pool is replaced); numbers keep growing.
    pub(super) fn clear(&mut self) {
        self.by_signature.clear();
    }

    /// How many entries are recorded.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.by_signature.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signature(byte: u8) -> Signature {
        use base64::Engine as _;
        let text = base64::engine::general_purpose::STANDARD.encode([byte; 256]);
        Signature::parse(&text).unwrap()
    }

    #[test]
    fn numbers_grow_and_a_replaced_entry_is_named() {
        let mut arrivals = Arrivals::starting_at(0);
        assert_eq!(arrivals.arrive(&signature(1)), (0, None));
        assert_eq!(arrivals.arrive(&signature(2)), (1, None));
        // The same signature again replaces the entry stored under 0.
        assert_eq!(arrivals.arrive(&signature(1)), (2, Some(0)));
        assert_eq!(arrivals.leave(&signature(2)), Some(1));
        assert_eq!(arrivals.leave(&signature(2)), None);
        arrivals.clear();
        assert_eq!(arrivals.len(), 0);
        // Numbers are never reused, even after the pool was emptied.
        assert_eq!(arrivals.arrive(&signature(3)), (3, None));
    }

    #[test]
    fn a_stored_pool_continues_after_its_highest_number_and_refuses_a_signature_twice() {
        let mut arrivals = Arrivals::starting_at(0);
        arrivals.stored(4, &signature(1)).unwrap();
        arrivals.stored(9, &signature(2)).unwrap();
        assert_eq!(
            arrivals.stored(11, &signature(1)),
            Err(StoredTwice { first: 4 })
        );
        assert_eq!(arrivals.arrive(&signature(3)), (10, None));
    }
}
