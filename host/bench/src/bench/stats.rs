//! Latency percentiles.

use serde::Serialize;
use std::time::Duration;

/// A latency distribution, in microseconds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Summary {
    pub n: usize,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub mean_us: f64,
    pub min_us: f64,
    pub max_us: f64,
}

/// Percentiles by nearest rank (p50 of 2000 samples is the 1000th smallest).
pub fn summarize(samples: &[Duration]) -> Summary {
    let mut us: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
    us.sort_by(f64::total_cmp);
    let rank = |p: f64| -> f64 {
        if us.is_empty() {
            return f64::NAN;
        }
        let index = ((p * us.len() as f64).ceil() as usize).clamp(1, us.len()) - 1;
        us[index]
    };
    let mean = if us.is_empty() {
        f64::NAN
    } else {
        us.iter().sum::<f64>() / us.len() as f64
    };
    Summary {
        n: us.len(),
        p50_us: rank(0.50),
        p90_us: rank(0.90),
        p99_us: rank(0.99),
        mean_us: mean,
        min_us: us.first().copied().unwrap_or(f64::NAN),
        max_us: us.last().copied().unwrap_or(f64::NAN),
    }
}

/// The median of a few throughput rounds.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        let s = summarize(&samples);
        assert_eq!((s.p50_us, s.p90_us, s.p99_us), (50.0, 90.0, 99.0));
        assert_eq!((s.min_us, s.max_us, s.n), (1.0, 100.0, 100));
        assert_eq!(summarize(&[Duration::from_micros(7)]).p99_us, 7.0);
        assert!(summarize(&[]).p50_us.is_nan());
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
