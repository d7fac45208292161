//! Consensus among peers: given what each peer answered, choose the longest valid chain and report on every peer. Pure: no HTTP, no locks, no disk.

use serde::Serialize;

use crate::chain::{Block, BlockHash, Chain, Rules};
use crate::net::{FetchError, PeerAddr};

/// What one peer's chain did during a resolve; serialized as the short phrase the API reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Outcome {
    /// Its chain was the longest valid one and replaced ours.
    #[serde(rename = "adopted")]
    Adopted,
    /// Its chain is longer than ours and valid, but another was chosen.
    #[serde(rename = "longer")]
    Longer,
    /// Its chain is not longer than ours (on equal length ours stays).
    #[serde(rename = "not longer")]
    NotLonger,
    /// Its chain is longer but breaks a rule.
    #[serde(rename = "invalid")]
    Invalid,
    /// No HTTP answer.
    #[serde(rename = "unreachable")]
    Unreachable,
    /// No complete answer in time.
    #[serde(rename = "timed out")]
    TimedOut,
    /// The answer was over the size cap.
    #[serde(rename = "too large")]
    TooLarge,
    /// The answer was not a chain.
    #[serde(rename = "malformed")]
    Malformed,
    /// An HTTP status other than 200.
    #[serde(rename = "http error")]
    HttpError,
    /// The peer is this node under another name; it is removed.
    #[serde(rename = "this node")]
    ThisNode,
}

impl Outcome {
    /// Whether the peer answered with something that is not a valid chain
    /// (which demotes it), as opposed to not answering or answering well.
    pub fn is_bad_answer(self) -> bool {
        matches!(
            self,
            Outcome::Invalid | Outcome::Malformed | Outcome::TooLarge
        )
    }
}

impl From<&FetchError> for Outcome {
    fn from(error: &FetchError) -> Self {
        match error {
            FetchError::Unreachable(_) => Outcome::Unreachable,
            FetchError::TimedOut { .. } => Outcome::TimedOut,
            FetchError::TooLarge { .. } => Outcome::TooLarge,
            FetchError::HttpStatus(_) => Outcome::HttpError,
            FetchError::Malformed(_) => Outcome::Malformed,
            FetchError::InvalidBlock { .. } => Outcome::Invalid,
            FetchError::ThisNode => Outcome::ThisNode,
        }
    }
}

/// What one peer's chain did during a resolve.
#[derive(Debug, Clone, Serialize)]
pub struct PeerReport {
    /// The peer, as `host:port`.
    pub peer: String,
    /// What became of its chain.
    pub result: Outcome,
    /// The peer's chain length, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<usize>,
    /// What was wrong, for a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What we know when choosing: our chain's length and hashes, the rules, the time.
pub struct Ours<'a> {
    /// The hashes of our chain, genesis first: a peer chain sharing a prefix
    /// of them needs no second check of that prefix.
    pub hashes: &'a [BlockHash],
    /// The network's rules.
    pub rules: &'a Rules,
    /// This node's clock, in seconds since the epoch.
    pub now: f64,
}

/// The result of [`choose`]: the best valid longer chain, if any, and one report per peer.
#[derive(Debug)]
pub struct Choice {
    /// The winning chain and the position of its peer in `reports`.
    pub best: Option<(usize, Chain)>,
    /// One report per peer, in the order the answers were given.
    pub reports: Vec<PeerReport>,
}

/// Validates every answer whose chain is longer than ours and chooses the
/// longest valid one; on equal length the first answer wins, and a chain no
/// longer than ours is never chosen. CPU-heavy: call it off async workers.
pub fn choose(answers: Vec<(PeerAddr, Result<Vec<Block>, FetchError>)>, ours: &Ours<'_>) -> Choice {
    let mut reports = Vec::with_capacity(answers.len());
    let mut best: Option<(usize, Chain)> = None;
    for (peer, answer) in answers {
        let (report, valid) = judge(&peer, answer, ours);
        if let Some(chain) = valid {
            if best.as_ref().is_none_or(|(_, b)| chain.len() > b.len()) {
                best = Some((reports.len(), chain));
            }
        }
        reports.push(report);
    }
    if let Some((winner, _)) = &best {
        reports[*winner].result = Outcome::Adopted;
    }
    Choice { best, reports }
}

/// One peer's answer: its report, and its chain when that is valid and longer than ours.
fn judge(
    peer: &PeerAddr,
    answer: Result<Vec<Block>, FetchError>,
    ours: &Ours<'_>,
) -> (PeerReport, Option<Chain>) {
    let mut report = PeerReport {
        peer: peer.to_string(),
        result: Outcome::NotLonger,
        length: None,
        detail: None,
    };
    let blocks = match answer {
        Ok(blocks) => blocks,
        Err(error) => {
            report.result = Outcome::from(&error);
            report.detail = Some(error.to_string());
            return (report, None);
        }
    };
    report.length = Some(blocks.len());
    if blocks.len() <= ours.hashes.len() {
        return (report, None);
    }
    match Chain::validate(blocks, ours.rules, ours.now, ours.hashes) {
        Ok(chain) => {
            report.result = Outcome::Longer;
            (report, Some(chain))
        }
        Err(error) => {
            tracing::warn!(%peer, %error, "peer sent an invalid chain");
            report.result = Outcome::Invalid;
            report.detail = Some(error.to_string());
            (report, None)
        }
    }
}
