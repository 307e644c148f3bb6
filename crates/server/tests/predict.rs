//! Prediction uploads and the prediction history.

mod support;

use axum::body::Body;
use axum::http::{StatusCode, header};
use support::*;

#[tokio::test]
async fn predicts_many_files_reporting_errors_per_file() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let response = app
        .send(multipart(
            "/api/predict",
            &[
                Part::File("files", "happy_01.wav", b"RIFF...."),
                Part::File("files", "corrupt.wav", b"garbage"),
                Part::File("files", "empty.wav", b""),
                Part::File("files", "C:\\Users\\ann\\angry take.wav", b"RIFF...."),
                Part::File("files", "silence.wav", b"RIFF...."),
            ],
            Some(&ann),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = body_json(response).await;
    assert_eq!(body["model"]["id"], "default");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    assert_eq!(results[0]["ok"], true);
    assert_eq!(results[0]["uncertain"], false, "the fake engine is sure");
    assert_eq!(results[0]["prediction"]["label"], "happy");
    assert_eq!(results[0]["prediction"]["true_label"], "happy");
    assert_eq!(
        results[0]["prediction"]["waveform"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    assert_eq!(results[1]["ok"], false);
    assert_eq!(results[1]["error"], "corrupt.wav: not a valid audio file");
    assert_eq!(results[2]["error"], "empty.wav is empty");
    // Folder parts of the client's name are dropped.
    assert_eq!(results[3]["file_name"], "angry take.wav");
    assert_eq!(results[3]["prediction"]["label"], "angry");
    // Audio without speech is said to be so, not an error of the file.
    assert_eq!(results[4]["ok"], false);
    assert_eq!(results[4]["no_speech"], true);
    assert_eq!(results[4]["error"], "silence.wav: no speech heard");

    let history = app.get_json("/api/predictions", &ann).await;
    let rows = history["predictions"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "failed files are not stored");
    assert!(rows[0].get("waveform").is_none(), "the list stays small");
    let id = rows[0]["id"].as_str().unwrap();
    let one = app.get_json(&format!("/api/predictions/{id}"), &ann).await;
    assert_eq!(one["waveform"].as_array().unwrap().len(), 10);
}

/// Files sent as clips of one speaker go to the engine together (the fake marks them with
/// confidence 0.5); results keep the request's order, failures stay per file, and a single
/// file or a request without the flag is predicted alone.
#[tokio::test]
async fn clips_of_one_speaker_are_predicted_together() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let send = |one_speaker: &'static str, files: &'static [(&'static str, &'static [u8])]| {
        let mut parts = vec![Part::Text("one_speaker", one_speaker)];
        parts.extend(
            files
                .iter()
                .map(|(name, data)| Part::File("files", name, data)),
        );
        app.send(multipart("/api/predict", &parts, Some(&ann)))
    };
    const FILES: &[(&str, &[u8])] = &[
        ("happy_01.wav", b"RIFF...."),
        ("empty.wav", b""),
        ("corrupt.wav", b"garbage"),
        ("sad_02.wav", b"RIFF...."),
    ];
    let body = body_json(send("true", FILES).await).await;
    let results = body["results"].as_array().unwrap();
    let names: Vec<&str> = results
        .iter()
        .map(|r| r["file_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["happy_01.wav", "empty.wav", "corrupt.wav", "sad_02.wav"]
    );
    assert_eq!(results[0]["prediction"]["label"], "happy");
    assert_eq!(results[0]["prediction"]["confidence"], 0.5);
    assert_eq!(results[1]["error"], "empty.wav is empty");
    assert_eq!(results[2]["error"], "corrupt.wav: not a valid audio file");
    assert_eq!(results[3]["prediction"]["label"], "sad");
    assert_eq!(results[3]["prediction"]["confidence"], 0.5);

    let alone = body_json(send("false", FILES).await).await;
    assert_ne!(alone["results"][0]["prediction"]["confidence"], 0.5);
    let single = body_json(send("true", &FILES[..1]).await).await;
    assert_ne!(single["results"][0]["prediction"]["confidence"], 0.5);
}

/// A prediction under the model's threshold stays marked uncertain in the history, not only
/// in the fresh result.
#[tokio::test]
async fn the_history_remembers_uncertain_predictions() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let files = [
        Part::File("files", "unsure_sad.wav", b"RIFF...."),
        Part::File("files", "sad.wav", b"RIFF...."),
    ];
    let body = body_json(
        app.send(multipart("/api/predict", &files, Some(&ann)))
            .await,
    )
    .await;
    assert_eq!(body["results"][0]["uncertain"], true);
    assert_eq!(body["results"][0]["prediction"]["uncertain"], true);
    let history = app.get_json("/api/predictions", &ann).await;
    let uncertain_of = |name: &str| {
        history["predictions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["file_name"] == name)
            .map(|p| p["uncertain"].clone())
    };
    assert_eq!(
        uncertain_of("unsure_sad.wav"),
        Some(serde_json::json!(true))
    );
    assert_eq!(uncertain_of("sad.wav"), Some(serde_json::json!(false)));
}

/// A long recording comes back with its timeline, which the stored prediction keeps (fetched
/// one by one, like the waveform; the list stays small).
#[tokio::test]
async fn a_long_recording_keeps_its_timeline() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let files = [Part::File("files", "happy_long_call.wav", b"RIFF....")];
    let body = body_json(
        app.send(multipart("/api/predict", &files, Some(&ann)))
            .await,
    )
    .await;
    let fresh = &body["results"][0]["prediction"];
    let segments = fresh["timeline"]["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 2, "{fresh}");
    assert_eq!(segments[1]["label"], "sad");
    assert_eq!(fresh["timeline"]["speech_share"][0]["prob"], 0.5);

    let list = app.get_json("/api/predictions", &ann).await;
    assert!(list["predictions"][0].get("timeline").is_none());
    let id = fresh["id"].as_str().unwrap();
    let one = app.get_json(&format!("/api/predictions/{id}"), &ann).await;
    assert_eq!(one["timeline"], fresh["timeline"]);

    let short = [Part::File("files", "happy.wav", b"RIFF....")];
    let body = body_json(
        app.send(multipart("/api/predict", &short, Some(&ann)))
            .await,
    )
    .await;
    assert!(body["results"][0]["prediction"].get("timeline").is_none());
}

#[tokio::test]
async fn predictions_can_be_deleted_one_by_one_or_by_source() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let upload = multipart(
        "/api/predict",
        &[Part::File("files", "sad.wav", b"RIFF")],
        Some(&ann),
    );
    assert_eq!(app.send(upload).await.status(), StatusCode::OK);
    let mic = |name: &'static str| {
        multipart(
            "/api/predict",
            &[
                Part::Text("source", "microphone"),
                Part::File("files", name, b"RIFF"),
            ],
            Some(&ann),
        )
    };
    let first = body_json(app.send(mic("recording-1.wav")).await).await;
    app.send(mic("recording-2.wav")).await;
    assert_eq!(first["results"][0]["prediction"]["source"], "microphone");

    let id = first["results"][0]["prediction"]["id"].as_str().unwrap();
    assert_eq!(
        app.send(request(
            "DELETE",
            &format!("/api/predictions/{id}"),
            Some(&ann)
        ))
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.send(request(
            "DELETE",
            &format!("/api/predictions/{id}"),
            Some(&ann)
        ))
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    let cleared = body_json(
        app.send(request(
            "DELETE",
            "/api/predictions?source=microphone",
            Some(&ann),
        ))
        .await,
    )
    .await;
    assert_eq!(cleared["deleted"], 1);
    let left = app.get_json("/api/predictions", &ann).await;
    assert_eq!(left["predictions"].as_array().unwrap().len(), 1);
    assert_eq!(left["predictions"][0]["file_name"], "sad.wav");
}

#[tokio::test]
async fn audio_file_over_the_limit_gets_413() {
    let app = TestApp::with(|c| c.max_audio_bytes = 1000, FakeEngine::default()).await;
    let ann = app.user("ann").await;
    let response = app
        .send(multipart(
            "/api/predict",
            &[Part::File("files", "long.wav", &[1u8; 2000])],
            Some(&ann),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body = body_json(response).await;
    assert_eq!(
        body["error"],
        "long.wav is larger than the 1 KB limit for audio files"
    );
}

#[tokio::test]
async fn too_many_files_or_none_are_bad_requests() {
    let app = TestApp::with(|c| c.max_predict_files = 2, FakeEngine::default()).await;
    let ann = app.user("ann").await;
    let three = [
        Part::File("files", "a.wav", b"R"),
        Part::File("files", "b.wav", b"R"),
        Part::File("files", "c.wav", b"R"),
    ];
    let response = app
        .send(multipart("/api/predict", &three, Some(&ann)))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        body_json(response).await["error"]
            .as_str()
            .unwrap()
            .contains("at most 2")
    );
    let none = app
        .send(multipart(
            "/api/predict",
            &[Part::Text("model_id", "default")],
            Some(&ann),
        ))
        .await;
    assert_eq!(none.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unknown_model_is_404() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let response = app
        .send(multipart(
            "/api/predict",
            &[
                Part::Text("model_id", "abc"),
                Part::File("files", "a.wav", b"R"),
            ],
            Some(&ann),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

/// Every API error is the documented Error JSON, framework rejections included, and query
/// values outside the documented range or enum are refused.
#[tokio::test]
async fn every_api_error_is_error_json() {
    let app = TestApp::new().await;
    let ann = app.user("ann").await;
    let mut broken = request("POST", "/api/predict", Some(&ann));
    broken.headers_mut().insert(
        header::CONTENT_TYPE,
        "multipart/form-data; boundary=NOPE".parse().unwrap(),
    );
    *broken.body_mut() = Body::from("--WRONG\r\nnot a form\r\n");
    let mut plain = request("POST", "/api/auth/signin", None);
    plain
        .headers_mut()
        .insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
    *plain.body_mut() = Body::from("email=a");
    let cases = [
        (broken, StatusCode::BAD_REQUEST),
        (plain, StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (
            request("GET", "/api/predictions?limit=1001", Some(&ann)),
            StatusCode::BAD_REQUEST,
        ),
        (
            request("DELETE", "/api/predictions?source=AAA", Some(&ann)),
            StatusCode::BAD_REQUEST,
        ),
        (
            request("GET", "/api/predictions?limit=ten", Some(&ann)),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (req, status) in cases {
        let what = format!("{} {}", req.method(), req.uri());
        let response = app.send(req).await;
        assert_eq!(response.status(), status, "{what}");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/json",
            "{what}"
        );
        let error = body_json(response).await;
        assert!(
            error["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}: {error}"
        );
        assert!(error["code"].is_string(), "{what}: {error}");
    }
}
