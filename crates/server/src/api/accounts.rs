//! Sign-up, sign-in, sign-out and "who am I".

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::accounts::SessionStart;
use crate::auth::{self, ClientIp, CurrentUser};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::users::User;

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
    let user = state
        .accounts
        .sign_up(&body.name, &body.email, &body.password)
        .await?;
    let session = state.accounts.start_session(&user.id).await?;
    Ok(session_response(StatusCode::CREATED, &user, session))
}

pub async fn signin(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<SigninBody>,
) -> AppResult<Response> {
    let user = state
        .accounts
        .sign_in(&ip, &body.email, &body.password)
        .await?;
    let session = state.accounts.start_session(&user.id).await?;
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
