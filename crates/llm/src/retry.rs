//! Sending a request until the provider accepts it: exponential back-off
//! with jitter on 429/500/502/503/529 and connection errors, honouring
//! `Retry-After`, all before the first token.
//!
//! Once a response is 2xx it is handed back and never retried: tokens may
//! already be on their way (and billed). Knows nothing of the wire formats.

use std::time::Duration;

use engine::llm::{LlmError, LlmErrorKind};
use rand::Rng;
use secrecy::SecretString;
use tokio::time::{Instant, sleep_until, timeout_at};

use crate::errors;

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0-based): the exponential
    /// step, half fixed and half random ("equal jitter"), so a crowd of
    /// clients hit by the same overload do not come back in lockstep.
    pub fn backoff(&self, retry: u32) -> Duration {
        let step = self
            .base_delay
            .saturating_mul(1u32 << retry.min(16))
            .min(self.max_delay);
        let half = step / 2;
        let jitter_ns = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(rand::rng().random_range(0..=jitter_ns))
    }
}

/// When each attempt and the whole call must be done by.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// Each attempt gets this long to answer with headers (it counts
    /// towards the first-token limit, which restarts per attempt).
    pub first_token: Duration,
    /// The whole call, retries and stream included.
    pub overall: Instant,
}

/// Sends with retries. `Ok` carries the 2xx response and when its attempt
/// started (the first-token clock of the stream that follows).
pub async fn send<F>(
    policy: RetryPolicy,
    deadlines: Deadlines,
    key: Option<&SecretString>,
    mut make: F,
) -> Result<(reqwest::Response, Instant), LlmError>
where
    F: FnMut() -> reqwest::RequestBuilder,
{
    let mut retry = 0;
    loop {
        let started = Instant::now();
        let attempt_deadline = (started + deadlines.first_token).min(deadlines.overall);
        let (err, retryable) = match attempt(make(), attempt_deadline, key).await {
            Ok(resp) => return Ok((resp, started)),
            Err(failure) => failure,
        };
        if !retryable || retry >= policy.max_retries {
            return Err(exhausted(err, retry));
        }
        let wait = match err.retry_after {
            // Waiting out a long Retry-After would leave the engineer staring
            // at a spinner; better to say "rate limited" now.
            Some(asked) if asked > policy.max_delay => return Err(exhausted(err, retry)),
            Some(asked) => asked,
            None => policy.backoff(retry),
        };
        if Instant::now() + wait >= deadlines.overall {
            return Err(exhausted(err, retry));
        }
        tracing::warn!(
            kind = ?err.kind,
            status = err.status,
            retry = retry + 1,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "provider call failed; retrying"
        );
        sleep_until(Instant::now() + wait).await;
        retry += 1;
    }
}

/// One attempt: the error, and whether it is worth retrying.
async fn attempt(
    req: reqwest::RequestBuilder,
    deadline: Instant,
    key: Option<&SecretString>,
) -> Result<reqwest::Response, (LlmError, bool)> {
    let resp = match timeout_at(deadline, req.send()).await {
        Err(_) => {
            let e = LlmError::new(
                LlmErrorKind::Timeout,
                "no response from the provider within the first-token timeout",
            );
            return Err((e, false));
        }
        Ok(Err(e)) => {
            // Connect failures and resets before an answer are safe to retry:
            // the provider has not started generating.
            let retryable = e.is_connect() || !e.is_timeout();
            return Err((
                errors::from_transport(&e, key),
                retryable && !e.is_builder(),
            ));
        }
        Ok(Ok(resp)) => resp,
    };
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let headers = resp.headers().clone();
    // The error body is small; bound the read by the same deadline anyway.
    let body = timeout_at(deadline, resp.text())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let err = errors::from_http(status, &headers, &body, key);
    Err((err, errors::is_retryable_status(status)))
}

fn exhausted(mut err: LlmError, retries: u32) -> LlmError {
    if retries > 0 {
        err.detail = format!("{} (after {} attempts)", err.detail, retries + 1);
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let p = RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        for _ in 0..100 {
            let d0 = p.backoff(0);
            assert!(
                d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(100),
                "{d0:?}"
            );
            let d2 = p.backoff(2);
            assert!(
                d2 >= Duration::from_millis(200) && d2 <= Duration::from_millis(400),
                "{d2:?}"
            );
            let d9 = p.backoff(40);
            assert!(
                d9 >= Duration::from_millis(500) && d9 <= Duration::from_millis(1000),
                "{d9:?}"
            );
        }
    }
}
