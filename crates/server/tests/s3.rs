//! The store on S3. Ignored by a plain `cargo test` (it needs an S3-compatible server); CI
//! runs it against a local one:
//! `bash scripts/with-s3.sh cargo test --workspace --test s3 -- --ignored`
//! (the script starts moto, makes a bucket and sets `SER_TEST_S3_URL` and `AWS_*`).

mod support;

use support::*;

fn s3_url(test: &str) -> String {
    let url = std::env::var("SER_TEST_S3_URL")
        .expect("SER_TEST_S3_URL names the s3://bucket/prefix to test against");
    format!(
        "{}/{test}-{}",
        url.trim_end_matches('/'),
        std::process::id()
    )
}

/// Uploads, checkpoints and models through S3: a job moves between two machines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs S3: bash scripts/with-s3.sh cargo test --workspace --test s3 -- --ignored"]
async fn a_job_moves_between_machines_through_s3() {
    job_moves_between_machines_through_the_store(&s3_url("moves")).await;
}

/// A bucket that is not there: the server says so when it needs the store, and keeps serving.
#[tokio::test]
#[ignore = "needs S3: bash scripts/with-s3.sh cargo test --workspace --test s3 -- --ignored"]
async fn a_missing_bucket_fails_the_upload_not_the_server() {
    let url = s3_url("x").replacen("s3://", "s3://no-such-bucket-", 1);
    let app = TestApp::with(|c| c.storage_url = Some(url), FakeEngine::default()).await;
    let ann = app.user("ann").await;
    let refused = app
        .send(multipart(
            "/api/jobs/train",
            &[
                Part::Text("kind", "fake-cnn"),
                Part::Text("epochs", "1"),
                Part::File("dataset", "d.zip", &fake_zip(b"")),
            ],
            Some(&ann),
        ))
        .await;
    assert_eq!(
        refused.status(),
        axum::http::StatusCode::INTERNAL_SERVER_ERROR
    );
    let body = body_json(refused).await;
    assert_eq!(body["code"], "internal", "{body}");
    // No job was queued for a dataset that was not stored, and the server still answers.
    let jobs = app.get_json("/api/jobs", &ann).await;
    assert_eq!(jobs["jobs"].as_array().map(Vec::len), Some(0), "{jobs}");
}
