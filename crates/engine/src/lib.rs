//! FlowPilot's domain: validated types, the rules that act on them, and the
//! ports (`Store`, `LlmProvider`) that adapters implement.
//!
//! This crate must not depend on axum, sqlx or reqwest: the server and the
//! adapters depend on it, never the other way round.

pub mod account;
pub mod accounts;
pub mod auth;
pub mod error;
pub mod events;
pub mod ids;
pub mod kb;
pub mod llm;
pub mod retrieval;
pub mod scripts;
pub mod sessions;
pub mod slug;
pub mod store;
pub mod turn;

pub use account::{
    Account, ApiToken, Credentials, Email, Name, NewUser, Password, Principal, Role, Team, User,
    ValidationError,
};
pub use error::{Error, Result, StoreError, StoreResult};
pub use slug::Slug;
pub use store::Store;
