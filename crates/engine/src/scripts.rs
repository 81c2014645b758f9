//! Script templates: the account's library of scripts with named
//! parameters (`{{name}}`), which suggested fixes can point at.

use async_trait::async_trait;

/// Storage for script templates.
#[async_trait]
pub trait ScriptStore: Send + Sync + 'static {}
