//! The one place where an error becomes a status code and a JSON body
//! `{"error": {"code", "message"}}`. Internal causes are logged here, inside
//! the request's span, and never sent to the client.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds, for 429 and 503 answers.
    pub retry_after: Option<u64>,
    /// The stored turn a failed send left behind.
    pub turn_id: Option<uuid::Uuid>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            turn_id: None,
        }
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "nothing exists at this address, or you don't have access to it",
        )
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "sign in first, or send an API token as `Authorization: Bearer <token>`",
        )
    }

    pub fn too_many_requests(message: impl Into<String>, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
        }
    }

    fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; it was logged, try again in a moment",
        )
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    turn_id: Option<uuid::Uuid>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: self.code,
                message: &self.message,
            },
            turn_id: self.turn_id,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<engine::Error> for ApiError {
    fn from(e: engine::Error) -> Self {
        use engine::Error as E;
        match e {
            E::Invalid(v) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", v.to_string()),
            E::Unauthenticated(why) => Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", why),
            E::Forbidden(why) => Self::new(StatusCode::FORBIDDEN, "forbidden", why),
            E::NotFound => Self::not_found(),
            E::Conflict { code, message } => Self::new(StatusCode::CONFLICT, code, message),
            E::Turn(failure) => {
                use engine::turn::FailureClass as C;
                let status = match failure.class {
                    C::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                    C::Timeout => StatusCode::GATEWAY_TIMEOUT,
                    C::BadGateway => StatusCode::BAD_GATEWAY,
                    C::Internal => StatusCode::INTERNAL_SERVER_ERROR,
                };
                Self {
                    retry_after: failure.retry_after,
                    turn_id: failure.turn_id.map(|t| t.as_uuid()),
                    ..Self::new(status, failure.code, failure.message)
                }
            }
            E::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "request failed");
                Self::internal()
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!(
                    "the JSON body has a missing or wrong field: {}",
                    e.body_text()
                ),
            ),
            JsonRejection::JsonSyntaxError(e) => Self::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("the body is not valid JSON: {}", e.body_text()),
            ),
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with `Content-Type: application/json`",
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the request body is too large; send less (e.g. smaller or fewer images)",
            ),
            other => Self::new(other.status(), "bad_request", other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        // A malformed id can't name anything: answer like a missing one.
        Self::not_found()
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("a query parameter is wrong: {}", rejection.body_text()),
        )
    }
}
