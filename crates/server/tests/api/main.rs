//! API tests: each starts the real server on 127.0.0.1:0 with a database of
//! its own (a SQLite file in a temp dir, or a fresh PostgreSQL database)
//! and talks HTTP to it. Every scenario runs on both backends.

mod chat;
mod helpers;

mod browser;

mod accounts;
mod auth;
mod branches;
mod errors;
mod flows;
mod hybrid;
mod instances;
mod ops;
mod resilience;
mod script_templates;
mod sessions;
mod tokens;
mod turn_failures;
mod turns;
mod ui;
