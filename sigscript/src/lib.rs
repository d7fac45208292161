//! The sigchain command-line tools, `sigscript` (sign a transfer offline) and `wallet` (make and read keys), and what they share.
//!
//! Argument parsing lives here, in the binaries' crate, so the `wallet`
//! library stays free of clap and of terminal handling.

pub mod cli;
