//! `flowpilot bench turn`: the server's own time per chat turn.
//!
//! Runs the real server in this process on loopback, with the real HTTP
//! provider client talking to the fake provider (zero delay), and sends
//! turns through the HTTP API. A turn's server time is the wall time of its
//! `POST …/messages` minus the time the turn spent waiting on the provider
//! (`turn.timings.provider_ms`: from sending the request to the end of the
//! reply stream). Reported as p50 / p99 for sessions with few and with
//! many earlier turns.

use std::time::Instant;

use anyhow::Context as _;
use llm::fake::{Entry, FakeLlm, Script};
use serde_json::json;

use super::{Client, percentile, start_instance};

#[derive(Debug, clap::Args)]
pub struct TurnArgs {
    /// The database to measure on; default: a SQLite file in a temporary
    /// directory. A PostgreSQL database is used as is (a new account is made
    /// in it), so point it at a scratch database.
    #[arg(long)]
    database_url: Option<String>,
    /// Earlier turns in the session, one measurement run per value.
    #[arg(long, value_delimiter = ',', default_value = "5,200")]
    history: Vec<usize>,
    /// Measured turns per run.
    #[arg(long, default_value_t = 200)]
    samples: usize,
}

/// A realistic reply: prose and every marker a turn commonly carries. The
/// fix repeats exactly, so after the first turn it keeps the active one.
const REPLY: &str = r#"Prompts for every user at once usually come from the tenant side: a conditional access change, a licensing change, or legacy authentication being switched off. Let's confirm which before changing anything on the PCs.

The sign-in logs will tell us quickly whether the prompts are failed modern-auth sign-ins or blocked legacy ones.
[QUESTIONS]
[{"text": "Did anything change in the tenant in the last day?", "context": "Conditional access, security defaults, MFA"},
 {"text": "Do browser sign-ins to Outlook on the web prompt too?"}]
[/QUESTIONS]
[ACTIONS]
[{"label": "Check the sign-in logs", "command": "Get-MgAuditLogSignIn -Top 50 | Where-Object Status -ne 0", "description": "Look at the failure reasons"},
 {"label": "Check the Office identity policy", "command": "reg query HKCU\\Software\\Microsoft\\Office\\16.0\\Common\\Identity", "description": "EnableADAL should not be 0"}]
[/ACTIONS]
[PROMOTE]
{"source_type": "ai_synthesis", "text": "Every user at one client is affected since this morning, so the cause is shared.", "summary": "Shared cause"}
[/PROMOTE]
[SUGGEST_FIX]
{"title": "Re-enable modern authentication", "description": "Remove the policy that sets EnableADAL=0, then restart Outlook.", "confidence": 70}
[/SUGGEST_FIX]"#;

impl Client {
    /// Sends one turn; returns (server ms, provider ms).
    async fn turn(&self, session: &str) -> anyhow::Result<(f64, f64)> {
        let started = Instant::now();
        let body = self
            .post(
                &format!("/api/v1/sessions/{session}/messages"),
                json!({"text": "No change that I know of; web sign-ins are fine."}),
            )
            .await?;
        let total = started.elapsed().as_secs_f64() * 1000.0;
        let provider = body["turn"]["timings"]["provider_ms"]
            .as_f64()
            .context("the turn has no provider timing")?;
        Ok((total - provider, provider))
    }
}

pub async fn run(args: TurnArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let url = super::database_url(args.database_url.as_deref(), dir.path());
    let fake = FakeLlm::start(Script::new(vec![
        Entry::reply(REPLY).chunks(64, 0).repeating(),
    ]))
    .await?;
    let instance = start_instance(&url, &fake.base_url(), &[]).await?;
    let bench = instance.client().await?;
    println!(
        "backend: {}   samples per run: {}   provider: fake, zero delay, 64-byte chunks",
        store::backend_name(&url).unwrap_or("?"),
        args.samples
    );
    println!("earlier turns | server p50 ms | server p99 ms | mean ms | provider p50 ms");
    for &history in &args.history {
        // A warm-up session, so that first-use costs don't land in a sample.
        let warm = bench.new_session().await?;
        for _ in 0..5 {
            bench.turn(&warm).await?;
        }
        let mut server_ms = Vec::with_capacity(args.samples);
        let mut provider_ms = Vec::with_capacity(args.samples);
        let fresh_per_sample = history <= 20;
        let mut shared = None;
        for _ in 0..args.samples {
            // Few earlier turns: a session of its own per sample, so every
            // sample has exactly `history` earlier turns. Many: one session,
            // grown to `history` once (samples add to it).
            let session = match (&shared, fresh_per_sample) {
                (Some(id), false) => String::clone(id),
                _ => {
                    let id = bench.new_session().await?;
                    for _ in 0..history {
                        bench.turn(&id).await?;
                    }
                    if !fresh_per_sample {
                        shared = Some(id.clone());
                    }
                    id
                }
            };
            let (server, provider) = bench.turn(&session).await?;
            server_ms.push(server);
            provider_ms.push(provider);
        }
        server_ms.sort_by(f64::total_cmp);
        provider_ms.sort_by(f64::total_cmp);
        let mean = server_ms.iter().sum::<f64>() / server_ms.len().max(1) as f64;
        println!(
            "{history:>13} | {:>13.2} | {:>13.2} | {mean:>7.2} | {:>15.2}",
            percentile(&server_ms, 50.0),
            percentile(&server_ms, 99.0),
            percentile(&provider_ms, 50.0),
        );
    }
    Ok(())
}
