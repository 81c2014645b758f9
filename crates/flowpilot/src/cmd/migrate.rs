//! `flowpilot migrate`: apply pending migrations without starting the
//! server (e.g. before rolling out several instances).

use std::path::PathBuf;

use anyhow::Context as _;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory of the default SQLite database.
    #[arg(long, env = "FLOWPILOT_DATA_DIR", default_value = "./flowpilot-data")]
    data_dir: PathBuf,
    /// Database URL (`postgres://…` or `sqlite:PATH`); default: SQLite in the
    /// data directory.
    #[arg(long, env = "FLOWPILOT_DATABASE_URL")]
    database_url: Option<String>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let url = match args.database_url {
        Some(url) => url,
        None => {
            std::fs::create_dir_all(&args.data_dir).with_context(|| {
                format!("creating the data directory {}", args.data_dir.display())
            })?;
            store::sqlite_url_for_data_dir(&args.data_dir)
        }
    };
    let applied = store::migrate(&url).await?;
    println!("{applied} migration(s) applied; the database is up to date");
    Ok(())
}
