//! API tokens: created, listed and revoked by their owner; resolved to a
//! principal by the hash of their secret.

use engine::StoreError;
use engine::ids::TokenId;
use time::{Duration, OffsetDateTime};

use crate::{TestDb, name};

pub async fn api_tokens_are_listed_newest_first_and_revoked_by_their_owner(db: &TestDb) {
    let (admin, who) = db.setup("acme.test").await;
    let ci = db
        .store
        .create_api_token(&who, &name("ci"), "hash-ci")
        .await
        .expect("ci");
    let cron = db
        .store
        .create_api_token(&who, &name("cron"), "hash-cron")
        .await
        .expect("cron");
    assert_eq!(
        (ci.user_id, ci.name.as_str(), ci.last_used_at),
        (admin.id, "ci", None)
    );

    assert_eq!(
        db.store.list_api_tokens(&who).await.expect("list"),
        [cron.clone(), ci.clone()]
    );

    db.store
        .revoke_api_token(&who, ci.id)
        .await
        .expect("revoked");
    assert_eq!(db.store.list_api_tokens(&who).await.expect("list"), [cron]);
    let again = db.store.revoke_api_token(&who, ci.id).await;
    assert!(matches!(again, Err(StoreError::NotFound)), "{again:?}");
    let unknown = db.store.revoke_api_token(&who, TokenId::new()).await;
    assert!(matches!(unknown, Err(StoreError::NotFound)), "{unknown:?}");
}

pub async fn api_tokens_resolve_and_record_their_last_use_until_revoked(db: &TestDb) {
    let (_, who) = db.setup("acme.test").await;
    let token = db
        .store
        .create_api_token(&who, &name("ci"), "hash-ci")
        .await
        .expect("ci");
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("a valid nanosecond");

    assert_eq!(
        db.store
            .principal_by_api_token("hash-ci", now)
            .await
            .expect("lookup"),
        Some(who)
    );
    assert_eq!(
        db.store
            .principal_by_api_token("hash-other", now)
            .await
            .expect("lookup"),
        None
    );
    let listed = db.store.list_api_tokens(&who).await.expect("list");
    assert_eq!(listed[0].last_used_at, Some(now));

    // Uses within a minute are not written again; later ones are.
    let soon = now + Duration::seconds(10);
    db.store
        .principal_by_api_token("hash-ci", soon)
        .await
        .expect("lookup");
    assert_eq!(
        db.store.list_api_tokens(&who).await.expect("list")[0].last_used_at,
        Some(now)
    );
    let later = now + Duration::minutes(5);
    db.store
        .principal_by_api_token("hash-ci", later)
        .await
        .expect("lookup");
    assert_eq!(
        db.store.list_api_tokens(&who).await.expect("list")[0].last_used_at,
        Some(later)
    );

    db.store
        .revoke_api_token(&who, token.id)
        .await
        .expect("revoked");
    assert_eq!(
        db.store
            .principal_by_api_token("hash-ci", later)
            .await
            .expect("lookup"),
        None
    );
}

pub async fn api_tokens_of_disabled_users_resolve_to_nobody(db: &TestDb) {
    let (admin, who) = db.setup("acme.test").await;
    db.store
        .create_api_token(&who, &name("ci"), "hash-ci")
        .await
        .expect("ci");
    db.execute(
        "UPDATE users SET disabled_at = created_at WHERE id = $1",
        admin.id.as_uuid(),
    )
    .await;
    let now = OffsetDateTime::now_utc();
    assert_eq!(
        db.store
            .principal_by_api_token("hash-ci", now)
            .await
            .expect("lookup"),
        None
    );
}
