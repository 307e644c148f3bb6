//! Accounts: sign-up, sign-in under the failure limits, and new sessions; used by the JSON
//! API and by the pages' forms alike.

use axum::http::HeaderValue;

use crate::auth;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::users::{Created, User};

/// A new session: the cookie to set and the CSRF token to hand the page.
pub struct SessionStart {
    pub set_cookie: HeaderValue,
    pub csrf_token: String,
}

pub async fn start_session(state: &AppState, user_id: &str) -> AppResult<SessionStart> {
    let token = crate::ids::random_hex(32);
    let csrf_token = crate::ids::random_hex(32);
    let ttl = state.config.session_ttl;
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    state
        .db
        .create_session(&auth::hash_token(&token), user_id, &csrf_token, ttl_ms)
        .await?;
    let cookie = auth::session_cookie(&token, ttl.as_secs(), state.config.secure_cookies);
    Ok(SessionStart {
        set_cookie: HeaderValue::from_str(&cookie).map_err(AppError::internal)?,
        csrf_token,
    })
}

pub async fn sign_up(state: &AppState, name: &str, email: &str, password: &str) -> AppResult<User> {
    let (name, email) = auth::validate_signup(name, email, password)?;
    let hash = auth::hash_password_blocking(password.to_owned()).await?;
    match state.db.create_user(&name, &email, &hash).await? {
        Created::User(user) => Ok(user),
        Created::DuplicateEmail => Err(AppError::Conflict(
            "An account with this email already exists. Sign in instead.".to_owned(),
        )),
    }
}

/// Check credentials under the per-address and per-email failure limits.
pub async fn sign_in(state: &AppState, ip: &str, email: &str, password: &str) -> AppResult<User> {
    let email = auth::normalize_email(email);
    let email_key = format!("email:{email}");
    let keys = [format!("ip:{ip}"), email_key.clone()];
    if let Some(retry_after_s) = state.limiter.blocked_for(&state.db, &keys).await? {
        return Err(AppError::TooManyRequests { retry_after_s });
    }
    let found = state.db.user_with_hash(&email).await?;
    // Verify against a dummy hash for unknown emails: same work, so timing tells nothing.
    let hash = found
        .as_ref()
        .map_or_else(|| state.dummy_hash.to_string(), |(_, h)| h.clone());
    let ok = auth::verify_password_blocking(password.to_owned(), hash).await?;
    match found {
        Some((user, _)) if ok => {
            state.limiter.clear(&state.db, &email_key).await?;
            Ok(user)
        }
        _ => {
            state.limiter.record_failure(&state.db, &keys).await?;
            Err(AppError::BadCredentials)
        }
    }
}
