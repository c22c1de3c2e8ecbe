//! Response times in fixed logarithmic buckets, so a day's distribution is a handful of counters
//! that add up across days and agents, and a percentile is read back within one bucket's error.
//!
//! Bucket 0 holds [0, 1) ms; bucket `i ≥ 1` holds [1.1^(i-1), 1.1^i) ms: each is 10% of its lower
//! bound wide. A percentile is reported as its bucket's geometric midpoint, at most ~5% off the
//! true value. 3 600 000 ms (the largest accepted response time) falls in bucket 159.

use std::collections::BTreeMap;

const GROWTH: f64 = 1.1;

/// The bucket a response time falls in.
pub fn bucket(ms: f64) -> u16 {
    // NaN and anything below 1 ms go to bucket 0.
    if ms.is_nan() || ms < 1.0 {
        return 0;
    }
    // Floating-point rounding at exact bucket edges is corrected by checking the bounds.
    let mut i = (ms.ln() / GROWTH.ln()).floor() as i64 + 1;
    if ms < lower_bound(i as u16) {
        i -= 1;
    } else if ms >= lower_bound(i as u16 + 1) {
        i += 1;
    }
    i.clamp(0, i64::from(u16::MAX)) as u16
}

fn lower_bound(i: u16) -> f64 {
    match i {
        0 => 0.0,
        i => GROWTH.powi(i32::from(i) - 1),
    }
}

/// The value reported for a bucket: the geometric midpoint of its bounds (0.5 ms for bucket 0).
pub fn representative(i: u16) -> f64 {
    match i {
        0 => 0.5,
        i => GROWTH.powf(f64::from(i) - 0.5),
    }
}

/// The `q` quantile (0 < q ≤ 1) of a histogram, or `None` when it is empty.
pub fn quantile(histogram: &BTreeMap<u16, u64>, q: f64) -> Option<f64> {
    let total: u64 = histogram.values().sum();
    if total == 0 {
        return None;
    }
    // The nearest-rank definition: the smallest value with at least q of the samples at or below.
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (&i, &count) in histogram {
        seen += count;
        if seen >= rank {
            return Some(representative(i));
        }
    }
    None
}

/// The name of a bucket's counter attribute on a daily agent item.
pub fn attribute(i: u16) -> String {
    format!("h{i}")
}

/// The bucket a counter attribute stands for, if it is one.
pub fn parse_attribute(name: &str) -> Option<u16> {
    name.strip_prefix('h')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_at_most_ten_percent_wide_and_cover_every_value() {
        for i in 1..=160u16 {
            let (lo, hi) = (lower_bound(i), lower_bound(i + 1));
            assert!((hi - lo) / lo <= 0.1 + 1e-9);
            assert_eq!(bucket(lo), i, "lower edge of {i}");
            assert_eq!(bucket(hi * (1.0 - 1e-12)), i, "upper edge of {i}");
            let mid = representative(i);
            assert!(lo <= mid && mid < hi);
        }
        assert_eq!(bucket(0.0), 0);
        assert_eq!(bucket(0.99), 0);
        assert_eq!(bucket(1.0), 1);
        assert_eq!(bucket(3_600_000.0), 159);
        assert_eq!(bucket(f64::NAN), 0);
    }

    #[test]
    fn quantiles_land_within_a_bucket_of_the_truth() {
        // 1..=1000 ms: the true p95 (nearest rank) is 950.
        let mut h = BTreeMap::new();
        for ms in 1..=1000 {
            *h.entry(bucket(f64::from(ms))).or_insert(0) += 1;
        }
        let p95 = quantile(&h, 0.95).unwrap();
        assert!((p95 - 950.0).abs() / 950.0 <= 0.1, "{p95}");
        assert_eq!(quantile(&BTreeMap::new(), 0.95), None);
        assert_eq!(parse_attribute(&attribute(42)), Some(42));
        assert_eq!(parse_attribute("hx"), None);
    }
}
