//! Accounts: sign-up, sign-in under the failure limits, and new sessions; used by the JSON
//! API and by the pages' forms alike.

use std::sync::Arc;

use axum::http::HeaderValue;

use crate::auth;
use crate::config::ServerConfig;
use crate::error::{AppError, AppResult, ServerError};
use crate::ratelimit::RateLimiter;
use crate::store::Db;
use crate::store::users::{Created, User};

/// The accounts service: the database, the sign-in failure limits and the session settings.
#[derive(Clone)]
pub struct Accounts {
    db: Db,
    config: Arc<ServerConfig>,
    limiter: Arc<RateLimiter>,
    /// A real Argon2 hash, verified against when the email is unknown so that sign-in takes
    /// the same time whether or not an account exists.
    dummy_hash: Arc<String>,
}

/// A new session: the cookie to set and the CSRF token to hand the page.
pub struct SessionStart {
    pub set_cookie: HeaderValue,
    pub csrf_token: String,
}

impl Accounts {
    /// The service over `db` with `config`'s limits (hashes its dummy password once).
    pub async fn new(db: Db, config: Arc<ServerConfig>) -> Result<Self, ServerError> {
        let dummy_hash = auth::hash_password_blocking("not-a-real-password".to_owned())
            .await
            .map_err(|e| ServerError::Io(std::io::Error::other(e.to_string())))?;
        Ok(Self {
            limiter: Arc::new(RateLimiter::new(
                config.signin_attempts,
                config.signin_window,
            )),
            db,
            config,
            dummy_hash: Arc::new(dummy_hash),
        })
    }

    /// A new session for `user_id`: stored (by its token's hash), with its cookie and CSRF
    /// token.
    pub async fn start_session(&self, user_id: &str) -> AppResult<SessionStart> {
        let token = crate::ids::random_hex(32);
        let csrf_token = crate::ids::random_hex(32);
        let ttl = self.config.session_ttl;
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        self.db
            .create_session(&auth::hash_token(&token), user_id, &csrf_token, ttl_ms)
            .await?;
        let cookie = auth::session_cookie(&token, ttl.as_secs(), self.config.secure_cookies);
        Ok(SessionStart {
            set_cookie: HeaderValue::from_str(&cookie).map_err(AppError::internal)?,
            csrf_token,
        })
    }

    /// A new account, after checking the name, email and password; an email already taken
    /// is a conflict.
    pub async fn sign_up(&self, name: &str, email: &str, password: &str) -> AppResult<User> {
        let (name, email) = auth::validate_signup(name, email, password)?;
        let hash = auth::hash_password_blocking(password.to_owned()).await?;
        match self.db.create_user(&name, &email, &hash).await? {
            Created::User(user) => Ok(user),
            Created::DuplicateEmail => Err(AppError::Conflict(
                "An account with this email already exists. Sign in instead.".to_owned(),
            )),
        }
    }

    /// Check credentials under the per-address and per-email failure limits.
    pub async fn sign_in(&self, ip: &str, email: &str, password: &str) -> AppResult<User> {
        let email = auth::normalize_email(email);
        let email_key = format!("email:{email}");
        let keys = [format!("ip:{ip}"), email_key.clone()];
        if let Some(retry_after_s) = self.limiter.blocked_for(&self.db, &keys).await? {
            return Err(AppError::TooManyRequests { retry_after_s });
        }
        let found = self.db.user_with_hash(&email).await?;
        // Verify against a dummy hash for unknown emails: same work, so timing tells nothing.
        let hash = found
            .as_ref()
            .map_or_else(|| self.dummy_hash.to_string(), |(_, h)| h.clone());
        let ok = auth::verify_password_blocking(password.to_owned(), hash).await?;
        match found {
            Some((user, _)) if ok => {
                self.limiter.clear(&self.db, &email_key).await?;
                Ok(user)
            }
            _ => {
                self.limiter.record_failure(&self.db, &keys).await?;
                Err(AppError::BadCredentials)
            }
        }
    }
}
