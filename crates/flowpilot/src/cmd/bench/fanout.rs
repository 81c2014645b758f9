//! `flowpilot bench fanout`: how long a turn's deltas take from the
//! provider to an engineer's stream, on the instance that runs the turn and
//! on another instance of the same PostgreSQL database.
//!
//! Two servers run in this process on one database; the fake provider
//! records when it writes each chunk of the reply. One client streams the
//! turn from instance A (`POST …/messages`), another watches the session on
//! instance B (`GET …/events`). For every chunk, the delay is the time from
//! the provider writing it to the first event that completes it reaching
//! each client (events may carry several chunks). Same clock for all: one
//! process.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use llm::fake::{Entry, FakeLlm, Script};
use serde_json::json;

use super::{Client, EventReader, percentile, start_instance};

#[derive(Debug, clap::Args)]
pub struct FanoutArgs {
    /// A PostgreSQL database both instances share (a new account is made
    /// in it, so point it at a scratch database).
    #[arg(long)]
    database_url: String,
    /// Turns to send.
    #[arg(long, default_value_t = 20)]
    turns: usize,
    /// Chunks per reply.
    #[arg(long, default_value_t = 50)]
    chunks: usize,
    /// Milliseconds between chunks, as a model streaming at ~50 chunks/s.
    #[arg(long, default_value_t = 20)]
    chunk_delay_ms: u64,
}

const CHUNK: usize = 8;

pub async fn run(args: FanoutArgs) -> anyhow::Result<()> {
    if store::backend_name(&args.database_url) != Some("postgres") {
        bail!(
            "bench fanout needs a postgres:// --database-url: several instances share PostgreSQL"
        );
    }
    // Eight-character chunks of distinct words, so that no seam trims them.
    let reply: String = (0..args.chunks).map(|i| format!("w{i:05}, ")).collect();
    let reply = reply.trim_end().trim_end_matches(',').to_owned();
    let fake = FakeLlm::start(Script::new(vec![
        Entry::reply(reply.clone())
            .chunks(CHUNK, args.chunk_delay_ms)
            .repeating(),
    ]))
    .await?;
    let a = start_instance(&args.database_url, &fake.base_url(), &[]).await?;
    let b = start_instance(&args.database_url, &fake.base_url(), &[]).await?;
    let on_a = a.client().await?;
    let on_b = on_a.on(&b.base);

    let (mut local, mut remote) = (Vec::new(), Vec::new());
    for _ in 0..args.turns {
        let session = on_a.new_session().await?;
        let watch = open_events(&on_b, &session).await?;
        let sent_before = fake.chunk_times().len();
        let turn = send_streaming(&on_a, &session).await?;
        let (seen_a, seen_b) = tokio::try_join!(arrivals(turn), arrivals(watch))?;
        let sent = fake.chunk_times()[sent_before..].to_vec();
        if sent.len() != reply.len().div_ceil(CHUNK) {
            bail!(
                "the provider sent {} chunks, expected {}",
                sent.len(),
                reply.len().div_ceil(CHUNK)
            );
        }
        local.extend(delays(&sent, &seen_a)?);
        remote.extend(delays(&sent, &seen_b)?);
    }
    local.sort_by(f64::total_cmp);
    remote.sort_by(f64::total_cmp);
    println!(
        "PostgreSQL, two instances in one process; {} turns x {} chunks, {} ms apart",
        args.turns,
        reply.len().div_ceil(CHUNK),
        args.chunk_delay_ms
    );
    println!("provider chunk -> client      | p50 ms | p99 ms | max ms");
    for (name, d) in [
        ("same instance (POST stream)", &local),
        ("other instance (GET events)", &remote),
    ] {
        println!(
            "{name:<29} | {:>6.2} | {:>6.2} | {:>6.2}",
            percentile(d, 50.0),
            percentile(d, 99.0),
            d.last().copied().unwrap_or(f64::NAN)
        );
    }
    Ok(())
}

async fn open_events(client: &Client, session: &str) -> anyhow::Result<EventReader> {
    let response = client
        .http
        .get(format!("{}/api/v1/sessions/{session}/events", client.base))
        .bearer_auth(&client.token)
        .send()
        .await
        .context("opening the event stream")?;
    if !response.status().is_success() {
        bail!("GET …/events answered {}", response.status());
    }
    Ok(EventReader::new(response))
}

async fn send_streaming(client: &Client, session: &str) -> anyhow::Result<EventReader> {
    let response = client
        .http
        .post(format!(
            "{}/api/v1/sessions/{session}/messages",
            client.base
        ))
        .bearer_auth(&client.token)
        .header("accept", "text/event-stream")
        .json(&json!({"text": "go"}))
        .send()
        .await
        .context("sending a message")?;
    if !response.status().is_success() {
        bail!("POST …/messages answered {}", response.status());
    }
    Ok(EventReader::new(response))
}

/// (display length so far, when) after each delta, until the turn ends.
async fn arrivals(mut events: EventReader) -> anyhow::Result<Vec<(usize, Instant)>> {
    let mut shown = 0;
    let mut out = Vec::new();
    let deadline = Duration::from_secs(60);
    loop {
        let Some(e) = tokio::time::timeout(deadline, events.next()).await?? else {
            bail!("a stream ended before its turn did");
        };
        match e.name.as_str() {
            "display.delta" => {
                shown += e.data["text"].as_str().map_or(0, str::len);
                out.push((shown, e.at));
            }
            "turn.completed" => return Ok(out),
            "turn.failed" => bail!("the turn failed: {}", e.data),
            _ => {}
        }
    }
}

/// For chunk k, the delay from its sending to the first delta that covers
/// its word (its trailing space is held back until the next chunk shows it
/// is not trailing, as the marker protocol requires, so it doesn't count).
fn delays(sent: &[Instant], seen: &[(usize, Instant)]) -> anyhow::Result<Vec<f64>> {
    let total = seen.last().map_or(0, |s| s.0);
    sent.iter()
        .enumerate()
        .map(|(k, at)| {
            let end = ((k + 1) * CHUNK - 1).min(total);
            let arrived = seen
                .iter()
                .find(|(shown, _)| *shown >= end)
                .context("a chunk that never arrived")?
                .1;
            Ok(arrived.saturating_duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect()
}
