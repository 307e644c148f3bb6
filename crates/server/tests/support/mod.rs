//! Test scaffolding for the web layer: a deterministic fake engine and request helpers.
#![allow(dead_code)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, Response, StatusCode, header};
use ser_server::{
    AppState, ClassMetrics, DefaultModel, Engine, EngineError, EpochRecord, LabelProb, ModelKind,
    Prediction, ServerConfig, TestOutcome, TrainOutcome, TrainProgress, TrainSpec,
};
use serde_json::{Value, json};
use tempfile::TempDir;
use tower::ServiceExt;

/// A gate the fake engine's `train` waits at (to hold a job in `running`).
#[derive(Default)]
pub struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    pub fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }

    fn wait(&self, cancel: &AtomicBool) {
        let mut open = self.open.lock().unwrap();
        while !*open && !cancel.load(Ordering::Relaxed) {
            open = self
                .cv
                .wait_timeout(open, Duration::from_millis(20))
                .unwrap()
                .0;
        }
    }
}

/// Predicts the emotion named in the file name ("happy_1.wav" -> happy), fails on names
/// containing "corrupt", hears no speech in names containing "silence", trains in `epochs`
/// quick ticks and writes a bundle file. Like the real engine it checkpoints each epoch in
/// `checkpoints/` of its work folder (the weights, then `state.json` naming the epoch) and
/// resumes from there.
#[derive(Default)]
pub struct FakeEngine {
    /// When set, `train` waits here after `gate_after` epochs (and its first progress report).
    pub gate: Option<Arc<Gate>>,
    pub gate_after: u32,
    /// How many times `train` was called (shared by the engines of several test servers).
    pub trains: Arc<std::sync::atomic::AtomicUsize>,
    /// The first epoch each `train` call ran: above 1 when it resumed from a checkpoint.
    pub first_epochs: Arc<Mutex<Vec<u32>>>,
}

/// The fake engine's checkpoint folder in a job's work folder: one member's, as an ensemble's.
fn fake_checkpoint_dir(work_dir: &Path) -> std::path::PathBuf {
    work_dir.join("checkpoints").join("member-0")
}

/// The epoch the checkpoint in `work_dir` holds (0: none); panics on a torn checkpoint,
/// where the weights do not hold the epoch the state names.
fn fake_resume(work_dir: &Path) -> u32 {
    let dir = fake_checkpoint_dir(work_dir);
    let Ok(state) = std::fs::read_to_string(dir.join("state.json")) else {
        return 0;
    };
    let weights = std::fs::read_to_string(dir.join("weights.bin")).unwrap();
    assert_eq!(weights, state, "a consistent checkpoint");
    state.trim().parse().unwrap()
}

fn fake_checkpoint(work_dir: &Path, epoch: u32) {
    let dir = fake_checkpoint_dir(work_dir);
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["weights.bin", "state.json"] {
        let temp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&temp, epoch.to_string()).unwrap();
        std::fs::rename(&temp, dir.join(name)).unwrap();
    }
}

const LABELS: [&str; 4] = ["angry", "happy", "neutral", "sad"];

impl Engine for FakeEngine {
    fn model_kinds(&self) -> Vec<ModelKind> {
        vec![
            ModelKind {
                id: "fake-cnn".into(),
                name: "Fake CNN".into(),
                description: "Test double.".into(),
                ensemble: true,
            },
            ModelKind {
                id: "fake-svm".into(),
                name: "Fake SVM".into(),
                description: "Test double of a classical model.".into(),
                ensemble: false,
            },
        ]
    }

    fn default_model(&self) -> Option<DefaultModel> {
        Some(DefaultModel {
            name: "Fake default".into(),
            kind: "fake-cnn".into(),
            about: "Trained on generated tones (a test engine).".into(),
            labels: LABELS.iter().map(|s| s.to_string()).collect(),
        })
    }

    fn predict(
        &self,
        model: Option<&Path>,
        audio: &[u8],
        file_name: &str,
    ) -> Result<Prediction, EngineError> {
        if file_name.contains("corrupt") {
            return Err(EngineError::Input(format!(
                "{file_name}: not a valid audio file"
            )));
        }
        if file_name.contains("silence") {
            return Err(EngineError::NoSpeech(file_name.to_owned()));
        }
        if let Some(path) = model.filter(|p| !p.exists()) {
            return Err(EngineError::Internal(format!(
                "missing bundle {}",
                path.display()
            )));
        }
        let label = LABELS
            .iter()
            .find(|l| file_name.contains(*l))
            .unwrap_or(&"neutral");
        Ok(Prediction {
            label: label.to_string(),
            confidence: 0.9,
            probabilities: vec![LabelProb {
                label: label.to_string(),
                prob: 0.9,
            }],
            true_label: LABELS
                .iter()
                .find(|l| file_name.starts_with(*l))
                .map(|s| s.to_string()),
            waveform: vec![[-0.5, 0.5]; 10],
            duration_s: audio.len() as f32 / 32000.0,
            // A name with "unsure" stands for a clip where no emotion stands out.
            uncertain: file_name.contains("unsure"),
            // A name with "long" stands for a recording longer than one window.
            timeline: file_name
                .contains("long")
                .then(|| two_segment_timeline(label)),
        })
    }

    /// Clips predicted together (one speaker) come back with confidence 0.5, so tests can
    /// tell which path a request took.
    fn predict_one_speaker(
        &self,
        model: Option<&Path>,
        clips: &[(&[u8], &str)],
    ) -> Vec<Result<Prediction, EngineError>> {
        clips
            .iter()
            .map(|(audio, name)| {
                self.predict(model, audio, name).map(|p| Prediction {
                    confidence: 0.5,
                    ..p
                })
            })
            .collect()
    }

    fn train(
        &self,
        dataset_zip: &Path,
        spec: &TrainSpec,
        work_dir: &Path,
        progress: &mut (dyn FnMut(TrainProgress) + Send),
        cancel: &AtomicBool,
    ) -> Result<TrainOutcome, EngineError> {
        assert!(dataset_zip.exists(), "dataset was saved before the job ran");
        self.trains.fetch_add(1, Ordering::SeqCst);
        let mut history = Vec::new();
        progress(TrainProgress {
            epoch: 0,
            epochs: spec.epochs,
            phase: "extracting features".into(),
            ..Default::default()
        });
        let first = fake_resume(work_dir) + 1;
        self.first_epochs.lock().unwrap().push(first);
        for epoch in first..=spec.epochs {
            if epoch == self.gate_after + 1
                && let Some(gate) = &self.gate
            {
                gate.wait(cancel);
            }
            if cancel.load(Ordering::Relaxed) {
                return Err(EngineError::Cancelled);
            }
            let record = EpochRecord {
                epoch,
                train_loss: 1.0 / epoch as f32,
                train_acc: 0.5 + 0.04 * epoch as f32,
                val_loss: Some(1.2 / epoch as f32),
                val_acc: Some(0.4 + 0.04 * epoch as f32),
            };
            progress(TrainProgress {
                epoch,
                epochs: spec.epochs,
                train_loss: Some(record.train_loss),
                train_acc: Some(record.train_acc),
                val_loss: record.val_loss,
                val_acc: record.val_acc,
                phase: format!("epoch {epoch} of {}", spec.epochs),
                ..Default::default()
            });
            history.push(record);
            fake_checkpoint(work_dir, epoch);
            std::thread::sleep(Duration::from_millis(5));
        }
        let bundle = work_dir.join("model.bundle");
        std::fs::write(&bundle, b"fake bundle")
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        Ok(TrainOutcome {
            skipped: Vec::new(),
            kept_epoch: None,
            epochs_run: spec.epochs,
            bundle,
            train_accuracy: 0.9,
            val_accuracy: Some(0.8),
            labels: LABELS.iter().map(|s| s.to_string()).collect(),
            history,
            protocol: "speaker-independent 80/20".into(),
        })
    }

    fn live(
        &self,
        model: Option<&Path>,
        window_s: f64,
        hop_s: f64,
    ) -> Result<Box<dyn ser_server::LiveSession>, EngineError> {
        if model.is_some_and(|p| !p.exists()) {
            return Err(EngineError::Input("that model works at 8000 Hz".into()));
        }
        let samples = |s: f64| (s * f64::from(ser_server::LIVE_SAMPLE_RATE)) as usize;
        Ok(Box::new(FakeLive {
            window: samples(window_s),
            hop: samples(hop_s),
            pcm: ser_audio::Pcm16Decoder::default(),
            buffer: Vec::new(),
            start: 0,
        }))
    }

    fn test(
        &self,
        _model: Option<&Path>,
        dataset_zip: &Path,
        _work_dir: &Path,
        progress: &mut dyn FnMut(f32, &str),
        _cancel: &AtomicBool,
    ) -> Result<TestOutcome, EngineError> {
        let data = std::fs::read(dataset_zip).map_err(|e| EngineError::Internal(e.to_string()))?;
        if data.windows(5).any(|w| w == b"EMPTY") {
            return Err(EngineError::Input(format!(
                "{}: no labelled audio found",
                dataset_zip.display()
            )));
        }
        for i in 1..=4 {
            progress(i as f32 / 4.0, "classifying");
        }
        Ok(TestOutcome {
            skipped: Vec::new(),
            notes: Vec::new(),
            accuracy: 0.75,
            unweighted_accuracy: 0.7,
            samples: 8,
            labels: vec!["happy".into(), "sad".into()],
            per_class: vec![ClassMetrics {
                label: "happy".into(),
                precision: 0.8,
                recall: 0.8,
                f1: 0.8,
                support: 4,
            }],
            confusion: vec![vec![3, 1], vec![1, 3]],
            confusion_svg: Some("<svg xmlns=\"http://www.w3.org/2000/svg\"/>".into()),
        })
    }
}

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

/// The timeline the fake engine gives a "long" recording: `label` for 4 s, then sad.
fn two_segment_timeline(label: &str) -> ser_server::Timeline {
    let segment = |start_s: f64, label: &str| ser_server::TimelineSegment {
        start_s,
        end_s: start_s + 4.0,
        label: label.to_string(),
        confidence: 0.8,
        uncertain: false,
        top: vec![LabelProb {
            label: label.to_string(),
            prob: 0.8,
        }],
    };
    ser_server::Timeline {
        segments: vec![segment(0.0, label), segment(6.0, "sad")],
        speech_share: vec![
            LabelProb {
                label: label.to_string(),
                prob: 0.5,
            },
            LabelProb {
                label: "sad".into(),
                prob: 0.5,
            },
        ],
    }
}

/// The fake engine's live session: a window every hop; "happy" when the window holds sound.
struct FakeLive {
    window: usize,
    hop: usize,
    pcm: ser_audio::Pcm16Decoder,
    /// Samples from `start` on.
    buffer: Vec<f32>,
    start: usize,
}

impl FakeLive {
    fn result(&self, samples: &[f32]) -> ser_server::LiveResult {
        let rate = f64::from(ser_server::LIVE_SAMPLE_RATE);
        let speech = samples.iter().any(|v| v.abs() > 0.05);
        ser_server::LiveResult {
            start_s: self.start as f64 / rate,
            end_s: (self.start + samples.len()) as f64 / rate,
            speech,
            label: speech.then(|| "happy".to_string()),
            confidence: speech.then_some(0.9),
            uncertain: false,
        }
    }
}

impl ser_server::LiveSession for FakeLive {
    fn push(&mut self, pcm16le: &[u8]) -> Result<Vec<ser_server::LiveResult>, EngineError> {
        let samples = self.pcm.decode(pcm16le);
        self.buffer.extend_from_slice(&samples);
        let mut out = Vec::new();
        while self.buffer.len() >= self.window {
            out.push(self.result(&self.buffer[..self.window]));
            self.buffer.drain(..self.hop.min(self.buffer.len()));
            self.start += self.hop;
        }
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<ser_server::LiveResult>, EngineError> {
        let rest = std::mem::take(&mut self.buffer);
        Ok((!rest.is_empty())
            .then(|| self.result(&rest))
            .into_iter()
            .collect())
    }
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
