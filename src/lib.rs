//! Test support for the end-to-end tests in `tests/`: finding the built binaries, free loopback ports and bounded waits.
