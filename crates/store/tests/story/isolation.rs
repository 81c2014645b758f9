//! Tenancy: another account's ids behave exactly like missing ones, and
//! lists never cross accounts.

use engine::{Principal, Role, Store, StoreError};
use time::{Duration, OffsetDateTime};

use crate::{TestDb, name, new_user};

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::NotFound)),
        "{what}: {result:?}"
    );
}

pub async fn another_accounts_ids_behave_like_missing_ones(db: &TestDb) {
    let (_, mine) = db.setup("mine.test").await;
    let (theirs_admin, theirs) = db.account("theirs.test").await;
    let store: &dyn Store = db.store.as_ref();
    let my_user = store
        .create_user(&mine, new_user("me@mine.test", "Me", Role::Engineer))
        .await
        .expect("my user");
    let my_team = store
        .create_team(&mine, &name("ops"))
        .await
        .expect("my team");
    let their_team = store
        .create_team(&theirs, &name("ops"))
        .await
        .expect("their team");
    let their_token = store
        .create_api_token(&theirs, &name("ci"), "hash-theirs")
        .await
        .expect("token");
    store
        .add_team_member(&theirs, their_team.id, theirs_admin.id)
        .await
        .expect("their member");

    assert_not_found(store.get_user(&mine, theirs_admin.id).await, "get_user");
    assert_not_found(
        store.revoke_api_token(&mine, their_token.id).await,
        "revoke_api_token",
    );
    assert_not_found(
        store
            .add_team_member(&mine, their_team.id, my_user.id)
            .await,
        "add_team_member to their team",
    );
    assert_not_found(
        store
            .add_team_member(&mine, my_team.id, theirs_admin.id)
            .await,
        "add_team_member of their user",
    );
    assert_not_found(
        store
            .add_team_member(&mine, their_team.id, theirs_admin.id)
            .await,
        "add_team_member, both theirs",
    );
    assert_not_found(
        store
            .remove_team_member(&mine, their_team.id, theirs_admin.id)
            .await,
        "remove_team_member",
    );
    assert_not_found(
        store.list_team_members(&mine, their_team.id).await,
        "list_team_members",
    );

    // Nothing of theirs changed.
    let now = OffsetDateTime::now_utc();
    assert_eq!(
        store
            .principal_by_api_token("hash-theirs", now)
            .await
            .expect("lookup"),
        Some(theirs)
    );
    let members = store
        .list_team_members(&theirs, their_team.id)
        .await
        .expect("their members");
    assert_eq!(members, [theirs_admin]);
}

pub async fn lists_show_only_the_callers_account(db: &TestDb) {
    let (my_admin, mine) = db.setup("mine.test").await;
    let (_, theirs) = db.account("theirs.test").await;
    let store: &dyn Store = db.store.as_ref();
    store
        .create_team(&theirs, &name("theirs"))
        .await
        .expect("their team");
    store
        .create_api_token(&theirs, &name("theirs"), "hash-theirs")
        .await
        .expect("their token");
    let expires = OffsetDateTime::now_utc() + Duration::hours(1);
    store
        .create_web_session(my_admin.id, "hash-mine", expires)
        .await
        .expect("session");

    assert_eq!(store.list_users(&mine).await.expect("users"), [my_admin]);
    assert_eq!(store.list_teams(&mine).await.expect("teams"), []);
    assert_eq!(store.list_api_tokens(&mine).await.expect("tokens"), []);
}

pub async fn another_users_token_in_the_same_account_is_not_found(db: &TestDb) {
    let (_, admin) = db.setup("acme.test").await;
    let eve = db
        .store
        .create_user(&admin, new_user("eve@acme.test", "Eve", Role::Engineer))
        .await
        .expect("eve");
    let eve = Principal {
        role: Role::Engineer,
        ..eve.principal()
    };
    let token = db
        .store
        .create_api_token(&admin, &name("ci"), "hash-ci")
        .await
        .expect("token");

    assert_eq!(
        db.store.list_api_tokens(&eve).await.expect("eve's tokens"),
        []
    );
    assert_not_found(
        db.store.revoke_api_token(&eve, token.id).await,
        "revoke another user's token",
    );
    assert_eq!(
        db.store
            .list_api_tokens(&admin)
            .await
            .expect("admin's tokens"),
        [token]
    );
}
