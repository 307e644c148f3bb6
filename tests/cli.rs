//! End-to-end tests of the `ser` binary on generated audio.

use std::path::{Path, PathBuf};
use std::process::Command;

mod support;

fn ser() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ser"))
}

/// Writes a 16-bit mono WAV of a 440 Hz tone.
fn write_tone(dir: &Path, name: &str, sample_rate: u32, seconds: f32) -> PathBuf {
    let path = dir.join(name);
    support::write_wav(&path, sample_rate, seconds, support::sine(440.0, 0.5));
    path
}

#[test]
fn info_reports_rate_channels_and_duration() {
    let dir = tempfile::tempdir().unwrap();
    let wav = write_tone(dir.path(), "tone.wav", 16_000, 1.5);
    let out = ser().arg("info").arg("--json").arg(&wav).output().unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let info = &doc[0]["info"];
    assert_eq!(info["sample_rate"], 16_000);
    assert_eq!(info["channels"], 1);
    assert!((info["duration_s"].as_f64().unwrap() - 1.5).abs() < 1e-3);
}

#[test]
fn info_names_the_bad_file_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_tone(dir.path(), "good.wav", 16_000, 0.5);
    let bad = dir.path().join("noise.wav");
    std::fs::write(&bad, b"this is not audio at all, just text").unwrap();
    let out = ser().arg("info").arg(&good).arg(&bad).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("noise.wav"), "stderr: {stderr}");
    // The good file is still reported.
    assert!(String::from_utf8_lossy(&out.stdout).contains("good.wav"));
}

#[test]
fn features_json_has_the_set_dimension() {
    let dir = tempfile::tempdir().unwrap();
    let wav = write_tone(dir.path(), "tone.wav", 16_000, 1.0);
    let out = ser()
        .args(["features", "--set", "pooled180", "--json"])
        .arg(&wav)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let file = &doc["files"][0];
    assert_eq!(file["rows"], 180);
    assert_eq!(file["cols"], 1);
}

#[test]
fn features_npy_writes_one_file_per_input() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_tone(dir.path(), "a.wav", 16_000, 1.0);
    let b = write_tone(dir.path(), "b.wav", 22_050, 0.7);
    let out_dir = dir.path().join("npy");
    let out = ser()
        .args(["features", "--set", "mfcc40-frames", "--npy"])
        .arg(&out_dir)
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(out_dir.join("a.npy")).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    assert_eq!(npy.shape()[0], 40);
    // 1 s at 16 kHz with hop 160 gives 1 + 16000 / 160 frames.
    assert_eq!(npy.shape()[1], 101);
    assert!(out_dir.join("b.npy").exists());
}

#[test]
fn unknown_feature_set_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let wav = write_tone(dir.path(), "tone.wav", 16_000, 0.5);
    let out = ser()
        .args(["features", "--set", "nope"])
        .arg(&wav)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
}

/// `ser features ... --json | head -c 100`: the reader goes away after 100 bytes; ser ends
/// quietly, as Unix tools do, instead of panicking with a backtrace.
#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let wav = write_tone(dir.path(), "long.wav", 16_000, 20.0);
    let mut child = ser()
        .args(["features", "--set", "mfcc40-frames", "--json"])
        .arg(&wav)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 100];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{stderr}");
}

/// `ser predict MANIFEST.csv` predicts the clips it lists (paths relative to it), with the
/// true emotion from its columns, instead of trying to decode the CSV.
#[test]
fn predict_reads_a_manifest_with_its_true_emotions() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("clips")).unwrap();
    write_tone(&dir.path().join("clips"), "a.wav", 16_000, 1.0);
    write_tone(&dir.path().join("clips"), "b.wav", 16_000, 1.0);
    let manifest = dir.path().join("list.csv");
    std::fs::write(
        &manifest,
        "path,speaker,emotion\nclips/a.wav,1,sad\nclips/b.wav,2,angry\n",
    )
    .unwrap();
    let out = ser()
        .args(["predict", "--csv"])
        .arg(&manifest)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let csv = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(
        rows[0].contains("a.wav") && rows[0].contains(",sad,"),
        "{csv}"
    );
    assert!(
        rows[1].contains("b.wav") && rows[1].contains(",angry,"),
        "{csv}"
    );
}

/// SIGTERM stops `ser serve` within seconds even while a client holds a connection open
/// (as a browser following a job's events does).
#[cfg(unix)]
#[test]
fn serve_exits_soon_after_sigterm_with_a_connection_open() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = ser()
        .args(["serve", "--addr", &addr, "--data-dir"])
        .arg(dir.path().join("data"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let mut held = loop {
        if let Ok(mut probe) = std::net::TcpStream::connect(&addr) {
            probe
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut head = [0u8; 12];
            probe.read_exact(&mut head).unwrap();
            assert_eq!(&head, b"HTTP/1.1 200");
            break std::net::TcpStream::connect(&addr).unwrap();
        }
        assert!(started.elapsed().as_secs() < 60, "the server did not start");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    // A request that never finishes its headers keeps this connection busy.
    held.write_all(b"GET /api/jobs HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let signalled = std::time::Instant::now();
    // SAFETY: sending a signal to the child we spawned.
    assert_eq!(unsafe { libc::kill(server.id() as i32, libc::SIGTERM) }, 0);
    let exited = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        if signalled.elapsed().as_secs() >= 15 {
            server.kill().unwrap();
            panic!("ser serve still running 15 s after SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(exited.success(), "{exited:?}");
    assert!(
        signalled.elapsed().as_secs() < 8,
        "{:?}",
        signalled.elapsed()
    );
    drop(held);
}

/// Audio that is not clean speech — silence, noise alone, clipping, a DC offset, 8 kHz
/// telephone audio, a clip shorter than half a second, very loud and very quiet voices — each
/// gets an answer (an emotion, maybe marked uncertain, or "no speech"), never an error.
#[test]
fn inputs_that_are_not_clean_speech_get_an_answer() {
    let dir = tempfile::tempdir().unwrap();
    // A voice-like signal: a 150 Hz buzz with harmonics, its level swelling like syllables.
    let voice = |gain: f32| {
        move |t: f32| {
            let syllables = 0.5 + 0.5 * (2.0 * std::f32::consts::PI * 4.0 * t).sin().abs();
            let buzz: f32 = (1..=8)
                .map(|k| (2.0 * std::f32::consts::PI * 150.0 * k as f32 * t).sin() / k as f32)
                .sum();
            gain * syllables * buzz / 2.0
        }
    };
    let mut noise_state = 12345u32;
    let mut noise = move || {
        noise_state = noise_state
            .wrapping_mul(1_664_525)
            .wrapping_add(1_013_904_223);
        (noise_state >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
    };
    let noise_samples: Vec<f32> = (0..32_000).map(|_| 0.3 * noise()).collect();
    type Signal = Box<dyn Fn(f32) -> f32>;
    let cases: Vec<(&str, u32, f32, Signal)> = vec![
        ("silence.wav", 16_000, 2.0, Box::new(|_| 0.0)),
        (
            "noise.wav",
            16_000,
            2.0,
            Box::new(move |t| noise_samples[((t * 16_000.0) as usize).min(31_999)]),
        ),
        (
            "clipped.wav",
            16_000,
            2.0,
            Box::new(move |t| (voice(4.0)(t)).clamp(-1.0, 1.0)),
        ),
        (
            "dc-offset.wav",
            16_000,
            2.0,
            Box::new(move |t| 0.4 + voice(0.3)(t)),
        ),
        ("telephone-8k.wav", 8_000, 2.0, Box::new(voice(0.5))),
        ("short.wav", 16_000, 0.3, Box::new(voice(0.5))),
        ("loud.wav", 16_000, 2.0, Box::new(voice(0.99))),
        ("quiet.wav", 16_000, 2.0, Box::new(voice(0.003))),
    ];
    let mut paths = Vec::new();
    for (name, rate, seconds, signal) in &cases {
        let path = dir.path().join(name);
        support::write_wav(&path, *rate, *seconds, signal);
        paths.push(path);
    }
    let out = ser()
        .arg("predict")
        .arg("--json")
        .args(&paths)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), cases.len());
    for r in results {
        let answered = r["emotion"].is_string() || r["no_speech"] == true;
        assert!(answered && r["error"].is_null(), "{r}");
    }
    assert_eq!(results[0]["no_speech"], true, "silence: {}", results[0]);
}

/// `ser bench` times the shipped model on its own test signal (which must count as speech).
#[test]
fn bench_times_prediction_with_the_shipped_model() {
    let out = ser()
        .args(["bench", "--no-train", "--runs", "2"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("predict 3 s WAV"), "{stdout}");
}

/// Raw PCM on standard input, read in whatever pieces the pipe gives: one line per hop, "no
/// speech" over silence, the last shorter window at the end; a WAV piped in is refused with
/// the way to convert it; a file plays through the same path.
#[test]
fn listen_prints_a_line_per_hop_of_live_audio() {
    use std::io::Write;
    // 2 s of silence, then 4.5 s of a speech-like tone.
    let rate = 16_000.0;
    let tone = support::sine(160.0, 0.4);
    let pcm: Vec<u8> = (0..(6.5 * rate) as usize)
        .map(|i| i as f32 / rate)
        .map(|t| if t < 2.0 { 0.0 } else { tone(t) })
        .flat_map(|v| ((v * 32767.0) as i16).to_le_bytes())
        .collect();
    let mut child = ser()
        .args([
            "listen", "--window", "2", "--hop", "1.5", "--json", "--vad", "energy",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Pieces of 999 bytes: odd sizes that divide neither a sample nor the hop.
    for piece in pcm.chunks(999) {
        stdin.write_all(piece).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Windows at 0, 1.5, 3 and 4.5 s, then the last 0.5 s from 6 s.
    let starts: Vec<f64> = lines
        .iter()
        .map(|l| l["start_s"].as_f64().unwrap())
        .collect();
    assert_eq!(starts, [0.0, 1.5, 3.0, 4.5, 6.0], "{lines:?}");
    assert!(lines[0]["prediction"].is_null(), "silence is no speech");
    assert!(lines[2]["prediction"]["ranked"].is_array(), "{lines:?}");

    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("clip.wav");
    support::write_wav(&wav, 16_000, 1.5, support::sine(160.0, 0.4));
    // Silero, the default detector, hears a RAVDESS actor's speech and no voice in a tone.
    let speech = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/librosa/inputs/ravdess_a12_angry_strong.flac");
    let heard = |file: &Path| -> Vec<bool> {
        let out = ser()
            .args(["listen", "--json", "--window", "1", "--hop", "0.5"])
            .arg(file)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| !serde_json::from_str::<serde_json::Value>(l).unwrap()["prediction"].is_null())
            .collect()
    };
    assert!(heard(&speech).contains(&true), "speech heard");
    assert!(!heard(&wav).contains(&true), "a tone is no voice");
    let mut piped = ser()
        .arg("listen")
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    piped
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(&wav).unwrap())
        .unwrap();
    let refused = piped.wait_with_output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("ffmpeg"));

    let played = ser()
        .args(["listen", "--window", "1", "--hop", "0.5"])
        .arg(&wav)
        .output()
        .unwrap();
    let text = String::from_utf8(played.stdout).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.starts_with("0:00.0-0:01.0  "), "{text}");
    let started = std::time::Instant::now();
    let live = ser()
        .args(["listen", "--realtime"])
        .arg(&wav)
        .output()
        .unwrap();
    assert!(live.status.success());
    assert!(
        started.elapsed().as_secs_f64() >= 1.3,
        "--realtime plays 1.5 s of audio in real time"
    );
}

/// With a per-speaker model (the shipped one), the clips of a speaker that a folder names
/// are normalised together, so a clip spoken louder than the speaker's others sounds louder
/// to the model; each clip alone loses that (its own level is all it has).
#[test]
fn predict_normalises_the_clips_of_one_speaker_together() {
    let dir = tempfile::tempdir().unwrap();
    let actor = dir.path().join("Actor_01");
    std::fs::create_dir(&actor).unwrap();
    let quiet = actor.join("quiet.wav");
    let loud = actor.join("loud.wav");
    // A buzz with a breath of noise, so that every band is well above the 16-bit floor and
    // the two clips differ by their level only (30 dB).
    let voice = |gain: f32| {
        move |t: f32| {
            let syllables = 0.2 + 0.8 * (std::f32::consts::PI * 4.0 * t).sin().abs();
            let buzz: f32 = (1..=6)
                .map(|k| (2.0 * std::f32::consts::PI * 160.0 * k as f32 * t).sin() / k as f32)
                .sum();
            let hash = ((t * 16_000.0) as u32).wrapping_mul(2_654_435_761) >> 8;
            let noise = hash as f32 / (1u32 << 24) as f32 * 2.0 - 1.0;
            gain * syllables * (buzz + 0.3 * noise) / 2.5
        }
    };
    support::write_wav(&quiet, 16_000, 2.0, voice(0.03));
    support::write_wav(&loud, 16_000, 2.0, voice(0.95));
    write_tone(dir.path(), "nobody.wav", 16_000, 2.0);
    let predict = |speakers: &str| {
        let out = ser()
            .args(["predict", "--json", "--top", "8", "--speakers", speakers])
            .arg(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{stderr}");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (json.as_array().unwrap().clone(), stderr)
    };
    let file = |results: &[serde_json::Value], name: &str| {
        let r = results
            .iter()
            .find(|r| r["file"].as_str().unwrap().ends_with(name));
        r.unwrap().clone()
    };
    // How far apart the two clips' answers are (largest probability difference).
    let gap = |results: &[serde_json::Value]| {
        let probs = |r: serde_json::Value| -> std::collections::BTreeMap<String, f64> {
            r["top"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["label"].as_str().unwrap().to_string(),
                        s["prob"].as_f64().unwrap(),
                    )
                })
                .collect()
        };
        let (q, l) = (
            probs(file(results, "quiet.wav")),
            probs(file(results, "loud.wav")),
        );
        q.iter()
            .map(|(label, p)| (p - l.get(label).copied().unwrap_or(0.0)).abs())
            .fold(0.0, f64::max)
    };

    let (together, stderr) = predict("auto");
    assert!(stderr.contains("2 of the 3 clips normalised"), "{stderr}");
    assert_eq!(file(&together, "quiet.wav")["speaker"], "0/1");
    assert_eq!(file(&together, "loud.wav")["speaker"], "0/1");
    assert!(file(&together, "nobody.wav")["speaker"].is_null());
    assert!(gap(&together) > 0.05, "{together:?}");

    let (alone, stderr) = predict("alone");
    assert!(!stderr.contains("normalised"), "{stderr}");
    assert!(alone.iter().all(|r| r["speaker"].is_null()));
    assert!(gap(&alone) < 0.01, "{alone:?}");
    // The clip with no speaker is predicted alone either way.
    assert_eq!(
        file(&together, "nobody.wav")["top"],
        file(&alone, "nobody.wav")["top"]
    );

    let (one, stderr) = predict("one");
    assert!(stderr.contains("3 of the 3 clips"), "{stderr}");
    assert_eq!(file(&one, "nobody.wav")["speaker"], "all");
}

/// A prepared dataset folder with its own MANIFEST.csv (as ../shared/data/ased has): the
/// manifest names the clips' speakers and emotions, so `ser predict FOLDER` groups by speaker
/// and scores against the true emotions.
#[test]
fn predict_of_a_folder_reads_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sad")).unwrap();
    write_tone(&dir.path().join("sad"), "x-01.wav", 16_000, 1.0);
    write_tone(dir.path(), "y-01.wav", 16_000, 1.0);
    write_tone(dir.path(), "unlisted.wav", 16_000, 1.0);
    std::fs::write(
        dir.path().join("MANIFEST.csv"),
        "path,speaker,emotion\nsad/x-01.wav,01,angry\ny-01.wav,1,happy\n",
    )
    .unwrap();
    let out = ser()
        .args(["predict", "--json"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_name = |name: &str| {
        let all = results.as_array().unwrap();
        all.iter()
            .find(|r| r["file"].as_str().unwrap().ends_with(name))
            .unwrap()
            .clone()
    };
    // The list's emotion beats the "sad" folder; both clips are speaker 1.
    assert_eq!(by_name("x-01.wav")["true_emotion"], "angry");
    assert_eq!(by_name("y-01.wav")["true_emotion"], "happy");
    assert_eq!(by_name("x-01.wav")["speaker"], "0/1");
    assert_eq!(by_name("y-01.wav")["speaker"], "0/1");
    assert!(by_name("unlisted.wav")["speaker"].is_null());
    assert!(stderr.contains("2 of the 3 clips normalised"), "{stderr}");
}

/// Recordings over `--max-hours` are refused by name with both lengths in words; 0 lifts
/// the limit, and a timeline (streamed) of the same file then runs.
#[test]
fn predict_refuses_recordings_over_the_duration_limit_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let tone = write_tone(dir.path(), "long-call.wav", 16_000, 6.0);
    let out = ser()
        .args(["predict", "--timeline", "--max-hours", "0.001"])
        .arg(&tone)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("long-call.wav: audio is 6.0 s long, more than the limit of 3.6 s"),
        "{text}"
    );
    let out = ser()
        .args(["predict", "--max-hours", "0"])
        .arg(&tone)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = ser()
        .args(["predict", "--max-hours=-1"])
        .arg(&tone)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a number of hours"));
}
