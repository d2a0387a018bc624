//! The one error shape of the API.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::json_file::Refused;
use spider_query::sql::QueryError;

/// An API error: its status and a message for the person who sent the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
}

impl ApiError {
    /// 400: the request is wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "bad_request",
            message: message.into(),
        }
    }

    /// A JSON body that could not be taken: 413 when it is over its route's limit, else 400.
    pub fn body(rejection: &axum::extract::rejection::JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Self {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                code: "too_large",
                message: rejection.body_text(),
            };
        }
        Self::bad_request(rejection.body_text())
    }

    /// The numeric id in a path (`what`: "capture", "session", …), or a 400 naming it.
    pub fn parse_id(text: &str, what: &str) -> Result<u64, Self> {
        text.parse()
            .map_err(|_| Self::bad_request(format!("{text:?} is not a {what} id")))
    }

    /// 404: no such thing.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
        }
    }

    /// 401: the token is missing or wrong.
    pub fn unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: "this server needs 'Authorization: Bearer <token>' with a token of a role \
                      that may call this route"
                .into(),
        }
    }

    /// 403: the request may not be answered here.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            message: message.into(),
        }
    }

    /// 409: right, but not now: a limit of the store is reached.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::CONFLICT,
            code: "conflict",
            message: message.into(),
        }
    }

    /// 415: a change that is not JSON (what a plain HTML form sends).
    pub fn unsupported_media(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "unsupported_media_type",
            message: message.into(),
        }
    }

    /// 503: the service is at a limit of what it runs at once; retrying later may work.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            message: message.into(),
        }
    }

    /// 500: the server failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: message.into(),
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> Self {
        match error {
            QueryError::Refused(message) => Self::bad_request(message),
            QueryError::Failed(message) => Self::internal(message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response()
    }
}

impl From<Refused> for ApiError {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::Invalid(message) => ApiError::bad_request(message),
            Refused::Busy(message) => ApiError::conflict(message),
            Refused::Storage(error) => ApiError::internal(error.to_string()),
        }
    }
}
