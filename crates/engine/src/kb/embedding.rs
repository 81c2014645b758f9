//! Dense retrieval's ports: an `Embedder` turns text into a unit vector
//! (a local sentence-embedding model), and a `VectorStore` keeps one vector
//! per flow, computed from the flow's title and symptoms by a named model.
//!
//! A vector is current when it was made by the model in use from the
//! flow's current text (the flow's `seq` when it was embedded equals the
//! flow's `seq` now). Everything else is pending: new flows, edited ones,
//! and all of them after the model changes.

use async_trait::async_trait;

use crate::error::StoreResult;
use crate::ids::{AccountId, FlowId};

/// A sentence-embedding model. Calls are CPU work: run them off the async
/// threads.
pub trait Embedder: Send + Sync + 'static {
    /// Names the model and its weights; vectors made by another identity
    /// are recomputed.
    fn identity(&self) -> &str;

    /// Length of every vector.
    fn dimensions(&self) -> usize;

    /// One L2-normalised vector per text, in order.
    fn embed(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>>;
}

/// What is embedded of a flow: its title and symptoms, the words closest
/// to how an end user describes the problem (the steps would drown them).
pub fn flow_text(title: &str, symptoms: &[String]) -> String {
    let mut text = title.trim().to_owned();
    for symptom in symptoms {
        text.push_str(". ");
        text.push_str(symptom.trim());
    }
    text
}

/// A flow without a current vector.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingFlow {
    pub id: FlowId,
    pub account_id: AccountId,
    /// The flow's `seq` when read: the vector is stored only if the flow
    /// has not changed since.
    pub seq: i64,
    /// `flow_text` of the flow.
    pub text: String,
}

/// A stored vector.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowVector {
    pub id: FlowId,
    pub vector: Vec<f32>,
}

/// Vectors stored for an account after a version: what an index needs to
/// catch up.
#[derive(Debug, Clone, Default)]
pub struct VectorChanges {
    /// The account's vector version these changes bring one to.
    pub version: i64,
    pub vectors: Vec<FlowVector>,
}

/// How far embedding has got, for one account or all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmbeddingProgress {
    pub flows: u64,
    /// Flows with a current vector.
    pub embedded: u64,
}

impl EmbeddingProgress {
    pub fn pending(&self) -> u64 {
        self.flows.saturating_sub(self.embedded)
    }
}

#[async_trait]
pub trait VectorStore: Send + Sync + 'static {
    /// Up to `limit` flows (of `account`, or of every account) without a
    /// current vector from `model`, the longest-waiting first.
    async fn flows_to_embed(
        &self,
        model: &str,
        account: Option<AccountId>,
        limit: u32,
    ) -> StoreResult<Vec<PendingFlow>>;

    /// Stores each flow's vector from `model`, replacing the flow's earlier
    /// one; a flow deleted or changed since it was read is skipped (it is
    /// pending again). Returns how many were stored.
    async fn put_flow_vectors(
        &self,
        model: &str,
        vectors: &[(PendingFlow, Vec<f32>)],
    ) -> StoreResult<usize>;

    /// The account's vector version: it grows with every stored vector.
    async fn vector_version(&self, account: AccountId) -> StoreResult<i64>;

    /// The account's vectors from `model` stored after version `since`
    /// (0: all of them).
    async fn vector_changes(
        &self,
        account: AccountId,
        model: &str,
        since: i64,
    ) -> StoreResult<VectorChanges>;

    async fn embedding_progress(
        &self,
        model: &str,
        account: Option<AccountId>,
    ) -> StoreResult<EmbeddingProgress>;
}

/// Vectors as bytes: little-endian `f32`s, the same in both databases.
pub fn vector_to_bytes(vector: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(vector.len() * 4);
    for x in vector {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// The inverse of `vector_to_bytes`; `None` when the length is not a
/// multiple of four.
pub fn vector_from_bytes(bytes: &[u8]) -> Option<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_through_bytes() {
        let v = vec![0.0, -1.5, f32::MIN_POSITIVE, 3.25e-7];
        assert_eq!(vector_from_bytes(&vector_to_bytes(&v)), Some(v));
        assert_eq!(vector_from_bytes(&[1, 2, 3]), None);
    }

    #[test]
    fn a_flows_text_is_its_title_then_its_symptoms() {
        let text = flow_text(
            " Printer offline ",
            &["Shows offline".into(), "Jobs stuck".into()],
        );
        assert_eq!(text, "Printer offline. Shows offline. Jobs stuck");
    }
}
