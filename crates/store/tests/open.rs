//! Opening stores and running migrations through the crate's public
//! functions, on both backends.

use store::test_support::{fresh_postgres_url, fresh_sqlite_url};
use store::{OpenOptions, backend_name, migrate, open, sqlite_url_for_data_dir};

/// How many migration files `backend` ships (its `migrations/` folder).
fn migrations(backend: &str) -> usize {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    std::fs::read_dir(&dir)
        .expect("the migrations folder")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count()
}

#[tokio::test]
async fn unknown_urls_are_refused_naming_the_accepted_forms() {
    let err = open("mysql://root:secret@db/fp", OpenOptions::default())
        .await
        .err()
        .expect("mysql is refused");
    let message = format!("{err:#}");
    assert!(
        message.contains("sqlite:PATH") && message.contains("postgres://"),
        "{message}"
    );
    assert!(!message.contains("secret"), "{message}");
    assert_eq!(backend_name("mysql://db/fp"), None);
}

#[tokio::test]
async fn a_data_dirs_database_is_created_with_its_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("nested").join("data");
    let url = sqlite_url_for_data_dir(&data_dir);
    assert_eq!(backend_name(&url), Some("sqlite"));

    let store = open(&url, OpenOptions::default()).await.expect("opens");
    store.ping().await.expect("answers");
    assert!(data_dir.join("flowpilot.db").is_file());
}

#[tokio::test]
async fn sqlite_migrations_apply_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    migrations_apply_once(&fresh_sqlite_url(dir.path())).await;
}

#[tokio::test]
async fn postgres_migrations_apply_once() {
    let url = fresh_postgres_url()
        .await
        .expect("PostgreSQL must be running for the store tests");
    assert_eq!(backend_name(&url), Some("postgres"));
    migrations_apply_once(&url).await;
}

async fn migrations_apply_once(url: &str) {
    let backend = backend_name(url).expect("a known backend");
    let shipped = migrations(backend);
    assert!(shipped >= 3, "{backend} ships its migrations");
    assert_eq!(migrate(url).await.expect("first run"), shipped);
    assert_eq!(migrate(url).await.expect("second run"), 0);
    let options = OpenOptions {
        migrate: false,
        max_connections: 1,
    };
    open(url, options)
        .await
        .expect("opens")
        .ping()
        .await
        .expect("answers");
    let store = open(url, OpenOptions::default())
        .await
        .expect("opens and migrates nothing");
    store.ping().await.expect("answers");
}
