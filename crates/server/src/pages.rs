//! Server-rendered pages and the static assets they use (all embedded in the binary).

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::api::{ClientIp, sign_in, sign_up, start_session};
use crate::auth::{self, CurrentUser, MaybeUser, PageUser};
use crate::config::human_bytes;
use crate::error::AppError;
use crate::state::AppState;

const LAYOUT: &str = include_str!("assets/layout.html");
const HOME: &str = include_str!("assets/home.html");
const AUTH_FORM: &str = include_str!("assets/auth.html");
const TRAINING: &str = include_str!("assets/training.html");
const TESTING: &str = include_str!("assets/testing.html");
const PREDICTION: &str = include_str!("assets/prediction.html");
const ACCOUNT: &str = include_str!("assets/account.html");
const NOT_FOUND: &str = include_str!("assets/not_found.html");

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

/// Escape text for HTML element content and quoted attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Fill `{{name}}` placeholders. Values must already be escaped.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values
        .iter()
        .fold(template.to_owned(), |acc, (key, value)| {
            acc.replace(&format!("{{{{{key}}}}}"), value)
        })
}

/// A page inside the common layout.
struct Page<'a> {
    title: &'a str,
    /// Which navigation link is current: `home`, `training`, `testing`, `prediction`, `account`.
    active: &'a str,
    user: Option<&'a CurrentUser>,
    body: String,
    script: Option<&'a str>,
}

fn nav_link(href: &str, label: &str, key: &str, active: &str) -> String {
    let current = if key == active {
        " aria-current=\"page\" class=\"active\""
    } else {
        ""
    };
    format!("<a href=\"{href}\"{current}>{label}</a>")
}

fn user_menu(user: Option<&CurrentUser>) -> String {
    match user {
        Some(u) => format!(
            "<a class=\"user-chip\" href=\"/account\" title=\"Account and API tokens\"><span class=\"avatar\">{initial}</span><span class=\"user-name\">{name}</span></a>\
             <form method=\"post\" action=\"/signout\" class=\"inline\"><input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
             <button class=\"btn btn-ghost btn-sm\" type=\"submit\">Sign out</button></form>",
            initial = esc(&u
                .user
                .name
                .chars()
                .next()
                .unwrap_or('?')
                .to_uppercase()
                .to_string()),
            name = esc(&u.user.name),
            csrf = esc(u.csrf_token.as_deref().unwrap_or("")),
        ),
        None => "<a class=\"btn btn-ghost btn-sm\" href=\"/signin\">Sign in</a>\
                 <a class=\"btn btn-primary btn-sm\" href=\"/signup\">Get started</a>"
            .to_owned(),
    }
}

fn render(state: &AppState, page: Page<'_>) -> Html<String> {
    let nav = [
        nav_link("/", "Home", "home", page.active),
        nav_link("/training", "Training", "training", page.active),
        nav_link("/testing", "Testing", "testing", page.active),
        nav_link("/prediction", "Prediction", "prediction", page.active),
        "<a href=\"#contact\" data-scroll>Contact</a>".to_owned(),
    ]
    .join("");
    let script = page
        .script
        .map(|s| format!("<script src=\"/assets/{s}\" defer></script>"))
        .unwrap_or_default();
    let csrf = page
        .user
        .and_then(|u| u.csrf_token.as_deref())
        .unwrap_or("");
    Html(fill(
        LAYOUT,
        &[
            ("title", &esc(page.title)),
            ("csrf", &esc(csrf)),
            ("nav", &nav),
            ("user_menu", &user_menu(page.user)),
            ("contact_email", &esc(&state.config.contact_email)),
            ("script", &script),
            // Last: the body may contain text that looks like a placeholder.
            ("body", &page.body),
        ],
    ))
}

async fn home(State(state): State<AppState>, MaybeUser(user): MaybeUser) -> Html<String> {
    let (cta, cta_text) = if user.is_some() {
        (
            "<a class=\"btn btn-primary btn-lg\" href=\"/prediction\">Predict an emotion</a>\
             <a class=\"btn btn-secondary btn-lg\" href=\"/training\">Train a model</a>",
            "Drop a clip on the Prediction page, or train a model on your own recordings.",
        )
    } else {
        (
            "<a class=\"btn btn-primary btn-lg\" href=\"/signup\">Create a free account</a>\
             <a class=\"btn btn-secondary btn-lg\" href=\"/signin\">Sign in</a>",
            "Create an account and run your first prediction in under a minute.",
        )
    };
    let body = fill(HOME, &[("cta", cta), ("cta_text", cta_text)]);
    render(
        &state,
        Page {
            title: "Speech emotion recognition",
            active: "home",
            user: user.as_ref(),
            body,
            script: None,
        },
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

fn auth_page(state: &AppState, form: AuthForm<'_>) -> Html<String> {
    let (title, action, button, switch) = if form.signup {
        (
            "Create your account",
            "/signup",
            "Create account",
            "Already have an account? <a href=\"/signin\">Sign in</a>",
        )
    } else {
        (
            "Welcome back",
            "/signin",
            "Sign in",
            "New here? <a href=\"/signup\">Create an account</a>",
        )
    };
    let name_field = if form.signup {
        format!(
            "<label class=\"field\"><span>Name</span><input name=\"name\" autocomplete=\"name\" required maxlength=\"100\" value=\"{}\"{}></label>",
            esc(form.name),
            invalid(&form.error, "name")
        )
    } else {
        String::new()
    };
    let error = form
        .error
        .as_ref()
        .map(|(msg, _)| {
            format!(
                "<div class=\"alert alert-error\" role=\"alert\">{}</div>",
                esc(msg)
            )
        })
        .unwrap_or_default();
    let password_hint = if form.signup {
        "<small class=\"hint\">At least 8 characters.</small>"
    } else {
        ""
    };
    let body = fill(
        AUTH_FORM,
        &[
            ("heading", title),
            ("action", action),
            ("button", button),
            ("switch", switch),
            ("error", &error),
            ("name_field", &name_field),
            ("email", &esc(form.email)),
            ("email_invalid", &invalid(&form.error, "email")),
            ("password_invalid", &invalid(&form.error, "password")),
            ("password_hint", password_hint),
            (
                "password_autocomplete",
                if form.signup {
                    "new-password"
                } else {
                    "current-password"
                },
            ),
            ("next", &esc(form.next)),
        ],
    );
    render(
        state,
        Page {
            title,
            active: "",
            user: None,
            body,
            script: None,
        },
    )
}

fn invalid(error: &Option<(String, &str)>, field: &str) -> String {
    match error {
        Some((_, f)) if *f == field => " aria-invalid=\"true\" autofocus".to_owned(),
        _ => String::new(),
    }
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
    match sign_in(&state, &ip, &form.email, &form.password).await {
        Ok(user) => {
            let session = start_session(&state, &user.id).await?;
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
    match sign_up(&state, &form.name, &form.email, &form.password).await {
        Ok(user) => {
            let session = start_session(&state, &user.id).await?;
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

fn options(items: impl IntoIterator<Item = (String, String, bool)>) -> String {
    items
        .into_iter()
        .map(|(value, label, selected)| {
            let sel = if selected { " selected" } else { "" };
            format!(
                "<option value=\"{}\"{sel}>{}</option>",
                esc(&value),
                esc(&label)
            )
        })
        .collect()
}

async fn training(State(state): State<AppState>, PageUser(user): PageUser) -> Html<String> {
    let kinds = state.engine.model_kinds();
    let kind_options = options(kinds.iter().map(|k| (k.id.clone(), k.name.clone(), false)));
    let descriptions: String = kinds
        .iter()
        .map(|k| {
            format!(
                "<p class=\"hint\" data-kind=\"{}\" data-ensemble=\"{}\" hidden>{}</p>",
                esc(&k.id),
                k.ensemble,
                esc(&k.description)
            )
        })
        .collect();
    let body = fill(
        TRAINING,
        &[
            ("kind_options", &kind_options),
            ("kind_descriptions", &descriptions),
            ("max_zip", &human_bytes(state.config.max_zip_bytes)),
            ("max_zip_bytes", &state.config.max_zip_bytes.to_string()),
        ],
    );
    render(
        &state,
        Page {
            title: "Training",
            active: "training",
            user: Some(&user),
            body,
            script: Some("training.js"),
        },
    )
}

/// What the shipped model was trained on (escaped), for the hint under the model choice.
fn default_model_about(state: &AppState) -> String {
    state
        .engine
        .default_model()
        .map(|m| esc(&format!("Built-in model: {}", m.about)))
        .unwrap_or_default()
}

/// `<option>`s for the caller's models, the shipped one first and selected.
async fn model_options(state: &AppState, user_id: &str) -> Result<String, AppError> {
    let models = crate::api::all_models(state, user_id).await?;
    Ok(options(models.iter().enumerate().map(|(i, m)| {
        let id = m["id"].as_str().unwrap_or_default().to_owned();
        let name = m["name"].as_str().unwrap_or_default();
        let label = if m["builtin"] == true {
            format!("{name} (built-in)")
        } else {
            name.to_owned()
        };
        (id, label, i == 0)
    })))
}

async fn testing(
    State(state): State<AppState>,
    PageUser(user): PageUser,
) -> Result<Html<String>, AppError> {
    let body = fill(
        TESTING,
        &[
            (
                "model_options",
                &model_options(&state, &user.user.id).await?,
            ),
            ("default_model_about", &default_model_about(&state)),
            ("max_zip", &human_bytes(state.config.max_zip_bytes)),
            ("max_zip_bytes", &state.config.max_zip_bytes.to_string()),
        ],
    );
    Ok(render(
        &state,
        Page {
            title: "Testing",
            active: "testing",
            user: Some(&user),
            body,
            script: Some("testing.js"),
        },
    ))
}

async fn prediction(
    State(state): State<AppState>,
    PageUser(user): PageUser,
) -> Result<Html<String>, AppError> {
    let body = fill(
        PREDICTION,
        &[
            (
                "model_options",
                &model_options(&state, &user.user.id).await?,
            ),
            ("default_model_about", &default_model_about(&state)),
            ("max_audio", &human_bytes(state.config.max_audio_bytes)),
            ("max_audio_bytes", &state.config.max_audio_bytes.to_string()),
            ("max_files", &state.config.max_predict_files.to_string()),
        ],
    );
    Ok(render(
        &state,
        Page {
            title: "Prediction",
            active: "prediction",
            user: Some(&user),
            body,
            script: Some("prediction.js"),
        },
    ))
}

async fn account(State(state): State<AppState>, PageUser(user): PageUser) -> Html<String> {
    let body = fill(
        ACCOUNT,
        &[
            ("name", &esc(&user.user.name)),
            ("email", &esc(&user.user.email)),
        ],
    );
    render(
        &state,
        Page {
            title: "Account",
            active: "account",
            user: Some(&user),
            body,
            script: Some("account.js"),
        },
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
            title: "Page not found",
            active: "",
            user: user.as_ref(),
            body: NOT_FOUND.to_owned(),
            script: None,
        },
    );
    (StatusCode::NOT_FOUND, page).into_response()
}
