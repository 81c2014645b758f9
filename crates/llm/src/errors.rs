//! Turning what the provider said (an HTTP status and error body, a
//! transport error, an in-stream error event) into the engine's typed
//! [`LlmError`], with the API key scrubbed from every text.
//!
//! Shared by both providers; no knowledge of either request format.

use std::time::Duration;

use engine::llm::{LlmError, LlmErrorKind};
use http::{HeaderMap, StatusCode};
use secrecy::{ExposeSecret, SecretString};

/// Longest provider error text we keep: enough to read, not a whole page.
const MAX_DETAIL: usize = 500;

/// The kind for an HTTP error status.
pub fn kind_for_status(status: StatusCode) -> LlmErrorKind {
    match status.as_u16() {
        401 | 403 => LlmErrorKind::Auth,
        429 => LlmErrorKind::RateLimited,
        408 | 504 => LlmErrorKind::Timeout,
        // 529 is Anthropic's "overloaded".
        500..=599 => LlmErrorKind::Overloaded,
        _ => LlmErrorKind::BadRequest,
    }
}

/// Statuses worth another attempt: rate limits and server trouble. 504 and
/// 408 are left out on purpose: the provider already spent its time.
pub fn is_retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 500 | 502 | 503 | 529)
}

/// The kind for a provider's in-stream or body error type (Anthropic's
/// `error.type`, OpenAI's `error.type`/`code`).
pub fn kind_for_error_type(ty: &str) -> LlmErrorKind {
    match ty {
        "authentication_error" | "permission_error" | "invalid_api_key" => LlmErrorKind::Auth,
        "rate_limit_error" | "rate_limit_exceeded" | "insufficient_quota" => {
            LlmErrorKind::RateLimited
        }
        "overloaded_error" | "api_error" | "server_error" => LlmErrorKind::Overloaded,
        "timeout_error" => LlmErrorKind::Timeout,
        _ => LlmErrorKind::BadRequest,
    }
}

/// How long the provider asked us to wait: OpenAI's `retry-after-ms`, else
/// `Retry-After` in seconds. (The HTTP-date form is not used by either
/// provider and is ignored.)
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    let secs = get("retry-after-ms")
        .map(|ms| ms / 1000.0)
        .or_else(|| get("retry-after"))?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// An error for a non-2xx answer, from its status, headers and body text.
pub fn from_http(
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
    key: Option<&SecretString>,
) -> LlmError {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let err = parsed.as_ref().and_then(|v| v.get("error"));
    let message = err
        .and_then(|e| {
            e.get("message")
                .and_then(|m| m.as_str())
                .or_else(|| e.as_str())
        })
        .unwrap_or(body);
    let mut kind = kind_for_status(status);
    // A 400 that says "overloaded" or "rate limit" in its type is still a 400:
    // only auth errors hiding behind odd statuses are worth reclassifying.
    if let Some(ty) = err.and_then(|e| e.get("type")).and_then(|t| t.as_str())
        && kind_for_error_type(ty) == LlmErrorKind::Auth
    {
        kind = LlmErrorKind::Auth;
    }
    let mut e = LlmError::new(
        kind,
        scrub(&format!("HTTP {}: {message}", status.as_u16()), key),
    );
    e.status = Some(status.as_u16());
    e.retry_after = retry_after(headers);
    e
}

/// An error for a transport failure (connect, reset, body read).
pub fn from_transport(err: &reqwest::Error, key: Option<&SecretString>) -> LlmError {
    let kind = if err.is_timeout() {
        LlmErrorKind::Timeout
    } else {
        LlmErrorKind::Network
    };
    // reqwest's Display is terse; the source chain says what actually broke
    // ("connection refused", "connection closed before message completed").
    let mut detail = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    LlmError::new(kind, scrub(&detail, key))
}

/// Removes the key from a text (providers echo parts of bad keys back)
/// and keeps it short.
pub fn scrub(text: &str, key: Option<&SecretString>) -> String {
    let mut out = match key.map(|k| k.expose_secret()) {
        Some(k) if k.len() >= 4 => text.replace(k, "[redacted]"),
        _ => text.to_owned(),
    };
    if out.len() > MAX_DETAIL {
        let mut cut = MAX_DETAIL;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_kinds() {
        let table = [
            (400, LlmErrorKind::BadRequest, false),
            (401, LlmErrorKind::Auth, false),
            (403, LlmErrorKind::Auth, false),
            (404, LlmErrorKind::BadRequest, false),
            (429, LlmErrorKind::RateLimited, true),
            (500, LlmErrorKind::Overloaded, true),
            (502, LlmErrorKind::Overloaded, true),
            (503, LlmErrorKind::Overloaded, true),
            (504, LlmErrorKind::Timeout, false),
            (529, LlmErrorKind::Overloaded, true),
        ];
        for (code, kind, retry) in table {
            let s = StatusCode::from_u16(code).unwrap();
            assert_eq!(
                (kind_for_status(s), is_retryable_status(s)),
                (kind, retry),
                "{code}"
            );
        }
    }

    #[test]
    fn retry_after_reads_ms_then_seconds() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
        h.clear();
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn provider_error_text_is_kept_but_the_key_is_not() {
        let key = SecretString::from("sk-live-123456");
        let body = r#"{"error":{"message":"Incorrect API key provided: sk-live-123456.","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        let e = from_http(
            StatusCode::UNAUTHORIZED,
            &HeaderMap::new(),
            body,
            Some(&key),
        );
        assert_eq!(e.kind, LlmErrorKind::Auth);
        assert_eq!(
            e.detail,
            "HTTP 401: Incorrect API key provided: [redacted]."
        );
    }

    #[test]
    fn long_details_are_cut_on_a_char_boundary() {
        let s = scrub(&"é".repeat(400), None);
        assert!(s.len() <= MAX_DETAIL + 3 && s.ends_with('…'));
    }
}
