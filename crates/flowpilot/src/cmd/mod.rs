//! Subcommands. Each module holds one command and stays thin: the work is
//! done by the library crates.

mod account;
mod bench;
mod demo;
mod dev;
pub(crate) mod kb;
mod markers_cmd;
mod migrate;
pub(crate) mod models;
mod serve;
mod signal;

use clap::{Parser, Subcommand};

/// FlowPilot: AI troubleshooting copilot for IT support engineers.
#[derive(Debug, Parser)]
#[command(name = "flowpilot", version, about, long_about = None)]
pub struct Cli {
    /// Log format.
    #[arg(
        long,
        env = "FLOWPILOT_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    log_format: server::telemetry::LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (SQLite in the data directory unless
    /// FLOWPILOT_DATABASE_URL says otherwise).
    Serve(Box<serve::Args>),
    /// Run pending database migrations, then exit.
    Migrate(migrate::Args),
    /// Manage accounts.
    #[command(subcommand)]
    Account(account::Command),
    /// The knowledge base: import flows, measure retrieval.
    #[command(subcommand)]
    Kb(kb::Command),
    /// The embedding model for hybrid search.
    #[command(subcommand)]
    Models(models::Command),
    /// The marker protocol, for prompt authors.
    #[command(subcommand)]
    Markers(markers_cmd::Command),
    /// Tools for development, tests and demos.
    #[command(subcommand)]
    Dev(dev::Command),
    /// Benchmarks of FlowPilot's own work (docs/performance.md).
    #[command(subcommand)]
    Bench(bench::Command),
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(config) => {
            server::telemetry::init_logging(cli.log_format);
            serve::run(*config).await
        }
        Command::Migrate(args) => migrate::run(args).await,
        Command::Account(cmd) => account::run(cmd).await,
        Command::Markers(cmd) => markers_cmd::run(cmd),
        Command::Kb(cmd) => kb::run(cmd).await,
        Command::Models(cmd) => models::run(cmd),
        Command::Bench(cmd) => bench::run(cmd).await,
        Command::Dev(cmd) => {
            server::telemetry::init_logging(cli.log_format);
            dev::run(cmd).await
        }
    }
}
