//! CPU-heavy work split over every core: one part a core, results in order.

use std::thread;

/// How many cores this process may use (1 if unknown).
pub fn cores() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// `work` on consecutive parts of `items`, one part a core, each given its
/// part and the part's offset in `items`; the results in the parts' order.
/// With `split` false (too little work to be worth threads) or one core,
/// `items` is one part, worked on this thread.
pub fn per_core<T: Sync, U: Send>(
    items: &[T],
    split: bool,
    work: impl Fn(usize, &[T]) -> U + Sync,
) -> Vec<U> {
    let cores = cores();
    if !split || cores == 1 || items.len() < 2 {
        return vec![work(0, items)];
    }
    let size = items.len().div_ceil(cores);
    let work = &work;
    thread::scope(|scope| {
        let parts: Vec<_> = items
            .chunks(size)
            .enumerate()
            .map(|(n, part)| scope.spawn(move || work(n * size, part)))
            .collect();
        parts
            .into_iter()
            .map(|part| part.join().expect("the work on a part does not panic"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_every_item_once_in_order_with_their_offsets() {
        let items: Vec<usize> = (0..1001).collect();
        for split in [false, true] {
            let parts = per_core(&items, split, |offset, part| {
                assert_eq!(part[0], offset, "each part knows where it starts");
                part.to_vec()
            });
            assert_eq!(parts.concat(), items);
        }
        assert_eq!(per_core(&[] as &[u8], true, |_, part| part.len()), [0]);
    }
}
