//! `librosa.feature.delta`: Savitzky-Golay derivative along time with scipy's `mode='interp'`.

use crate::error::{FeatureError, Result};
use crate::matrix::FeatureMatrix;

/// Filter taps `h` with `delta[t] = Σ_j h[j] · x[t - width/2 + j]`.
///
/// librosa uses `polyorder = order = deriv`: the order-th derivative of the least-squares
/// polynomial of degree `order`, i.e. `order! · a_order`. For such a fit the derivative is
/// constant over the window, which is why scipy's 'interp' edges equal the first/last full window.
pub fn savgol_deriv_taps(width: usize, order: usize) -> Vec<f64> {
    let half = (width / 2) as f64;
    let p = order + 1;
    // Normal equations (VᵀV) z = e_order, V[j][i] = x_j^i with x_j = j - half.
    let mut a = vec![vec![0.0f64; p + 1]; p];
    for (r, row) in a.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().take(p).enumerate() {
            *v = (0..width)
                .map(|j| (j as f64 - half).powi((r + c) as i32))
                .sum();
        }
        row[p] = if r == order { 1.0 } else { 0.0 };
    }
    let z = solve(a);
    let fact: f64 = (1..=order).map(|i| i as f64).product();
    (0..width)
        .map(|j| {
            let x = j as f64 - half;
            fact * z
                .iter()
                .enumerate()
                .map(|(i, zi)| zi * x.powi(i as i32))
                .sum::<f64>()
        })
        .collect()
}

/// Gauss-Jordan elimination with partial pivoting on an augmented (n × n+1) system.
fn solve(mut a: Vec<Vec<f64>>) -> Vec<f64> {
    let n = a.len();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap_or(col);
        a.swap(col, pivot);
        let pivot_row = a[col].clone();
        if pivot_row[col] == 0.0 {
            continue;
        }
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot_row[col];
                for (x, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                    *x -= f * p;
                }
            }
        }
    }
    (0..n)
        .map(|i| {
            if a[i][i] != 0.0 {
                a[i][n] / a[i][i]
            } else {
                0.0
            }
        })
        .collect()
}

/// Checks librosa's constraints on `width`/`order` against `n_frames`.
pub fn check_delta_params(width: usize, order: usize, n_frames: usize) -> Result<()> {
    if width < 3 || width.is_multiple_of(2) {
        return Err(FeatureError::invalid(
            "width",
            format!("must be odd and >= 3, got {width}"),
        ));
    }
    if order == 0 {
        return Err(FeatureError::invalid("order", "must be >= 1"));
    }
    if width > n_frames {
        return Err(FeatureError::TooFewFrames {
            what: "delta (mode='interp')",
            frames: n_frames,
            needed: width,
        });
    }
    Ok(())
}

/// Applies precomputed taps to one row (`x.len() >= taps.len()`), 'interp' edges.
pub(crate) fn delta_row(taps: &[f64], x: &[f32], out: &mut [f32]) {
    let width = taps.len();
    let half = width / 2;
    let n = x.len();
    for t in half..n - half {
        let window = &x[t - half..t - half + width];
        out[t] = taps
            .iter()
            .zip(window)
            .map(|(h, &v)| h * v as f64)
            .sum::<f64>() as f32;
    }
    let (first, last) = (out[half], out[n - half - 1]);
    out[..half].fill(first);
    out[n - half..].fill(last);
}

/// `librosa.feature.delta(data, width, order, axis=-1, mode='interp')` on a features × frames matrix.
pub fn delta(data: &FeatureMatrix, width: usize, order: usize) -> Result<FeatureMatrix> {
    check_delta_params(width, order, data.cols)?;
    let taps = savgol_deriv_taps(width, order);
    let mut out = FeatureMatrix::zeros(data.rows, data.cols);
    for r in 0..data.rows {
        delta_row(
            &taps,
            data.row(r),
            &mut out.data[r * data.cols..(r + 1) * data.cols],
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_order_taps_are_the_regression_slope() {
        let taps = savgol_deriv_taps(9, 1);
        for (j, h) in taps.iter().enumerate() {
            assert!((h - (j as f64 - 4.0) / 60.0).abs() < 1e-12);
        }
    }

    #[test]
    fn second_derivative_of_a_parabola() {
        let taps = savgol_deriv_taps(9, 2);
        let x: Vec<f32> = (0..20).map(|t| (t * t) as f32).collect();
        let m = FeatureMatrix {
            rows: 1,
            cols: 20,
            data: x,
        };
        let d = delta(&m, 9, 2).unwrap();
        assert!(
            d.data.iter().all(|v| (v - 2.0).abs() < 1e-4),
            "{:?} {:?}",
            d.data,
            taps
        );
    }

    #[test]
    fn too_short_is_an_error() {
        let m = FeatureMatrix::zeros(2, 5);
        assert!(matches!(
            delta(&m, 9, 1),
            Err(FeatureError::TooFewFrames { .. })
        ));
    }
}
