//! `engine::kb::FlowStore` for both backends. Every write bumps the
//! account's `kb_seq` in its transaction and stamps the flows it touched
//! with the new value (a deletion leaves a tombstone), so a search index
//! catches up with one query for the version and one for what changed.
//!
//! `symptoms` is stored one per line; `tags` as a JSON array (TEXT in
//! SQLite, JSONB in PostgreSQL, bound as `sqlx::types::Json`).

use engine::kb::Flow;
use engine::{Slug, StoreError};
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

macro_rules! columns {
    () => {
        "id, slug, title, symptoms, body, resolution, tags, author_id, created_at, updated_at"
    };
}

/// $1 account: the new version.
pub(crate) const BUMP_KB: &str =
    "UPDATE accounts SET kb_seq = kb_seq + 1 WHERE id = $1 RETURNING kb_seq";

pub(crate) const KB_VERSION: &str = "SELECT kb_seq FROM accounts WHERE id = $1";

/// $1 id, $2 account, $3 slug, $4 title, $5 symptoms, $6 body,
/// $7 resolution, $8 tags, $9 author, $10 now, $11 seq.
pub(crate) const INSERT: &str = concat!(
    "INSERT INTO flows (id, account_id, slug, title, symptoms, body, resolution, tags, author_id, ",
    "created_at, updated_at, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11) RETURNING ",
    columns!()
);

/// By slug, for an import: creates, or replaces the fields of the flow
/// with that slug. `created_at = updated_at` tells a new row.
pub(crate) const UPSERT: &str = concat!(
    "INSERT INTO flows (id, account_id, slug, title, symptoms, body, resolution, tags, author_id, ",
    "created_at, updated_at, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11) ",
    "ON CONFLICT (account_id, slug) DO UPDATE SET title = excluded.title, ",
    "symptoms = excluded.symptoms, body = excluded.body, resolution = excluded.resolution, ",
    "tags = excluded.tags, author_id = excluded.author_id, updated_at = excluded.updated_at, ",
    "seq = excluded.seq RETURNING (created_at = updated_at) AS created"
);

pub(crate) const GET: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM flows WHERE id = $1 AND account_id = $2"
);

/// $1 id, $2 account, then as INSERT from $3 ($10 now, $11 seq).
pub(crate) const UPDATE: &str = concat!(
    "UPDATE flows SET slug = $3, title = $4, symptoms = $5, body = $6, resolution = $7, tags = $8, ",
    "author_id = $9, updated_at = $10, seq = $11 WHERE id = $1 AND account_id = $2 RETURNING ",
    columns!()
);

pub(crate) const DELETE: &str = "DELETE FROM flows WHERE id = $1 AND account_id = $2";

/// $1 account, $2 flow, $3 seq.
pub(crate) const TOMBSTONE: &str = "\
    INSERT INTO flow_tombstones (account_id, flow_id, seq) VALUES ($1, $2, $3) \
    ON CONFLICT (account_id, flow_id) DO UPDATE SET seq = excluded.seq";

/// $1 account, $2 slug cursor (NULL: from the start), $3 limit.
pub(crate) const LIST: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM flows WHERE account_id = $1 AND ($2 IS NULL OR slug > $2) ORDER BY slug LIMIT $3"
);

/// $1 account, $2 since.
pub(crate) const CHANGED: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM flows WHERE account_id = $1 AND seq > $2 ORDER BY seq"
);

pub(crate) const DELETED: &str =
    "SELECT flow_id FROM flow_tombstones WHERE account_id = $1 AND seq > $2";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct FlowRow {
    pub id: Uuid,
    pub slug: String,
    pub title: String,
    pub symptoms: String,
    pub body: String,
    pub resolution: String,
    pub tags: Json<Vec<String>>,
    pub author_id: Option<Uuid>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl TryFrom<FlowRow> for Flow {
    type Error = StoreError;

    fn try_from(row: FlowRow) -> Result<Self, StoreError> {
        Ok(Flow {
            id: row.id.into(),
            slug: Slug::parse("slug", &row.slug)
                .map_err(|e| crate::error::corrupt_row("flow slug", e))?,
            title: row.title,
            symptoms: split_symptoms(&row.symptoms),
            body: row.body,
            resolution: row.resolution,
            tags: row.tags.0,
            author_id: row.author_id.map(Into::into),
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

pub(crate) fn join_symptoms(symptoms: &[String]) -> String {
    symptoms.join("\n")
}

fn split_symptoms(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Implements `engine::kb::FlowStore` for `$store`.
macro_rules! impl_flow_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use ::engine::ids::{AccountId, FlowId};
            use ::engine::kb::{FLOW_SLUG_TAKEN, Flow, FlowChanges, Imported, NewFlow};
            use ::engine::{Principal, Slug, StoreError, StoreResult};
            use ::sqlx::types::Json;
            use ::uuid::Uuid;
            use $crate::error::{db_error, unique_or_db_error};
            use $crate::flows::{self as q, FlowRow, join_symptoms};
            use $crate::shared::now;

            type Tx = ::sqlx::Transaction<'static, $db>;

            impl $store {
                async fn bump_kb(tx: &mut Tx, account: AccountId) -> StoreResult<i64> {
                    ::sqlx::query_scalar(q::BUMP_KB)
                        .bind(account.as_uuid())
                        .fetch_one(&mut **tx)
                        .await
                        .map_err(|e| db_error(e, "bumping the knowledge base's version"))
                }

                async fn begin_kb_write(&self) -> StoreResult<Tx> {
                    self.begin_write()
                        .await
                        .map_err(|e| db_error(e, "starting a knowledge-base write"))
                }
            }

            /// Binds a flow's fields as `$3`…`$11` of INSERT / UPDATE / UPSERT.
            fn bind_flow_as<'q, O>(
                query: ::sqlx::query::QueryAs<'q, $db, O, <$db as ::sqlx::Database>::Arguments>,
                who: &Principal,
                f: &'q NewFlow,
                seq: i64,
            ) -> ::sqlx::query::QueryAs<'q, $db, O, <$db as ::sqlx::Database>::Arguments> {
                query
                    .bind(f.slug.as_str())
                    .bind(f.title.as_str())
                    .bind(join_symptoms(&f.symptoms))
                    .bind(f.body.as_str())
                    .bind(f.resolution.as_str())
                    .bind(Json(f.tags.clone()))
                    .bind(who.user_id.as_uuid())
                    .bind(now())
                    .bind(seq)
            }

            #[::async_trait::async_trait]
            impl ::engine::kb::FlowStore for $store {
                async fn create_flow(&self, who: &Principal, flow: NewFlow) -> StoreResult<Flow> {
                    let mut tx = self.begin_kb_write().await?;
                    let seq = Self::bump_kb(&mut tx, who.account_id).await?;
                    let query = ::sqlx::query_as::<_, FlowRow>(q::INSERT)
                        .bind(FlowId::new().as_uuid())
                        .bind(who.account_id.as_uuid());
                    let row = bind_flow_as(query, who, &flow, seq)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|e| unique_or_db_error(e, FLOW_SLUG_TAKEN, "inserting a flow"))?;
                    tx.commit()
                        .await
                        .map_err(|e| db_error(e, "committing a new flow"))?;
                    Flow::try_from(row)
                }

                async fn get_flow(&self, who: &Principal, id: FlowId) -> StoreResult<Flow> {
                    ::sqlx::query_as::<_, FlowRow>(q::GET)
                        .bind(id.as_uuid())
                        .bind(who.account_id.as_uuid())
                        .fetch_one(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "reading a flow"))?
                        .try_into()
                }

                async fn update_flow(
                    &self,
                    who: &Principal,
                    id: FlowId,
                    flow: NewFlow,
                ) -> StoreResult<Flow> {
                    let mut tx = self.begin_kb_write().await?;
                    let seq = Self::bump_kb(&mut tx, who.account_id).await?;
                    let query = ::sqlx::query_as::<_, FlowRow>(q::UPDATE)
                        .bind(id.as_uuid())
                        .bind(who.account_id.as_uuid());
                    let row = bind_flow_as(query, who, &flow, seq)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(|e| unique_or_db_error(e, FLOW_SLUG_TAKEN, "updating a flow"))?
                        .ok_or(StoreError::NotFound)?;
                    tx.commit()
                        .await
                        .map_err(|e| db_error(e, "committing a flow edit"))?;
                    Flow::try_from(row)
                }

                async fn delete_flow(&self, who: &Principal, id: FlowId) -> StoreResult<()> {
                    let mut tx = self.begin_kb_write().await?;
                    let seq = Self::bump_kb(&mut tx, who.account_id).await?;
                    let gone = ::sqlx::query(q::DELETE)
                        .bind(id.as_uuid())
                        .bind(who.account_id.as_uuid())
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| db_error(e, "deleting a flow"))?
                        .rows_affected();
                    if gone == 0 {
                        return Err(StoreError::NotFound);
                    }
                    ::sqlx::query(q::TOMBSTONE)
                        .bind(who.account_id.as_uuid())
                        .bind(id.as_uuid())
                        .bind(seq)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| db_error(e, "recording a deleted flow"))?;
                    tx.commit()
                        .await
                        .map_err(|e| db_error(e, "committing a flow deletion"))
                }

                async fn list_flows(
                    &self,
                    who: &Principal,
                    after: Option<&Slug>,
                    limit: u32,
                ) -> StoreResult<Vec<Flow>> {
                    ::sqlx::query_as::<_, FlowRow>(q::LIST)
                        .bind(who.account_id.as_uuid())
                        .bind(after.map(Slug::as_str))
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "listing flows"))?
                        .into_iter()
                        .map(Flow::try_from)
                        .collect()
                }

                async fn import_flows(
                    &self,
                    who: &Principal,
                    flows: Vec<NewFlow>,
                ) -> StoreResult<Vec<Imported>> {
                    let mut tx = self.begin_kb_write().await?;
                    let seq = Self::bump_kb(&mut tx, who.account_id).await?;
                    let mut out = Vec::with_capacity(flows.len());
                    for flow in &flows {
                        let query = ::sqlx::query_as::<_, (bool,)>(q::UPSERT)
                            .bind(FlowId::new().as_uuid())
                            .bind(who.account_id.as_uuid());
                        let (created,) = bind_flow_as(query, who, flow, seq)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(|e| db_error(e, "importing a flow"))?;
                        out.push(if created {
                            Imported::Created
                        } else {
                            Imported::Updated
                        });
                    }
                    tx.commit()
                        .await
                        .map_err(|e| db_error(e, "committing an import"))?;
                    Ok(out)
                }

                async fn kb_version(&self, account: AccountId) -> StoreResult<i64> {
                    ::sqlx::query_scalar(q::KB_VERSION)
                        .bind(account.as_uuid())
                        .fetch_one(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "reading the knowledge base's version"))
                }

                async fn flow_changes(
                    &self,
                    account: AccountId,
                    since: i64,
                ) -> StoreResult<FlowChanges> {
                    // The version first: a write committed after it is
                    // fetched now or next time, never lost.
                    let version = self.kb_version(account).await?;
                    let changed = ::sqlx::query_as::<_, FlowRow>(q::CHANGED)
                        .bind(account.as_uuid())
                        .bind(since)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "reading changed flows"))?
                        .into_iter()
                        .map(Flow::try_from)
                        .collect::<StoreResult<Vec<_>>>()?;
                    let deleted = ::sqlx::query_scalar::<_, Uuid>(q::DELETED)
                        .bind(account.as_uuid())
                        .bind(since)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "reading deleted flows"))?
                        .into_iter()
                        .map(FlowId::from)
                        .collect();
                    Ok(FlowChanges {
                        version,
                        changed,
                        deleted,
                    })
                }
            }
        };
    };
}

pub(crate) use impl_flow_store;
