#!/usr/bin/env python3
"""Time librosa 0.11 on the signals of crates/features/benches/features.rs, on one core.

Run from the repository root (see BENCHMARKS.md):
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE taskset -c 0 .venv/bin/python scripts/librosa_bench.py

Prints milliseconds per call (min and median over repeats) for
  pooled180 on 60 s at 22050 Hz (concat of time-means of mfcc(40), chroma_stft(tuning=0), melspectrogram)
  mfcc40-frames on 3.5 s at 16 kHz (n_fft 512, hop 160, 64 mels, 40 coefficients)
  pyin on 3.5 s at 16 kHz (fmin 50, fmax 500, librosa defaults otherwise).
"""
import os

# one thread everywhere, set before numpy/numba load
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
            "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[var] = "1"

import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import librosa  # noqa: E402

MASK = (1 << 64) - 1


def synthetic(sr, seconds):
    """Same formula as `synthetic` in crates/features/benches/features.rs: a harmonic tone gliding
    around 120 Hz plus LCG noise (identical LCG; sin/cos may differ in the last ulp)."""
    n = int(sr * seconds)
    t = np.arange(n) / sr
    f0 = 120.0 + 40.0 * np.sin(2 * np.pi * 0.3 * t)
    phase = 2 * np.pi * f0 * t
    tone = sum(np.sin(h * phase) / h for h in range(1, 6))
    noise = np.empty(n)
    state = 0x2545F4914F6CDD1D
    for i in range(n):
        state = (state * 6364136223846793005 + 1442695040888963407) & MASK
        noise[i] = (state >> 33) / float(1 << 31) - 0.5
    return (0.2 * tone + 0.05 * noise).astype(np.float32)


def pooled180(y, sr):
    F = librosa.feature
    return np.concatenate([
        F.mfcc(y=y, sr=sr, n_mfcc=40).mean(axis=1),
        F.chroma_stft(y=y, sr=sr, tuning=0.0).mean(axis=1),
        F.melspectrogram(y=y, sr=sr).mean(axis=1),
    ])


def mfcc40_frames(y, sr):
    return librosa.feature.mfcc(y=y, sr=sr, n_mfcc=40, n_fft=512, hop_length=160, n_mels=64)


def bench(name, fn, repeats):
    fn()  # warm-up (numba compilation, FFT plan caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    print(f"{name:<28} min {min(times):9.2f} ms   median {statistics.median(times):9.2f} ms   ({repeats} runs)")


def main():
    print(f"librosa {librosa.__version__}, numpy {np.__version__}, affinity {sorted(os.sched_getaffinity(0))}")
    long = synthetic(22050, 60.0)
    clip = synthetic(16000, 3.5)
    bench("pooled180 60 s @22050", lambda: pooled180(long, 22050), 10)
    bench("mfcc40-frames 3.5 s @16k", lambda: mfcc40_frames(clip, 16000), 50)
    bench("pyin 3.5 s @16k", lambda: librosa.pyin(clip, fmin=50, fmax=500, sr=16000), 5)


if __name__ == "__main__":
    main()
