//! Script templates: the account's library of scripts with named
//! parameters (`{{name}}`), which suggested fixes can point at.
//!
//! Every signed-in user of an account may manage its library: engineers
//! build it as they work. The values here are parsed once (`Language`,
//! `ScriptBody`, `ScriptTemplateFields`), so the store only keeps them.

mod template;

use std::collections::HashMap;
use std::fmt;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::account::{Name, Principal, ValidationError};
use crate::error::{Error, Result, StoreError, StoreResult};
use crate::ids::ScriptTemplateId;
use crate::slug::Slug;
use crate::store::Store;

pub use template::{MissingParameters, parameters, render};

/// A template as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptTemplate {
    pub id: ScriptTemplateId,
    pub slug: String,
    pub name: String,
    pub language: String,
    pub body: String,
    pub description: String,
    /// The body's `{{name}}`s, distinct, in order of first appearance.
    pub parameters: Vec<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// What a script is written in (`powershell`, `bash`, `python`, …): 1 to 32
/// lowercase letters, digits, `-` or `+`. Input is trimmed and lower-cased,
/// so `PowerShell` is `powershell`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Language(String);

impl Language {
    pub const MAX_CHARS: usize = 32;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let language = raw.trim().to_ascii_lowercase();
        let allowed =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '+';
        if language.is_empty() || language.len() > Self::MAX_CHARS || !language.chars().all(allowed)
        {
            return Err(ValidationError::new(
                "language",
                format!(
                    "must be 1 to {} lowercase letters, digits, '-' or '+', like \"powershell\", \
                     \"bash\" or \"python\"",
                    Self::MAX_CHARS
                ),
            ));
        }
        Ok(Self(language))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A script's text, kept exactly as given (whitespace matters in scripts):
/// not blank, at most 64 KiB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptBody(String);

impl ScriptBody {
    pub const MAX_BYTES: usize = 64 * 1024;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.trim().is_empty() {
            return Err(ValidationError::new("body", "must not be empty"));
        }
        if raw.len() > Self::MAX_BYTES {
            return Err(ValidationError::new(
                "body",
                format!("must be at most {} bytes (64 KiB)", Self::MAX_BYTES),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Everything of a template but its id, slug and times, validated, with
/// the parameters derived from the body (so the two can't disagree).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptTemplateFields {
    name: Name,
    language: Language,
    body: ScriptBody,
    description: String,
    parameters: Vec<String>,
}

impl ScriptTemplateFields {
    pub const MAX_DESCRIPTION_CHARS: usize = 10_000;

    pub fn new(
        name: Name,
        language: Language,
        body: ScriptBody,
        description: &str,
    ) -> Result<Self, ValidationError> {
        let description = description.trim();
        if description.chars().count() > Self::MAX_DESCRIPTION_CHARS {
            return Err(ValidationError::new(
                "description",
                format!("must be at most {} characters", Self::MAX_DESCRIPTION_CHARS),
            ));
        }
        Ok(Self {
            parameters: parameters(body.as_str()),
            name,
            language,
            body,
            description: description.to_owned(),
        })
    }

    pub fn name(&self) -> &Name {
        &self.name
    }

    pub fn language(&self) -> &Language {
        &self.language
    }

    pub fn body(&self) -> &ScriptBody {
        &self.body
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    pub fn parameters(&self) -> &[String] {
        &self.parameters
    }
}

/// Storage for script templates. Every method is scoped to the caller's
/// account: another account's template is `NotFound` (or `None`).
#[async_trait]
pub trait ScriptStore: Send + Sync + 'static {
    /// `Conflict` when the account already has a template with this slug.
    async fn create_script_template(
        &self,
        who: &Principal,
        slug: &Slug,
        fields: &ScriptTemplateFields,
    ) -> StoreResult<ScriptTemplate>;

    async fn get_script_template(
        &self,
        who: &Principal,
        id: ScriptTemplateId,
    ) -> StoreResult<ScriptTemplate>;

    /// The template with this slug, if the account has one (how a suggested
    /// fix's `script_template_slug` is resolved).
    async fn script_template_by_slug(
        &self,
        who: &Principal,
        slug: &str,
    ) -> StoreResult<Option<ScriptTemplate>>;

    /// The account's templates, by name.
    async fn list_script_templates(&self, who: &Principal) -> StoreResult<Vec<ScriptTemplate>>;

    /// Replaces the fields, and the slug when one is given; `Conflict` when
    /// the new slug is another template's.
    async fn update_script_template(
        &self,
        who: &Principal,
        id: ScriptTemplateId,
        slug: Option<&Slug>,
        fields: &ScriptTemplateFields,
    ) -> StoreResult<ScriptTemplate>;

    /// Suggested fixes that pointed at it keep their text and lose the link.
    async fn delete_script_template(
        &self,
        who: &Principal,
        id: ScriptTemplateId,
    ) -> StoreResult<()>;
}

/// A template as typed by a person (the API's create and replace bodies).
#[derive(Debug, Clone, Copy)]
pub struct ScriptTemplateInput<'a> {
    /// Derived from the name on create when absent; kept on update.
    pub slug: Option<&'a str>,
    pub name: &'a str,
    pub language: &'a str,
    pub body: &'a str,
    pub description: Option<&'a str>,
}

impl ScriptTemplateInput<'_> {
    fn parse(self) -> Result<(Option<Slug>, ScriptTemplateFields)> {
        let slug = self.slug.map(|s| Slug::parse("slug", s)).transpose()?;
        let fields = ScriptTemplateFields::new(
            Name::parse("name", self.name)?,
            Language::parse(self.language)?,
            ScriptBody::parse(self.body)?,
            self.description.unwrap_or_default(),
        )?;
        Ok((slug, fields))
    }
}

fn slug_taken(slug: &Slug) -> Error {
    Error::conflict(
        "slug_taken",
        format!(
            "this account already has a script template with the slug \"{slug}\"; \
         choose another slug, or edit that template"
        ),
    )
}

/// How many numbered variants of a derived slug (`name-2`, `name-3`, …) are
/// tried before giving up: enough for a library where names repeat.
const DERIVED_SLUG_ATTEMPTS: u32 = 20;

/// Creates a template. A slug the client gave must be free (`Conflict`); a
/// slug derived from the name steps aside with a number when taken, since
/// the client never chose it.
pub async fn create_template(
    store: &dyn Store,
    who: &Principal,
    input: ScriptTemplateInput<'_>,
) -> Result<ScriptTemplate> {
    let (slug, fields) = input.parse()?;
    if let Some(slug) = slug {
        return store
            .create_script_template(who, &slug, &fields)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => slug_taken(&slug),
                other => other.into(),
            });
    }
    let derived = Slug::from_title(fields.name().as_str());
    let mut slug = derived.clone();
    for n in 2..=DERIVED_SLUG_ATTEMPTS + 1 {
        match store.create_script_template(who, &slug, &fields).await {
            Err(StoreError::Conflict(_)) => slug = derived.with_suffix(n),
            other => return Ok(other?),
        }
    }
    Err(slug_taken(&derived))
}

pub async fn get_template(
    store: &dyn Store,
    who: &Principal,
    id: ScriptTemplateId,
) -> Result<ScriptTemplate> {
    Ok(store.get_script_template(who, id).await?)
}

pub async fn list_templates(store: &dyn Store, who: &Principal) -> Result<Vec<ScriptTemplate>> {
    Ok(store.list_script_templates(who).await?)
}

/// Replaces a template's fields; without a slug the current one stays, so
/// that renaming a template doesn't break what refers to it by slug.
pub async fn update_template(
    store: &dyn Store,
    who: &Principal,
    id: ScriptTemplateId,
    input: ScriptTemplateInput<'_>,
) -> Result<ScriptTemplate> {
    let (slug, fields) = input.parse()?;
    store
        .update_script_template(who, id, slug.as_ref(), &fields)
        .await
        .map_err(|e| match (e, &slug) {
            (StoreError::Conflict(_), Some(slug)) => slug_taken(slug),
            (other, _) => other.into(),
        })
}

pub async fn delete_template(
    store: &dyn Store,
    who: &Principal,
    id: ScriptTemplateId,
) -> Result<()> {
    Ok(store.delete_script_template(who, id).await?)
}

/// Why a template could not be rendered: callers answer missing parameters
/// differently from other failures (they can list them for the user).
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Missing(#[from] MissingParameters),
    #[error(transparent)]
    Failed(#[from] Error),
}

/// Renders one of the account's templates with `values` (see `render`).
pub async fn render_template(
    store: &dyn Store,
    who: &Principal,
    id: ScriptTemplateId,
    values: &HashMap<String, String>,
) -> Result<String, RenderError> {
    let template = get_template(store, who, id).await?;
    Ok(render(&template.body, values)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_are_short_lowercase_identifiers() {
        let cases = [
            (" PowerShell ", Some("powershell")),
            ("bash", Some("bash")),
            ("c++", Some("c++")),
            ("x86-asm", Some("x86-asm")),
            ("", None),
            ("power shell", None),
            ("py_thon", None),
            (&"a".repeat(33), None),
        ];
        for (raw, want) in cases {
            assert_eq!(
                Language::parse(raw).ok().map(|l| l.0),
                want.map(str::to_owned),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn bodies_are_kept_as_given_but_not_blank_or_huge() {
        let body = ScriptBody::parse("  echo hi\n").expect("valid");
        assert_eq!(body.as_str(), "  echo hi\n");
        assert!(ScriptBody::parse(" \n\t").is_err());
        assert!(ScriptBody::parse(&"x".repeat(ScriptBody::MAX_BYTES)).is_ok());
        assert!(ScriptBody::parse(&"x".repeat(ScriptBody::MAX_BYTES + 1)).is_err());
    }

    #[test]
    fn fields_derive_their_parameters_from_the_body() {
        let input = ScriptTemplateInput {
            slug: None,
            name: " Restart a service ",
            language: "powershell",
            body: "Restart-Service {{ service }} -ComputerName {{host}}; # {{service}}",
            description: None,
        };
        let (slug, fields) = input.parse().expect("valid");
        assert_eq!(slug, None);
        assert_eq!(fields.name().as_str(), "Restart a service");
        assert_eq!(fields.parameters(), ["service", "host"]);
        assert_eq!(fields.description(), "");
    }

    #[test]
    fn a_bad_slug_is_refused_naming_the_rule() {
        let input = ScriptTemplateInput {
            slug: Some("Not A Slug"),
            name: "n",
            language: "bash",
            body: "true",
            description: None,
        };
        match input.parse() {
            Err(Error::Invalid(e)) => {
                assert_eq!(e.field, "slug");
                assert!(e.message.contains("lowercase letters"), "{e}");
            }
            other => panic!("expected an invalid slug, got {other:?}"),
        }
    }
}
