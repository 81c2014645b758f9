//! The `Retriever` port: finds the account's knowledge-base flows relevant
//! to a message, for the prompt and for `suggested_flows`.

use async_trait::async_trait;

use crate::account::Principal;
use crate::ids::FlowId;

/// A flow found for a query, with what the prompt needs of it.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrievedFlow {
    pub id: FlowId,
    pub slug: String,
    pub title: String,
    pub symptoms: String,
    pub body: String,
    pub resolution: String,
    /// Higher is more relevant; comparable within one search only.
    pub score: f64,
    /// A short excerpt around the match, plain text.
    pub snippet: String,
}

#[async_trait]
pub trait Retriever: Send + Sync + 'static {
    /// Up to `limit` flows of the caller's account, best first.
    async fn search(
        &self,
        who: &Principal,
        query: &str,
        limit: usize,
    ) -> anyhow::Result<Vec<RetrievedFlow>>;
}

/// Finds nothing: for a FlowPilot without a knowledge base.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoRetriever;

#[async_trait]
impl Retriever for NoRetriever {
    async fn search(
        &self,
        _who: &Principal,
        _query: &str,
        _limit: usize,
    ) -> anyhow::Result<Vec<RetrievedFlow>> {
        Ok(Vec::new())
    }
}
