//! Browser tests: Debian's headless Chromium, driven over WebDriver
//! (chromedriver, through fantoccini), against the real server and the
//! fake provider. Each test starts its own server, chromedriver and
//! browser profile, so tests are independent and run in parallel.
//!
//! They need `chromium` and `chromium-driver` (`apt-get install chromium
//! chromium-driver`); CI installs both. Without them a test fails under CI
//! (`CI` set) and is skipped with a notice elsewhere. axe-core comes from
//! the npm registry on first use (`npm pack`, pinned by hash) into
//! `~/.cache/flowpilot-tools/`.

mod harness;

mod safety;
mod screens;
mod workspace;

pub use harness::{Browser, login, open_workspace};
