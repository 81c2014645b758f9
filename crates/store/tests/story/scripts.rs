//! Script templates: slugs unique per account, lookups by slug, the JSON
//! `parameters` column round-tripping on both backends.
//!
//! These stories declare their own per-backend tests (below), so that this
//! area needs no more than its `mod` line in `main.rs`.

use engine::scripts::{Language, ScriptBody, ScriptTemplateFields};
use engine::{Slug, StoreError};

use crate::{TestDb, name};

fn fields(title: &str, body: &str) -> ScriptTemplateFields {
    ScriptTemplateFields::new(
        name(title),
        Language::parse("powershell").expect("a valid language"),
        ScriptBody::parse(body).expect("a valid body"),
        "what it does",
    )
    .expect("valid fields")
}

fn slug(s: &str) -> Slug {
    Slug::parse("slug", s).expect("a valid slug")
}

async fn templates_round_trip_and_slugs_are_unique_per_account(db: &TestDb) {
    let (_, one) = db.setup("one.test").await;
    let (_, two) = db.account("two.test").await;
    let restart = fields("restart", "Restart-Service {{service}} {{ host }}");
    let created = db
        .store
        .create_script_template(&one, &slug("restart"), &restart)
        .await
        .expect("created");
    assert_eq!(created.parameters, ["service", "host"]);
    assert_eq!(created.created_at, created.updated_at);
    assert_eq!(
        db.store
            .get_script_template(&one, created.id)
            .await
            .expect("got"),
        created
    );

    let again = db
        .store
        .create_script_template(&one, &slug("restart"), &fields("other", "x"))
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    db.store
        .create_script_template(&two, &slug("restart"), &restart)
        .await
        .expect("another account may use the same slug");

    let by_slug = db.store.script_template_by_slug(&one, "restart").await;
    assert_eq!(by_slug.expect("looked up"), Some(created.clone()));
    let missing = db.store.script_template_by_slug(&one, "nope").await;
    assert_eq!(missing.expect("looked up"), None);
    let theirs = db
        .store
        .get_script_template(&two, created.id)
        .await
        .map(|t| t.id);
    assert!(matches!(theirs, Err(StoreError::NotFound)), "{theirs:?}");
}

async fn updates_keep_or_change_the_slug_and_deletes_happen_once(db: &TestDb) {
    let (_, who) = db.setup("acme.test").await;
    let a = db
        .store
        .create_script_template(&who, &slug("a"), &fields("Zeta", "echo {{x}}"))
        .await
        .expect("a");
    let b = db
        .store
        .create_script_template(&who, &slug("b"), &fields("alpha", "echo"))
        .await
        .expect("b");
    let names: Vec<_> = db
        .store
        .list_script_templates(&who)
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["alpha", "Zeta"]);

    let kept = db
        .store
        .update_script_template(&who, a.id, None, &fields("Zeta 2", "echo {{y}}"))
        .await
        .expect("updated");
    assert_eq!((kept.slug.as_str(), kept.name.as_str()), ("a", "Zeta 2"));
    assert_eq!(kept.parameters, ["y"]);
    assert_eq!(kept.created_at, a.created_at);
    let clash = db
        .store
        .update_script_template(&who, a.id, Some(&slug("b")), &fields("Zeta", "x"))
        .await;
    assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");

    db.store
        .delete_script_template(&who, b.id)
        .await
        .expect("deleted");
    let twice = db.store.delete_script_template(&who, b.id).await;
    assert!(matches!(twice, Err(StoreError::NotFound)), "{twice:?}");
    let gone = db
        .store
        .update_script_template(&who, b.id, None, &fields("b", "x"))
        .await
        .map(|t| t.id);
    assert!(matches!(gone, Err(StoreError::NotFound)), "{gone:?}");
}

macro_rules! on_both_backends {
    ($($story:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $story() {
                super::$story(&crate::TestDb::sqlite().await).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $story() {
                super::$story(&crate::TestDb::postgres().await).await;
            })*
        }
    };
}

on_both_backends!(
    templates_round_trip_and_slugs_are_unique_per_account,
    updates_keep_or_change_the_slug_and_deletes_happen_once,
);
