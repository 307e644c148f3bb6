//! The same storage code against PostgreSQL. Ignored by a plain `cargo test` (it needs a
//! server); CI runs it with one:
//! `bash scripts/with-postgres.sh cargo test --workspace --test postgres -- --ignored`
//! (the script starts PostgreSQL and sets `SER_TEST_POSTGRES_URL`, e.g.
//! postgres://ser:ser@127.0.0.1:5432/ser_test).

mod support;

use std::sync::Arc;

use axum::http::StatusCode;
use support::*;

/// The tests share one database, where any test server's workers would claim the other
/// test's jobs (whose files they do not have): they take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
#[ignore = "needs PostgreSQL: bash scripts/with-postgres.sh cargo test --workspace --test postgres -- --ignored"]
async fn full_flow_on_postgres() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let url = std::env::var("SER_TEST_POSTGRES_URL")
        .expect("SER_TEST_POSTGRES_URL names the PostgreSQL database to test against");
    let dir = Arc::new(tempfile::TempDir::new().unwrap());
    let mut config = test_config(&dir);
    config.database_url = url;
    let app = TestApp::open(dir, config, FakeEngine::default()).await;
    // Unique per run: the database outlives the test.
    let ann = app.user(&format!("ann{}", std::process::id())).await;
    let bob = app.user(&format!("bob{}", std::process::id())).await;

    let id = start_train(&app, &ann, "2").await;
    let job = wait_for_status(&app, &ann, &id, &["done", "failed"]).await;
    assert_eq!(job["status"], "done", "{job}");
    let predicted = body_json(
        app.send(multipart(
            "/api/predict",
            &[Part::File("files", "happy.wav", b"RIFF")],
            Some(&ann),
        ))
        .await,
    )
    .await;
    assert_eq!(predicted["results"][0]["prediction"]["label"], "happy");
    let prediction_id = predicted["results"][0]["prediction"]["id"]
        .as_str()
        .unwrap();
    assert_eq!(
        app.send(request(
            "GET",
            &format!("/api/predictions/{prediction_id}"),
            Some(&bob)
        ))
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.send(request("GET", &format!("/api/jobs/{id}"), Some(&bob)))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let dup = app
        .send(json_request("POST", "/api/auth/signup", &serde_json::json!({"name": "x", "email": format!("ANN{}@example.com", std::process::id()), "password": "vivid-otter-42"}), None))
        .await;
    assert_eq!(dup.status(), StatusCode::CONFLICT);
    app.state.pause_jobs();
}

/// Replicas on one PostgreSQL database and one data folder behave as one service: an
/// account made on A signs in on B; jobs queued on B are claimed by the workers of both
/// (two each) and each runs exactly once; A follows a job's progress to its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: bash scripts/with-postgres.sh cargo test --workspace --test postgres -- --ignored"]
async fn replicas_share_accounts_and_jobs_run_once() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let url = std::env::var("SER_TEST_POSTGRES_URL")
        .expect("SER_TEST_POSTGRES_URL names the PostgreSQL database to test against");
    let dir = Arc::new(tempfile::TempDir::new().unwrap());
    let mut config = test_config(&dir);
    config.database_url = url;
    config.job_workers = 2;
    let trains = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let engine = || FakeEngine {
        trains: trains.clone(),
        ..Default::default()
    };
    let a = TestApp::open(dir.clone(), config.clone(), engine()).await;
    let b = TestApp::open(dir, config, engine()).await;
    let name = format!("cy{}", std::process::id());
    a.user(&name).await;
    let email = format!("{name}@example.com");
    let wrong = a.sign_in(&email, "wrong horse").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let signin = b.sign_in(&email, "correct horse").await;
    assert_eq!(signin.status(), StatusCode::OK);
    let cy = Session::from_response(signin).await;

    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(start_train(&b, &cy, "2").await);
    }
    let events = a
        .send(request(
            "GET",
            &format!("/api/jobs/{}/events", ids[5]),
            Some(&cy),
        ))
        .await;
    let text = body_text(events).await;
    assert!(text.contains("\"status\":\"done\""), "{text}");
    for id in &ids {
        let job = wait_for_status(&a, &cy, id, &["done", "failed"]).await;
        assert_eq!(job["status"], "done", "{job}");
    }
    assert_eq!(trains.load(std::sync::atomic::Ordering::SeqCst), 6);
    a.state.pause_jobs();
    b.state.pause_jobs();
}
