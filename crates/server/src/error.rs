//! Errors and how they look to a client: a JSON body `{"error": "...", "code": "..."}`
//! with no internal detail (database text, paths, backtraces stay in the log).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error a request handler can return.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A malformed request (unreadable upload, bad query parameters...); 400.
    #[error("{0}")]
    BadRequest(String),
    /// Input that fails validation; 422, with `field` in the body.
    #[error("{message}")]
    Validation {
        /// The form field at fault, e.g. `epochs`.
        field: &'static str,
        /// What is wrong, as a sentence for the user.
        message: String,
    },
    /// No valid bearer token or session cookie came with the request; 401.
    #[error("sign in required")]
    Unauthorized,
    /// A sign-in with an unknown email or a wrong password; 401.
    #[error("wrong email or password")]
    BadCredentials,
    /// A request refused as unsafe (missing CSRF token, cross-site request); 403.
    #[error("{0}")]
    Forbidden(&'static str),
    /// No such resource, or it belongs to another user; 404.
    #[error("not found")]
    NotFound,
    /// The request clashes with what exists (an email already registered, a job not yet or
    /// already finished); 409.
    #[error("{0}")]
    Conflict(String),
    /// An upload over the server's size limit; 413.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Too many failed sign-ins lately; 429, with a `Retry-After` header.
    #[error("too many sign-in attempts; try again in {retry_after_s} seconds")]
    TooManyRequests {
        /// Seconds until sign-in is allowed again.
        retry_after_s: u64,
    },
    /// A database query failed; 500, and the error is logged, never sent (the display is
    /// for the log: users get [`AppError::public_message`]).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Something on our side; 500, and the text is logged, never sent (as above).
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub(crate) fn validation(field: &'static str, message: impl Into<String>) -> Self {
        Self::Validation {
            field,
            message: message.into(),
        }
    }

    pub(crate) fn internal(err: impl std::fmt::Display) -> Self {
        Self::Internal(err.to_string())
    }

    /// The HTTP status of the response.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized | Self::BadCredentials => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Database(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Validation { .. } => "validation",
            Self::Unauthorized => "unauthorized",
            Self::BadCredentials => "bad_credentials",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound => "not_found",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::TooManyRequests { .. } => "rate_limited",
            Self::Database(_) | Self::Internal(_) => "internal",
        }
    }

    /// The message safe to show a user.
    pub fn public_message(&self) -> String {
        match self {
            Self::Database(_) | Self::Internal(_) => "internal server error".to_owned(),
            other => other.to_string(),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let Self::Database(e) = &self {
            tracing::error!(error = %e, "database error");
        } else if let Self::Internal(e) = &self {
            tracing::error!(error = %e, "internal error");
        }
        let mut body = json!({ "error": self.public_message(), "code": self.code() });
        if let Self::Validation { field, .. } = &self {
            body["field"] = json!(field);
        }
        let mut response = (self.status(), Json(body)).into_response();
        if let Self::TooManyRequests { retry_after_s } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
        }
        response
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The database could not be reached, migrated or prepared.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The database URL is neither `sqlite:` nor `postgres:`/`postgresql:`.
    #[error("unsupported database URL (use sqlite://... or postgres://...)")]
    UnsupportedDatabase,
    /// The data folder, or a local store's folder, could not be created or resolved.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The folder as configured.
        path: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The storage URL names an unknown kind of store, or the S3 store could not be set up.
    #[error("storage {url}: {why}")]
    Storage {
        /// The storage URL as configured.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// The listening socket could not be bound (address in use, no permission...).
    #[error("listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
    /// Any other I/O failure while starting or serving.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// The result of a request handler.
pub type AppResult<T> = Result<T, AppError>;
