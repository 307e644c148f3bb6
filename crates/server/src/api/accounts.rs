//! Sign-up, sign-in, sign-out and "who am I".

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{self, CurrentUser};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::users::{Created, User};

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

#[derive(Deserialize)]
pub struct SignupBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize)]
pub struct SigninBody {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

fn session_response(status: StatusCode, user: &User, session: SessionStart) -> Response {
    let body = Json(json!({ "user": user, "csrf_token": session.csrf_token }));
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session.set_cookie);
    response
}

pub async fn signup(
    State(state): State<AppState>,
    Json(body): Json<SignupBody>,
) -> AppResult<Response> {
    let user = sign_up(&state, &body.name, &body.email, &body.password).await?;
    let session = start_session(&state, &user.id).await?;
    Ok(session_response(StatusCode::CREATED, &user, session))
}

pub async fn signin(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<SigninBody>,
) -> AppResult<Response> {
    let user = sign_in(&state, &ip, &body.email, &body.password).await?;
    let session = start_session(&state, &user.id).await?;
    Ok(session_response(StatusCode::OK, &user, session))
}

pub async fn signout(State(state): State<AppState>, caller: CurrentUser) -> AppResult<Response> {
    if let Some(hash) = &caller.session_hash {
        state.db.delete_session(hash).await?;
    }
    let cookie = auth::clear_session_cookie(state.config.secure_cookies);
    let mut headers = HeaderMap::new();
    headers.insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(AppError::internal)?,
    );
    Ok((headers, Json(json!({ "signed_out": true }))).into_response())
}

pub async fn me(caller: CurrentUser) -> Json<serde_json::Value> {
    Json(json!({ "user": caller.user, "csrf_token": caller.csrf_token }))
}
