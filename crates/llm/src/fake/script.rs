//! The fake provider's script: which reply (or fault) to give to which
//! request, loaded from JSON or YAML or built in code.
//!
//! Plain data and the matching rule; no I/O beyond reading the file.

use std::path::Path;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// A list of entries, consumed in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Script {
    pub entries: Vec<Entry>,
}

/// One scripted answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Answers only requests whose last user message contains this text;
    /// `null`/absent answers any request.
    #[serde(default, rename = "match")]
    pub matches: Option<String>,
    /// The reply text.
    #[serde(default)]
    pub reply: String,
    /// Characters per streamed text chunk (default 8).
    #[serde(default = "default_chunk_size")]
    pub chunk_size: usize,
    /// Pause between two text chunks, in milliseconds (default 0).
    #[serde(default)]
    pub chunk_delay_ms: u64,
    /// Token counts to report; absent counts are made up (see [`Entry::usage`]).
    #[serde(default)]
    pub usage: UsageSpec,
    /// Something to go wrong instead of (or during) the reply.
    #[serde(default)]
    pub fault: Option<Fault>,
    /// How many requests this entry answers before it is used up (default 1).
    #[serde(default = "one")]
    pub times: u32,
    /// Never used up (for a catch-all last entry in a demo script).
    #[serde(default)]
    pub repeat: bool,
}

fn default_chunk_size() -> usize {
    8
}

fn one() -> u32 {
    1
}

/// Token counts, as in the engine's `Usage`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageSpec {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_tokens: u64,
    #[serde(default)]
    pub cache_write_tokens: u64,
}

/// An injected failure. Which one is told by its field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum Fault {
    /// Answer with this HTTP status and the provider's error body, with
    /// `Retry-After: <secs>` and/or `retry-after-ms: <ms>` when given.
    Status {
        status: u16,
        #[serde(default)]
        retry_after: Option<u64>,
        #[serde(default)]
        retry_after_ms: Option<u64>,
        #[serde(default)]
        message: Option<String>,
    },
    /// Send this many text chunks, then close the connection abruptly (no
    /// end event, no final chunk of the HTTP body).
    Cut { cut_after_chunks: usize },
    /// Send the headers and the stream's opening events, then wait this
    /// long before the first text chunk.
    StallFirst { stall_before_first_chunk_ms: u64 },
    /// Wait this long after `after_chunks` text chunks (default 1).
    Stall {
        stall_ms: u64,
        #[serde(default = "one_usize")]
        after_chunks: usize,
    },
    /// Wait this long before answering at all (no headers yet).
    StallResponse { stall_before_response_ms: u64 },
}

fn one_usize() -> usize {
    1
}

impl Entry {
    /// A plain reply to any request.
    pub fn reply(text: impl Into<String>) -> Self {
        Self {
            matches: None,
            reply: text.into(),
            chunk_size: default_chunk_size(),
            chunk_delay_ms: 0,
            usage: UsageSpec::default(),
            fault: None,
            times: 1,
            repeat: false,
        }
    }

    /// A fault instead of a reply (set `reply` too for stream faults).
    pub fn fault(fault: Fault) -> Self {
        Self {
            fault: Some(fault),
            ..Self::reply("")
        }
    }

    pub fn matching(mut self, needle: impl Into<String>) -> Self {
        self.matches = Some(needle.into());
        self
    }

    pub fn chunks(mut self, size: usize, delay_ms: u64) -> Self {
        self.chunk_size = size;
        self.chunk_delay_ms = delay_ms;
        self
    }

    pub fn with_fault(mut self, fault: Fault) -> Self {
        self.fault = Some(fault);
        self
    }

    pub fn with_usage(mut self, usage: UsageSpec) -> Self {
        self.usage = usage;
        self
    }

    pub fn times(mut self, n: u32) -> Self {
        self.times = n;
        self
    }

    pub fn repeating(mut self) -> Self {
        self.repeat = true;
        self
    }

    /// The reply split into chunks of `chunk_size` characters.
    pub fn chunks_of_reply(&self) -> Vec<String> {
        let chars: Vec<char> = self.reply.chars().collect();
        chars
            .chunks(self.chunk_size.max(1))
            .map(|c| c.iter().collect())
            .collect()
    }

    /// The counts to report: the given ones, else 10 input tokens and one
    /// output token per chunk.
    pub fn usage(&self) -> engine::llm::Usage {
        engine::llm::Usage {
            input_tokens: self.usage.input_tokens.unwrap_or(10),
            output_tokens: self
                .usage
                .output_tokens
                .unwrap_or(self.chunks_of_reply().len() as u64),
            cache_read_tokens: self.usage.cache_read_tokens,
            cache_write_tokens: self.usage.cache_write_tokens,
        }
    }
}

impl Script {
    pub fn new(entries: Vec<Entry>) -> Self {
        Self { entries }
    }

    /// Reads a `.json`, `.yaml` or `.yml` file.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("could not read the fake-llm script {}", path.display()))?;
        let yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        let script: Self = if yaml {
            serde_yaml_ng::from_str(&text)
                .with_context(|| format!("{} is not a valid script", path.display()))?
        } else {
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not a valid script", path.display()))?
        };
        script.check()?;
        Ok(script)
    }

    /// Refuses scripts that cannot do what they seem to say.
    pub fn check(&self) -> anyhow::Result<()> {
        for (i, e) in self.entries.iter().enumerate() {
            if e.chunk_size == 0 {
                bail!("script entry {i}: chunk_size must be at least 1");
            }
            if let Some(Fault::Status { status, .. }) = e.fault
                && !(400..=599).contains(&status)
            {
                bail!("script entry {i}: fault status {status} is not an HTTP error status");
            }
        }
        Ok(())
    }
}

/// The script as the server consumes it.
#[derive(Debug)]
pub struct Cursor {
    entries: Vec<(Entry, u32)>,
}

impl Cursor {
    pub fn new(script: Script) -> Self {
        Self {
            entries: script
                .entries
                .into_iter()
                .map(|e| (e.clone(), e.times))
                .collect(),
        }
    }

    /// Appends entries after the current ones.
    pub fn push(&mut self, entries: Vec<Entry>) {
        self.entries.extend(entries.into_iter().map(|e| {
            let times = e.times;
            (e, times)
        }));
    }

    /// The first entry not used up that matches `last_user`, counted as used.
    pub fn take(&mut self, last_user: &str) -> Option<Entry> {
        let (entry, left) = self.entries.iter_mut().find(|(e, left)| {
            (e.repeat || *left > 0) && e.matches.as_deref().is_none_or(|m| last_user.contains(m))
        })?;
        *left = left.saturating_sub(1);
        Some(entry.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_consumed_in_order_and_matched_on_the_last_user_message() {
        let script: Script = serde_json::from_str(
            r#"[{"fault": {"status": 529, "retry_after": 1}, "times": 2},
                {"match": "printer", "reply": "Check the spooler."},
                {"reply": "Anything else.", "repeat": true}]"#,
        )
        .unwrap();
        let mut c = Cursor::new(script);
        assert!(matches!(
            c.take("x").unwrap().fault,
            Some(Fault::Status { status: 529, .. })
        ));
        assert!(c.take("x").unwrap().fault.is_some());
        assert_eq!(
            c.take("the printer is down").unwrap().reply,
            "Check the spooler."
        );
        assert_eq!(c.take("the printer again").unwrap().reply, "Anything else.");
        assert_eq!(c.take("y").unwrap().reply, "Anything else.");
    }

    #[test]
    fn faults_are_told_apart_by_their_fields() {
        let f: Vec<Fault> = serde_yaml_ng::from_str(
            "- cut_after_chunks: 2\n- stall_ms: 50\n- stall_before_first_chunk_ms: 9\n- stall_before_response_ms: 5\n- status: 401\n",
        )
        .unwrap();
        assert_eq!(
            f[0],
            Fault::Cut {
                cut_after_chunks: 2
            }
        );
        assert_eq!(
            f[1],
            Fault::Stall {
                stall_ms: 50,
                after_chunks: 1
            }
        );
        assert_eq!(
            f[2],
            Fault::StallFirst {
                stall_before_first_chunk_ms: 9
            }
        );
        assert_eq!(
            f[3],
            Fault::StallResponse {
                stall_before_response_ms: 5
            }
        );
        assert!(matches!(
            f[4],
            Fault::Status {
                status: 401,
                retry_after: None,
                ..
            }
        ));
    }

    #[test]
    fn replies_split_on_characters() {
        let e = Entry::reply("héllo wörld").chunks(4, 0);
        assert_eq!(e.chunks_of_reply(), ["héll", "o wö", "rld"]);
    }
}
