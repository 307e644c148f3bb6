//! Each person's models, jobs and predictions are their own. Others get 404, never 403,
//! so not even the existence of an item leaks.

mod support;

use axum::http::StatusCode;
use support::*;

#[tokio::test]
async fn users_cannot_see_or_touch_each_others_items() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;

    let job_id = start_train(&app, &ann, "2").await;
    let job = wait_for_status(&app, &ann, &job_id, &["done"]).await;
    let model_id = job["result"]["model_id"].as_str().unwrap().to_owned();
    let predicted = body_json(
        app.send(multipart(
            "/api/predict",
            &[Part::File("files", "happy.wav", b"RIFF")],
            Some(&ann),
        ))
        .await,
    )
    .await;
    let prediction_id = predicted["results"][0]["prediction"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let forbidden = [
        ("GET", format!("/api/models/{model_id}")),
        ("DELETE", format!("/api/models/{model_id}")),
        ("GET", format!("/api/jobs/{job_id}")),
        ("GET", format!("/api/jobs/{job_id}/events")),
        ("POST", format!("/api/jobs/{job_id}/cancel")),
        ("GET", format!("/api/predictions/{prediction_id}")),
        ("DELETE", format!("/api/predictions/{prediction_id}")),
    ];
    for (method, uri) in &forbidden {
        let response = app.send(request(method, uri, Some(&bob))).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {uri}");
        assert_eq!(body_json(response).await["code"], "not_found");
    }
    // Bob cannot use Ann's model either.
    let response = app
        .send(multipart(
            "/api/predict",
            &[
                Part::Text("model_id", &model_id),
                Part::File("files", "a.wav", b"R"),
            ],
            Some(&bob),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = app
        .send(multipart(
            "/api/jobs/test",
            &[
                Part::Text("model_id", &model_id),
                Part::File("dataset", "t.zip", &fake_zip(b"")),
            ],
            Some(&bob),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    // Bulk delete only touches Bob's own rows.
    app.send(request("DELETE", "/api/predictions", Some(&bob)))
        .await;

    // Bob's lists are empty (apart from the shared built-in model).
    let models = body_json(app.send(request("GET", "/api/models", Some(&bob))).await).await;
    assert_eq!(models["models"].as_array().unwrap().len(), 1);
    assert_eq!(models["models"][0]["id"], "default");
    for (uri, key) in [("/api/jobs", "jobs"), ("/api/predictions", "predictions")] {
        let list = body_json(app.send(request("GET", uri, Some(&bob))).await).await;
        assert!(list[key].as_array().unwrap().is_empty(), "{uri}");
    }

    // Ann still has everything, and can delete her own model.
    assert_eq!(
        app.send(request(
            "GET",
            &format!("/api/predictions/{prediction_id}"),
            Some(&ann)
        ))
        .await
        .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.send(request("GET", &format!("/api/jobs/{job_id}"), Some(&ann)))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.send(request(
            "DELETE",
            &format!("/api/models/{model_id}"),
            Some(&ann)
        ))
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
    let models = body_json(app.send(request("GET", "/api/models", Some(&ann))).await).await;
    assert_eq!(models["models"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn pages_never_show_another_users_models() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let job_id = start_train(&app, &ann, "1").await;
    wait_for_status(&app, &ann, &job_id, &["done"]).await;
    let page = |s: &Session| {
        axum::http::Request::builder()
            .uri("/testing")
            .header("cookie", &s.cookie)
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let ann_page = body_text(app.send(page(&ann)).await).await;
    let bob_page = body_text(app.send(page(&bob)).await).await;
    assert!(ann_page.contains("Fake CNN · 1 epochs"));
    assert!(!bob_page.contains("Fake CNN · 1 epochs"));
}
