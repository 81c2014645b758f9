//! `flowpilot serve`: open the database, run migrations, serve until
//! SIGTERM or Ctrl-C, then finish requests in flight and exit.

use anyhow::Context as _;
use tokio::net::TcpListener;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: server::Config,
    /// On an empty database: create a demo account with the built-in
    /// knowledge base (examples/flows) and print how to sign in.
    #[arg(long)]
    demo: bool,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let Args { mut config, demo } = args;
    config.llm = config.llm.clone().resolve()?;
    if config.database_url.is_none() {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("creating the data directory {}", config.data_dir.display())
        })?;
    }
    let listen = config.listen;
    let provider = config.llm.effective_provider();
    let state = server::build_state(config).await?;
    if demo {
        super::demo::prepare(state.store(), listen).await?;
    }
    let listener = TcpListener::bind(listen).await.with_context(|| {
        format!(
            "listening on {listen}; is another process using it? set --listen or FLOWPILOT_LISTEN"
        )
    })?;
    tracing::info!(address = %listener.local_addr()?, provider = provider.as_str(), "FlowPilot is listening");
    server::serve(listener, state, super::signal::shutdown()).await?;
    tracing::info!("stopped");
    Ok(())
}
