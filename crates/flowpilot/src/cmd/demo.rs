//! `flowpilot serve --demo`: on an empty database, a demo account with the
//! knowledge base of `examples/flows/` (built into the binary), so that an
//! engineer can work an incident end to end at once, with the offline
//! guide when no model is configured.

use std::net::SocketAddr;

use anyhow::bail;
use engine::Principal;
use engine::accounts::{self, UserInput};
use include_dir::{Dir, include_dir};

static FLOWS: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../../examples/flows");

pub const ACCOUNT: &str = "FlowPilot demo";
pub const EMAIL: &str = "demo@flowpilot.example";

/// Sets the demo up (or says it already is) and prints how to sign in.
pub async fn prepare(store: &dyn engine::Store, listen: SocketAddr) -> anyhow::Result<()> {
    let password = engine::auth::new_secret()[..20].to_owned();
    let admin = UserInput {
        email: EMAIL,
        name: "Demo engineer",
        password: &password,
        role: engine::Role::Admin,
    };
    let (account, user) = match accounts::setup(store, ACCOUNT, admin).await {
        Ok(created) => created,
        Err(engine::Error::Conflict { .. }) => {
            if store
                .account_admins_named(ACCOUNT)
                .await
                .is_ok_and(|found| !found.is_empty())
            {
                println!(
                    "The demo account is already set up: sign in as {EMAIL} with the password printed when it was created."
                );
                return Ok(());
            }
            bail!(
                "--demo needs an empty database, and this one already has accounts; use a new --data-dir (or database) for the demo"
            );
        }
        Err(e) => bail!("setting up the demo account: {e}"),
    };
    let who = Principal {
        account_id: account.id,
        user_id: user.id,
        role: engine::Role::Admin,
    };
    let mut inputs = Vec::new();
    for file in FLOWS.files() {
        let stem = file
            .path()
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let text = file.contents_utf8().unwrap_or_default();
        match engine::kb::markdown::parse_flow_file(text, stem) {
            Ok(flow) => inputs.push(flow),
            Err(e) => tracing::warn!(file = stem, error = %e, "a demo flow is not valid"),
        }
    }
    let report = engine::kb::import_flows(store, &who, inputs)
        .await
        .map_err(|e| anyhow::anyhow!("loading the demo knowledge base: {e}"))?;
    println!(
        "Demo ready: account {ACCOUNT:?} with {} runbooks.\n\
         Sign in as {EMAIL} with the password {password}\n\
         (curl -c jar http://{listen}/api/v1/auth/login -H 'content-type: application/json' \
         -d '{{\"email\":\"{EMAIL}\",\"password\":\"{password}\"}}')",
        report.created
    );
    Ok(())
}
