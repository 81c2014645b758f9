//! Typed ids: a `UserId` can't be passed where an `AccountId` is expected.
//!
//! Ids are UUID v7 (time-ordered), so new rows sort by creation time and
//! B-tree inserts stay at the right edge of the index.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! define_id {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    )*};
}

define_id!(
    /// A tenant: an MSP or an IT department.
    AccountId,
    /// An engineer or admin of one account.
    UserId,
    /// A group of users within an account.
    TeamId,
    /// An API token (the id, never the secret).
    TokenId,
    /// A troubleshooting session.
    SessionId,
    /// One engineer message and the assistant's reply.
    TurnId,
    /// A "What we know" item of a session.
    FactId,
    /// A fix the assistant suggested in a session.
    FixId,
    /// A line of investigation after a fork.
    BranchId,
    /// Where the investigation forked.
    ForkPointId,
    /// A script in the account's library.
    ScriptTemplateId,
    /// A knowledge-base flow (runbook).
    FlowId,
);
