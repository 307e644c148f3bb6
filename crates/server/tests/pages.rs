//! Pages, assets, security headers and the OpenAPI document.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;
use support::*;

fn page(uri: &str, session: Option<&Session>) -> Request<Body> {
    let mut builder = Request::builder().uri(uri);
    if let Some(s) = session {
        builder = builder.header(header::COOKIE, &s.cookie);
    }
    builder.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn every_page_renders_with_navigation_and_contact() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    for (uri, marker) in [
        ("/", "Hear how people"),
        ("/training", "Choose ZIP File"),
        ("/testing", "Show Results"),
        ("/prediction", "Clear and start over"),
        ("/account", "API tokens"),
    ] {
        let response = app.send(page(uri, Some(&ann))).await;
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        let html = body_text(response).await;
        assert!(html.contains(marker), "{uri}");
        for nav in [
            "Home",
            "Training",
            "Testing",
            "Prediction",
            "href=\"#contact\"",
        ] {
            assert!(html.contains(nav), "{uri} lacks {nav}");
        }
        assert!(html.contains("id=\"contact\""));
        assert!(!html.contains("{{"), "{uri} has an unfilled placeholder");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{uri} loads something from elsewhere"
        );
    }
    let training = body_text(app.send(page("/training", Some(&ann))).await).await;
    assert!(
        training.contains("<option value=\"fake-cnn\">Fake CNN</option>"),
        "model kinds come from the engine"
    );
    assert!(training.contains("accept=\".zip,application/zip\""));
    assert!(training.contains("up to 500 MB"));
    let prediction = body_text(app.send(page("/prediction", Some(&ann))).await).await;
    assert!(
        prediction.contains("<option value=\"default\" selected>Fake default (built-in)</option>")
    );
    // What the built-in model was trained on stands next to the choice of model.
    for uri in ["/prediction", "/testing"] {
        let html = body_text(app.send(page(uri, Some(&ann))).await).await;
        assert!(
            html.contains("Built-in model: Trained on generated tones"),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn user_text_is_escaped_in_pages() {
    let app = TestApp::new().await;
    let body = json!({"name": "<script>alert(1)</script>", "email": "x@example.com", "password": "vivid-otter-42"});
    let session = Session::from_response(
        app.send(json_request("POST", "/api/auth/signup", &body, None))
            .await,
    )
    .await;
    for uri in ["/prediction", "/account", "/training"] {
        let html = body_text(app.send(page(uri, Some(&session))).await).await;
        assert!(!html.contains("<script>alert(1)"), "{uri}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;"), "{uri}");
    }
    // A sign-up form sent back with an error shows what was typed, as text.
    let form = "name=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E&email=%22%3E%3Cb%3E&password=x";
    let refused = app
        .send(
            Request::post("/signup")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form))
                .unwrap(),
        )
        .await;
    let html = body_text(refused).await;
    assert!(
        html.contains("aria-invalid"),
        "the form came back with an error"
    );
    assert!(!html.contains("<script>alert(1)") && !html.contains("\"><b>"));
    assert!(
        html.contains("&quot;&gt;&lt;script&gt;alert(1)&lt;")
            && html.contains("&quot;&gt;&lt;b&gt;")
    );
}

#[tokio::test]
async fn security_headers_are_set() {
    let app = TestApp::new().await;
    let response = app.send(page("/", None)).await;
    let headers = response.headers();
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("default-src 'self'")
            && csp.contains("script-src 'self'")
            && !csp.contains("unsafe-inline")
    );
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
}

#[tokio::test]
async fn assets_are_served_with_types_and_unknown_paths_are_404() {
    let app = TestApp::new().await;
    for (name, kind) in [
        ("app.css", "text/css"),
        ("app.js", "text/javascript"),
        ("prediction.js", "text/javascript"),
        ("logo.svg", "image/svg+xml"),
    ] {
        let response = app.send(page(&format!("/assets/{name}"), None)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
    }
    assert_eq!(
        app.send(page("/assets/../Cargo.toml", None)).await.status(),
        StatusCode::NOT_FOUND
    );
    let missing = app.send(page("/no/such/page", None)).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(
        body_text(missing)
            .await
            .contains("could not find that page")
    );
    let api_missing = app.send(page("/api/nope", None)).await;
    assert_eq!(api_missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(body_json(api_missing).await["code"], "not_found");
}

#[tokio::test]
async fn error_bodies_carry_no_internals() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let data_dir = app.dir.path().display().to_string();
    let bad_json = Request::builder()
        .method("POST")
        .uri("/api/auth/signin")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let responses = [
        app.send(bad_json).await,
        app.send(multipart(
            "/api/jobs/train",
            &[Part::File("dataset", "x.zip", b"nope")],
            Some(&ann),
        ))
        .await,
        app.send(request("GET", "/api/jobs/does-not-exist", Some(&ann)))
            .await,
    ];
    for response in responses {
        assert!(response.status().is_client_error());
        let text = body_text(response).await;
        for leak in [
            data_dir.as_str(),
            "/tmp",
            "panicked",
            "stack backtrace",
            "src/",
            ".rs:",
        ] {
            assert!(!text.contains(leak), "{leak} in {text}");
        }
    }
}

#[tokio::test]
async fn openapi_describes_every_api_route() {
    let app = TestApp::new().await;
    let doc = body_json(app.send(page("/api/openapi.json", None)).await).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let routes = [
        ("post", "/api/auth/signup"),
        ("post", "/api/auth/signin"),
        ("post", "/api/auth/signout"),
        ("get", "/api/me"),
        ("get", "/api/tokens"),
        ("post", "/api/tokens"),
        ("delete", "/api/tokens/{id}"),
        ("get", "/api/model-kinds"),
        ("get", "/api/models"),
        ("get", "/api/models/{id}"),
        ("delete", "/api/models/{id}"),
        ("get", "/api/models/{id}/download"),
        ("post", "/api/predict"),
        ("get", "/api/predictions"),
        ("delete", "/api/predictions"),
        ("get", "/api/predictions/{id}"),
        ("delete", "/api/predictions/{id}"),
        ("get", "/api/stream"),
        ("post", "/api/jobs/train"),
        ("post", "/api/jobs/test"),
        ("get", "/api/jobs"),
        ("get", "/api/jobs/{id}"),
        ("delete", "/api/jobs/{id}"),
        ("get", "/api/jobs/{id}/events"),
        ("post", "/api/jobs/{id}/cancel"),
        ("get", "/api/openapi.json"),
    ];
    for (method, path) in routes {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} undocumented"
        );
    }
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(
        documented,
        routes.len(),
        "documented routes that do not exist"
    );
    // Every $ref resolves.
    let text = doc.to_string();
    for piece in text.split("#/components/schemas/").skip(1) {
        let name = piece.split('"').next().unwrap();
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "missing schema {name}"
        );
    }
}
