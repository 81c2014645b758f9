//! `engine::scripts::ScriptStore` for both backends: the SQL, the row type
//! and the implementation macro, kept together since no other area uses
//! them.
//!
//! `parameters` is a JSON array, TEXT in SQLite and JSONB in PostgreSQL;
//! binding and reading it as `sqlx::types::Json` lets the same SQL text
//! serve both.

use engine::scripts::ScriptTemplate;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

/// The columns every query returns, in `ScriptTemplateRow`'s order.
macro_rules! columns {
    () => {
        "id, slug, name, language, body, description, parameters, created_at, updated_at"
    };
}

pub(crate) const INSERT: &str = concat!(
    "INSERT INTO script_templates \
     (id, account_id, slug, name, language, body, description, parameters, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING ",
    columns!()
);

pub(crate) const GET: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM script_templates WHERE id = $1 AND account_id = $2"
);

pub(crate) const BY_SLUG: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM script_templates WHERE slug = $1 AND account_id = $2"
);

/// `lower(name)` so that case doesn't split the list (as for users).
pub(crate) const LIST: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM script_templates WHERE account_id = $1 ORDER BY lower(name), name, id"
);

/// A NULL slug keeps the current one.
pub(crate) const UPDATE: &str = concat!(
    "UPDATE script_templates SET slug = COALESCE($3, slug), name = $4, language = $5, \
     body = $6, description = $7, parameters = $8, updated_at = $9 \
     WHERE id = $1 AND account_id = $2 RETURNING ",
    columns!()
);

pub(crate) const DELETE: &str = "DELETE FROM script_templates WHERE id = $1 AND account_id = $2";

/// Only the slug is unique among a template's columns (the id is new).
pub(crate) const SLUG_TAKEN: &str = "a script template with this slug already exists";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ScriptTemplateRow {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub language: String,
    pub body: String,
    pub description: String,
    pub parameters: Json<Vec<String>>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl From<ScriptTemplateRow> for ScriptTemplate {
    fn from(row: ScriptTemplateRow) -> Self {
        Self {
            id: row.id.into(),
            slug: row.slug,
            name: row.name,
            language: row.language,
            body: row.body,
            description: row.description,
            parameters: row.parameters.0,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Implements `engine::scripts::ScriptStore` for `$store` (see `shared::impl_store!`).
macro_rules! impl_scripts_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use ::engine::ids::ScriptTemplateId;
            use ::engine::scripts::{ScriptTemplate, ScriptTemplateFields};
            use ::engine::{Principal, Slug, StoreError, StoreResult};
            use ::sqlx::types::Json;
            use $crate::error::{db_error, unique_or_db_error};
            use $crate::scripts::{self as q, ScriptTemplateRow};
            use $crate::shared::now;

            #[::async_trait::async_trait]
            impl ::engine::scripts::ScriptStore for $store {
                async fn create_script_template(
                    &self,
                    who: &Principal,
                    slug: &Slug,
                    fields: &ScriptTemplateFields,
                ) -> StoreResult<ScriptTemplate> {
                    ::sqlx::query_as::<_, ScriptTemplateRow>(q::INSERT)
                        .bind(ScriptTemplateId::new().as_uuid())
                        .bind(who.account_id.as_uuid())
                        .bind(slug.as_str())
                        .bind(fields.name().as_str())
                        .bind(fields.language().as_str())
                        .bind(fields.body().as_str())
                        .bind(fields.description())
                        .bind(Json(fields.parameters()))
                        .bind(now())
                        .fetch_one(&self.pool)
                        .await
                        .map(ScriptTemplate::from)
                        .map_err(|e| {
                            unique_or_db_error(e, q::SLUG_TAKEN, "inserting a script template")
                        })
                }

                async fn get_script_template(
                    &self,
                    who: &Principal,
                    id: ScriptTemplateId,
                ) -> StoreResult<ScriptTemplate> {
                    ::sqlx::query_as::<_, ScriptTemplateRow>(q::GET)
                        .bind(id.as_uuid())
                        .bind(who.account_id.as_uuid())
                        .fetch_one(&self.pool)
                        .await
                        .map(ScriptTemplate::from)
                        .map_err(|e| db_error(e, "getting a script template"))
                }

                async fn script_template_by_slug(
                    &self,
                    who: &Principal,
                    slug: &str,
                ) -> StoreResult<Option<ScriptTemplate>> {
                    let row = ::sqlx::query_as::<_, ScriptTemplateRow>(q::BY_SLUG)
                        .bind(slug)
                        .bind(who.account_id.as_uuid())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "looking up a script template by slug"))?;
                    Ok(row.map(ScriptTemplate::from))
                }

                async fn list_script_templates(
                    &self,
                    who: &Principal,
                ) -> StoreResult<Vec<ScriptTemplate>> {
                    let rows = ::sqlx::query_as::<_, ScriptTemplateRow>(q::LIST)
                        .bind(who.account_id.as_uuid())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "listing script templates"))?;
                    Ok(rows.into_iter().map(ScriptTemplate::from).collect())
                }

                async fn update_script_template(
                    &self,
                    who: &Principal,
                    id: ScriptTemplateId,
                    slug: Option<&Slug>,
                    fields: &ScriptTemplateFields,
                ) -> StoreResult<ScriptTemplate> {
                    ::sqlx::query_as::<_, ScriptTemplateRow>(q::UPDATE)
                        .bind(id.as_uuid())
                        .bind(who.account_id.as_uuid())
                        .bind(slug.map(Slug::as_str))
                        .bind(fields.name().as_str())
                        .bind(fields.language().as_str())
                        .bind(fields.body().as_str())
                        .bind(fields.description())
                        .bind(Json(fields.parameters()))
                        .bind(now())
                        .fetch_one(&self.pool)
                        .await
                        .map(ScriptTemplate::from)
                        .map_err(|e| {
                            unique_or_db_error(e, q::SLUG_TAKEN, "updating a script template")
                        })
                }

                async fn delete_script_template(
                    &self,
                    who: &Principal,
                    id: ScriptTemplateId,
                ) -> StoreResult<()> {
                    let deleted = ::sqlx::query(q::DELETE)
                        .bind(id.as_uuid())
                        .bind(who.account_id.as_uuid())
                        .execute(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "deleting a script template"))?
                        .rows_affected();
                    if deleted == 0 {
                        return Err(StoreError::NotFound);
                    }
                    Ok(())
                }
            }
        };
    };
}

pub(crate) use impl_scripts_store;
