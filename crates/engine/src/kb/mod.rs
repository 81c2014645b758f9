//! The knowledge base: an account's troubleshooting flows (runbooks), their
//! rules, storage port and services, the Markdown file format
//! (`markdown.rs`) and the outline the offline guide walks (`outline.rs`).

pub mod embedding;
pub mod markdown;
pub mod outline;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::account::{Principal, ValidationError};
use crate::error::{Error, Result, StoreError, StoreResult};
use crate::ids::{AccountId, FlowId, UserId};
use crate::slug::Slug;
use crate::store::Store;

/// `Conflict` text: the account already has a flow with this slug.
pub const FLOW_SLUG_TAKEN: &str = "flow_slug_taken";

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_BODY_CHARS: usize = 100_000;
pub const MAX_SYMPTOMS: usize = 20;
pub const MAX_SYMPTOM_CHARS: usize = 300;
pub const MAX_TAGS: usize = 20;
pub const MAX_TAG_CHARS: usize = 40;
/// Flows per import request.
pub const MAX_IMPORT: usize = 5_000;

/// A runbook of the account.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub id: FlowId,
    pub slug: Slug,
    pub title: String,
    pub symptoms: Vec<String>,
    /// Markdown: the steps.
    pub body: String,
    pub resolution: String,
    pub tags: Vec<String>,
    pub author_id: Option<UserId>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A flow's fields, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFlow {
    pub slug: Slug,
    pub title: String,
    pub symptoms: Vec<String>,
    pub body: String,
    pub resolution: String,
    pub tags: Vec<String>,
}

/// A flow as a client or a file gives it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlowInput {
    /// Default: derived from the title.
    pub slug: Option<String>,
    pub title: String,
    pub symptoms: Vec<String>,
    pub body: String,
    pub resolution: String,
    pub tags: Vec<String>,
}

fn too_long(field: &'static str, max: usize) -> ValidationError {
    ValidationError::new(field, format!("must be at most {max} characters"))
}

impl FlowInput {
    /// Checks the fields: a title, a body, sane sizes; symptoms and tags
    /// trimmed (tags lowercased), empty ones dropped, repeats removed.
    pub fn check(self) -> std::result::Result<NewFlow, ValidationError> {
        let title = self.title.trim().to_owned();
        if title.is_empty() {
            return Err(ValidationError::new("title", "must not be empty"));
        }
        if title.chars().count() > MAX_TITLE_CHARS {
            return Err(too_long("title", MAX_TITLE_CHARS));
        }
        let body = self.body.trim().to_owned();
        if body.is_empty() {
            return Err(ValidationError::new(
                "body",
                "must not be empty: write the flow's steps",
            ));
        }
        if body.chars().count() > MAX_BODY_CHARS {
            return Err(too_long("body", MAX_BODY_CHARS));
        }
        let resolution = self.resolution.trim().to_owned();
        if resolution.chars().count() > MAX_BODY_CHARS {
            return Err(too_long("resolution", MAX_BODY_CHARS));
        }
        let symptoms = clean_list(self.symptoms, false);
        if symptoms.len() > MAX_SYMPTOMS {
            return Err(ValidationError::new(
                "symptoms",
                format!("at most {MAX_SYMPTOMS} symptoms"),
            ));
        }
        if symptoms
            .iter()
            .any(|s| s.chars().count() > MAX_SYMPTOM_CHARS)
        {
            return Err(ValidationError::new(
                "symptoms",
                format!("each symptom must be at most {MAX_SYMPTOM_CHARS} characters"),
            ));
        }
        let tags = clean_list(self.tags, true);
        if tags.len() > MAX_TAGS {
            return Err(ValidationError::new(
                "tags",
                format!("at most {MAX_TAGS} tags"),
            ));
        }
        if tags.iter().any(|t| t.chars().count() > MAX_TAG_CHARS) {
            return Err(ValidationError::new(
                "tags",
                format!("each tag must be at most {MAX_TAG_CHARS} characters"),
            ));
        }
        let slug = match self.slug.as_deref().map(str::trim) {
            Some(s) if !s.is_empty() => Slug::parse("slug", s)?,
            _ => Slug::from_title(&title),
        };
        Ok(NewFlow {
            slug,
            title,
            symptoms,
            body,
            resolution,
            tags,
        })
    }
}

fn clean_list(items: Vec<String>, lowercase: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let item = item.trim();
        let item = if lowercase {
            item.to_lowercase()
        } else {
            item.to_owned()
        };
        if !item.is_empty() && !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// What an import did with one flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    Created,
    Updated,
}

/// The flows that changed in an account since a version: what an index
/// needs to catch up.
#[derive(Debug, Clone, Default)]
pub struct FlowChanges {
    /// The account's knowledge-base version these changes bring one to.
    pub version: i64,
    /// Flows created or changed since (whole).
    pub changed: Vec<Flow>,
    /// Flows deleted since.
    pub deleted: Vec<FlowId>,
}

#[async_trait]
pub trait FlowStore: Send + Sync + 'static {
    /// `Conflict(FLOW_SLUG_TAKEN)` when the slug is in use in the account.
    async fn create_flow(&self, who: &Principal, flow: NewFlow) -> StoreResult<Flow>;

    async fn get_flow(&self, who: &Principal, id: FlowId) -> StoreResult<Flow>;

    /// Replaces every field; `Conflict(FLOW_SLUG_TAKEN)` for a taken slug.
    async fn update_flow(&self, who: &Principal, id: FlowId, flow: NewFlow) -> StoreResult<Flow>;

    async fn delete_flow(&self, who: &Principal, id: FlowId) -> StoreResult<()>;

    /// By slug, after `after` (the cursor), at most `limit`.
    async fn list_flows(
        &self,
        who: &Principal,
        after: Option<&Slug>,
        limit: u32,
    ) -> StoreResult<Vec<Flow>>;

    /// Creates or, for a slug the account has, updates each flow, all in
    /// one transaction.
    async fn import_flows(
        &self,
        who: &Principal,
        flows: Vec<NewFlow>,
    ) -> StoreResult<Vec<Imported>>;

    /// The account's knowledge-base version: it grows with every write.
    async fn kb_version(&self, account: AccountId) -> StoreResult<i64>;

    /// Everything that changed in the account after version `since` (0:
    /// every flow).
    async fn flow_changes(&self, account: AccountId, since: i64) -> StoreResult<FlowChanges>;
}

fn flow_error(e: StoreError) -> Error {
    match e {
        StoreError::Conflict(FLOW_SLUG_TAKEN) => Error::conflict(
            "slug_taken",
            "this account already has a flow with that slug; choose another slug, or edit that flow (import updates flows by slug)",
        ),
        other => other.into(),
    }
}

pub async fn create_flow(store: &dyn Store, who: &Principal, input: FlowInput) -> Result<Flow> {
    let flow = input.check()?;
    store.create_flow(who, flow).await.map_err(flow_error)
}

pub async fn get_flow(store: &dyn Store, who: &Principal, id: FlowId) -> Result<Flow> {
    Ok(store.get_flow(who, id).await?)
}

pub async fn update_flow(
    store: &dyn Store,
    who: &Principal,
    id: FlowId,
    input: FlowInput,
) -> Result<Flow> {
    let flow = input.check()?;
    store.update_flow(who, id, flow).await.map_err(flow_error)
}

pub async fn delete_flow(store: &dyn Store, who: &Principal, id: FlowId) -> Result<()> {
    Ok(store.delete_flow(who, id).await?)
}

pub async fn list_flows(
    store: &dyn Store,
    who: &Principal,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<Flow>> {
    let after = after.map(|a| Slug::parse("cursor", a)).transpose()?;
    Ok(store
        .list_flows(who, after.as_ref(), limit.clamp(1, 500))
        .await?)
}

/// The report of an import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
    /// (index in the request, why), for flows that were not stored.
    pub rejected: Vec<(usize, String)>,
    /// (index, slug, what happened) for each stored flow.
    pub stored: Vec<(usize, String, Imported)>,
}

/// Checks every flow, stores the good ones in one transaction (creating or
/// updating by slug) and says what happened to each. A slug given twice in
/// one import: the later one is rejected.
pub async fn import_flows(
    store: &dyn Store,
    who: &Principal,
    inputs: Vec<FlowInput>,
) -> Result<ImportReport> {
    if inputs.len() > MAX_IMPORT {
        return Err(ValidationError::new(
            "flows",
            format!("at most {MAX_IMPORT} flows per import; split the file"),
        )
        .into());
    }
    let mut report = ImportReport::default();
    let mut good = Vec::with_capacity(inputs.len());
    let mut seen = std::collections::HashSet::new();
    for (i, input) in inputs.into_iter().enumerate() {
        match input.check() {
            Ok(flow) if !seen.insert(flow.slug.clone()) => report.rejected.push((
                i,
                format!("the slug \"{}\" appears earlier in this import", flow.slug),
            )),
            Ok(flow) => good.push((i, flow)),
            Err(e) => report.rejected.push((i, e.to_string())),
        }
    }
    let (indexes, flows): (Vec<usize>, Vec<NewFlow>) = good.into_iter().unzip();
    let slugs: Vec<String> = flows.iter().map(|f| f.slug.to_string()).collect();
    let outcomes = if flows.is_empty() {
        Vec::new()
    } else {
        store.import_flows(who, flows).await.map_err(flow_error)?
    };
    for ((i, slug), outcome) in indexes.into_iter().zip(slugs).zip(outcomes) {
        match outcome {
            Imported::Created => report.created += 1,
            Imported::Updated => report.updated += 1,
        }
        report.stored.push((i, slug, outcome));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(title: &str, body: &str) -> FlowInput {
        FlowInput {
            title: title.into(),
            body: body.into(),
            ..FlowInput::default()
        }
    }

    #[test]
    fn a_flow_needs_a_title_and_a_body_and_gets_a_slug_from_its_title() {
        assert_eq!(input(" ", "steps").check().unwrap_err().field, "title");
        assert_eq!(input("VPN", "  ").check().unwrap_err().field, "body");
        let flow = input("VPN drops every 10 minutes!", "steps")
            .check()
            .unwrap();
        assert_eq!(flow.slug.as_str(), "vpn-drops-every-10-minutes");
    }

    #[test]
    fn tags_are_lowercased_and_deduplicated_and_empty_items_dropped() {
        let flow = FlowInput {
            tags: vec!["VPN".into(), "vpn".into(), " ".into(), "Network ".into()],
            symptoms: vec!["drops".into(), "".into(), "drops".into()],
            ..input("VPN", "steps")
        }
        .check()
        .unwrap();
        assert_eq!(flow.tags, ["vpn", "network"]);
        assert_eq!(flow.symptoms, ["drops"]);
    }

    #[test]
    fn a_given_slug_must_follow_the_rule() {
        let bad = FlowInput {
            slug: Some("Not A Slug".into()),
            ..input("VPN", "steps")
        };
        assert_eq!(bad.check().unwrap_err().field, "slug");
    }
}
