//! Browser sessions: stored by secret hash, resolved until they expire.

use engine::StoreError;
use engine::ids::UserId;
use time::{Duration, OffsetDateTime};

use crate::TestDb;

pub async fn web_sessions_resolve_until_they_expire_or_are_deleted(db: &TestDb) {
    let (admin, who) = db.setup("acme.test").await;
    let now = OffsetDateTime::now_utc();
    let expires = now + Duration::hours(1);
    db.store
        .create_web_session(admin.id, "hash-1", expires)
        .await
        .expect("created");

    let found = db
        .store
        .principal_by_web_session("hash-1", now)
        .await
        .expect("lookup");
    assert_eq!(found, Some(who));
    assert_eq!(
        db.store
            .principal_by_web_session("hash-2", now)
            .await
            .expect("lookup"),
        None
    );
    let at_expiry = db
        .store
        .principal_by_web_session("hash-1", expires)
        .await
        .expect("lookup");
    assert_eq!(at_expiry, None, "a session is dead from its expiry on");
    let later = db
        .store
        .principal_by_web_session("hash-1", expires + Duration::seconds(1))
        .await;
    assert_eq!(later.expect("lookup"), None);

    db.store
        .delete_web_session("hash-1")
        .await
        .expect("deleted");
    assert_eq!(
        db.store
            .principal_by_web_session("hash-1", now)
            .await
            .expect("lookup"),
        None
    );
    db.store
        .delete_web_session("hash-1")
        .await
        .expect("deleting twice is fine");
}

pub async fn web_sessions_of_unknown_or_disabled_users_resolve_to_nobody(db: &TestDb) {
    let (admin, _) = db.setup("acme.test").await;
    let now = OffsetDateTime::now_utc();
    let unknown = db
        .store
        .create_web_session(UserId::new(), "hash-x", now + Duration::hours(1))
        .await;
    assert!(matches!(unknown, Err(StoreError::NotFound)), "{unknown:?}");

    db.store
        .create_web_session(admin.id, "hash-1", now + Duration::hours(1))
        .await
        .expect("created");
    db.execute(
        "UPDATE users SET disabled_at = created_at WHERE id = $1",
        admin.id.as_uuid(),
    )
    .await;
    assert_eq!(
        db.store
            .principal_by_web_session("hash-1", now)
            .await
            .expect("lookup"),
        None
    );
}
