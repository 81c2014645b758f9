//! Troubleshooting sessions and what they hold: turns, the task lane, facts
//! and suggested fixes.

use async_trait::async_trait;

/// Storage for sessions and everything that hangs off them.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {}
