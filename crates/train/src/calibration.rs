//! Temperature scaling (Guo et al. 2017): one scalar T fitted on validation speakers so that
//! the probabilities `softmax(ln p / T)` minimise the validation log-loss. It changes no
//! prediction (the order of the classes is kept), only how sure each one claims to be.

use ser_model::predictor::apply_temperature;

/// Search range of the inverse temperature 1/T.
const INVERSE_RANGE: (f64, f64) = (0.02, 20.0);

/// The temperature that minimises the mean negative log-likelihood of `truth` under
/// `softmax(ln p / T)`; 1 when there is nothing to fit. The log-likelihood is concave in
/// 1/T (a log-sum-exp of affine functions), so a golden-section search finds its optimum.
pub fn fit_temperature(probabilities: &[Vec<f32>], truth: &[usize]) -> f32 {
    if probabilities.is_empty() || probabilities.len() != truth.len() {
        return 1.0;
    }
    let logs: Vec<Vec<f64>> = probabilities
        .iter()
        .map(|row| row.iter().map(|&p| f64::from(p).max(1e-12).ln()).collect())
        .collect();
    let nll = |beta: f64| -> f64 {
        logs.iter()
            .zip(truth)
            .map(|(row, &t)| {
                let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(beta * v));
                let sum: f64 = row.iter().map(|&v| (beta * v - max).exp()).sum();
                max + sum.ln() - beta * row[t]
            })
            .sum::<f64>()
    };
    // Golden section on ln(1/T): the scale spans three orders of magnitude.
    let (mut lo, mut hi) = (INVERSE_RANGE.0.ln(), INVERSE_RANGE.1.ln());
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let mut a = hi - ratio * (hi - lo);
    let mut b = lo + ratio * (hi - lo);
    let (mut fa, mut fb) = (nll(a.exp()), nll(b.exp()));
    for _ in 0..80 {
        if fa < fb {
            hi = b;
            b = a;
            fb = fa;
            a = hi - ratio * (hi - lo);
            fa = nll(a.exp());
        } else {
            lo = a;
            a = b;
            fa = fb;
            b = lo + ratio * (hi - lo);
            fb = nll(b.exp());
        }
    }
    (1.0 / ((lo + hi) / 2.0).exp()) as f32
}

/// Temperatures for data nobody calibrated on, from parts (probabilities, truth) such as the
/// test sets of corpus-out folds: for each part the temperature fitted on all the other parts
/// (never its own), and the one fitted on every part.
pub fn leave_one_out(parts: &[(&[Vec<f32>], &[usize])]) -> (Vec<f32>, f32) {
    let fitted = |skip: Option<usize>| {
        let (mut probabilities, mut truth) = (Vec::new(), Vec::new());
        for (k, (p, t)) in parts.iter().enumerate() {
            if Some(k) != skip {
                probabilities.extend_from_slice(p);
                truth.extend_from_slice(t);
            }
        }
        fit_temperature(&probabilities, &truth)
    };
    let each = (0..parts.len()).map(|k| fitted(Some(k))).collect();
    (each, fitted(None))
}

/// `probabilities` rescaled by `temperature` (see [`apply_temperature`]), for scoring.
pub fn calibrated(probabilities: &[Vec<f32>], temperature: f32) -> Vec<Vec<f32>> {
    probabilities
        .iter()
        .map(|row| {
            let mut row = row.clone();
            apply_temperature(&mut row, temperature);
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn softmax(logits: &[f64], temperature: f64) -> Vec<f32> {
        let max = logits.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
        let e: Vec<f64> = logits
            .iter()
            .map(|&v| ((v - max) / temperature).exp())
            .collect();
        let sum: f64 = e.iter().sum();
        e.iter().map(|v| (v / sum) as f32).collect()
    }

    /// `n` clips whose labels are drawn from softmax(z / `overconfidence`) while the model
    /// reports softmax(z).
    fn overconfident(
        rng: &mut ChaCha8Rng,
        n: usize,
        overconfidence: f64,
    ) -> (Vec<Vec<f32>>, Vec<usize>) {
        let (mut reported, mut truth) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let z: Vec<f64> = (0..5).map(|_| rng.random_range(-4.0..4.0)).collect();
            let true_p = softmax(&z, overconfidence);
            let u: f32 = rng.random();
            let mut acc = 0.0;
            let label = true_p
                .iter()
                .position(|&p| {
                    acc += p;
                    u < acc
                })
                .unwrap_or(4);
            reported.push(softmax(&z, 1.0));
            truth.push(label);
        }
        (reported, truth)
    }

    /// Labels drawn from softmax(z / 2) while the model reports softmax(z): the model is
    /// overconfident by a temperature of exactly 2, and the fit must find it.
    #[test]
    fn known_logits_in_known_temperature_out() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (reported, truth) = overconfident(&mut rng, 20_000, 2.0);
        let t = fit_temperature(&reported, &truth);
        assert!((t - 2.0).abs() < 0.1, "fitted {t}");
        // Already calibrated probabilities keep T = 1.
        let honest: Vec<Vec<f32>> = reported
            .iter()
            .map(|p| {
                let z: Vec<f64> = p.iter().map(|&v| f64::from(v).ln()).collect();
                softmax(&z, 2.0)
            })
            .collect();
        let t = fit_temperature(&honest, &truth);
        assert!((t - 1.0).abs() < 0.06, "fitted {t}");
    }

    /// Three parts overconfident by 1.5, 2 and 3: each part's temperature comes from the
    /// other two alone, so it lands between theirs, never on its own.
    #[test]
    fn each_part_is_calibrated_by_the_others_only() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let parts: Vec<_> = [1.5, 2.0, 3.0]
            .iter()
            .map(|&t| overconfident(&mut rng, 8_000, t))
            .collect();
        let views: Vec<(&[Vec<f32>], &[usize])> =
            parts.iter().map(|(p, t)| (&p[..], &t[..])).collect();
        let (each, all) = leave_one_out(&views);
        assert!(each[0] > 2.0 && each[0] < 3.0, "{each:?}");
        assert!(each[1] > 1.5 && each[1] < 3.0, "{each:?}");
        assert!(each[2] > 1.5 && each[2] < 2.0, "{each:?}");
        assert!(all > 1.5 && all < 3.0, "{all}");
        assert_eq!(leave_one_out(&[]), (Vec::new(), 1.0));
    }

    #[test]
    fn scaling_keeps_the_order_and_sums_to_one() {
        let probs = vec![vec![0.7, 0.2, 0.1]];
        let soft = calibrated(&probs, 3.0);
        assert!(soft[0][0] > soft[0][1] && soft[0][1] > soft[0][2]);
        assert!(soft[0][0] < 0.7);
        assert!((soft[0].iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(fit_temperature(&[], &[]), 1.0);
    }
}
