//! `flowpilot dev`: the fake model provider, for tests, demos and
//! benchmarks on machines that can't reach a real one.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Serve scripted replies over the Anthropic Messages and
    /// OpenAI-compatible Chat Completions protocols (see docs/providers.md).
    FakeLlm {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
        /// The script of replies (`.json`, `.yaml` or `.yml`).
        #[arg(long)]
        script: PathBuf,
    },
}

pub async fn run(cmd: Command) -> anyhow::Result<()> {
    let Command::FakeLlm { listen, script } = cmd;
    tracing::info!(%listen, script = %script.display(), "fake provider listening");
    llm::run_fake_llm(listen, script, super::signal::shutdown()).await
}
