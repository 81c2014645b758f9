//! `flowpilot markers parse`: read one reply on standard input, print what
//! FlowPilot makes of it (display text, payloads, diagnostics) as JSON.

use std::io::Read as _;

use anyhow::Context as _;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Parse a reply from standard input and print the result as JSON.
    Parse {
        /// Feed the streaming parser in chunks of this many bytes (cut at
        /// character boundaries) instead of parsing in one go.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        stream_chunks: Option<u64>,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<()> {
    let Command::Parse { stream_chunks } = cmd;
    let mut reply = String::new();
    std::io::stdin()
        .read_to_string(&mut reply)
        .context("reading the reply from standard input (it must be UTF-8)")?;
    let parsed = match stream_chunks {
        Some(n) => markers::parse_streamed(&reply, usize::try_from(n).unwrap_or(usize::MAX)),
        None => markers::parse(&reply),
    };
    println!("{}", markers::to_cli_json(&parsed));
    Ok(())
}
