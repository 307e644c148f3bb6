//! Probabilistic YIN as `librosa.pyin` 0.11 computes it: YIN's cumulative mean normalised
//! difference per frame, a beta prior over thresholds and a Boltzmann prior over troughs give
//! observation probabilities over pitch bins (plus one unvoiced state per bin), and a Viterbi
//! pass over a banded transition matrix picks the path. f64 throughout.

use serde::{Deserialize, Serialize};

use crate::chroma::parabolic_shift;
use crate::error::{FeatureError, Result, check_signal};
use crate::kernels::linspace;
use crate::pitch::{Yin, YinConfig};

/// pYIN parameters, librosa's `pyin` keywords (framing zero-padded and centred like librosa;
/// `fill_na` is always NaN).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PyinConfig {
    /// Lowest f0 searched, in Hz (the lowest pitch bin).
    pub fmin: f64,
    /// Highest f0 searched, in Hz; at most the Nyquist frequency.
    pub fmax: f64,
    /// Samples per analysis frame.
    pub frame_length: usize,
    /// Samples between frame starts.
    pub hop_length: usize,
    /// Number of YIN thresholds (uniform on [0, 1]).
    pub n_thresholds: usize,
    /// Shape parameters (a, b) of the beta prior over thresholds.
    pub beta_parameters: [f64; 2],
    /// λ of the Boltzmann prior over troughs (smaller periods weigh more).
    pub boltzmann_parameter: f64,
    /// Pitch-bin width in semitones.
    pub resolution: f64,
    /// Largest pitch change, in octaves per second.
    pub max_transition_rate: f64,
    /// Probability of switching between voiced and unvoiced.
    pub switch_prob: f64,
    /// Probability added to the global minimum when no trough is below a threshold.
    pub no_trough_prob: f64,
    /// Centre frames on `t * hop` by zero-padding `frame_length / 2` samples on both sides.
    pub center: bool,
}

impl PyinConfig {
    /// librosa's defaults with the given range (frame 2048, hop 512, 100 thresholds, beta (2, 18),
    /// Boltzmann 2, resolution 0.1, 35.92 octaves/s, switch 0.01, no-trough 0.01, centred).
    pub const fn librosa(fmin: f64, fmax: f64) -> Self {
        PyinConfig {
            fmin,
            fmax,
            frame_length: 2048,
            hop_length: 512,
            n_thresholds: 100,
            beta_parameters: [2.0, 18.0],
            boltzmann_parameter: 2.0,
            resolution: 0.1,
            max_transition_rate: 35.92,
            switch_prob: 0.01,
            no_trough_prob: 0.01,
            center: true,
        }
    }

    /// The golden's settings: librosa defaults with fmin 50, fmax 500.
    pub const SPEECH_DEFAULT: PyinConfig = PyinConfig::librosa(50.0, 500.0);

    fn yin_config(&self) -> YinConfig {
        YinConfig {
            fmin: self.fmin,
            fmax: self.fmax,
            frame_length: self.frame_length,
            hop_length: self.hop_length,
            trough_threshold: 0.1,
            center: self.center,
        }
    }

    /// librosa's parameter checks (YIN's, plus those of the priors and transition matrix).
    pub fn validate(&self, sr: f64) -> Result<()> {
        self.yin_config().validate(sr)?;
        let prob = |name: &'static str, p: f64| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                Err(FeatureError::invalid(
                    name,
                    format!("must be in [0, 1], got {p}"),
                ))
            }
        };
        prob("pyin.switch_prob", self.switch_prob)?;
        prob("pyin.no_trough_prob", self.no_trough_prob)?;
        if self.n_thresholds == 0 {
            return Err(FeatureError::invalid(
                "pyin.n_thresholds",
                "must be positive",
            ));
        }
        let [a, b] = self.beta_parameters;
        if !(a > 0.0 && b > 0.0 && a.is_finite() && b.is_finite()) {
            return Err(FeatureError::invalid(
                "pyin.beta_parameters",
                format!("must be positive, got ({a}, {b})"),
            ));
        }
        if !(self.boltzmann_parameter > 0.0 && self.boltzmann_parameter.is_finite()) {
            return Err(FeatureError::invalid(
                "pyin.boltzmann_parameter",
                "must be positive",
            ));
        }
        if !(self.resolution > 0.0 && self.resolution <= 1.0) {
            return Err(FeatureError::invalid(
                "pyin.resolution",
                format!("must be in (0, 1], got {}", self.resolution),
            ));
        }
        if !(self.max_transition_rate >= 0.0 && self.max_transition_rate.is_finite()) {
            return Err(FeatureError::invalid(
                "pyin.max_transition_rate",
                "must be non-negative",
            ));
        }
        let (n_bins, width) = (self.n_pitch_bins(), self.transition_width(sr));
        if n_bins < 2 || 2 * n_bins > u16::MAX as usize {
            return Err(FeatureError::invalid(
                "pyin.resolution",
                format!("gives {n_bins} pitch bins; need 2..={}", u16::MAX / 2),
            ));
        }
        if width > n_bins {
            return Err(FeatureError::invalid(
                "pyin.max_transition_rate",
                format!("transition width {width} exceeds the {n_bins} pitch bins"),
            ));
        }
        Ok(())
    }

    fn bins_per_semitone(&self) -> usize {
        (1.0 / self.resolution).ceil() as usize
    }

    fn n_pitch_bins(&self) -> usize {
        let per_octave = (12 * self.bins_per_semitone()) as f64;
        (per_octave * (self.fmax / self.fmin).log2()).floor() as usize + 1
    }

    /// `round(max_transition_rate * 12 * hop / sr) * bins_per_semitone + 1` (Python's round).
    fn transition_width(&self, sr: f64) -> usize {
        let semitones =
            (self.max_transition_rate * 12.0 * self.hop_length as f64 / sr).round_ties_even();
        semitones as usize * self.bins_per_semitone() + 1
    }
}

/// `librosa.pyin`'s three outputs, one value per frame.
#[derive(Debug, Clone, PartialEq)]
pub struct PyinOutput {
    /// Fundamental frequency in Hz (the decoded pitch bin's centre); NaN where unvoiced.
    pub f0: Vec<f32>,
    /// The decoded path is in a voiced state (exactly where `f0` is not NaN).
    pub voiced_flag: Vec<bool>,
    /// Probability that the frame is voiced (sum of the voiced observation probabilities).
    pub voiced_prob: Vec<f32>,
}

/// Transition log-probabilities into one target pitch bin: sources `lo..lo + len` (the
/// non-zero band of the local transition matrix's column), at `offset` in the tables.
#[derive(Debug, Clone, Copy)]
struct Band {
    lo: usize,
    len: usize,
    offset: usize,
}

/// A reusable pYIN estimator: FFT plans, priors and the banded transition matrix are built
/// once; per-call buffers grow and are reused.
pub struct Pyin {
    cfg: PyinConfig,
    sr: f64,
    yin: Yin,
    n_bins: usize,
    bins_per_octave: f64,
    /// `thresholds[1..]` of `linspace(0, 1, n_thresholds + 1)`.
    upper_thresholds: Vec<f64>,
    beta_probs: Vec<f64>,
    /// Boltzmann pmf pieces: `exp(-λ k)` and `(1 − exp(-λ)) / (1 − exp(-λ N))`.
    boltzmann_exp: Vec<f64>,
    boltzmann_fact: Vec<f64>,
    /// Pitch-bin centres `fmin · 2^(b / bins_per_octave)`.
    freqs: Vec<f64>,
    bands: Vec<Band>,
    /// log(p_stay · L[k, j] + tiny) and log(p_switch · L[k, j] + tiny), band by band.
    log_stay: Vec<f64>,
    log_switch: Vec<f64>,
    /// log(tiny): every transition outside the band (librosa's Viterbi adds `tiny` before log).
    log_tiny: f64,
    log_init: f64,
    scratch: PyinScratch,
}

#[derive(Default)]
struct PyinScratch {
    troughs: Vec<usize>,
    /// First threshold column each trough is below (n_thresholds if none).
    first_below: Vec<usize>,
    n_below: Vec<usize>,
    position: Vec<usize>,
    probs: Vec<f64>,
    /// Voiced observation probabilities of the current frame (n_bins + 1: librosa clips bin
    /// indices to n_bins inclusive; that last slot is overwritten by the unvoiced part).
    obs: Vec<f64>,
    touched: Vec<usize>,
    log_obs: Vec<f64>,
    prev: Vec<f64>,
    cur: Vec<f64>,
    /// Back-pointers, frame-major (`[t * 2 n_bins + j]`).
    ptr: Vec<u16>,
    voiced_prob: Vec<f64>,
}

impl Pyin {
    /// Validates the configuration and precomputes priors and the transition bands.
    pub fn new(sr: f64, cfg: PyinConfig) -> Result<Self> {
        cfg.validate(sr)?;
        let yin = Yin::new(sr, cfg.yin_config())?;
        let n_bins = cfg.n_pitch_bins();
        let bins_per_octave = (12 * cfg.bins_per_semitone()) as f64;
        let thresholds = linspace(0.0, 1.0, cfg.n_thresholds + 1);
        let [a, b] = cfg.beta_parameters;
        let cdf: Vec<f64> = thresholds.iter().map(|&x| beta_cdf(x, a, b)).collect();
        let beta_probs = cdf.windows(2).map(|w| w[1] - w[0]).collect();
        // at most one trough per CMND sample
        let max_troughs = yin.cmnd_len() + 1;
        let lambda = cfg.boltzmann_parameter;
        let boltzmann_exp = (0..=max_troughs)
            .map(|k| (-lambda * k as f64).exp())
            .collect();
        let boltzmann_fact = (0..=max_troughs)
            .map(|n| (1.0 - (-lambda).exp()) / (1.0 - (-lambda * n as f64).exp()))
            .collect();
        let freqs = (0..n_bins)
            .map(|i| cfg.fmin * 2f64.powf(i as f64 / bins_per_octave))
            .collect();
        let log_tiny = f64::MIN_POSITIVE.ln();
        let (bands, log_stay, log_switch) =
            transition_bands(n_bins, cfg.transition_width(sr), cfg.switch_prob);
        let log_init = (1.0 / (2 * n_bins) as f64 + f64::MIN_POSITIVE).ln();
        Ok(Pyin {
            cfg,
            sr,
            yin,
            n_bins,
            bins_per_octave,
            upper_thresholds: thresholds[1..].to_vec(),
            beta_probs,
            boltzmann_exp,
            boltzmann_fact,
            freqs,
            bands,
            log_stay,
            log_switch,
            log_tiny,
            log_init,
            scratch: PyinScratch::default(),
        })
    }

    /// The configuration this estimator was built with.
    pub fn config(&self) -> &PyinConfig {
        &self.cfg
    }

    /// pYIN over every frame of `y`.
    pub fn compute(&mut self, y: &[f32]) -> Result<PyinOutput> {
        check_signal(y)?;
        let n_frames = self.yin.n_frames(y.len())?;
        let n = self.n_bins;
        let s = &mut self.scratch;
        s.obs.clear();
        s.obs.resize(n + 1, 0.0);
        s.log_obs.resize(2 * n, 0.0);
        s.prev.resize(2 * n, 0.0);
        s.cur.resize(2 * n, 0.0);
        s.ptr.clear();
        s.ptr.resize(n_frames * 2 * n, 0);
        s.voiced_prob.clear();
        for t in 0..n_frames {
            self.observe_frame(y, t)?;
            let s = &mut self.scratch;
            if t == 0 {
                for (v, &lo) in s.prev.iter_mut().zip(&s.log_obs) {
                    *v = lo + self.log_init;
                }
            } else {
                viterbi_step(
                    &s.prev,
                    &s.log_obs,
                    &self.bands,
                    &self.log_stay,
                    &self.log_switch,
                    self.log_tiny,
                    &mut s.cur,
                    &mut s.ptr[t * 2 * n..(t + 1) * 2 * n],
                );
                std::mem::swap(&mut s.prev, &mut s.cur);
            }
        }
        // backtrack from the first best final state
        let s = &self.scratch;
        let mut state = first_argmax(&s.prev);
        let mut states = vec![0usize; n_frames];
        for t in (0..n_frames).rev() {
            states[t] = state;
            if t > 0 {
                state = s.ptr[t * 2 * n + state] as usize;
            }
        }
        Ok(PyinOutput {
            f0: states
                .iter()
                .map(|&st| {
                    if st < n {
                        self.freqs[st] as f32
                    } else {
                        f32::NAN
                    }
                })
                .collect(),
            voiced_flag: states.iter().map(|&st| st < n).collect(),
            voiced_prob: s.voiced_prob.iter().map(|&p| p as f32).collect(),
        })
    }

    /// librosa's `__pyin_helper` for frame `t`: fills `scratch.log_obs` (log(p + tiny) over the
    /// 2·n_bins states) and pushes the frame's voiced probability.
    fn observe_frame(&mut self, y: &[f32], t: usize) -> Result<()> {
        let n = self.n_bins;
        let n_thr = self.upper_thresholds.len();
        let min_period = self.yin.min_period() as f64;
        let d = self.yin.cmnd_frame(y, t)?;
        let s = &mut self.scratch;
        for &b in &s.touched {
            s.obs[b] = 0.0;
        }
        s.touched.clear();
        // troughs: util.localmin, with the first sample a trough if below its neighbour
        s.troughs.clear();
        let len = d.len();
        if len >= 2 {
            if d[0] < d[1] {
                s.troughs.push(0);
            }
            for i in 1..len - 1 {
                if d[i] < d[i - 1] && d[i] <= d[i + 1] {
                    s.troughs.push(i);
                }
            }
            if d[len - 1] < d[len - 2] {
                s.troughs.push(len - 1);
            }
        }
        if !s.troughs.is_empty() {
            // threshold column from which each trough is below (thresholds ascend)
            s.first_below.clear();
            s.n_below.clear();
            s.n_below.resize(n_thr + 1, 0);
            for &i in &s.troughs {
                let h = d[i];
                let c = self.upper_thresholds.partition_point(|&thr| !(h < thr));
                s.first_below.push(c);
                s.n_below[c] += 1;
            }
            for c in 1..=n_thr {
                s.n_below[c] += s.n_below[c - 1];
            }
            // probs[i] = Σ_c boltzmann(position of i among troughs below c, n_below[c]) · beta[c]
            s.position.clear();
            s.position.resize(n_thr, 0);
            s.probs.clear();
            for &c0 in &s.first_below {
                let mut p = 0.0;
                for c in c0..n_thr {
                    let k = s.position[c];
                    s.position[c] += 1;
                    let prior = self.boltzmann_fact[s.n_below[c]] * self.boltzmann_exp[k];
                    p += prior * self.beta_probs[c];
                }
                s.probs.push(p);
            }
            let global_min = (0..s.troughs.len()).fold(0, |best, i| {
                if d[s.troughs[i]] < d[s.troughs[best]] {
                    i
                } else {
                    best
                }
            });
            let below_min: f64 = self.beta_probs[..s.first_below[global_min]].iter().sum();
            s.probs[global_min] += self.cfg.no_trough_prob * below_min;
            // candidates → pitch bins; numpy's fancy assignment: the last write to a bin wins
            for (&i, &p) in s.troughs.iter().zip(&s.probs) {
                if p == 0.0 {
                    continue;
                }
                let period = min_period + i as f64 + parabolic_shift(d, i);
                let f0 = self.sr / period;
                let bin = (self.bins_per_octave * (f0 / self.cfg.fmin).log2()).round_ties_even();
                let bin = bin.clamp(0.0, n as f64) as usize;
                s.obs[bin] = p;
                s.touched.push(bin);
            }
        }
        let voiced: f64 = s.obs[..n].iter().sum();
        let voiced = voiced.clamp(0.0, 1.0);
        s.voiced_prob.push(voiced);
        let tiny = f64::MIN_POSITIVE;
        let unvoiced = ((1.0 - voiced) / n as f64 + tiny).ln();
        let (lv, lu) = s.log_obs.split_at_mut(n);
        lv.fill(self.log_tiny);
        for &b in &s.touched {
            if b < n {
                lv[b] = (s.obs[b] + tiny).ln();
            }
        }
        lu.fill(unvoiced);
        Ok(())
    }
}

/// One Viterbi step: `cur[j] = log_obs[j] + max_k (prev[k] + log A[k, j])`, `ptr[j]` = the
/// first maximising k (numpy's argmax). A = kron([[stay, switch], [switch, stay]], L) with L
/// banded; outside the band log A = log(tiny), covered by the global maximum of `prev`.
#[allow(clippy::too_many_arguments)]
fn viterbi_step(
    prev: &[f64],
    log_obs: &[f64],
    bands: &[Band],
    log_stay: &[f64],
    log_switch: &[f64],
    log_tiny: f64,
    cur: &mut [f64],
    ptr: &mut [u16],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA, the only requirement of `viterbi_step_avx2`.
        unsafe {
            viterbi_step_avx2(
                prev, log_obs, bands, log_stay, log_switch, log_tiny, cur, ptr,
            )
        };
        return;
    }
    viterbi_step_body(
        prev, log_obs, bands, log_stay, log_switch, log_tiny, cur, ptr,
    );
}

/// [`viterbi_step_body`] compiled for AVX2 (the band maxima run 4 lanes wide; plain adds and
/// compares only, so results are identical).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
fn viterbi_step_avx2(
    prev: &[f64],
    log_obs: &[f64],
    bands: &[Band],
    log_stay: &[f64],
    log_switch: &[f64],
    log_tiny: f64,
    cur: &mut [f64],
    ptr: &mut [u16],
) {
    viterbi_step_body(
        prev, log_obs, bands, log_stay, log_switch, log_tiny, cur, ptr,
    );
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn viterbi_step_body(
    prev: &[f64],
    log_obs: &[f64],
    bands: &[Band],
    log_stay: &[f64],
    log_switch: &[f64],
    log_tiny: f64,
    cur: &mut [f64],
    ptr: &mut [u16],
) {
    let n = bands.len();
    let g = first_argmax(prev);
    let out_of_band = prev[g] + log_tiny;
    for j in 0..2 * n {
        let band = bands[j % n];
        let (voiced_from, unvoiced_from) = if j < n {
            (log_stay, log_switch)
        } else {
            (log_switch, log_stay)
        };
        let r = band.offset..band.offset + band.len;
        let lo = band.lo;
        let voiced_src = &prev[lo..lo + band.len];
        let unvoiced_src = &prev[n + lo..n + lo + band.len];
        let best = band_max(voiced_src, &voiced_from[r.clone()])
            .max(band_max(unvoiced_src, &unvoiced_from[r.clone()]));
        // first index reaching the maximum, in numpy's order (voiced sources first)
        let mut arg = match first_equal(voiced_src, &voiced_from[r.clone()], best) {
            Some(i) => lo + i,
            None => n + lo + first_equal(unvoiced_src, &unvoiced_from[r], best).unwrap_or(0),
        };
        let mut best = best;
        let g_bin = g % n;
        let g_in_band = g_bin >= lo && g_bin < lo + band.len;
        if !g_in_band && (out_of_band > best || (out_of_band == best && g < arg)) {
            best = out_of_band;
            arg = g;
        }
        cur[j] = log_obs[j] + best;
        ptr[j] = arg as u16;
    }
}

/// max_k (v[k] + l[k]) with eight independent lanes (vectorises; no NaN can occur here).
#[inline(always)]
fn band_max(v: &[f64], l: &[f64]) -> f64 {
    let mut acc = [f64::NEG_INFINITY; 8];
    let (vc, lc) = (v.chunks_exact(8), l.chunks_exact(8));
    let mut tail = f64::NEG_INFINITY;
    for (&a, &b) in vc.remainder().iter().zip(lc.remainder()) {
        let c = a + b;
        tail = if c > tail { c } else { tail };
    }
    for (a, b) in vc.zip(lc) {
        for i in 0..8 {
            let c = a[i] + b[i];
            acc[i] = if c > acc[i] { c } else { acc[i] };
        }
    }
    acc.iter().fold(tail, |m, &x| if x > m { x } else { m })
}

#[inline(always)]
fn first_equal(v: &[f64], l: &[f64], target: f64) -> Option<usize> {
    v.iter().zip(l).position(|(&a, &b)| a + b == target)
}

fn first_argmax(v: &[f64]) -> usize {
    (0..v.len()).fold(0, |best, i| if v[i] > v[best] { i } else { best })
}

/// The local transition matrix of `librosa.sequence.transition_local(n, width, "triangle",
/// wrap=False)`, combined with the voicing switch (`transition_loop(2, 1 − switch_prob)`) as
/// log-probabilities per target column, restricted to its non-zero band.
fn transition_bands(n: usize, width: usize, switch_prob: f64) -> (Vec<Band>, Vec<f64>, Vec<f64>) {
    let window = triangle(width);
    let lpad = (n - width) / 2;
    let mut padded = vec![0.0; n];
    padded[lpad..lpad + width].copy_from_slice(&window);
    let mut local = vec![0.0f64; n * n];
    let shift = n / 2 + 1;
    for i in 0..n {
        let row = &mut local[i * n..(i + 1) * n];
        // np.roll(padded, n // 2 + i + 1)
        for (m, &w) in padded.iter().enumerate() {
            row[(m + shift + i) % n] = w;
        }
        let hi = n.min(i + width / 2 + 1);
        row[hi..].fill(0.0);
        row[..i.saturating_sub(width / 2)].fill(0.0);
        let sum = pairwise_sum(row);
        for v in row.iter_mut() {
            *v /= sum;
        }
    }
    let stay = 1.0 - switch_prob;
    let switch = (1.0 - stay) / 1.0;
    let tiny = f64::MIN_POSITIVE;
    let (mut bands, mut log_stay, mut log_switch) = (Vec::new(), Vec::new(), Vec::new());
    for j in 0..n {
        let column = |k: usize| local[k * n + j];
        let lo = (0..n).find(|&k| column(k) != 0.0).unwrap_or(j);
        let hi = (0..n)
            .rev()
            .find(|&k| column(k) != 0.0)
            .map_or(j + 1, |k| k + 1);
        bands.push(Band {
            lo,
            len: hi - lo,
            offset: log_stay.len(),
        });
        for k in lo..hi {
            log_stay.push((stay * column(k) + tiny).ln());
            log_switch.push((switch * column(k) + tiny).ln());
        }
    }
    (bands, log_stay, log_switch)
}

/// `scipy.signal.get_window('triangle', m, fftbins=False)` (`scipy.signal.windows.triang`).
fn triangle(m: usize) -> Vec<f64> {
    let half: Vec<f64> = (1..=m.div_ceil(2))
        .map(|k| {
            if m.is_multiple_of(2) {
                (2.0 * k as f64 - 1.0) / m as f64
            } else {
                2.0 * k as f64 / (m as f64 + 1.0)
            }
        })
        .collect();
    let mirror = if m.is_multiple_of(2) {
        half.len()
    } else {
        half.len() - 1
    };
    half.iter()
        .copied()
        .chain(half[..mirror].iter().rev().copied())
        .collect()
}

/// numpy's pairwise summation (`np.sum` along a contiguous axis), bit for bit.
fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        a.iter().fold(0.0, |s, &v| s + v)
    } else if n <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let end = n - n % 8;
        for chunk in a[8..end].chunks_exact(8) {
            for (acc, &v) in r.iter_mut().zip(chunk) {
                *acc += v;
            }
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &a[end..] {
            res += v;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7; relative error ~1e-15).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let a = C[1..]
        .iter()
        .enumerate()
        .fold(C[0], |a, (i, &c)| a + c / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Regularised incomplete beta function I_x(a, b) (`scipy.stats.beta.cdf`), by Lentz's
/// continued fraction.
fn beta_cdf(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (-x).ln_1p();
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_continued_fraction(x, a, b) / a
    } else {
        1.0 - front * beta_continued_fraction(1.0 - x, b, a) / b
    }
}

fn beta_continued_fraction(x: f64, a: f64, b: f64) -> f64 {
    const FPMIN: f64 = 1e-300;
    let guard = |v: f64| if v.abs() < FPMIN { FPMIN } else { v };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - qab * x / qap);
    let mut h = d;
    for m in 1..1000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 / guard(1.0 + aa * d);
        c = guard(1.0 + aa / c);
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 / guard(1.0 + aa * d);
        c = guard(1.0 + aa / c);
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

/// `librosa.pyin(y, fmin, fmax, sr, ...)` → (f0 with NaN where unvoiced, voiced flag, voiced
/// probability), one value per frame.
pub fn pyin(y: &[f32], sr: f64, cfg: &PyinConfig) -> Result<PyinOutput> {
    Pyin::new(sr, *cfg)?.compute(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beta_cdf_matches_closed_form() {
        // I_x(2, 18) = 1 − (1−x)^19 − 19 x (1−x)^18
        for i in 0..=100 {
            let x = i as f64 / 100.0;
            let exact = 1.0 - (1.0 - x).powi(19) - 19.0 * x * (1.0 - x).powi(18);
            assert!((beta_cdf(x, 2.0, 18.0) - exact).abs() < 1e-13, "{x}");
        }
        assert!((beta_cdf(0.3, 1.0, 1.0) - 0.3).abs() < 1e-14);
    }

    #[test]
    fn triangle_matches_scipy() {
        let w = triangle(5);
        let expected = [1.0 / 3.0, 2.0 / 3.0, 1.0, 2.0 / 3.0, 1.0 / 3.0];
        assert!(w.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-15));
        assert_eq!(triangle(4), vec![0.25, 0.75, 0.75, 0.25]);
    }

    #[test]
    fn transition_rows_are_centred_bands() {
        let (bands, stay, _) = transition_bands(399, 141, 0.01);
        assert_eq!(bands[200].lo, 130);
        assert_eq!(bands[200].len, 141);
        assert_eq!(bands[0].lo, 0);
        assert_eq!(bands[0].len, 71);
        let c = bands[200];
        // the diagonal is the band's peak
        let peak = (0..c.len).fold(0, |b, i| {
            if stay[c.offset + i] > stay[c.offset + b] {
                i
            } else {
                b
            }
        });
        assert_eq!(c.lo + peak, 200);
    }

    #[test]
    fn tracks_a_tone_and_marks_silence_unvoiced() {
        let sr = 16000.0;
        let mut y: Vec<f32> = (0..16000)
            .map(|n| (0.5 * (2.0 * std::f64::consts::PI * 220.0 * n as f64 / sr).sin()) as f32)
            .collect();
        y.extend(std::iter::repeat_n(0.0, 16000));
        let out = pyin(&y, sr, &PyinConfig::SPEECH_DEFAULT).unwrap();
        assert_eq!(out.f0.len(), 1 + y.len() / 512);
        assert!(
            out.voiced_flag[15] && (out.f0[15] - 220.0).abs() < 2.0,
            "{}",
            out.f0[15]
        );
        assert!(!out.voiced_flag[55] && out.f0[55].is_nan());
        assert!(out.voiced_prob[15] > 0.5 && out.voiced_prob[55] == 0.0);
    }
}
