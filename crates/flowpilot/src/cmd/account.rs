//! `flowpilot account create`: further accounts from the command line (the
//! first one can also come from `POST /api/v1/setup`).

use std::io::{BufRead as _, IsTerminal as _};
use std::path::PathBuf;

use anyhow::Context as _;
use engine::Role;
use engine::accounts::{self, UserInput};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create an account and its first admin. The admin's password comes
    /// from FLOWPILOT_ADMIN_PASSWORD, or the first line of standard input.
    Create {
        /// The account's name (e.g. the customer or department).
        #[arg(long)]
        name: String,
        /// The admin's email (used to sign in; unique across accounts).
        #[arg(long)]
        admin_email: String,
        /// The admin's display name.
        #[arg(long)]
        admin_name: String,
        #[arg(long, env = "FLOWPILOT_DATA_DIR", default_value = "./flowpilot-data")]
        data_dir: PathBuf,
        #[arg(long, env = "FLOWPILOT_DATABASE_URL")]
        database_url: Option<String>,
    },
}

pub async fn run(cmd: Command) -> anyhow::Result<()> {
    let Command::Create {
        name,
        admin_email,
        admin_name,
        data_dir,
        database_url,
    } = cmd;
    let password = admin_password()?;
    let url = match database_url {
        Some(url) => url,
        None => {
            std::fs::create_dir_all(&data_dir)
                .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
            store::sqlite_url_for_data_dir(&data_dir)
        }
    };
    let store = store::open(
        &url,
        store::OpenOptions {
            migrate: true,
            max_connections: 2,
        },
    )
    .await?;
    let admin = UserInput {
        email: &admin_email,
        name: &admin_name,
        password: &password,
        role: Role::Admin,
    };
    let (account, user) = accounts::create_account(store.as_ref(), &name, admin)
        .await
        .map_err(|e| anyhow::anyhow!("creating the account failed: {e}"))?;
    println!(
        "created account {:?} ({}) with admin {} ({})",
        account.name, account.id, user.email, user.id
    );
    Ok(())
}

fn admin_password() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("FLOWPILOT_ADMIN_PASSWORD") {
        return Ok(password);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password for the new admin (input is shown): ");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the admin password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        anyhow::bail!(
            "no password given: set FLOWPILOT_ADMIN_PASSWORD or pipe it on standard input"
        );
    }
    Ok(password)
}
