//! Test scaffolding for the web layer: a deterministic fake engine and request helpers.
#![allow(dead_code)]

mod fake_engine;
pub use fake_engine::{FakeEngine, Gate};

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, Response, StatusCode, header};
use ser_server::{AppState, ServerConfig};
use serde_json::{Value, json};
use tempfile::TempDir;
use tower::ServiceExt;

/// A server over a fresh temporary SQLite database and data folder.
pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    pub dir: Arc<TempDir>,
    pub config: ServerConfig,
}

pub fn test_config(dir: &TempDir) -> ServerConfig {
    ServerConfig {
        database_url: format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display()),
        data_dir: dir.path().join("data"),
        // Short, so that a job whose worker died is taken over within a test's patience.
        job_lease: Duration::from_millis(500),
        ..ServerConfig::default()
    }
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with(|_| {}, FakeEngine::default()).await
    }

    pub async fn with(tweak: impl FnOnce(&mut ServerConfig), engine: FakeEngine) -> Self {
        let dir = Arc::new(TempDir::new().unwrap());
        let mut config = test_config(&dir);
        tweak(&mut config);
        Self::open(dir, config, engine).await
    }

    /// A server over an existing folder (as after a restart).
    pub async fn open(dir: Arc<TempDir>, config: ServerConfig, engine: FakeEngine) -> Self {
        // The server's log, shown with a failing test's output (errors users only see as
        // "internal server error").
        let _ = tracing_subscriber::fmt()
            .with_env_filter("warn,ser_server=info")
            .with_test_writer()
            .try_init();
        let state = AppState::new(config.clone(), Arc::new(engine))
            .await
            .unwrap();
        let router = ser_server::router(state.clone());
        Self {
            state,
            router,
            dir,
            config,
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Response<Body> {
        self.router.clone().oneshot(request).await.unwrap()
    }

    /// The JSON body of `GET uri` as `session`.
    pub async fn get_json(&self, uri: &str, session: &Session) -> Value {
        body_json(self.send(request("GET", uri, Some(session))).await).await
    }

    /// Sign up and return the session.
    /// `POST /api/auth/signin` with this email and password.
    pub async fn sign_in(&self, email: &str, password: &str) -> Response<Body> {
        self.send(json_request(
            "POST",
            "/api/auth/signin",
            &json!({"email": email, "password": password}),
            None,
        ))
        .await
    }

    pub async fn user(&self, name: &str) -> Session {
        let email = format!("{name}@example.com");
        let response = self
            .send(json_request(
                "POST",
                "/api/auth/signup",
                &json!({"name": name, "email": email, "password": "correct horse"}),
                None,
            ))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        Session::from_response(response).await
    }
}

/// A signed-in browser: cookie plus CSRF token.
#[derive(Clone, Debug)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
    pub user_id: String,
}

impl Session {
    pub async fn from_response(response: Response<Body>) -> Self {
        let cookie = set_cookie(&response).split(';').next().unwrap().to_owned();
        let body = body_json(response).await;
        Self {
            cookie,
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
            user_id: body["user"]["id"].as_str().unwrap().to_owned(),
        }
    }
}

pub fn set_cookie(response: &Response<Body>) -> String {
    response
        .headers()
        .get(header::SET_COOKIE)
        .expect("Set-Cookie")
        .to_str()
        .unwrap()
        .to_owned()
}

pub fn json_request(
    method: &str,
    uri: &str,
    body: &Value,
    session: Option<&Session>,
) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(s) = session {
        builder = builder
            .header(header::COOKIE, &s.cookie)
            .header("x-csrf-token", &s.csrf);
    }
    builder.body(Body::from(body.to_string())).unwrap()
}

/// A request with the session cookie and CSRF header (no body).
pub fn request(method: &str, uri: &str, session: Option<&Session>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(s) = session {
        builder = builder
            .header(header::COOKIE, &s.cookie)
            .header("x-csrf-token", &s.csrf);
    }
    builder.body(Body::empty()).unwrap()
}

pub async fn body_bytes(response: Response<Body>) -> Vec<u8> {
    to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec()
}

pub async fn body_text(response: Response<Body>) -> String {
    String::from_utf8(body_bytes(response).await).unwrap()
}

pub async fn body_json(response: Response<Body>) -> Value {
    let bytes = body_bytes(response).await;
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
}

/// One part of a multipart body.
pub enum Part<'a> {
    Text(&'a str, &'a str),
    File(&'a str, &'a str, &'a [u8]),
}

const BOUNDARY: &str = "----ser-test-boundary";

pub fn multipart(uri: &str, parts: &[Part<'_>], session: Option<&Session>) -> Request<Body> {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match part {
            Part::Text(name, value) => {
                body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                        .as_bytes(),
                );
            }
            Part::File(name, file_name, data) => {
                body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
                );
                body.extend_from_slice(data);
                body.extend_from_slice(b"\r\n");
            }
        }
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    let mut builder = Request::builder().method("POST").uri(uri).header(
        header::CONTENT_TYPE,
        format!("multipart/form-data; boundary={BOUNDARY}"),
    );
    if let Some(s) = session {
        builder = builder
            .header(header::COOKIE, &s.cookie)
            .header("x-csrf-token", &s.csrf);
    }
    builder.body(Body::from(body)).unwrap()
}

/// Bytes that pass the server's ZIP check (the fake engine does not unzip).
pub fn fake_zip(extra: &[u8]) -> Vec<u8> {
    let mut data = b"PK\x03\x04".to_vec();
    data.extend_from_slice(&[0u8; 60]);
    data.extend_from_slice(extra);
    data
}

/// Start a train job and return its id.
pub async fn start_train(app: &TestApp, session: &Session, epochs: &str) -> String {
    let zip = fake_zip(b"");
    let response = app
        .send(multipart(
            "/api/jobs/train",
            &[
                Part::Text("kind", "fake-cnn"),
                Part::Text("epochs", epochs),
                Part::File("dataset", "ravdess.zip", &zip),
            ],
            Some(session),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    body_json(response).await["id"].as_str().unwrap().to_owned()
}

/// Poll a job until `done` (or any of `statuses`).
pub async fn wait_for_status(
    app: &TestApp,
    session: &Session,
    id: &str,
    statuses: &[&str],
) -> Value {
    for _ in 0..500 {
        let job = body_json(
            app.send(request("GET", &format!("/api/jobs/{id}"), Some(session)))
                .await,
        )
        .await;
        if statuses.contains(&job["status"].as_str().unwrap()) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("job {id} never reached {statuses:?}");
}

/// Two servers on one database and one store (`storage_url`) but with data folders of their
/// own, as on two machines: the first dies after its job's second epoch; the second resumes
/// the job from the checkpoint the first copied to the store, keeps the model there, and
/// serves it, hands it out and deletes it.
pub async fn job_moves_between_machines_through_the_store(storage_url: &str) {
    let base = Arc::new(TempDir::new().unwrap());
    let machine = |name: &str| ServerConfig {
        data_dir: base.path().join(name),
        storage_url: Some(storage_url.to_owned()),
        ..test_config(&base)
    };
    let gate = Arc::new(Gate::default());
    let (started_tx, started) = std::sync::mpsc::channel();
    let (die, dying) = std::sync::mpsc::channel::<()>();
    let (doomed_config, doomed_dir, doomed_gate) = (machine("a"), base.clone(), gate.clone());
    let doomed = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let engine = FakeEngine {
                gate: Some(doomed_gate),
                gate_after: 2,
                ..Default::default()
            };
            let app = TestApp::open(doomed_dir, doomed_config, engine).await;
            let ann = app.user("ann").await;
            let id = start_train(&app, &ann, "4").await;
            for _ in 0..500 {
                let job = app.get_json(&format!("/api/jobs/{id}"), &ann).await;
                if job["detail"]["epoch"].as_u64() >= Some(2) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // Time for the checkpoint copier (every third of the 500 ms lease).
            tokio::time::sleep(Duration::from_millis(700)).await;
            started_tx.send((ann, id)).unwrap();
        });
        dying.recv().unwrap();
        runtime.shutdown_background();
    });
    let (ann, id) = started.recv().unwrap();
    die.send(()).unwrap();
    doomed.join().unwrap();

    let engine = FakeEngine::default();
    let first_epochs = engine.first_epochs.clone();
    let survivor = TestApp::open(base.clone(), machine("b"), engine).await;
    let job = wait_for_status(&survivor, &ann, &id, &["done", "failed"]).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(*first_epochs.lock().unwrap(), [3], "resumed after epoch 2");
    let model_id = job["model_id"].as_str().unwrap().to_owned();
    let bundle = survivor
        .send(request(
            "GET",
            &format!("/api/models/{model_id}/download"),
            Some(&ann),
        ))
        .await;
    assert_eq!(bundle.status(), StatusCode::OK);
    assert_eq!(body_bytes(bundle).await, b"fake bundle");
    // The fake engine refuses a model file that is not there: this one was fetched.
    let predicted = body_json(
        survivor
            .send(multipart(
                "/api/predict",
                &[
                    Part::Text("model_id", &model_id),
                    Part::File("files", "happy.wav", b"RIFF"),
                ],
                Some(&ann),
            ))
            .await,
    )
    .await;
    assert_eq!(
        predicted["results"][0]["prediction"]["label"], "happy",
        "{predicted}"
    );
    let deleted = survivor
        .send(request(
            "DELETE",
            &format!("/api/models/{model_id}"),
            Some(&ann),
        ))
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let store = ser_server::Blobs::open(Some(storage_url), base.path()).unwrap();
    let stored = store.keys("users").await.unwrap();
    assert!(
        stored.is_empty(),
        "the upload, checkpoints and model are gone: {stored:?}"
    );
    let local = files_in(&base.path().join("b/users"));
    assert!(local.is_empty(), "no local copies left either: {local:?}");
    gate.open();
    survivor.state.pause_jobs();
}

/// Every file under `dir`, at any depth.
pub fn files_in(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                files_in(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}
