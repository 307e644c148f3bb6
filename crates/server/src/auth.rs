//! Passwords, tokens, session cookies, CSRF and the extractors that say who is calling.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::error::AppError;
use crate::state::AppState;
use crate::store::users::User;

pub const SESSION_COOKIE: &str = "ser_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Prefix of API tokens, so they are recognisable in logs and secret scanners.
pub const API_TOKEN_PREFIX: &str = "ser_";

/// What is stored for a bearer secret (session cookie or API token).
pub fn hash_token(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// Compare secrets without an early exit.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Argon2id PHC string. Slow on purpose: call from a blocking thread.
pub fn hash_password(password: &str) -> Result<String, AppError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(AppError::internal)
}

/// Slow on purpose: call from a blocking thread.
pub fn verify_password(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

pub async fn hash_password_blocking(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(AppError::internal)?
}

pub async fn verify_password_blocking(password: String, phc: String) -> Result<bool, AppError> {
    tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .map_err(AppError::internal)
}

/// Trimmed, lower-cased email: the form the `users.email` column holds.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Signup input checks; returns the trimmed name and normalised email.
pub fn validate_signup(
    name: &str,
    email: &str,
    password: &str,
) -> Result<(String, String), AppError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::validation("name", "Please enter your name."));
    }
    if name.chars().count() > 100 {
        return Err(AppError::validation(
            "name",
            "Name must be at most 100 characters.",
        ));
    }
    let email = normalize_email(email);
    if !looks_like_email(&email) {
        return Err(AppError::validation(
            "email",
            "Please enter a valid email address, like name@example.com.",
        ));
    }
    if password.chars().count() < 8 {
        return Err(AppError::validation(
            "password",
            "Password must be at least 8 characters.",
        ));
    }
    if password.len() > 1024 {
        return Err(AppError::validation(
            "password",
            "Password must be at most 1024 bytes.",
        ));
    }
    if is_common_password(password) {
        return Err(AppError::validation(
            "password",
            "This password is one of the most common ones, the first an attacker tries. \
             Please choose another.",
        ));
    }
    Ok((name.to_owned(), email))
}

/// Whether `password` is on the embedded list of the most common passwords (any case).
fn is_common_password(password: &str) -> bool {
    let lower = password.to_lowercase();
    include_str!("assets/common_passwords.txt")
        .lines()
        .filter(|line| !line.starts_with('#'))
        .any(|common| common == lower)
}

/// local@domain.tld, no spaces, one `@`: a shape check, not a deliverability check.
fn looks_like_email(email: &str) -> bool {
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
}

/// `Set-Cookie` value for a new session.
pub fn session_cookie(token: &str, max_age_s: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{secure}")
}

/// `Set-Cookie` value that removes the session cookie.
pub fn clear_session_cookie(secure: bool) -> String {
    session_cookie("", 0, secure)
}

/// The session token from the `Cookie` header, if any.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == SESSION_COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The signed-in caller of an API request.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    /// The session's CSRF token; `None` when authenticated by API token.
    pub csrf_token: Option<String>,
    /// Hash of the session cookie token (for sign-out).
    pub session_hash: Option<String>,
}

/// Who is calling: bearer token first (a bad one is an error, not a fallback), then cookie.
async fn identify(parts: &Parts, state: &AppState) -> Result<Option<CurrentUser>, AppError> {
    if let Some(token) = bearer_token(&parts.headers) {
        let user = state.db.token_user(&hash_token(token)).await?;
        let user = user.ok_or(AppError::Unauthorized)?;
        return Ok(Some(CurrentUser {
            user,
            csrf_token: None,
            session_hash: None,
        }));
    }
    let Some(token) = session_token(&parts.headers) else {
        return Ok(None);
    };
    let hash = hash_token(&token);
    Ok(state.db.session_user(&hash).await?.map(|s| CurrentUser {
        user: s.user,
        csrf_token: Some(s.csrf_token),
        session_hash: Some(hash),
    }))
}

fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Cookie-authenticated writes must echo the session's CSRF token in `X-CSRF-Token`.
fn check_csrf(parts: &Parts, user: &CurrentUser) -> Result<(), AppError> {
    let (Some(expected), true) = (&user.csrf_token, is_state_changing(&parts.method)) else {
        return Ok(());
    };
    let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    match sent {
        Some(sent) if constant_time_eq(sent, expected) => Ok(()),
        _ => Err(AppError::Forbidden(
            "missing or invalid CSRF token (send the X-CSRF-Token header)",
        )),
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let user = identify(parts, state)
            .await?
            .ok_or(AppError::Unauthorized)?;
        check_csrf(parts, &user)?;
        Ok(user)
    }
}

/// The session user of a page request, if signed in (pages never use API tokens).
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<CurrentUser>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let Some(token) = session_token(&parts.headers) else {
            return Ok(Self(None));
        };
        let hash = hash_token(&token);
        Ok(Self(state.db.session_user(&hash).await?.map(|s| {
            CurrentUser {
                user: s.user,
                csrf_token: Some(s.csrf_token),
                session_hash: Some(hash),
            }
        })))
    }
}

/// The session user of a page that needs sign-in; others are sent to the sign-in page.
#[derive(Debug, Clone)]
pub struct PageUser(pub CurrentUser);

impl FromRequestParts<AppState> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let MaybeUser(user) = MaybeUser::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        match user {
            Some(user) => Ok(Self(user)),
            None => {
                let next = parts.uri.path();
                Err(Redirect::to(&format!("/signin?next={next}")).into_response())
            }
        }
    }
}

/// A local path to return to after sign-in; anything else becomes `/`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') && n.len() < 200 =>
        {
            n.chars()
                .filter(|c| c.is_ascii_alphanumeric() || "/-_".contains(*c))
                .collect()
        }
        _ => LANDING.to_owned(),
    }
}

/// Where signing in or up lands when no page asked for it.
pub const LANDING: &str = "/prediction";

/// The caller's address, for rate limiting.
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let forwarded = state
            .config
            .trust_forwarded_for
            .then(|| parts.headers.get("x-forwarded-for")?.to_str().ok())
            .flatten()
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_owned());
        let direct = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string());
        Ok(Self(
            forwarded.or(direct).unwrap_or_else(|| "unknown".to_owned()),
        ))
    }
}
