//! The providers tested through their public interface, over real HTTP on
//! loopback against the fake provider server (never a mock client).

#![expect(clippy::unwrap_used, reason = "a failing test should panic")]

mod cancel;
mod cli;
mod common;
mod faults;
mod fixtures;
mod secrets;
mod streaming;
