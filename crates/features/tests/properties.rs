//! Property tests of the DSP: energy conservation, linearity, silence floors, filterbank shape,
//! and the Extractor's contract (dimensions, finiteness, errors instead of panics).

use proptest::prelude::*;
use ser_features::{
    ChromaConfig, Complex, DbConfig, Extractor, FeatureConfig, FeatureError, MelConfig,
    MelFilterbank, Stft, StftConfig, chroma_stft, mel_frequencies, melspectrogram, power_to_db,
    rms, zero_crossing_rate,
};

fn signal(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(-1.0f32..1.0, len)
}

fn complex_frames(y: &[f32], cfg: StftConfig) -> Vec<Complex<f64>> {
    let mut out = Vec::new();
    Stft::<f64>::new(cfg)
        .unwrap()
        .for_each_frame(y, |_, s| out.extend_from_slice(s))
        .unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Parseval: energy of the windowed frame = one-sided spectrum energy / N.
    #[test]
    fn stft_conserves_energy(y in signal(256..257)) {
        let cfg = StftConfig { n_fft: 256, hop_length: 64, win_length: 256, center: false };
        let mut frame = Vec::new();
        Stft::<f32>::new(cfg).unwrap().for_each_frame(&y, |_, s| frame.extend_from_slice(s)).unwrap();
        let window = ser_features::hann_periodic(256);
        let time: f64 = y.iter().zip(&window).map(|(&v, w)| (v as f64 * w).powi(2)).sum();
        let n = frame.len();
        let spec: f64 = frame.iter().enumerate()
            .map(|(k, c)| {
                let p = (c.re as f64).powi(2) + (c.im as f64).powi(2);
                if k == 0 || k == n - 1 { p } else { 2.0 * p }
            })
            .sum::<f64>() / 256.0;
        prop_assert!((time - spec).abs() <= 1e-5 * time.max(1e-3), "time {} spectrum {}", time, spec);
    }

    /// The STFT is linear: STFT(a·x + b·y) = a·STFT(x) + b·STFT(y).
    #[test]
    fn stft_is_linear(x in signal(600..601), y in signal(600..601), a in -2.0f32..2.0, b in -2.0f32..2.0) {
        let cfg = StftConfig { n_fft: 128, hop_length: 50, win_length: 100, center: true };
        let mix: Vec<f32> = x.iter().zip(&y).map(|(&p, &q)| a * p + b * q).collect();
        let (sx, sy, sm) = (complex_frames(&x, cfg), complex_frames(&y, cfg), complex_frames(&mix, cfg));
        for ((cx, cy), cm) in sx.iter().zip(&sy).zip(&sm) {
            let expected = cx * a as f64 + cy * b as f64;
            prop_assert!((cm - expected).norm() < 1e-4, "{:?} vs {:?}", cm, expected);
        }
    }

    /// Silence in, floor out: −100 dB mel, zero ZCR, zero RMS, all-zero chroma.
    #[test]
    fn silence_gives_the_floor(len in 1usize..6000) {
        let y = vec![0.0f32; len];
        let cfg = StftConfig::LIBROSA_DEFAULT;
        let mut mel = melspectrogram(&y, 22050.0, &cfg, &MelConfig::librosa(128)).unwrap();
        power_to_db(&mut mel.data, &DbConfig::LIBROSA_DEFAULT);
        prop_assert!(mel.data.iter().all(|&d| d == -100.0));
        prop_assert!(zero_crossing_rate(&y, 2048, 512, true).unwrap().iter().all(|&z| z == 0.0));
        prop_assert!(rms(&y, 2048, 512, true).unwrap().iter().all(|&r| r == 0.0));
        let (chroma, _) = chroma_stft(&y, 22050.0, &cfg, &ChromaConfig::librosa(None)).unwrap();
        prop_assert!(chroma.data.iter().all(|&c| c == 0.0));
    }

    /// Mel filters are non-negative, and none is empty when every triangle spans more than a bin.
    #[test]
    fn mel_filters_are_non_negative(
        sr in prop::sample::select(vec![8000.0, 16000.0, 22050.0, 44100.0]),
        n_fft in prop::sample::select(vec![512usize, 1024, 2048]),
        n_mels in 8usize..64,
        htk in any::<bool>(),
    ) {
        let bank = MelFilterbank::new(sr, n_fft, &MelConfig { htk, ..MelConfig::librosa(n_mels) }).unwrap();
        let dense = bank.to_dense();
        prop_assert!(dense.data.iter().all(|&w| w >= 0.0));
        let edges = mel_frequencies(n_mels + 2, 0.0, sr / 2.0, htk);
        let narrowest = edges.windows(3).map(|e| e[2] - e[0]).fold(f64::INFINITY, f64::min);
        if narrowest > sr / n_fft as f64 {
            prop_assert!(bank.empty_filters().is_empty(), "empty filters {:?}", bank.empty_filters());
        }
    }

    /// Chroma frames are max-normalised: values in [0, 1], max exactly 1 unless silent.
    #[test]
    fn chroma_is_max_normalised(y in signal(3000..5000)) {
        let (chroma, _) = chroma_stft(&y, 16000.0, &StftConfig::LIBROSA_DEFAULT, &ChromaConfig::librosa(Some(0.0))).unwrap();
        for t in 0..chroma.cols {
            let col: Vec<f32> = (0..chroma.rows).map(|c| chroma.get(c, t)).collect();
            prop_assert!(col.iter().all(|&v| (0.0..=1.0).contains(&v)));
            let max = col.iter().cloned().fold(0.0f32, f32::max);
            prop_assert!(max == 0.0 || (max - 1.0).abs() < 1e-6);
        }
    }

    /// Every named set returns `feature_dim` rows of finite values, for any clip length.
    #[test]
    fn extractor_shapes_and_finiteness(y in signal(1..9000), set in prop::sample::select(FeatureConfig::names().to_vec())) {
        let cfg = FeatureConfig::named(set).unwrap();
        let out = Extractor::new(&cfg).unwrap().extract(&y).unwrap();
        prop_assert_eq!(out.rows, cfg.feature_dim());
        let expected_cols = if cfg.is_pooled() { 1 } else { cfg.stft.n_frames(y.len()).unwrap() };
        prop_assert_eq!(out.cols, expected_cols);
        prop_assert_eq!(out.data.len(), out.rows * out.cols);
        prop_assert!(out.data.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    for set in FeatureConfig::names() {
        let mut ex = Extractor::new(&FeatureConfig::named(set).unwrap()).unwrap();
        assert_eq!(ex.extract(&[]), Err(FeatureError::EmptySignal));
        assert!(matches!(
            ex.extract(&[0.0, f32::NAN]),
            Err(FeatureError::NonFinite { index: 1, .. })
        ));
        assert!(matches!(
            ex.extract(&[f32::INFINITY]),
            Err(FeatureError::NonFinite { index: 0, .. })
        ));
    }
}

#[test]
fn bad_configs_are_rejected() {
    let good = FeatureConfig::named("pooled-rich").unwrap();
    let mut c = good.clone();
    c.stft.hop_length = 0;
    assert!(Extractor::new(&c).is_err());
    let mut c = good.clone();
    c.n_mfcc = 500;
    assert!(Extractor::new(&c).is_err());
    let mut c = good.clone();
    c.yin.fmax = 9000.0;
    assert!(Extractor::new(&c).is_err());
    let mut c = good.clone();
    c.stft.win_length = 4096;
    assert!(Extractor::new(&c).is_err());
    let mut c = good;
    c.mel.fmax = Some(-1.0);
    assert!(Extractor::new(&c).is_err());
    // unknown fields in a stored config are refused rather than silently ignored
    let json = serde_json::to_string(&FeatureConfig::named("pooled180").unwrap()).unwrap();
    let tampered = json.replacen('{', "{\"dither\":true,", 1);
    assert!(serde_json::from_str::<FeatureConfig>(&tampered).is_err());
}

#[test]
fn logmel128_has_no_empty_filter() {
    let cfg = FeatureConfig::named("logmel128-frames").unwrap();
    let bank = MelFilterbank::new(cfg.sample_rate as f64, cfg.stft.n_fft, &cfg.mel).unwrap();
    assert!(bank.empty_filters().is_empty());
}

#[test]
fn pooled_rich_sees_pitch_of_a_tone() {
    let cfg = FeatureConfig::named("pooled-rich").unwrap();
    let sr = cfg.sample_rate as f64;
    let y: Vec<f32> = (0..32000)
        .map(|n| (0.3 * (2.0 * std::f64::consts::PI * 220.0 * n as f64 / sr).sin()) as f32)
        .collect();
    let out = Extractor::new(&cfg).unwrap().extract(&y).unwrap();
    let names = cfg.feature_names();
    let get = |name: &str| out.data[names.iter().position(|n| n == name).unwrap()];
    assert!(
        (get("f0_mean_hz") - 220.0).abs() < 1.0,
        "{}",
        get("f0_mean_hz")
    );
    assert!(get("voiced_fraction") > 0.8);
    assert!((get("rms_mean") - 0.3 / 2f32.sqrt()).abs() < 0.03);
}

/// A 12 dB louder recording gives the same per-utterance normalised features (log-mel and
/// MFCC), while the plain log-mel moves by 12 dB.
#[test]
fn utterance_normalisation_removes_the_recording_level() {
    let y: Vec<f32> = (0..16000)
        .map(|i| {
            let t = i as f32 / 16000.0;
            let envelope = if (0.2..0.7).contains(&t) { 0.3 } else { 0.001 };
            envelope * ((2.0 * std::f32::consts::PI * 220.0 * t).sin() + 0.3 * (7.0 * t).cos())
        })
        .collect();
    let louder: Vec<f32> = y.iter().map(|v| v * 10f32.powf(12.0 / 20.0)).collect();
    let extract = |name: &str, x: &[f32]| {
        Extractor::new(&FeatureConfig::named(name).unwrap())
            .unwrap()
            .extract(x)
            .unwrap()
    };
    let (a, b) = (
        extract("logmel64-frames", &y),
        extract("logmel64-frames", &louder),
    );
    let speech = 50 * 64 + 10;
    assert!((b.data[speech] - a.data[speech] - 12.0).abs() < 0.01);
    for name in [
        "logmel64-frames+cmn",
        "logmel64-frames+cmvn",
        "mfcc40-frames+cmn",
    ] {
        let (a, b) = (extract(name, &y), extract(name, &louder));
        let worst = a
            .data
            .iter()
            .zip(&b.data)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max);
        // The top_db floor (80 dB below the peak) moves with the level too, so only rounding
        // differs.
        assert!(worst < 0.01, "{name}: {worst}");
    }
}
