//! Server-rendered pages (minijinja templates, HTML-escaped) and the static assets they use
//! (all embedded in the binary).

use std::sync::OnceLock;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::value::Serde;
use minijinja::{Environment, Value, context};
use serde::Deserialize;

use crate::auth::{self, ClientIp, CurrentUser, MaybeUser, PageUser};
use crate::config::human_bytes;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::models::DEFAULT_MODEL_ID;

/// The page templates: `{{ value }}` is HTML-escaped unless the value is marked safe.
const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("assets/layout.html")),
    ("home.html", include_str!("assets/home.html")),
    ("auth.html", include_str!("assets/auth.html")),
    ("training.html", include_str!("assets/training.html")),
    ("testing.html", include_str!("assets/testing.html")),
    ("prediction.html", include_str!("assets/prediction.html")),
    ("account.html", include_str!("assets/account.html")),
    ("not_found.html", include_str!("assets/not_found.html")),
];

/// Embedded static files: (name, content type, content).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("assets/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    ),
    (
        "training.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/training.js"),
    ),
    (
        "testing.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/testing.js"),
    ),
    (
        "prediction.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/prediction.js"),
    ),
    (
        "account.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/account.js"),
    ),
    (
        "capture-worklet.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/capture-worklet.js"),
    ),
    ("logo.svg", "image/svg+xml", include_str!("assets/logo.svg")),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/signin", get(signin_page).post(signin_form))
        .route("/signup", get(signup_page).post(signup_form))
        .route("/signout", axum::routing::post(signout_form))
        .route("/training", get(training))
        .route("/testing", get(testing))
        .route("/prediction", get(prediction))
        .route("/account", get(account))
        .route("/assets/{name}", get(asset))
        .fallback(not_found)
}

fn templates() -> &'static Environment<'static> {
    static TEMPLATE_SET: OnceLock<Environment<'static>> = OnceLock::new();
    TEMPLATE_SET.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            // Checked by the page tests: every template is rendered there.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "page template does not parse");
            }
        }
        env
    })
}

/// A page inside the common layout.
struct Page<'a> {
    /// The template of the page's body (it extends `layout.html`).
    template: &'a str,
    title: &'a str,
    /// Which navigation link is current: `home`, `training`, `testing`, `prediction`, `account`.
    active: &'a str,
    user: Option<&'a CurrentUser>,
    script: Option<&'a str>,
}

/// The page with the layout's values and the page's own `values`.
fn render(state: &AppState, page: Page<'_>, values: Value) -> Result<Html<String>, AppError> {
    let user = page
        .user
        .map(|u| context! { name => u.user.name.as_str(), email => u.user.email.as_str() });
    let csrf = page.user.and_then(|u| u.csrf_token.as_deref());
    let context = context! {
        title => page.title,
        active => page.active,
        user,
        csrf => csrf.unwrap_or(""),
        script => page.script,
        contact_email => state.config.contact_email.as_str(),
        ..values
    };
    templates()
        .get_template(page.template)
        .and_then(|template| template.render(context))
        .map(Html)
        .map_err(|e| AppError::internal(format!("page {}: {e:#}", page.template)))
}

async fn home(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
) -> Result<Html<String>, AppError> {
    render(
        &state,
        Page {
            template: "home.html",
            title: "Speech emotion recognition",
            active: "home",
            user: user.as_ref(),
            script: None,
        },
        context! { signed_in => user.is_some() },
    )
}

#[derive(Deserialize, Default)]
struct NextQuery {
    next: Option<String>,
}

/// Which auth form, with what to pre-fill and what went wrong.
struct AuthForm<'a> {
    signup: bool,
    name: &'a str,
    email: &'a str,
    error: Option<(String, &'a str)>,
    next: &'a str,
}

fn auth_page(state: &AppState, form: AuthForm<'_>) -> Result<Html<String>, AppError> {
    let error = form
        .error
        .as_ref()
        .map(|(message, field)| context! { message => message.as_str(), field => *field });
    render(
        state,
        Page {
            template: "auth.html",
            title: if form.signup {
                "Create your account"
            } else {
                "Welcome back"
            },
            active: "",
            user: None,
            script: None,
        },
        context! {
            signup => form.signup,
            name => form.name,
            email => form.email,
            error,
            next => form.next,
        },
    )
}

async fn signin_page(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Query(q): Query<NextQuery>,
) -> Response {
    let next = auth::safe_next(q.next.as_deref());
    if user.is_some() {
        return Redirect::to(&next).into_response();
    }
    auth_page(
        &state,
        AuthForm {
            signup: false,
            name: "",
            email: "",
            error: None,
            next: &next,
        },
    )
    .into_response()
}

async fn signup_page(State(state): State<AppState>, MaybeUser(user): MaybeUser) -> Response {
    if user.is_some() {
        return Redirect::to("/").into_response();
    }
    auth_page(
        &state,
        AuthForm {
            signup: true,
            name: "",
            email: "",
            error: None,
            next: "/",
        },
    )
    .into_response()
}

#[derive(Deserialize)]
struct AuthFormData {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
}

/// Forms cannot carry a session CSRF token before sign-in; refuse cross-site posts instead
/// (stops "login CSRF"). Browsers send `Sec-Fetch-Site` and `Origin` on form posts.
fn cross_site(headers: &HeaderMap) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if fetch_site == Some("cross-site") {
        return true;
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some(origin), Some(host)) => origin.split("://").nth(1) != Some(host),
        _ => false,
    }
}

fn signed_in_redirect(set_cookie: HeaderValue, next: &str) -> Response {
    let mut response = Redirect::to(next).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie);
    response
}

fn form_error_status(err: &AppError) -> StatusCode {
    err.status()
}

async fn signin_form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<AuthFormData>,
) -> Result<Response, AppError> {
    if cross_site(&headers) {
        return Err(AppError::Forbidden("cross-site sign-in refused"));
    }
    let next = auth::safe_next(form.next.as_deref());
    match state
        .accounts
        .sign_in(&ip, &form.email, &form.password)
        .await
    {
        Ok(user) => {
            let session = state.accounts.start_session(&user.id).await?;
            Ok(signed_in_redirect(session.set_cookie, &next))
        }
        Err(err @ (AppError::BadCredentials | AppError::TooManyRequests { .. })) => {
            let status = form_error_status(&err);
            let error = Some((err.public_message(), "password"));
            let page = auth_page(
                &state,
                AuthForm {
                    signup: false,
                    name: "",
                    email: &form.email,
                    error,
                    next: &next,
                },
            );
            Ok((status, page).into_response())
        }
        Err(err) => Err(err),
    }
}

async fn signup_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<AuthFormData>,
) -> Result<Response, AppError> {
    if cross_site(&headers) {
        return Err(AppError::Forbidden("cross-site sign-up refused"));
    }
    match state
        .accounts
        .sign_up(&form.name, &form.email, &form.password)
        .await
    {
        Ok(user) => {
            let session = state.accounts.start_session(&user.id).await?;
            Ok(signed_in_redirect(session.set_cookie, auth::LANDING))
        }
        Err(err @ (AppError::Validation { .. } | AppError::Conflict(_))) => {
            let field = match &err {
                AppError::Validation { field, .. } => *field,
                _ => "email",
            };
            let status = form_error_status(&err);
            let error = Some((err.public_message(), field));
            let page = auth_page(
                &state,
                AuthForm {
                    signup: true,
                    name: &form.name,
                    email: &form.email,
                    error,
                    next: "/",
                },
            );
            Ok((status, page).into_response())
        }
        Err(err) => Err(err),
    }
}

#[derive(Deserialize)]
struct SignoutForm {
    #[serde(default)]
    csrf_token: String,
}

async fn signout_form(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Form(form): Form<SignoutForm>,
) -> Result<Response, AppError> {
    // Without a live session there is nothing to end, and the cookie is left alone: a form
    // on another site (which the SameSite cookie does not follow) must not sign anyone out.
    let Some(user) = user else {
        return Ok(Redirect::to("/").into_response());
    };
    let expected = user.csrf_token.as_deref().unwrap_or("");
    if !auth::constant_time_eq(&form.csrf_token, expected) {
        return Err(AppError::Forbidden("missing or invalid CSRF token"));
    }
    if let Some(hash) = &user.session_hash {
        state.db.delete_session(hash).await?;
    }
    let cookie = auth::clear_session_cookie(state.config.secure_cookies);
    let cookie = HeaderValue::from_str(&cookie).map_err(AppError::internal)?;
    Ok(signed_in_redirect(cookie, "/"))
}

async fn training(
    State(state): State<AppState>,
    PageUser(user): PageUser,
) -> Result<Html<String>, AppError> {
    render(
        &state,
        Page {
            template: "training.html",
            title: "Training",
            active: "training",
            user: Some(&user),
            script: Some("training.js"),
        },
        context! {
            kinds => Serde(state.engine.model_kinds()),
            max_zip => human_bytes(state.config.max_zip_bytes),
            max_zip_bytes => state.config.max_zip_bytes,
        },
    )
}

/// The model choice of the Testing and Prediction pages: the caller's models, the shipped
/// one first (and selected), and what the shipped model was trained on.
async fn model_choice(state: &AppState, user_id: &str) -> Result<Value, AppError> {
    let default = state.engine.default_model();
    let builtin = default.as_ref().map(|m| {
        context! { id => DEFAULT_MODEL_ID, label => format!("{} (built-in)", m.name) }
    });
    let own = state.db.list_models(user_id).await?;
    let models: Vec<Value> = builtin
        .into_iter()
        .chain(
            own.iter()
                .map(|m| context! { id => m.id.as_str(), label => m.name.as_str() }),
        )
        .collect();
    Ok(context! { models, default_model_about => default.map(|m| m.about) })
}

async fn testing(
    State(state): State<AppState>,
    PageUser(user): PageUser,
) -> Result<Html<String>, AppError> {
    let choice = model_choice(&state, &user.user.id).await?;
    render(
        &state,
        Page {
            template: "testing.html",
            title: "Testing",
            active: "testing",
            user: Some(&user),
            script: Some("testing.js"),
        },
        context! {
            max_zip => human_bytes(state.config.max_zip_bytes),
            max_zip_bytes => state.config.max_zip_bytes,
            ..choice
        },
    )
}

async fn prediction(
    State(state): State<AppState>,
    PageUser(user): PageUser,
) -> Result<Html<String>, AppError> {
    let choice = model_choice(&state, &user.user.id).await?;
    render(
        &state,
        Page {
            template: "prediction.html",
            title: "Prediction",
            active: "prediction",
            user: Some(&user),
            script: Some("prediction.js"),
        },
        context! {
            max_audio => human_bytes(state.config.max_audio_bytes),
            max_audio_bytes => state.config.max_audio_bytes,
            max_files => state.config.max_predict_files,
            ..choice
        },
    )
}

async fn account(
    State(state): State<AppState>,
    PageUser(user): PageUser,
) -> Result<Html<String>, AppError> {
    render(
        &state,
        Page {
            template: "account.html",
            title: "Account",
            active: "account",
            user: Some(&user),
            script: Some("account.js"),
        },
        context! {},
    )
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, content)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            *content,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn not_found(State(state): State<AppState>, MaybeUser(user): MaybeUser) -> Response {
    let page = render(
        &state,
        Page {
            template: "not_found.html",
            title: "Page not found",
            active: "",
            user: user.as_ref(),
            script: None,
        },
        context! {},
    );
    (StatusCode::NOT_FOUND, page).into_response()
}
