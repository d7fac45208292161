//! `StoredChain`: the node's own chain as memory holds it: every block hash, the ledger, and only the newest blocks; the store holds every block.
//!
//! A node that runs for a year holds about a million blocks (~2 KB each in
//! memory with a transfer); what validation and mining need is much smaller:
//! the tip, each block's hash (32 bytes) and the ledger. Older blocks are read
//! back from the store by whoever needs them (the explorer, `/chain`, a deep
//! fork), and checked against the hash kept here.

use std::collections::VecDeque;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::ledger::Ledger;
use super::rules::{check_genesis, check_header, check_signatures, Rule, Rules, ValidationError};
use super::valid_chain::first_bad_signature;
use super::{Block, BlockHash, Signatures};

/// How many of the newest blocks stay in memory: a sync page (500 blocks)
/// and every usual fork fit, so only an explorer page or a deep fork reads
/// the store.
pub const RECENT_BLOCKS: usize = 1024;

/// How many stored blocks a restore reads at a time; each chunk is decoded
/// and hashed whole by one worker. Smaller chunks leave workers idle at
/// their ends more often; larger ones hold more blocks in flight (at a
/// million blocks, 4,096 cost about 15 MiB more RSS and were no faster).
pub const RESTORE_CHUNK: usize = 2048;

/// A valid chain of which only the newest [`RECENT_BLOCKS`] blocks are in memory.
///
/// Built only by [`StoredChain::new`] (genesis) and [`StoredChain::restore`]
/// (every rule checked), and changed only by [`StoredChain::push`] (every
/// rule checked) and [`StoredChain::rewind`], so it is always valid.
#[derive(Debug, Clone)]
pub struct StoredChain {
    hashes: Vec<BlockHash>,
    /// The newest blocks, oldest first; never empty (it holds the tip).
    recent: VecDeque<Block>,
    ledger: Ledger,
}

/// Why a stored chain could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError<E> {
    /// Reading the blocks failed.
    #[error(transparent)]
    Read(E),
    /// A block breaks a rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

impl StoredChain {
    /// An empty chain (not yet valid: a restore starts from it) with room for
    /// `blocks` hashes and about as many signatures, so that a long restore
    /// does not grow them step by step (each step briefly holds both sizes).
    fn with_capacity(blocks: usize) -> Self {
        let mut ledger = Ledger::default();
        ledger.reserve(blocks);
        StoredChain {
            hashes: Vec::with_capacity(blocks),
            recent: VecDeque::with_capacity(RECENT_BLOCKS + 1),
            ledger,
        }
    }

    /// The chain holding only this network's genesis block.
    pub fn new(rules: &Rules) -> Self {
        StoredChain {
            hashes: vec![rules.genesis_hash],
            recent: VecDeque::from([rules.genesis.clone()]),
            ledger: Ledger::default(),
        }
    }

    /// Number of blocks, genesis included.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Never true: a chain always holds genesis.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The hash of each block, in chain order.
    pub fn hashes(&self) -> &[BlockHash] {
        &self.hashes
    }

    /// The newest block.
    pub fn tip(&self) -> &Block {
        self.recent.back().expect("the recent blocks hold the tip")
    }

    /// The hash of the newest block.
    pub fn tip_hash(&self) -> &BlockHash {
        self.hashes.last().expect("a chain always holds genesis")
    }

    /// Balances and spent signatures after the whole chain.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Position (0-based) of the oldest block held in memory.
    pub fn first_recent(&self) -> usize {
        self.len() - self.recent.len()
    }

    /// The block at `position` if memory holds it (it is among the newest).
    pub fn recent(&self, position: usize) -> Option<&Block> {
        self.recent.get(position.checked_sub(self.first_recent())?)
    }

    /// Checks `block` on top of the tip and appends it, or changes nothing.
    ///
    /// `verify_signatures` is false only for transactions the caller has
    /// already verified (the pool, a branch checked on every core).
    pub fn push(
        &mut self,
        block: Block,
        rules: &Rules,
        now: f64,
        verify_signatures: bool,
    ) -> Result<(), ValidationError> {
        let position = self.len() as u64 + 1;
        check_header(self.tip(), self.tip_hash(), &block, rules, now)
            .map_err(|r| r.at(position))?;
        if verify_signatures {
            check_signatures(&block).map_err(|r| r.at(position))?;
        }
        // `apply` changes nothing when it fails.
        self.ledger
            .apply(&block)
            .map_err(|e| Rule::Ledger(e).at(position))?;
        let hash = block.hash();
        self.append_checked(block, hash);
        Ok(())
    }

    fn append_checked(&mut self, block: Block, hash: BlockHash) {
        self.hashes.push(hash);
        self.recent.push_back(block);
        if self.recent.len() > RECENT_BLOCKS {
            self.recent.pop_front();
        }
    }

    /// Goes back to the first `keep` blocks, undoing `abandoned` (the blocks
    /// from position `keep` to the tip, in chain order) from the ledger.
    /// `base` is the block at position `keep - 1`, the new tip.
    ///
    /// # Panics
    ///
    /// If `keep` is 0 (genesis is never abandoned) or `abandoned` is not the
    /// chain's tail: the caller read them by the hashes kept here.
    pub fn rewind(&mut self, keep: usize, base: &Block, abandoned: &[Block]) {
        assert!(
            keep >= 1 && keep + abandoned.len() == self.len(),
            "a tail is rewound"
        );
        for block in abandoned.iter().rev() {
            self.ledger.unapply(block);
        }
        let held = keep.saturating_sub(self.first_recent());
        self.hashes.truncate(keep);
        self.recent.truncate(held);
        if self.recent.is_empty() {
            self.recent.push_back(base.clone());
        }
    }

    /// Rebuilds the chain from the stored blocks, genesis first, read in
    /// `chunks` and turned into blocks by the decoders `decoder` makes (one a
    /// worker thread), checking every rule but
    /// signatures, which only [`Signatures::Verify`] checks again (see
    /// [`Chain::validate_stored`](super::Chain::validate_stored)).
    /// `on_block` sees each block with its position and hash, in order (to
    /// build indexes without reading the blocks twice). `expected` is the
    /// number of blocks, for capacity and progress; it logs its progress.
    ///
    /// A pipeline: the caller's iterator reads ahead while one worker a core
    /// decodes and hashes whole chunks and this thread checks them in chain
    /// order.
    pub fn restore<R, E, I, M, D>(
        rules: &Rules,
        now: f64,
        signatures: Signatures,
        expected: usize,
        chunks: I,
        decoder: M,
        mut on_block: impl FnMut(usize, &Block, &BlockHash),
    ) -> Result<StoredChain, RestoreError<E>>
    where
        I: IntoIterator<Item = Result<Vec<R>, E>>,
        I::IntoIter: Send,
        R: Send,
        E: Send,
        M: Fn() -> D + Sync,
        D: FnMut(R) -> Result<Block, E>,
    {
        let mut chain = StoredChain::with_capacity(expected);
        let mut progress = Progress::new(expected);
        let chunks = chunks.into_iter();
        let decoder = &decoder;
        let workers = crate::parallel::cores();
        thread::scope(|scope| {
            // Chunk N goes to worker N % workers, and its result is taken
            // from that worker in turn: chunks are checked in order while
            // each worker decodes whole chunks, with no wait between them.
            let mut inputs = Vec::with_capacity(workers);
            let mut outputs = Vec::with_capacity(workers);
            for _ in 0..workers {
                let (input, stored) = mpsc::sync_channel::<Result<Vec<R>, E>>(1);
                let (output, decoded) = mpsc::sync_channel(1);
                scope.spawn(move || {
                    let mut decode = decoder();
                    for chunk in stored {
                        let chunk = match chunk {
                            Ok(stored) => decode_and_hash(stored, &mut decode),
                            Err(error) => Decoded::failed(error),
                        };
                        // Stops once the checks ended early (a rule broken).
                        if output.send(chunk).is_err() {
                            return;
                        }
                    }
                });
                inputs.push(input);
                outputs.push(decoded);
            }
            scope.spawn(move || {
                for (n, chunk) in chunks.enumerate() {
                    if inputs[n % workers].send(chunk).is_err() {
                        return;
                    }
                }
            });
            // A worker that has no chunk N has no later one either.
            for n in 0.. {
                let Ok(chunk) = outputs[n % workers].recv() else {
                    break;
                };
                let Decoded {
                    blocks,
                    hashes,
                    error,
                } = chunk;
                let first = chain.len();
                if signatures == Signatures::Verify {
                    if let Some((at, rule)) = first_bad_signature(&blocks) {
                        // Earlier blocks of the chunk may break another rule
                        // first: check them, so the error names the first bad block.
                        let mut head = blocks;
                        head.truncate(at);
                        extend(&mut chain, rules, now, head, &hashes[..at], &mut on_block)?;
                        return Err(rule.at((first + at) as u64 + 1).into());
                    }
                }
                extend(&mut chain, rules, now, blocks, &hashes, &mut on_block)?;
                if let Some(error) = error {
                    return Err(RestoreError::Read(error));
                }
                progress.at(chain.len());
            }
            Ok::<(), RestoreError<E>>(())
        })?;
        if chain.is_empty() {
            return Err(Rule::Empty.at(1).into());
        }
        Ok(chain)
    }
}

/// Appends checked `blocks` (with their `hashes`) to `chain`, starting it
/// from them if it is still empty (the first must then be genesis).
fn extend(
    chain: &mut StoredChain,
    rules: &Rules,
    now: f64,
    blocks: Vec<Block>,
    hashes: &[BlockHash],
    on_block: &mut impl FnMut(usize, &Block, &BlockHash),
) -> Result<(), ValidationError> {
    let mut blocks = blocks.into_iter().zip(hashes);
    if chain.is_empty() {
        let Some((genesis, hash)) = blocks.next() else {
            return Ok(());
        };
        check_genesis(&genesis, rules).map_err(|r| r.at(1))?;
        on_block(0, &genesis, hash);
        chain.append_checked(genesis, *hash);
    }
    for (block, hash) in blocks {
        let position = chain.len();
        let at = position as u64 + 1;
        check_header(chain.tip(), chain.tip_hash(), &block, rules, now).map_err(|r| r.at(at))?;
        chain
            .ledger
            .apply(&block)
            .map_err(|e| Rule::Ledger(e).at(at))?;
        on_block(position, &block, hash);
        chain.append_checked(block, *hash);
    }
    Ok(())
}

/// A chunk of blocks decoded and hashed, up to the first that could not be
/// decoded (its error).
struct Decoded<E> {
    blocks: Vec<Block>,
    hashes: Vec<BlockHash>,
    error: Option<E>,
}

impl<E> Decoded<E> {
    /// Nothing decoded: reading the chunk failed.
    fn failed(error: E) -> Self {
        Decoded {
            blocks: Vec::new(),
            hashes: Vec::new(),
            error: Some(error),
        }
    }
}

/// Decodes and hashes `stored` in order, up to the first block that cannot be decoded.
fn decode_and_hash<R, E>(
    stored: Vec<R>,
    decode: &mut impl FnMut(R) -> Result<Block, E>,
) -> Decoded<E> {
    let mut done = Decoded {
        blocks: Vec::with_capacity(stored.len()),
        hashes: Vec::with_capacity(stored.len()),
        error: None,
    };
    for item in stored {
        match decode(item) {
            Ok(block) => {
                done.hashes.push(block.hash());
                done.blocks.push(block);
            }
            Err(error) => {
                done.error = Some(error);
                break;
            }
        }
    }
    done
}

/// Logs a long restore's progress about every five seconds.
struct Progress {
    expected: usize,
    started: Instant,
    last: Instant,
}

impl Progress {
    const EVERY: Duration = Duration::from_secs(5);

    fn new(expected: usize) -> Self {
        let now = Instant::now();
        Progress {
            expected,
            started: now,
            last: now,
        }
    }

    fn at(&mut self, done: usize) {
        if self.last.elapsed() < Self::EVERY {
            return;
        }
        self.last = Instant::now();
        tracing::info!(
            checked = done,
            of = self.expected,
            seconds = self.started.elapsed().as_secs(),
            "checking the stored chain"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{PreviousHash, Timestamp, Transaction};
    use wallet::Amount;

    /// A valid chain of `count` blocks at difficulty 1 (rewards only).
    fn blocks(rules: &Rules, count: usize, miner: &wallet::Address) -> Vec<Block> {
        let mut chain = vec![rules.genesis.clone()];
        let mut hash = rules.genesis_hash;
        while chain.len() < count {
            let last = chain.last().expect("genesis is there");
            let index = last.index + 1;
            let mut block = Block {
                index,
                previous_hash: PreviousHash::Hash(hash),
                proof: 0,
                timestamp: Timestamp::from_secs_f64(index as f64).expect("finite"),
                transactions: vec![Transaction::Reward {
                    recipient: miner.clone(),
                    amount: rules.mining_reward,
                }],
            };
            while crate::chain::check_proof(last, &hash, &block, rules.difficulty).is_err() {
                block.proof += 1;
            }
            hash = block.hash();
            chain.push(block);
        }
        chain
    }

    fn rules() -> Rules {
        Rules::new(1, Amount::ONE, 0.0, 10)
    }

    #[test]
    fn a_restore_in_chunks_keeps_only_the_newest_blocks_and_every_hash() {
        let rules = rules();
        let miner = wallet::Wallet::generate().address().clone();
        let all = blocks(&rules, RECENT_BLOCKS + 300, &miner);
        let chunks: Vec<Result<Vec<Block>, ()>> = all.chunks(100).map(|c| Ok(c.to_vec())).collect();
        let mut seen = 0;
        let chain = StoredChain::restore(
            &rules,
            1e9,
            Signatures::Verify,
            all.len(),
            chunks,
            || Ok,
            |p, b, h| {
                assert_eq!((p, *h), (seen, b.hash()));
                seen += 1;
            },
        )
        .unwrap();
        assert_eq!(seen, all.len());
        assert_eq!(chain.len(), all.len());
        assert_eq!(chain.tip(), all.last().unwrap());
        assert_eq!(chain.first_recent(), all.len() - RECENT_BLOCKS);
        assert_eq!(chain.recent(chain.first_recent() - 1), None);
        assert_eq!(chain.recent(all.len() - 5), Some(&all[all.len() - 5]));
        assert_eq!(chain.ledger().balance(&miner), all.len() as u64 - 1);
    }

    #[test]
    fn a_restore_names_the_first_bad_block() {
        let rules = rules();
        let miner = wallet::Wallet::generate().address().clone();
        let mut all = blocks(&rules, 40, &miner);
        // A wrong index always breaks block 31 itself (another proof might
        // still be valid at difficulty 1 and only break the link after it).
        all[30].index += 1;
        let chunks: Vec<Result<Vec<Block>, ()>> = all.chunks(7).map(|c| Ok(c.to_vec())).collect();
        let error = StoredChain::restore(
            &rules,
            1e9,
            Signatures::TrustStored,
            40,
            chunks,
            || Ok,
            |_, _, _| {},
        )
        .unwrap_err();
        match error {
            RestoreError::Invalid(e) => assert_eq!(e.block, 31, "{e}"),
            RestoreError::Read(()) => panic!("no read fails"),
        }
    }

    #[test]
    fn a_block_that_cannot_be_decoded_ends_the_restore_after_the_blocks_before_it() {
        let rules = rules();
        let miner = wallet::Wallet::generate().address().clone();
        let all = blocks(&rules, 700, &miner);
        // Stored forms are positions; the one at 517 cannot be decoded. The
        // chunk of 600 is decoded on every core, so the failure is in a later part.
        let chunks: Vec<Result<Vec<usize>, usize>> =
            vec![Ok((0..600).collect()), Ok((600..700).collect())];
        let mut seen = 0;
        let error = StoredChain::restore(
            &rules,
            1e9,
            Signatures::TrustStored,
            all.len(),
            chunks,
            || {
                |at| {
                    if at == 517 {
                        Err(at)
                    } else {
                        Ok(all[at].clone())
                    }
                }
            },
            |p, _, _| {
                assert_eq!(p, seen);
                seen += 1;
            },
        )
        .unwrap_err();
        assert!(matches!(error, RestoreError::Read(517)), "{error:?}");
        assert_eq!(
            seen, 517,
            "every block before the unreadable one was checked"
        );
    }

    #[test]
    fn rewinding_past_the_recent_blocks_gives_the_shorter_chain() {
        let rules = rules();
        let miner = wallet::Wallet::generate().address().clone();
        let all = blocks(&rules, RECENT_BLOCKS + 50, &miner);
        let mut chain = StoredChain::new(&rules);
        for block in &all[1..] {
            chain.push(block.clone(), &rules, 1e9, true).unwrap();
        }
        let keep = 20;
        chain.rewind(keep, &all[keep - 1], &all[keep..]);
        assert_eq!(chain.len(), keep);
        assert_eq!(chain.tip(), &all[keep - 1]);
        assert_eq!(
            chain.hashes(),
            &all[..keep].iter().map(Block::hash).collect::<Vec<_>>()[..]
        );
        assert_eq!(chain.ledger().balance(&miner), keep as u64 - 1);
        // And it grows again from there.
        chain.push(all[keep].clone(), &rules, 1e9, true).unwrap();
        assert_eq!(chain.len(), keep + 1);
    }
}
