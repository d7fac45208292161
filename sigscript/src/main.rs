//! `sigscript`: signs a transfer offline.

fn main() {}
