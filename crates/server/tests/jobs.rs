//! Training and testing jobs: upload checks, the worker, SSE, cancel, restart recovery.

mod support;

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::Value;
use support::*;

#[tokio::test]
async fn train_job_runs_to_done_and_sse_delivers_progress() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let id = start_train(&app, &ann, "5").await;

    let response = app
        .send(request(
            "GET",
            &format!("/api/jobs/{id}/events"),
            Some(&ann),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    // The stream ends by itself when the job finishes.
    let text = body_text(response).await;
    let events: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(text.contains("event: job"));
    let last = events.last().unwrap();
    assert_eq!(last["status"], "done", "{text}");
    assert_eq!(last["progress"], 1.0);
    assert!(
        events
            .iter()
            .any(|e| e["status"] == "running" && e["detail"]["epoch"].as_u64().unwrap_or(0) >= 1),
        "{text}"
    );
    assert_eq!(last["detail"]["history"].as_array().unwrap().len(), 5);
    assert_eq!(
        last["result"]["train_accuracy"].as_f64().unwrap() as f32,
        0.9
    );
    let model_id = last["result"]["model_id"].as_str().unwrap();

    // The trained model is listed and usable for prediction.
    let models = body_json(app.send(request("GET", "/api/models", Some(&ann))).await).await;
    let ids: Vec<&str> = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["default", model_id]);
    assert!(
        models.to_string().find("bundle").is_none(),
        "model paths stay on the server"
    );
    let predicted = app
        .send(multipart(
            "/api/predict",
            &[
                Part::Text("model_id", model_id),
                Part::File("files", "sad_1.wav", b"RIFF"),
            ],
            Some(&ann),
        ))
        .await;
    let predicted = body_json(predicted).await;
    assert_eq!(predicted["results"][0]["prediction"]["label"], "sad");
    assert_eq!(predicted["results"][0]["prediction"]["model_id"], model_id);

    // The upload and work folder are cleaned up (just after the job is recorded as done, so
    // that a crash in between leaves a job that can still run again); the model file stays.
    let user_dir = app.dir.path().join("data/users").join(&ann.user_id);
    assert_eq!(
        std::fs::read_dir(user_dir.join("models")).unwrap().count(),
        1
    );
    let leftovers = || {
        user_dir.join("uploads").join(format!("{id}.zip")).exists()
            || user_dir.join("jobs").join(&id).exists()
    };
    for _ in 0..100 {
        if !leftovers() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!leftovers(), "upload or work folder left behind");
}

#[tokio::test]
async fn sse_for_a_finished_job_sends_its_final_state_and_ends() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let id = start_train(&app, &ann, "2").await;
    wait_for_status(&app, &ann, &id, &["done"]).await;
    let text = body_text(
        app.send(request(
            "GET",
            &format!("/api/jobs/{id}/events"),
            Some(&ann),
        ))
        .await,
    )
    .await;
    assert_eq!(text.matches("event: job").count(), 1);
    assert!(text.contains("\"status\":\"done\""));
}

#[tokio::test]
async fn train_form_is_validated() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let zip = fake_zip(b"");
    let cases: [(&str, &str, &str, &str, &str); 6] = [
        ("nope", "5", "true", "1", "kind"),
        ("fake-cnn", "0", "true", "1", "epochs"),
        ("fake-cnn", "ten", "true", "1", "epochs"),
        ("fake-cnn", "5", "maybe", "1", "augment"),
        ("fake-cnn", "5", "false", "9", "members"),
        ("fake-svm", "5", "false", "3", "members"),
    ];
    for (kind, epochs, augment, members, field) in cases {
        let response = app
            .send(multipart(
                "/api/jobs/train",
                &[
                    Part::Text("kind", kind),
                    Part::Text("epochs", epochs),
                    Part::Text("augment", augment),
                    Part::Text("members", members),
                    Part::File("dataset", "d.zip", &zip),
                ],
                Some(&ann),
            ))
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body_json(response).await["field"], field);
    }
    let missing = app
        .send(multipart(
            "/api/jobs/train",
            &[Part::Text("kind", "fake-cnn"), Part::Text("epochs", "3")],
            Some(&ann),
        ))
        .await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    // Nothing was left behind by the refused uploads.
    let uploads = app
        .dir
        .path()
        .join("data/users")
        .join(&ann.user_id)
        .join("uploads");
    assert_eq!(
        std::fs::read_dir(uploads).map(|d| d.count()).unwrap_or(0),
        0
    );
}

#[tokio::test]
async fn train_options_reach_the_job_and_name_the_model() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let zip = fake_zip(b"");
    let form = |augment, members| {
        vec![
            Part::Text("kind", "fake-cnn"),
            Part::Text("epochs", "3"),
            Part::Text("augment", augment),
            Part::Text("members", members),
            Part::File("dataset", "d.zip", &zip),
        ]
    };
    let response = app
        .send(multipart("/api/jobs/train", &form("true", "3"), Some(&ann)))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let job = body_json(response).await;
    assert_eq!(job["params"]["augment"], true, "{job}");
    assert_eq!(job["params"]["members"], 3, "{job}");
    let name = job["params"]["model_name"].as_str().unwrap();
    assert!(name.contains("x3") && name.ends_with("augmented"), "{name}");

    // Without the fields (older API clients) a job trains one plain model.
    let plain = [
        Part::Text("kind", "fake-cnn"),
        Part::Text("epochs", "3"),
        Part::File("dataset", "d.zip", &zip),
    ];
    let job = body_json(
        app.send(multipart("/api/jobs/train", &plain, Some(&ann)))
            .await,
    )
    .await;
    assert_eq!(job["params"]["augment"], false, "{job}");
    assert_eq!(job["params"]["members"], 1, "{job}");
}

#[tokio::test]
async fn non_zip_dataset_is_rejected_with_400() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let by_name = app
        .send(multipart(
            "/api/jobs/train",
            &[
                Part::Text("kind", "fake-cnn"),
                Part::Text("epochs", "3"),
                Part::File("dataset", "data.tar", &fake_zip(b"")),
            ],
            Some(&ann),
        ))
        .await;
    assert_eq!(by_name.status(), StatusCode::BAD_REQUEST);
    assert!(
        body_json(by_name).await["error"]
            .as_str()
            .unwrap()
            .contains("not a .zip file")
    );
    let by_content = app
        .send(multipart(
            "/api/jobs/test",
            &[
                Part::Text("model_id", "default"),
                Part::File("dataset", "fake.zip", b"just some text pretending"),
            ],
            Some(&ann),
        ))
        .await;
    assert_eq!(by_content.status(), StatusCode::BAD_REQUEST);
    let error = body_json(by_content).await["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(error.contains("fake.zip is not a ZIP archive"), "{error}");
}

#[tokio::test]
async fn dataset_over_the_limit_gets_413_json() {
    let app = TestApp::with(|c| c.max_zip_bytes = 1024, FakeEngine::default()).await;
    let ann = app.user("ann").await;
    let big = fake_zip(&[7u8; 4096]);
    let response = app
        .send(multipart(
            "/api/jobs/train",
            &[
                Part::Text("kind", "fake-cnn"),
                Part::Text("epochs", "3"),
                Part::File("dataset", "big.zip", &big),
            ],
            Some(&ann),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body = body_json(response).await;
    assert_eq!(body["code"], "payload_too_large");
    assert!(
        body["error"].as_str().unwrap().contains("1 KB limit"),
        "{body}"
    );
    // Far over the limit: the request body limit answers, still as JSON.
    let huge = fake_zip(&vec![7u8; 3 * 1024 * 1024]);
    let response = app
        .send(multipart(
            "/api/jobs/train",
            &[Part::File("dataset", "huge.zip", &huge)],
            Some(&ann),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body_json(response).await["code"], "payload_too_large");
}

#[tokio::test]
async fn test_job_reports_metrics_and_engine_errors_without_paths() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let zip = fake_zip(b"");
    let response = app
        .send(multipart(
            "/api/jobs/test",
            &[
                Part::Text("model_id", "default"),
                Part::File("dataset", "test.zip", &zip),
            ],
            Some(&ann),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = body_json(response).await["id"].as_str().unwrap().to_owned();
    let job = wait_for_status(&app, &ann, &id, &["done", "failed"]).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["result"]["accuracy"].as_f64().unwrap() as f32, 0.75);
    assert_eq!(job["result"]["confusion"][0][0], 3);
    assert_eq!(job["result"]["model_name"], "Fake default");

    // The fake engine names the dataset by its server path; the user must not see it.
    let empty = fake_zip(b"EMPTY");
    let response = app
        .send(multipart(
            "/api/jobs/test",
            &[Part::File("dataset", "empty.zip", &empty)],
            Some(&ann),
        ))
        .await;
    let id = body_json(response).await["id"].as_str().unwrap().to_owned();
    let job = wait_for_status(&app, &ann, &id, &["done", "failed"]).await;
    assert_eq!(job["status"], "failed");
    let message = job["message"].as_str().unwrap();
    assert!(message.contains("no labelled audio found"), "{message}");
    assert!(
        !message.contains('/') && !message.contains("users"),
        "path leaked: {message}"
    );
    assert!(!message.contains(&app.dir.path().display().to_string()));
}

#[tokio::test]
async fn running_job_can_be_cancelled() {
    let (app, gate) = gated_app().await;
    let ann = app.user("ann").await;
    let id = start_train(&app, &ann, "3").await;
    wait_for_status(&app, &ann, &id, &["running"]).await;
    let response = app
        .send(request(
            "POST",
            &format!("/api/jobs/{id}/cancel"),
            Some(&ann),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    // Until the engine notices, the job says it is cancelling.
    let answer = body_json(response).await;
    match answer["status"].as_str() {
        Some("running") => assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .starts_with("cancelling"),
            "{answer}"
        ),
        other => assert_eq!(other, Some("cancelled"), "{answer}"),
    }
    let job = wait_for_status(&app, &ann, &id, &["cancelled", "done", "failed"]).await;
    assert_eq!(job["status"], "cancelled");
    let again = app
        .send(request(
            "POST",
            &format!("/api/jobs/{id}/cancel"),
            Some(&ann),
        ))
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    gate.open();
}

#[tokio::test]
async fn queued_job_can_be_cancelled_before_it_starts() {
    let (app, gate) = gated_app().await;
    let ann = app.user("ann").await;
    let first = start_train(&app, &ann, "1").await;
    wait_for_status(&app, &ann, &first, &["running"]).await;
    // One worker: the second waits in the queue.
    let second = start_train(&app, &ann, "1").await;
    let job = body_json(
        app.send(request("GET", &format!("/api/jobs/{second}"), Some(&ann)))
            .await,
    )
    .await;
    assert_eq!(job["status"], "queued");
    let cancelled = body_json(
        app.send(request(
            "POST",
            &format!("/api/jobs/{second}/cancel"),
            Some(&ann),
        ))
        .await,
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled");
    gate.open();
    assert_eq!(
        wait_for_status(&app, &ann, &first, &["done"]).await["status"],
        "done"
    );
    let job = body_json(
        app.send(request("GET", &format!("/api/jobs/{second}"), Some(&ann)))
            .await,
    )
    .await;
    assert_eq!(job["status"], "cancelled");
}

/// A worker that dies mid-job (its process gone: here its whole runtime stops at once, no
/// task finishing) stops renewing its lease; a server started on the same database and
/// folder takes the job over when the lease runs out and runs it to the end there.
#[tokio::test]
async fn a_job_whose_worker_dies_is_taken_over_and_resumed() {
    let gate = Arc::new(Gate::default());
    let (started_tx, started) = std::sync::mpsc::channel();
    let (die, dying) = std::sync::mpsc::channel::<()>();
    let engine_gate = gate.clone();
    let doomed = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let engine = FakeEngine {
                gate: Some(engine_gate),
                ..Default::default()
            };
            let trains = engine.trains.clone();
            let app = TestApp::with(|_| {}, engine).await;
            let ann = app.user("ann").await;
            let id = start_train(&app, &ann, "3").await;
            wait_for_status(&app, &ann, &id, &["running"]).await;
            // The worker dies while its engine trains (held at the gate), not while it is
            // still fetching the dataset: a runtime shut down under a file operation fails
            // that operation, and the job with it, before the runtime stops.
            while trains.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            started_tx
                .send((app.dir.clone(), app.config.clone(), ann, id))
                .unwrap();
        });
        dying.recv().unwrap();
        runtime.shutdown_background();
    });
    let (dir, config, ann, id) = started.recv().unwrap();
    die.send(()).unwrap();
    doomed.join().unwrap();

    let survivor = TestApp::open(dir, config, FakeEngine::default()).await;
    let job = wait_for_status(&survivor, &ann, &id, &["done", "failed"]).await;
    assert_eq!(job["status"], "done", "{job}");
    assert!(job["model_id"].is_string(), "{job}");
    let epochs: Vec<u64> = job["result"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["epoch"].as_u64().unwrap())
        .collect();
    assert_eq!(epochs, [1, 2, 3]);
    gate.open();
}

/// `ser serve --workers 0` beside a worker process: the server queues, the worker (another
/// process on the same database and folder, here another state) runs the job, and the
/// server follows its progress to the end through the database.
#[tokio::test]
async fn a_server_without_workers_leaves_jobs_to_a_worker_elsewhere() {
    let server = TestApp::with(|c| c.job_workers = 0, FakeEngine::default()).await;
    let ann = server.user("ann").await;
    let id = start_train(&server, &ann, "2").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let job = server.get_json(&format!("/api/jobs/{id}"), &ann).await;
    assert_eq!(job["status"], "queued", "no worker here: {job}");

    let events = server
        .send(request(
            "GET",
            &format!("/api/jobs/{id}/events"),
            Some(&ann),
        ))
        .await;
    let mut worker_config = server.config.clone();
    worker_config.job_workers = 1;
    let worker = TestApp::open(server.dir.clone(), worker_config, FakeEngine::default()).await;
    // The server's event stream ends with the job done, though it never ran there.
    let text = body_text(events).await;
    let last = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("data:"))
        .unwrap();
    let last: Value = serde_json::from_str(last.trim()).unwrap();
    assert_eq!(last["status"], "done", "{text}");
    assert_eq!(worker.state.jobs_running_here(), 0);
}

/// A shutdown pauses a running job instead of cancelling it: it stays unfinished with its
/// upload, and the next server resumes it and says so.
#[tokio::test]
async fn shutdown_pauses_running_jobs_and_the_next_server_resumes_them() {
    let (app, gate) = gated_app().await;
    let ann = app.user("ann").await;
    let id = start_train(&app, &ann, "3").await;
    wait_for_status(&app, &ann, &id, &["running"]).await;
    app.state.pause_jobs();
    // The engine sees the flag within its next check; the job is still unfinished after.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let job = body_json(
        app.send(request("GET", &format!("/api/jobs/{id}"), Some(&ann)))
            .await,
    )
    .await;
    assert_eq!(job["status"], "running", "{job}");

    let gate_again = Arc::new(Gate::default());
    let engine = FakeEngine {
        gate: Some(gate_again.clone()),
        ..Default::default()
    };
    let restarted = TestApp::open(app.dir.clone(), app.config.clone(), engine).await;
    // The paused job waits, running without a worker, until the restarted server picks it
    // up again and says it resumed.
    let uri = format!("/api/jobs/{id}");
    let mut job = restarted.get_json(&uri, &ann).await;
    for _ in 0..500 {
        if job["message"] != "waiting to resume after a restart" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        job = restarted.get_json(&uri, &ann).await;
    }
    assert_eq!(job["status"], "running", "{job}");
    assert!(
        job["message"]
            .as_str()
            .unwrap()
            .contains("resumed after a restart"),
        "{job}"
    );
    gate_again.open();
    let job = wait_for_status(&restarted, &ann, &id, &["done", "failed"]).await;
    assert_eq!(job["status"], "done", "{job}");
    gate.open();
}

#[tokio::test]
async fn jobs_list_shows_own_jobs_newest_first() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let first = start_train(&app, &ann, "1").await;
    wait_for_status(&app, &ann, &first, &["done"]).await;
    let second = start_train(&app, &ann, "1").await;
    wait_for_status(&app, &ann, &second, &["done"]).await;
    let jobs = body_json(app.send(request("GET", "/api/jobs", Some(&ann))).await).await;
    let ids: Vec<&str> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.as_str(), first.as_str()]);
    assert_eq!(jobs["jobs"][0]["params"]["dataset_name"], "ravdess.zip");
    assert_eq!(
        jobs["jobs"][0]["params"]["model_name"],
        "Fake CNN · 1 epochs"
    );
}

/// A finished run can be deleted (not a running one, not another user's); the model it
/// trained stays, and its bundle downloads as a .ser file for its owner only.
#[tokio::test]
async fn finished_runs_delete_and_trained_models_download() {
    let (app, gate) = gated_app().await;
    let (ann, bob) = (app.user("ann").await, app.user("bob").await);
    let id = start_train(&app, &ann, "2").await;
    wait_for_status(&app, &ann, &id, &["running"]).await;
    let uri = format!("/api/jobs/{id}");
    let busy = app.send(request("DELETE", &uri, Some(&ann))).await;
    assert_eq!(busy.status(), StatusCode::CONFLICT);
    gate.open();
    let job = wait_for_status(&app, &ann, &id, &["done", "failed"]).await;
    let model = job["model_id"].as_str().unwrap().to_owned();

    let download = format!("/api/models/{model}/download");
    let theirs = app.send(request("GET", &download, Some(&bob))).await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
    let response = app.send(request("GET", &download, Some(&ann))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let disposition = response.headers()["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"") && disposition.ends_with(".ser\""),
        "{disposition}"
    );
    assert!(!body_bytes(response).await.is_empty());
    let builtin = app
        .send(request("GET", "/api/models/default/download", Some(&ann)))
        .await;
    assert_eq!(builtin.status(), StatusCode::BAD_REQUEST);

    let not_theirs = app.send(request("DELETE", &uri, Some(&bob))).await;
    assert_eq!(not_theirs.status(), StatusCode::NOT_FOUND);
    let deleted = app.send(request("DELETE", &uri, Some(&ann))).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = app.send(request("GET", &uri, Some(&ann))).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let kept = app
        .send(request("GET", &format!("/api/models/{model}"), Some(&ann)))
        .await;
    assert_eq!(kept.status(), StatusCode::OK);
}

/// A server whose engine waits at the returned gate after its first progress report.
async fn gated_app() -> (TestApp, Arc<Gate>) {
    let gate = Arc::new(Gate::default());
    let engine = FakeEngine {
        gate: Some(gate.clone()),
        ..Default::default()
    };
    (TestApp::with(|_| {}, engine).await, gate)
}

/// Servers with data folders of their own (two machines) share uploads, checkpoints and
/// models through the store: a job resumes on the second from the first's checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_moves_between_machines_through_a_shared_store() {
    let url = format!("memory://moves-{}", std::process::id());
    job_moves_between_machines_through_the_store(&url).await;
}
