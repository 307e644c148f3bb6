//! Sign-up, sign-in, sign-out, sessions, CSRF, rate limiting and API tokens.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;
use support::*;

fn signup_body(name: &str, email: &str, password: &str) -> serde_json::Value {
    json!({ "name": name, "email": email, "password": password })
}

#[tokio::test]
async fn signup_validates_each_field_with_a_clear_message() {
    let app = TestApp::new().await;
    let cases = [
        (
            signup_body("", "a@example.com", "longenough"),
            "name",
            "enter your name",
        ),
        (
            signup_body("Ann", "not-an-email", "longenough"),
            "email",
            "valid email",
        ),
        (
            signup_body("Ann", "a@b", "longenough"),
            "email",
            "valid email",
        ),
        (
            signup_body("Ann", "a@example.com", "short"),
            "password",
            "at least 8 characters",
        ),
        (
            signup_body("Ann", "a@example.com", "Password1"),
            "password",
            "one of the most common",
        ),
    ];
    for (body, field, message) in cases {
        let response = app
            .send(json_request("POST", "/api/auth/signup", &body, None))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
        let error = body_json(response).await;
        assert_eq!(error["field"], field);
        assert!(
            error["error"].as_str().unwrap().contains(message),
            "{error}"
        );
    }
}

#[tokio::test]
async fn duplicate_email_is_rejected_case_insensitively() {
    let app = TestApp::new().await;
    let first = app
        .send(json_request(
            "POST",
            "/api/auth/signup",
            &signup_body("Ann", "Ann@Example.com", "vivid-otter-42"),
            None,
        ))
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let again = app
        .send(json_request(
            "POST",
            "/api/auth/signup",
            &signup_body("Ann", " ann@example.COM ", "password2"),
            None,
        ))
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert!(
        body_json(again).await["error"]
            .as_str()
            .unwrap()
            .contains("already exists")
    );
}

#[tokio::test]
async fn session_cookie_is_httponly_samesite_and_secure_only_when_configured() {
    let app = TestApp::new().await;
    let response = app
        .send(json_request(
            "POST",
            "/api/auth/signup",
            &signup_body("Ann", "ann@example.com", "vivid-otter-42"),
            None,
        ))
        .await;
    let cookie = set_cookie(&response);
    assert!(cookie.starts_with("ser_session="));
    let token = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("ser_session=");
    assert_eq!(token.len(), 64, "256-bit token as hex");
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    assert!(cookie.contains("Path=/"));
    assert!(!cookie.contains("Secure"));

    let https = TestApp::with(|c| c.secure_cookies = true, FakeEngine::default()).await;
    let response = https
        .send(json_request(
            "POST",
            "/api/auth/signup",
            &signup_body("Ann", "ann@example.com", "vivid-otter-42"),
            None,
        ))
        .await;
    assert!(set_cookie(&response).contains("; Secure"));
}

#[tokio::test]
async fn signin_me_and_signout() {
    let app = TestApp::new().await;
    app.user("ann").await;
    let response = app
        .send(json_request(
            "POST",
            "/api/auth/signin",
            &json!({"email": "ANN@example.com", "password": "correct horse"}),
            None,
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let session = Session::from_response(response).await;

    let me = body_json(app.send(request("GET", "/api/me", Some(&session))).await).await;
    assert_eq!(me["user"]["email"], "ann@example.com");
    assert_eq!(me["csrf_token"], session.csrf.as_str());
    assert!(me["user"].get("password_hash").is_none());

    let out = app
        .send(request("POST", "/api/auth/signout", Some(&session)))
        .await;
    assert_eq!(out.status(), StatusCode::OK);
    assert!(set_cookie(&out).contains("Max-Age=0"));
    let after = app.send(request("GET", "/api/me", Some(&session))).await;
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn wrong_password_and_unknown_email_look_the_same() {
    let app = TestApp::new().await;
    app.user("ann").await;
    for email in ["ann@example.com", "nobody@example.com"] {
        let response = app
            .send(json_request(
                "POST",
                "/api/auth/signin",
                &json!({"email": email, "password": "wrong password"}),
                None,
            ))
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().get(header::SET_COOKIE).is_none());
        assert_eq!(
            body_json(response).await["error"],
            "wrong email or password"
        );
    }
}

#[tokio::test]
async fn repeated_failed_signins_are_rate_limited() {
    let app = TestApp::with(|c| c.signin_attempts = 3, FakeEngine::default()).await;
    app.user("ann").await;
    let attempt = |password: &'static str| {
        json_request(
            "POST",
            "/api/auth/signin",
            &json!({"email": "ann@example.com", "password": password}),
            None,
        )
    };
    for _ in 0..3 {
        assert_eq!(
            app.send(attempt("wrong password")).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Even the right password is refused while the limit holds.
    let limited = app.send(attempt("correct horse")).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().get(header::RETRY_AFTER).is_some());
    assert_eq!(body_json(limited).await["code"], "rate_limited");
}

#[tokio::test]
async fn rate_limit_also_applies_per_address_across_emails() {
    let app = TestApp::with(|c| c.signin_attempts = 2, FakeEngine::default()).await;
    for i in 0..2 {
        let body = json!({"email": format!("user{i}@example.com"), "password": "whatever1"});
        assert_eq!(
            app.send(json_request("POST", "/api/auth/signin", &body, None))
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let body = json!({"email": "someone-else@example.com", "password": "whatever1"});
    assert_eq!(
        app.send(json_request("POST", "/api/auth/signin", &body, None))
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn state_changing_requests_need_the_csrf_token() {
    let app = TestApp::new().await;
    let session = app.user("ann").await;
    let without = Request::builder()
        .method("POST")
        .uri("/api/tokens")
        .header(header::COOKIE, &session.cookie)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"name":"ci"}"#))
        .unwrap();
    let response = app.send(without).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        body_json(response).await["error"]
            .as_str()
            .unwrap()
            .contains("CSRF")
    );

    let wrong = Session {
        csrf: "0".repeat(64),
        ..session.clone()
    };
    let response = app
        .send(json_request(
            "POST",
            "/api/tokens",
            &json!({"name": "ci"}),
            Some(&wrong),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let response = app
        .send(json_request(
            "POST",
            "/api/tokens",
            &json!({"name": "ci"}),
            Some(&session),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    // Reads need no token.
    let read = Request::builder()
        .uri("/api/tokens")
        .header(header::COOKIE, &session.cookie)
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(read).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn unauthenticated_api_gets_401_json_and_pages_redirect() {
    let app = TestApp::new().await;
    for uri in [
        "/api/me",
        "/api/models",
        "/api/jobs",
        "/api/predictions",
        "/api/tokens",
    ] {
        let response = app.send(request("GET", uri, None)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(body_json(response).await["code"], "unauthorized");
    }
    let response = app.send(request("POST", "/api/predict", None)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    for page in ["/training", "/testing", "/prediction", "/account"] {
        let response = app.send(request("GET", page, None)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{page}");
        assert_eq!(
            response.headers()[header::LOCATION],
            format!("/signin?next={page}")
        );
    }
    for public in [
        "/",
        "/signin",
        "/signup",
        "/api/openapi.json",
        "/assets/app.css",
    ] {
        assert_eq!(
            app.send(request("GET", public, None)).await.status(),
            StatusCode::OK,
            "{public}"
        );
    }
}

#[tokio::test]
async fn api_tokens_authenticate_without_csrf_and_can_be_revoked() {
    let app = TestApp::new().await;
    let session = app.user("ann").await;
    let created = body_json(
        app.send(json_request(
            "POST",
            "/api/tokens",
            &json!({"name": "script"}),
            Some(&session),
        ))
        .await,
    )
    .await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("ser_"));
    let id = created["token"]["id"].as_str().unwrap().to_owned();

    let bearer = |method: &str, uri: &str| {
        Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {secret}"))
            .body(Body::empty())
            .unwrap()
    };
    let me = app.send(bearer("GET", "/api/me")).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(body_json(me).await["user"]["email"], "ann@example.com");
    // A write with a bearer token needs no CSRF header.
    assert_eq!(
        app.send(bearer("DELETE", "/api/predictions"))
            .await
            .status(),
        StatusCode::OK
    );

    let listed = body_json(
        app.send(request("GET", "/api/tokens", Some(&session)))
            .await,
    )
    .await;
    assert_eq!(listed["tokens"].as_array().unwrap().len(), 1);
    assert!(
        listed.to_string().find(&secret).is_none(),
        "secret is shown only once"
    );

    let revoke = app
        .send(request(
            "DELETE",
            &format!("/api/tokens/{id}"),
            Some(&session),
        ))
        .await;
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.send(bearer("GET", "/api/me")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let bad = Request::builder()
        .uri("/api/me")
        .header(header::AUTHORIZATION, "Bearer ser_nope")
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(bad).await.status(), StatusCode::UNAUTHORIZED);
}

fn form(uri: &str, body: &str, cookie: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder()
        .method("POST")
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    builder.body(Body::from(body.to_owned())).unwrap()
}

#[tokio::test]
async fn html_forms_sign_up_in_and_out() {
    let app = TestApp::new().await;
    let bad = app
        .send(form(
            "/signup",
            "name=Ann&email=nope&password=vivid-otter-42",
            None,
        ))
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = body_text(bad).await;
    assert!(page.contains("valid email"));
    assert!(page.contains("value=\"Ann\""), "keeps what was typed");

    let ok = app
        .send(form(
            "/signup",
            "name=Ann&email=ann%40example.com&password=vivid-otter-42",
            None,
        ))
        .await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let cookie = set_cookie(&ok).split(';').next().unwrap().to_owned();

    let wrong = app
        .send(form(
            "/signin",
            "email=ann%40example.com&password=nope&next=/training",
            None,
        ))
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(body_text(wrong).await.contains("wrong email or password"));
    let signed_in = app
        .send(form(
            "/signin",
            "email=ann%40example.com&password=vivid-otter-42&next=/training",
            None,
        ))
        .await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed_in.headers()[header::LOCATION], "/training");
    let evil = app
        .send(form(
            "/signin",
            "email=ann%40example.com&password=vivid-otter-42&next=//evil.example",
            None,
        ))
        .await;
    assert_eq!(evil.headers()[header::LOCATION], "/prediction");

    // Sign-out form without the hidden CSRF field is refused; with it, it works.
    let refused = app.send(form("/signout", "", Some(&cookie))).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    // A form posted from another site arrives without the (SameSite) cookie: it must not
    // clear the browser's cookie either.
    let cross_site = app.send(form("/signout", "", None)).await;
    assert_eq!(cross_site.status(), StatusCode::SEE_OTHER);
    assert!(cross_site.headers().get(header::SET_COOKIE).is_none());
    let page = body_text(
        app.send(
            Request::builder()
                .uri("/training")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await,
    )
    .await;
    let csrf = page
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let out = app
        .send(form(
            "/signout",
            &format!("csrf_token={csrf}"),
            Some(&cookie),
        ))
        .await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = app
        .send(
            Request::builder()
                .uri("/training")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn cross_site_form_signin_is_refused() {
    let app = TestApp::new().await;
    app.user("ann").await;
    let mut request = form(
        "/signin",
        "email=ann%40example.com&password=correct+horse",
        None,
    );
    request
        .headers_mut()
        .insert("sec-fetch-site", "cross-site".parse().unwrap());
    assert_eq!(app.send(request).await.status(), StatusCode::FORBIDDEN);
}
