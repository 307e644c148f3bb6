//! Small numeric kernels shared by the feature stages.

/// f32 dot product. Uses AVX2+FMA when the CPU has them (checked once, cached by std),
/// else portable code that SSE2 vectorises.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA, the only requirement of `dot_avx2`.
        return unsafe { dot_avx2(a, b) };
    }
    dot_portable(a, b)
}

/// Four 8-wide FMA accumulators (hides the FMA latency), then the portable tail.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let blocks = n / 32;
    let mut acc = [_mm256_setzero_ps(); 4];
    for i in 0..blocks {
        for (j, acc) in acc.iter_mut().enumerate() {
            let at = i * 32 + j * 8;
            // SAFETY: at + 8 <= blocks * 32 <= n, within both slices; loads are unaligned.
            let (x, y) = unsafe {
                (
                    _mm256_loadu_ps(a.as_ptr().add(at)),
                    _mm256_loadu_ps(b.as_ptr().add(at)),
                )
            };
            *acc = _mm256_fmadd_ps(x, y, *acc);
        }
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut lanes = [0.0f32; 8];
    // SAFETY: `lanes` holds exactly 8 f32.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
    let head = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5]))
        + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
    head + dot_lanes::<true>(&a[blocks * 32..n], &b[blocks * 32..n])
}

#[inline]
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    dot_lanes::<false>(a, b)
}

/// Sixteen independent accumulators, so the compiler can keep them in SIMD registers
/// (a single running sum cannot be vectorised: float addition is not associative).
/// `FMA` only where the hardware has it: `mul_add` is a slow libm call otherwise.
#[inline(always)]
fn dot_lanes<const FMA: bool>(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for l in 0..LANES {
            acc[l] = if FMA {
                x[l].mul_add(y[l], acc[l])
            } else {
                acc[l] + x[l] * y[l]
            };
        }
    }
    let mut width = LANES / 2;
    while width > 0 {
        for l in 0..width {
            acc[l] += acc[l + width];
        }
        width /= 2;
    }
    acc[0] + tail
}

/// `(w · a, w · b)`: two dot products sharing the loads of `w` (two frames through one filter).
#[inline]
pub(crate) fn dot_pair(w: &[f32], a: &[f32], b: &[f32]) -> (f32, f32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA, the only requirement of `dot_pair_avx2`.
        return unsafe { dot_pair_avx2(w, a, b) };
    }
    (dot_portable(w, a), dot_portable(w, b))
}

/// Two 8-wide accumulators per vector (four independent FMA chains), then the scalar tail.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn dot_pair_avx2(w: &[f32], a: &[f32], b: &[f32]) -> (f32, f32) {
    use std::arch::x86_64::*;
    let n = w.len().min(a.len()).min(b.len());
    let blocks = n / 16;
    let mut acc = [_mm256_setzero_ps(); 4];
    for i in 0..blocks {
        for h in 0..2 {
            let at = i * 16 + h * 8;
            // SAFETY: at + 8 <= blocks * 16 <= n, within all three slices; loads are unaligned.
            let (x, p, q) = unsafe {
                (
                    _mm256_loadu_ps(w.as_ptr().add(at)),
                    _mm256_loadu_ps(a.as_ptr().add(at)),
                    _mm256_loadu_ps(b.as_ptr().add(at)),
                )
            };
            acc[h] = _mm256_fmadd_ps(x, p, acc[h]);
            acc[2 + h] = _mm256_fmadd_ps(x, q, acc[2 + h]);
        }
    }
    let mut done = blocks * 16;
    if done + 8 <= n {
        // SAFETY: done + 8 <= n, within all three slices; loads are unaligned.
        let (x, p, q) = unsafe {
            (
                _mm256_loadu_ps(w.as_ptr().add(done)),
                _mm256_loadu_ps(a.as_ptr().add(done)),
                _mm256_loadu_ps(b.as_ptr().add(done)),
            )
        };
        acc[0] = _mm256_fmadd_ps(x, p, acc[0]);
        acc[2] = _mm256_fmadd_ps(x, q, acc[2]);
        done += 8;
    }
    let mut ra = hsum256(_mm256_add_ps(acc[0], acc[1]));
    let mut rb = hsum256(_mm256_add_ps(acc[2], acc[3]));
    for i in done..n {
        ra += w[i] * a[i];
        rb += w[i] * b[i];
    }
    (ra, rb)
}

/// Sum of the 8 lanes, pairwise.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn hsum256(v: std::arch::x86_64::__m256) -> f32 {
    use std::arch::x86_64::*;
    let quad = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let dual = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
    _mm_cvtss_f32(_mm_add_ss(dual, _mm_shuffle_ps(dual, dual, 1)))
}

/// `out_a[r] = W[r] · a` and `out_b[r] = W[r] · b` for the rows of the row-major `weights`
/// (row length `a.len()`): two frames through a dense filterbank, each weight loaded once.
#[inline]
pub(crate) fn matvec_pair(
    weights: &[f32],
    a: &[f32],
    b: &[f32],
    out_a: &mut [f32],
    out_b: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA, the only requirement of `matvec_pair_avx2`.
        unsafe { matvec_pair_avx2(weights, a, b, out_a, out_b) };
        return;
    }
    for ((row, oa), ob) in weights.chunks_exact(a.len()).zip(out_a).zip(out_b) {
        (*oa, *ob) = (dot_portable(row, a), dot_portable(row, b));
    }
}

/// Blocks of 4 rows × 2 vectors: 6 loads feed 8 FMAs into 8 independent accumulators.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn matvec_pair_avx2(weights: &[f32], a: &[f32], b: &[f32], out_a: &mut [f32], out_b: &mut [f32]) {
    use std::arch::x86_64::*;
    const ROWS: usize = 4;
    let n = a.len().min(b.len());
    let n_rows = (weights.len() / n.max(1)).min(out_a.len()).min(out_b.len());
    let chunks = n / 8;
    let mut r0 = 0;
    while r0 + ROWS <= n_rows {
        let rows: [&[f32]; ROWS] =
            std::array::from_fn(|i| &weights[(r0 + i) * n..(r0 + i + 1) * n]);
        let mut acc_a = [_mm256_setzero_ps(); ROWS];
        let mut acc_b = [_mm256_setzero_ps(); ROWS];
        for c in 0..chunks {
            let at = c * 8;
            // SAFETY: at + 8 <= chunks * 8 <= n, within a, b and every row; unaligned loads.
            let (p, q) = unsafe {
                (
                    _mm256_loadu_ps(a.as_ptr().add(at)),
                    _mm256_loadu_ps(b.as_ptr().add(at)),
                )
            };
            for i in 0..ROWS {
                // SAFETY: as above.
                let x = unsafe { _mm256_loadu_ps(rows[i].as_ptr().add(at)) };
                acc_a[i] = _mm256_fmadd_ps(x, p, acc_a[i]);
                acc_b[i] = _mm256_fmadd_ps(x, q, acc_b[i]);
            }
        }
        for i in 0..ROWS {
            let (mut sa, mut sb) = (hsum256(acc_a[i]), hsum256(acc_b[i]));
            for k in chunks * 8..n {
                sa += rows[i][k] * a[k];
                sb += rows[i][k] * b[k];
            }
            out_a[r0 + i] = sa;
            out_b[r0 + i] = sb;
        }
        r0 += ROWS;
    }
    for r in r0..n_rows {
        let row = &weights[r * n..(r + 1) * n];
        (out_a[r], out_b[r]) = dot_pair_avx2(row, a, b);
    }
}

/// Natural logarithm of a positive, normal f32, branch-free so loops over it vectorise.
/// x = m·2^e with m in [√½, √2); ln m = 2·atanh(s), s = (m−1)/(m+1), |s| ≤ 0.172, series to s⁹:
/// relative error ~1e-7 (≈ 1e-6 dB after `10·log10`, far below the 2e-3 dB parity bound).
#[inline]
pub(crate) fn ln_positive(x: f32) -> f32 {
    const SQRT_HALF_BITS: i32 = 0x3f35_04f3;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let bits = x.to_bits() as i32;
    let e = (bits - SQRT_HALF_BITS) >> 23;
    let m = f32::from_bits((bits - (e << 23)) as u32);
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let series =
        s * (2.0 + s2 * (2.0 / 3.0 + s2 * (2.0 / 5.0 + s2 * (2.0 / 7.0 + s2 * (2.0 / 9.0)))));
    let ef = e as f32;
    ef * LN2_HI + (ef * LN2_LO + series)
}

/// numpy's `linspace(start, stop, num)` (endpoint included): `i * step + start`, last = stop.
pub(crate) fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    if num == 0 {
        return Vec::new();
    }
    if num == 1 {
        return vec![start];
    }
    let step = (stop - start) / (num - 1) as f64;
    let mut v: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    v[num - 1] = stop;
    v
}

/// numpy's floored modulo for floats (result takes the divisor's sign).
pub(crate) fn np_mod(a: f64, b: f64) -> f64 {
    let r = a % b;
    if r != 0.0 && ((r < 0.0) != (b < 0.0)) {
        r + b
    } else {
        r
    }
}

/// Mean and population standard deviation (numpy's default ddof=0), accumulated in f64.
pub(crate) fn mean_std(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let (mut n, mut sum) = (0usize, 0.0f64);
    for v in values.clone() {
        n += 1;
        sum += v;
    }
    if n == 0 {
        return (0.0, 0.0);
    }
    let mean = sum / n as f64;
    let var = values.map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..37).map(|i| 1.0 - i as f32 * 0.1).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-3);
    }

    #[test]
    fn pair_kernels_match_single_dots() {
        let n = 37;
        let w: Vec<f32> = (0..3 * n + 2 * n)
            .map(|i| (i as f32 * 0.37).sin())
            .collect();
        let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..n).map(|i| 1.0 - i as f32 * 0.1).collect();
        let (pa, pb) = dot_pair(&w[..n], &a, &b);
        assert!((pa - dot(&w[..n], &a)).abs() < 1e-3 && (pb - dot(&w[..n], &b)).abs() < 1e-3);
        let (mut oa, mut ob) = (vec![0.0; 5], vec![0.0; 5]);
        matvec_pair(&w, &a, &b, &mut oa, &mut ob);
        for r in 0..5 {
            let row = &w[r * n..(r + 1) * n];
            assert!((oa[r] - dot(row, &a)).abs() < 1e-3, "{r}");
            assert!((ob[r] - dot(row, &b)).abs() < 1e-3, "{r}");
        }
    }

    #[test]
    fn fast_ln_is_accurate() {
        let mut x = 1e-10f32;
        while x < 1e6 {
            let err = (ln_positive(x) as f64 - (x as f64).ln()).abs();
            assert!(err < 3e-6 * (x as f64).ln().abs().max(1.0), "{x}: {err}");
            x *= 1.013;
        }
    }

    #[test]
    fn np_mod_is_floored() {
        assert_eq!(np_mod(-0.25, 1.0), 0.75);
        assert_eq!(np_mod(1.25, 1.0), 0.25);
    }
}
