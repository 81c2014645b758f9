//! `engine::kb::embedding::VectorStore` for both backends: one vector per
//! flow in `flow_vectors`, numbered per account from `accounts.vec_seq` so
//! a search index catches up with what was stored since it last looked.

/// $1 model, $2 account (NULL: every account), $3 limit.
pub(crate) const PENDING: &str = "\
    SELECT f.id, f.account_id, f.seq, f.title, f.symptoms FROM flows f \
    LEFT JOIN flow_vectors v ON v.flow_id = f.id AND v.model = $1 AND v.flow_seq = f.seq \
    WHERE v.flow_id IS NULL AND ($2 IS NULL OR f.account_id = $2) \
    ORDER BY f.seq, f.id LIMIT $3";

/// $1 model, $2 account (NULL: every account): (flows, embedded).
pub(crate) const PROGRESS: &str = "\
    SELECT COUNT(*), COUNT(v.flow_id) FROM flows f \
    LEFT JOIN flow_vectors v ON v.flow_id = f.id AND v.model = $1 AND v.flow_seq = f.seq \
    WHERE ($2 IS NULL OR f.account_id = $2)";

pub(crate) const BUMP: &str =
    "UPDATE accounts SET vec_seq = vec_seq + 1 WHERE id = $1 RETURNING vec_seq";

pub(crate) const VERSION: &str = "SELECT vec_seq FROM accounts WHERE id = $1";

/// $1 flow, $2 account, $3 model, $4 flow seq, $5 dims, $6 vector, $7 seq.
/// Only while the flow is as it was read.
pub(crate) const PUT: &str = "\
    INSERT INTO flow_vectors (flow_id, account_id, model, flow_seq, dims, vector, seq) \
    SELECT $1, $2, $3, $4, $5, $6, $7 \
    WHERE EXISTS (SELECT 1 FROM flows WHERE id = $1 AND account_id = $2 AND seq = $4) \
    ON CONFLICT (flow_id) DO UPDATE SET model = excluded.model, flow_seq = excluded.flow_seq, \
    dims = excluded.dims, vector = excluded.vector, seq = excluded.seq";

/// $1 account, $2 model, $3 since.
pub(crate) const CHANGED: &str = "\
    SELECT flow_id, vector FROM flow_vectors WHERE account_id = $1 AND model = $2 AND seq > $3";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PendingRow {
    pub id: uuid::Uuid,
    pub account_id: uuid::Uuid,
    pub seq: i64,
    pub title: String,
    pub symptoms: String,
}

impl From<PendingRow> for engine::kb::embedding::PendingFlow {
    fn from(row: PendingRow) -> Self {
        let symptoms: Vec<String> = row.symptoms.lines().map(str::to_owned).collect();
        Self {
            id: row.id.into(),
            account_id: row.account_id.into(),
            seq: row.seq,
            text: engine::kb::embedding::flow_text(&row.title, &symptoms),
        }
    }
}

/// Implements `engine::kb::embedding::VectorStore` for `$store`.
macro_rules! impl_vector_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use ::engine::StoreResult;
            use ::engine::ids::{AccountId, FlowId};
            use ::engine::kb::embedding::{
                EmbeddingProgress, FlowVector, PendingFlow, VectorChanges, vector_from_bytes,
                vector_to_bytes,
            };
            use ::uuid::Uuid;
            use $crate::error::db_error;
            use $crate::vectors::{self as q, PendingRow};

            #[::async_trait::async_trait]
            impl ::engine::kb::embedding::VectorStore for $store {
                async fn flows_to_embed(
                    &self,
                    model: &str,
                    account: Option<AccountId>,
                    limit: u32,
                ) -> StoreResult<Vec<PendingFlow>> {
                    Ok(::sqlx::query_as::<_, PendingRow>(q::PENDING)
                        .bind(model)
                        .bind(account.map(|a| a.as_uuid()))
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "reading flows to embed"))?
                        .into_iter()
                        .map(PendingFlow::from)
                        .collect())
                }

                async fn put_flow_vectors(
                    &self,
                    model: &str,
                    vectors: &[(PendingFlow, Vec<f32>)],
                ) -> StoreResult<usize> {
                    let mut accounts: Vec<AccountId> =
                        vectors.iter().map(|(f, _)| f.account_id).collect();
                    accounts.sort_unstable_by_key(|a| a.as_uuid());
                    accounts.dedup();
                    let mut stored = 0;
                    for account in accounts {
                        let mut tx = self
                            .begin_write()
                            .await
                            .map_err(|e| db_error(e, "starting to store flow vectors"))?;
                        let seq: i64 = ::sqlx::query_scalar(q::BUMP)
                            .bind(account.as_uuid())
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(|e| db_error(e, "bumping the vector version"))?;
                        for (flow, vector) in
                            vectors.iter().filter(|(f, _)| f.account_id == account)
                        {
                            let dims = i32::try_from(vector.len()).unwrap_or(i32::MAX);
                            stored += ::sqlx::query(q::PUT)
                                .bind(flow.id.as_uuid())
                                .bind(account.as_uuid())
                                .bind(model)
                                .bind(flow.seq)
                                .bind(dims)
                                .bind(vector_to_bytes(vector))
                                .bind(seq)
                                .execute(&mut *tx)
                                .await
                                .map_err(|e| db_error(e, "storing a flow vector"))?
                                .rows_affected() as usize;
                        }
                        tx.commit()
                            .await
                            .map_err(|e| db_error(e, "committing flow vectors"))?;
                    }
                    Ok(stored)
                }

                async fn vector_version(&self, account: AccountId) -> StoreResult<i64> {
                    ::sqlx::query_scalar(q::VERSION)
                        .bind(account.as_uuid())
                        .fetch_one(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "reading the vector version"))
                }

                async fn vector_changes(
                    &self,
                    account: AccountId,
                    model: &str,
                    since: i64,
                ) -> StoreResult<VectorChanges> {
                    // The version first: vectors stored after it are
                    // fetched now or next time, never lost.
                    let version = self.vector_version(account).await?;
                    let rows = ::sqlx::query_as::<_, (Uuid, Vec<u8>)>(q::CHANGED)
                        .bind(account.as_uuid())
                        .bind(model)
                        .bind(since)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "reading flow vectors"))?;
                    let mut vectors = Vec::with_capacity(rows.len());
                    for (id, bytes) in rows {
                        let vector = vector_from_bytes(&bytes).ok_or_else(|| {
                            $crate::error::corrupt_row(
                                "flow vector",
                                "its length is not a whole number of f32s",
                            )
                        })?;
                        vectors.push(FlowVector {
                            id: FlowId::from(id),
                            vector,
                        });
                    }
                    Ok(VectorChanges { version, vectors })
                }

                async fn embedding_progress(
                    &self,
                    model: &str,
                    account: Option<AccountId>,
                ) -> StoreResult<EmbeddingProgress> {
                    let (flows, embedded): (i64, i64) = ::sqlx::query_as(q::PROGRESS)
                        .bind(model)
                        .bind(account.map(|a| a.as_uuid()))
                        .fetch_one(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "counting embedded flows"))?;
                    Ok(EmbeddingProgress {
                        flows: u64::try_from(flows).unwrap_or(0),
                        embedded: u64::try_from(embedded).unwrap_or(0),
                    })
                }
            }
        };
    };
}

pub(crate) use impl_vector_store;
