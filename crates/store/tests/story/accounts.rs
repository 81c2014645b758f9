//! First-run setup, further accounts, users and sign-in lookups.

use std::sync::Arc;

use engine::{Email, Role, StoreError};

use crate::{TestDb, name, new_user};

pub async fn setup_creates_the_first_admin_and_refuses_a_second_setup(db: &TestDb) {
    let (account, admin) = db
        .store
        .setup_first_account(
            &name("Acme IT"),
            new_user("ada@acme.test", "Ada", Role::Admin),
        )
        .await
        .expect("the first setup succeeds");
    assert_eq!(account.name, "Acme IT");
    assert_eq!(admin.account_id, account.id);
    assert_eq!(
        (admin.email.as_str(), admin.role),
        ("ada@acme.test", Role::Admin)
    );

    let second = db
        .store
        .setup_first_account(
            &name("Other"),
            new_user("bob@other.test", "Bob", Role::Admin),
        )
        .await;
    assert!(matches!(second, Err(StoreError::Conflict(_))), "{second:?}");
    let creds = db
        .store
        .credentials_by_email(&email("bob@other.test"))
        .await
        .expect("lookup");
    assert!(creds.is_none(), "the refused setup stored nothing");
}

pub async fn racing_setups_let_exactly_one_win(db: &TestDb) {
    let racers = (0..10).map(|i| {
        let store = Arc::clone(&db.store);
        tokio::spawn(async move {
            let admin = new_user(&format!("admin{i}@race.test"), "Admin", Role::Admin);
            store
                .setup_first_account(&name(&format!("Racer {i}")), admin)
                .await
        })
    });
    let mut won = 0;
    for racer in racers.collect::<Vec<_>>() {
        match racer.await.expect("the task ran") {
            Ok(_) => won += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("a losing setup must be a conflict, got {other:?}"),
        }
    }
    assert_eq!(won, 1);
}

pub async fn create_account_adds_an_account_with_its_admin(db: &TestDb) {
    let (_, first) = db.setup("one.test").await;
    let (account, admin) = db
        .store
        .create_account(
            &name("Two"),
            new_user("admin@two.test", "Admin Two", Role::Admin),
        )
        .await
        .expect("a second account");
    assert_eq!(account.name, "Two");
    assert_eq!(admin.account_id, account.id);
    assert_ne!(account.id, first.account_id);
    assert_eq!(
        db.store
            .get_user(&admin.principal(), admin.id)
            .await
            .expect("own user"),
        admin
    );
}

pub async fn an_email_is_unique_across_all_accounts(db: &TestDb) {
    let (_, one) = db.setup("one.test").await;
    let (_, two) = db.account("two.test").await;
    db.store
        .create_user(&one, new_user("sam@shared.test", "Sam", Role::Engineer))
        .await
        .expect("first use of the address");

    let in_other_account = db
        .store
        .create_user(
            &two,
            new_user("sam@shared.test", "Other Sam", Role::Engineer),
        )
        .await;
    assert!(
        matches!(
            in_other_account,
            Err(StoreError::Conflict("email is already in use"))
        ),
        "{in_other_account:?}"
    );
    // The engine lower-cases addresses, so `Sam@Shared.TEST` arrives like this.
    let as_new_account = db
        .store
        .create_account(
            &name("Three"),
            new_user("Sam@Shared.TEST", "Sam", Role::Admin),
        )
        .await;
    assert!(
        matches!(
            as_new_account,
            Err(StoreError::Conflict("email is already in use"))
        ),
        "{as_new_account:?}"
    );
}

pub async fn credentials_are_found_by_email_in_any_account_but_not_for_disabled_users(db: &TestDb) {
    db.setup("one.test").await;
    let (admin_two, _) = db.account("two.test").await;
    let creds = db
        .store
        .credentials_by_email(&email("admin@two.test"))
        .await
        .expect("lookup")
        .expect("the user exists");
    assert_eq!(creds.user, admin_two);
    assert_eq!(creds.password_hash, "hash-of-admin@two.test");
    assert!(
        db.store
            .credentials_by_email(&email("nobody@two.test"))
            .await
            .expect("lookup")
            .is_none()
    );

    db.execute(
        "UPDATE users SET disabled_at = created_at WHERE id = $1",
        admin_two.id.as_uuid(),
    )
    .await;
    assert!(
        db.store
            .credentials_by_email(&email("admin@two.test"))
            .await
            .expect("lookup")
            .is_none()
    );
}

pub async fn users_are_created_fetched_and_listed_by_name(db: &TestDb) {
    let (admin, who) = db.setup("acme.test").await;
    let zoe = db
        .store
        .create_user(&who, new_user("zoe@acme.test", "zoe", Role::Engineer))
        .await
        .expect("zoe");
    let bea = db
        .store
        .create_user(&who, new_user("bea@acme.test", "Bea", Role::Engineer))
        .await
        .expect("bea");
    assert_eq!((bea.account_id, bea.role), (who.account_id, Role::Engineer));
    // Stored times read back equal (PostgreSQL keeps microseconds only).
    assert_eq!(db.store.get_user(&who, zoe.id).await.expect("zoe"), zoe);

    let names: Vec<_> = db
        .store
        .list_users(&who)
        .await
        .expect("list")
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["Admin", "Bea", "zoe"], "by name, whatever the case");
    assert_eq!(
        db.store.get_user(&who, admin.id).await.expect("admin").role,
        Role::Admin
    );
}

fn email(s: &str) -> Email {
    Email::parse(s).expect("a valid email")
}
