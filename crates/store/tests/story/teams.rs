//! Teams and their members.

use engine::{Role, StoreError};

use crate::{TestDb, name, new_user};

pub async fn team_names_are_unique_per_account_and_listed_by_name(db: &TestDb) {
    let (_, one) = db.setup("one.test").await;
    let (_, two) = db.account("two.test").await;
    let ops = db.store.create_team(&one, &name("ops")).await.expect("ops");
    let desk = db
        .store
        .create_team(&one, &name("Desk"))
        .await
        .expect("desk");
    assert_eq!((ops.account_id, ops.name.as_str()), (one.account_id, "ops"));

    let again = db.store.create_team(&one, &name("ops")).await;
    assert!(
        matches!(
            again,
            Err(StoreError::Conflict("a team with that name already exists"))
        ),
        "{again:?}"
    );
    db.store
        .create_team(&two, &name("ops"))
        .await
        .expect("another account may use the same name");

    assert_eq!(db.store.list_teams(&one).await.expect("list"), [desk, ops]);
}

pub async fn members_are_added_idempotently_and_removed_once(db: &TestDb) {
    let (admin, who) = db.setup("acme.test").await;
    let eve = db
        .store
        .create_user(&who, new_user("eve@acme.test", "Eve", Role::Engineer))
        .await
        .expect("eve");
    let team = db.store.create_team(&who, &name("ops")).await.expect("ops");
    assert_eq!(
        db.store
            .list_team_members(&who, team.id)
            .await
            .expect("empty"),
        []
    );

    db.store
        .add_team_member(&who, team.id, eve.id)
        .await
        .expect("added");
    db.store
        .add_team_member(&who, team.id, eve.id)
        .await
        .expect("adding twice is fine");
    db.store
        .add_team_member(&who, team.id, admin.id)
        .await
        .expect("added");
    let members = db
        .store
        .list_team_members(&who, team.id)
        .await
        .expect("members");
    assert_eq!(members, [admin.clone(), eve.clone()]);

    db.store
        .remove_team_member(&who, team.id, eve.id)
        .await
        .expect("removed");
    let again = db.store.remove_team_member(&who, team.id, eve.id).await;
    assert!(matches!(again, Err(StoreError::NotFound)), "{again:?}");
    assert_eq!(
        db.store
            .list_team_members(&who, team.id)
            .await
            .expect("members"),
        [admin]
    );
}
