//! The one feature path used for training, evaluation and prediction: an [`Extractor`] is
//! built once from a [`FeatureConfig`] and owns every plan, filterbank and scratch buffer.

use crate::chroma::{ChromaFilterbank, estimate_tuning_frames};
use crate::config::{FeatureConfig, FeatureKind};
use crate::delta::{delta_row, savgol_deriv_taps};
use crate::error::{Result, check_signal};
use crate::kernels::mean_std;
use crate::matrix::FeatureMatrix;
use crate::mel::{MelFilterbank, power_to_db};
use crate::mfcc::Dct;
use crate::pitch::{Yin, YinFrame};
use crate::spectral;
use crate::stft::{SpectrumFloat, Stft, fft_frequencies, spectral_power};
use crate::temporal::{Rms, ZeroCrossingRate};
use crate::utterance::UtteranceNorm;
use realfft::num_complex::Complex;

/// Computes a feature set for mono signals at `config.sample_rate`.
pub struct Extractor {
    cfg: FeatureConfig,
    stft: StftEngine,
    mel: MelFilterbank,
    dct: Dct,
    /// Prebuilt when the tuning is fixed; otherwise built per signal after estimation.
    chroma: Option<ChromaFilterbank>,
    yin: Option<Yin>,
    freqs: Vec<f64>,
    zcr: ZeroCrossingRate,
    rms: Rms,
    buf: Scratch,
}

/// Per-signal working memory, reused across calls (grown, never shrunk).
#[derive(Default)]
struct Scratch {
    /// Power spectra of the current frame pair (even frame, odd frame).
    power: [Vec<f32>; 2],
    magnitude: Vec<f32>,
    chroma_input: [Vec<f32>; 2],
    chroma_raw: Vec<f64>,
    /// Raw chroma dot products of a frame pair (2 × n_chroma).
    chroma_dots: Vec<f32>,
    /// Frame-major stores (`[t * width + i]`).
    mel: Vec<f32>,
    chroma: Vec<f32>,
    spectra: Vec<f32>,
    spectral: Vec<f32>,
    mfcc: Vec<f32>,
    zcr: Vec<f32>,
    rms: Vec<f32>,
    pitch: Vec<YinFrame>,
}

/// f32 STFT for the mel/MFCC/chroma sets (within tolerance, twice as fast); f64 where spectral
/// moments are needed (see [`crate::spectral_features`]).
enum StftEngine {
    Single(Stft<f32>),
    Double(Stft<f64>),
}

/// What the frame pass must compute besides mel.
#[derive(Clone, Copy)]
struct PassPlan {
    chroma: bool,
    spectral: bool,
}

impl Extractor {
    /// Validates the configuration and builds FFT plans, window and filterbanks.
    pub fn new(cfg: &FeatureConfig) -> Result<Self> {
        cfg.validate()?;
        let sr = cfg.sample_rate as f64;
        let n_fft = cfg.stft.n_fft;
        let needs_chroma = cfg.is_pooled();
        let chroma = match (needs_chroma, cfg.chroma.tuning) {
            (true, Some(tuning)) => Some(ChromaFilterbank::new(sr, n_fft, tuning, &cfg.chroma)?),
            _ => None,
        };
        let yin = if cfg.kind == FeatureKind::PooledRich {
            Some(Yin::new(sr, cfg.yin)?)
        } else {
            None
        };
        let n_mfcc = if cfg.kind == FeatureKind::LogMelFrames {
            1
        } else {
            cfg.n_mfcc
        };
        let n_bins = cfg.stft.n_bins();
        Ok(Extractor {
            stft: if cfg.kind == FeatureKind::PooledRich {
                StftEngine::Double(Stft::new(cfg.stft)?)
            } else {
                StftEngine::Single(Stft::new(cfg.stft)?)
            },
            mel: MelFilterbank::new(sr, n_fft, &cfg.mel)?,
            dct: Dct::new(cfg.mel.n_mels, n_mfcc, cfg.lifter)?,
            chroma,
            yin,
            freqs: fft_frequencies(sr, n_fft),
            zcr: ZeroCrossingRate::default(),
            rms: Rms::default(),
            buf: Scratch {
                power: [vec![0.0; n_bins], vec![0.0; n_bins]],
                magnitude: vec![0.0; n_bins],
                chroma_input: [vec![0.0; n_bins], vec![0.0; n_bins]],
                chroma_raw: vec![0.0; cfg.chroma.n_chroma],
                chroma_dots: vec![0.0; 2 * cfg.chroma.n_chroma],
                ..Scratch::default()
            },
            cfg: cfg.clone(),
        })
    }

    /// The configuration this extractor computes.
    pub fn config(&self) -> &FeatureConfig {
        &self.cfg
    }

    /// Features of `samples` (mono, already at `config().sample_rate`).
    /// Frames: `feature_dim × T`; pooled: `feature_dim × 1`.
    pub fn extract(&mut self, samples: &[f32]) -> Result<FeatureMatrix> {
        check_signal(samples)?;
        match self.cfg.kind {
            FeatureKind::MfccFrames => {
                let n_frames = self.frame_pass(
                    samples,
                    PassPlan {
                        chroma: false,
                        spectral: false,
                    },
                )?;
                self.mfcc_frames(n_frames);
                let mut m = FeatureMatrix::from_frame_major(&self.buf.mfcc, self.cfg.n_mfcc);
                self.normalise_utterance(&mut m);
                Ok(m)
            }
            FeatureKind::LogMelFrames => {
                self.frame_pass(
                    samples,
                    PassPlan {
                        chroma: false,
                        spectral: false,
                    },
                )?;
                power_to_db(&mut self.buf.mel, &self.cfg.db);
                let mut m = FeatureMatrix::from_frame_major(&self.buf.mel, self.cfg.mel.n_mels);
                self.normalise_utterance(&mut m);
                Ok(m)
            }
            FeatureKind::PooledMeans => self.pooled_means(samples),
            FeatureKind::PooledRich => self.pooled_rich(samples),
        }
    }

    /// The feature set's per-utterance normalisation (none for `+spk`: see
    /// [`crate::UtteranceNorm::Speaker`]).
    fn normalise_utterance(&self, m: &mut FeatureMatrix) {
        let norm = self.cfg.utterance_norm;
        if matches!(norm, UtteranceNorm::Mean | UtteranceNorm::MeanVar) {
            norm.apply(m, &self.cfg.frame_levels(m));
        }
    }

    /// One STFT pass: mel power per frame into `buf.mel`, plus chroma and spectral descriptors
    /// when asked. Returns the number of frames. Allocates only when a buffer must grow.
    fn frame_pass(&mut self, y: &[f32], plan: PassPlan) -> Result<usize> {
        let n_frames = self.cfg.stft.n_frames(y.len())?;
        let Extractor {
            cfg,
            stft,
            mel,
            chroma,
            freqs,
            buf,
            ..
        } = self;
        let mut sink = FrameSink {
            cfg,
            mel,
            chroma: chroma.as_ref(),
            freqs,
            buf,
            plan,
            n_frames,
        };
        sink.prepare(n_frames);
        match stft {
            StftEngine::Single(s) => s.for_each_frame(y, |t, spectrum| sink.frame(t, spectrum))?,
            StftEngine::Double(s) => s.for_each_frame(y, |t, spectrum| sink.frame(t, spectrum))?,
        };
        if plan.chroma && self.chroma.is_none() {
            self.chroma_from_stored_spectra(n_frames)?;
        }
        Ok(n_frames)
    }

    /// Estimated tuning: piptrack over the stored spectra, then the chroma filterbank.
    fn chroma_from_stored_spectra(&mut self, n_frames: usize) -> Result<()> {
        let (sr, n_bins, n_chroma) = (
            self.cfg.sample_rate as f64,
            self.cfg.stft.n_bins(),
            self.cfg.chroma.n_chroma,
        );
        let tuning = estimate_tuning_frames(&self.buf.spectra, n_bins, sr, n_chroma);
        let bank = ChromaFilterbank::new(sr, self.cfg.stft.n_fft, tuning, &self.cfg.chroma)?;
        self.buf.chroma.resize(n_frames * n_chroma, 0.0);
        for (spec, out) in self
            .buf
            .spectra
            .chunks_exact(n_bins)
            .zip(self.buf.chroma.chunks_exact_mut(n_chroma))
        {
            bank.apply(spec, &mut self.buf.chroma_raw, out);
        }
        Ok(())
    }

    /// dB-scales `buf.mel` in place and fills `buf.mfcc` (frame-major).
    fn mfcc_frames(&mut self, n_frames: usize) {
        let (n_mels, n_mfcc) = (self.mel.n_mels(), self.cfg.n_mfcc);
        power_to_db(&mut self.buf.mel, &self.cfg.db);
        self.buf.mfcc.resize(n_frames * n_mfcc, 0.0);
        for (db, out) in self
            .buf
            .mel
            .chunks_exact(n_mels)
            .zip(self.buf.mfcc.chunks_exact_mut(n_mfcc))
        {
            self.dct.apply(db, out);
        }
    }

    /// [mean MFCC, mean chroma, mean mel power]; mean MFCC = DCT(mean dB) since the DCT is linear.
    fn pooled_means(&mut self, y: &[f32]) -> Result<FeatureMatrix> {
        let n_frames = self.frame_pass(
            y,
            PassPlan {
                chroma: true,
                spectral: false,
            },
        )?;
        let (n_mels, n_chroma) = (self.mel.n_mels(), self.cfg.chroma.n_chroma);
        let mel_mean = column_means(&self.buf.mel, n_mels, n_frames);
        let chroma_mean = column_means(&self.buf.chroma, n_chroma, n_frames);
        power_to_db(&mut self.buf.mel, &self.cfg.db);
        let db_mean = column_means(&self.buf.mel, n_mels, n_frames);
        let mut mfcc_mean = vec![0.0f64; self.cfg.n_mfcc];
        self.dct.apply_f64(&db_mean, &mut mfcc_mean);
        let data = mfcc_mean
            .iter()
            .chain(&chroma_mean)
            .chain(&mel_mean)
            .map(|&v| v as f32)
            .collect();
        Ok(FeatureMatrix {
            rows: self.cfg.feature_dim(),
            cols: 1,
            data,
        })
    }

    /// Mean/std of the frame stack, then f0 statistics (see [`FeatureKind::PooledRich`]).
    fn pooled_rich(&mut self, y: &[f32]) -> Result<FeatureMatrix> {
        let n_frames = self.frame_pass(
            y,
            PassPlan {
                chroma: true,
                spectral: true,
            },
        )?;
        self.mfcc_frames(n_frames);
        let (frame, hop, center) = (
            self.cfg.stft.n_fft,
            self.cfg.stft.hop_length,
            self.cfg.stft.center,
        );
        self.zcr.compute(
            y,
            frame,
            hop,
            center,
            self.cfg.zcr_threshold,
            &mut self.buf.zcr,
        )?;
        self.rms.compute(y, frame, hop, center, &mut self.buf.rms)?;
        if let Some(yin) = self.yin.as_mut() {
            yin.compute(y, &mut self.buf.pitch)?;
        }
        let rows = self.rich_rows(n_frames);
        let (means, stds): (Vec<f64>, Vec<f64>) = rows
            .iter()
            .map(|r| mean_std(r.iter().map(|&v| v as f64)))
            .unzip();
        let data: Vec<f32> = means
            .iter()
            .chain(&stds)
            .chain(&f0_stats(&self.buf.pitch))
            .map(|&v| v as f32)
            .collect();
        Ok(FeatureMatrix {
            rows: data.len(),
            cols: 1,
            data,
        })
    }

    /// The per-frame rows pooled-rich summarises, each a time series.
    fn rich_rows(&mut self, n_frames: usize) -> Vec<Vec<f32>> {
        let n_mfcc = self.cfg.n_mfcc;
        let mfcc = FeatureMatrix::from_frame_major(&self.buf.mfcc, n_mfcc);
        let mut rows: Vec<Vec<f32>> = (0..n_mfcc).map(|r| mfcc.row(r).to_vec()).collect();
        // deltas: the configured width, shrunk to fit short clips (zeros below width 3)
        let width = usable_delta_width(self.cfg.delta_width, n_frames);
        for order in [1, 2] {
            for r in 0..n_mfcc {
                let mut d = vec![0.0f32; n_frames];
                if let Some(w) = width {
                    delta_row(&savgol_deriv_taps(w, order), mfcc.row(r), &mut d);
                }
                rows.push(d);
            }
        }
        let chroma = FeatureMatrix::from_frame_major(&self.buf.chroma, self.cfg.chroma.n_chroma);
        rows.extend((0..chroma.rows).map(|r| chroma.row(r).to_vec()));
        let spectral = FeatureMatrix::from_frame_major(&self.buf.spectral, 4);
        rows.extend((0..4).map(|r| spectral.row(r).to_vec()));
        rows.push(self.buf.zcr.clone());
        rows.push(self.buf.rms.clone());
        rows
    }
}

/// Per-frame work of the STFT pass, over borrowed parts of the [`Extractor`].
struct FrameSink<'a> {
    cfg: &'a FeatureConfig,
    mel: &'a MelFilterbank,
    /// None with estimated tuning: spectra are stored and chroma computed after the pass.
    chroma: Option<&'a ChromaFilterbank>,
    freqs: &'a [f64],
    buf: &'a mut Scratch,
    plan: PassPlan,
    n_frames: usize,
}

impl FrameSink<'_> {
    fn prepare(&mut self, n_frames: usize) {
        let (n_mels, n_bins, n_chroma) = (
            self.mel.n_mels(),
            self.cfg.stft.n_bins(),
            self.cfg.chroma.n_chroma,
        );
        self.buf.mel.resize(n_frames * n_mels, 0.0);
        if self.plan.chroma {
            match self.chroma {
                Some(_) => self.buf.chroma.resize(n_frames * n_chroma, 0.0),
                None => self.buf.spectra.resize(n_frames * n_bins, 0.0),
            }
        }
        if self.plan.spectral {
            self.buf.spectral.resize(n_frames * 4, 0.0);
        }
    }

    /// Consumes frame `t`'s spectrum. Frames are handled in pairs (even, odd): the power
    /// spectrum is computed now, mel and chroma once the pair (or the last frame) is complete,
    /// so each filter weight is loaded once for two frames.
    #[inline]
    fn frame<T: SpectrumFloat>(&mut self, t: usize, spectrum: &[Complex<T>]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA, the only requirement of `frame_avx2`.
            unsafe { self.frame_avx2(t, spectrum) };
            return;
        }
        self.frame_body(t, spectrum);
    }

    /// [`Self::frame_body`] compiled for AVX2+FMA (the power loops vectorise 8 wide).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn frame_avx2<T: SpectrumFloat>(&mut self, t: usize, spectrum: &[Complex<T>]) {
        self.frame_body(t, spectrum);
    }

    #[inline(always)]
    fn frame_body<T: SpectrumFloat>(&mut self, t: usize, spectrum: &[Complex<T>]) {
        let n_bins = self.cfg.stft.n_bins();
        let (mel_power, chroma_power) = (self.cfg.mel.power, self.cfg.chroma.power);
        let slot = t % 2;
        let buf = &mut *self.buf;
        for (p, c) in buf.power[slot].iter_mut().zip(spectrum) {
            *p = spectral_power(*c, mel_power);
        }
        if self.plan.spectral {
            for (m, c) in buf.magnitude.iter_mut().zip(spectrum) {
                *m = spectral_power(*c, 1.0);
            }
            describe_spectrum(
                &buf.magnitude,
                self.freqs,
                self.cfg,
                &mut buf.spectral[t * 4..t * 4 + 4],
            );
        }
        if self.plan.chroma {
            if chroma_power != mel_power {
                for (m, c) in buf.chroma_input[slot].iter_mut().zip(spectrum) {
                    *m = spectral_power(*c, chroma_power);
                }
            }
            if self.chroma.is_none() {
                let input = if chroma_power == mel_power {
                    &buf.power[slot]
                } else {
                    &buf.chroma_input[slot]
                };
                buf.spectra[t * n_bins..(t + 1) * n_bins].copy_from_slice(input);
            }
        }
        if slot == 1 || t + 1 == self.n_frames {
            self.flush(t);
        }
    }

    /// Mel (and fixed-tuning chroma) of the completed pair ending at `t`, or of `t` alone.
    #[inline(always)]
    fn flush(&mut self, t: usize) {
        let (n_mels, n_chroma) = (self.mel.n_mels(), self.cfg.chroma.n_chroma);
        let buf = &mut *self.buf;
        let chroma_inputs = if self.cfg.chroma.power == self.cfg.mel.power {
            &buf.power
        } else {
            &buf.chroma_input
        };
        let chroma = self.chroma.filter(|_| self.plan.chroma);
        if t % 2 == 1 {
            let (mel_a, mel_b) = buf.mel[(t - 1) * n_mels..(t + 1) * n_mels].split_at_mut(n_mels);
            self.mel
                .apply_pair([&buf.power[0], &buf.power[1]], mel_a, mel_b);
            if let Some(bank) = chroma {
                let (ca, cb) =
                    buf.chroma[(t - 1) * n_chroma..(t + 1) * n_chroma].split_at_mut(n_chroma);
                bank.apply_pair(
                    [&chroma_inputs[0], &chroma_inputs[1]],
                    &mut buf.chroma_raw,
                    &mut buf.chroma_dots,
                    [ca, cb],
                );
            }
        } else {
            self.mel
                .apply(&buf.power[0], &mut buf.mel[t * n_mels..(t + 1) * n_mels]);
            if let Some(bank) = chroma {
                bank.apply(
                    &chroma_inputs[0],
                    &mut buf.chroma_raw,
                    &mut buf.chroma[t * n_chroma..(t + 1) * n_chroma],
                );
            }
        }
    }
}

/// Largest odd width ≤ min(configured, frames), or None when that is below 3.
fn usable_delta_width(configured: usize, n_frames: usize) -> Option<usize> {
    let w = configured.min(n_frames);
    let w = if w.is_multiple_of(2) {
        w.saturating_sub(1)
    } else {
        w
    };
    (w >= 3).then_some(w)
}

/// Centroid, bandwidth, roll-off, flatness of one magnitude spectrum.
fn describe_spectrum(mag: &[f32], freqs: &[f64], cfg: &FeatureConfig, out: &mut [f32]) {
    let c = spectral::centroid(mag, freqs);
    out[0] = c as f32;
    out[1] = spectral::bandwidth(mag, freqs, c) as f32;
    out[2] = spectral::rolloff(mag, freqs, cfg.spectral.rolloff_percent) as f32;
    out[3] = spectral::flatness(mag, cfg.spectral.flatness_amin) as f32;
}

/// Per-feature time-means of a frame-major store, accumulated in f64.
fn column_means(frame_major: &[f32], width: usize, n_frames: usize) -> Vec<f64> {
    let mut sums = vec![0.0f64; width];
    for frame in frame_major.chunks_exact(width).take(n_frames) {
        for (s, &v) in sums.iter_mut().zip(frame) {
            *s += v as f64;
        }
    }
    sums.iter().map(|s| s / n_frames.max(1) as f64).collect()
}

/// [mean, std, min, max] of f0 over voiced frames (zeros if none), then the voiced fraction.
fn f0_stats(pitch: &[YinFrame]) -> [f64; 5] {
    let voiced = pitch.iter().filter(|f| f.voiced).map(|f| f.f0);
    let n_voiced = voiced.clone().count();
    if n_voiced == 0 {
        return [0.0; 5];
    }
    let (mean, std) = mean_std(voiced.clone());
    let min = voiced.clone().fold(f64::INFINITY, f64::min);
    let max = voiced.fold(f64::NEG_INFINITY, f64::max);
    [mean, std, min, max, n_voiced as f64 / pitch.len() as f64]
}
