//! Failure-rate statistics: the Wilson score interval, the zero-failure upper bound, and how
//! many clean trials it takes to claim a fix.
//!
//! All at 95% confidence. Trials are taken as independent with one failure probability; for
//! crash states that is a statement about the enumerated set, not about production traffic.

/// The two-sided 95% normal quantile.
const Z_95: f64 = 1.959_963_984_540_054;

/// A count of failures out of a count of trials.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FailureCount {
    /// Trials, states or reads that failed.
    pub failures: u64,
    /// All trials, states or reads.
    pub trials: u64,
}

/// A 95% interval for a proportion, as fractions in [0, 1].
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Interval {
    /// Lower end.
    pub low: f64,
    /// Upper end.
    pub high: f64,
}

impl FailureCount {
    /// `failures` of `trials`.
    pub fn new(failures: u64, trials: u64) -> Self {
        FailureCount { failures, trials }
    }

    /// The observed rate, or `None` with no trials.
    pub fn rate(&self) -> Option<f64> {
        (self.trials > 0).then(|| self.failures as f64 / self.trials as f64)
    }

    /// The Wilson score 95% interval, or `None` with no trials.
    pub fn wilson(&self) -> Option<Interval> {
        self.wilson_at(Z_95)
    }

    /// The Wilson score interval for the two-sided normal quantile `z` (1.96 for 95%,
    /// 3.29 for 99.9%), or `None` with no trials.
    pub fn wilson_at(&self, z: f64) -> Option<Interval> {
        if self.trials == 0 {
            return None;
        }
        let n = self.trials as f64;
        let p = self.failures as f64 / n;
        let z2 = z * z;
        let denom = 1.0 + z2 / n;
        let centre = (p + z2 / (2.0 * n)) / denom;
        let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
        Some(Interval {
            low: (centre - half).max(0.0),
            high: (centre + half).min(1.0),
        })
    }

    /// With zero failures, the exact one-sided 95% upper bound `1 - 0.05^(1/n)` (about 3/n,
    /// the rule of three); `None` when there were failures or no trials.
    pub fn zero_failure_upper_bound(&self) -> Option<f64> {
        (self.failures == 0 && self.trials > 0).then(|| 1.0 - 0.05f64.powf(1.0 / self.trials as f64))
    }

    /// A one-line summary: `41 of 2000 (2.05%, 95% CI 1.52-2.77%)`, or for zero failures
    /// `0 of 2000 (95% upper bound 0.15%)`.
    pub fn summary(&self) -> String {
        match (self.zero_failure_upper_bound(), self.wilson(), self.rate()) {
            (Some(bound), _, _) => format!("0 of {} (95% upper bound {})", self.trials, percent(bound)),
            (None, Some(ci), Some(rate)) => format!(
                "{} of {} ({}, 95% CI {}-{})",
                self.failures,
                self.trials,
                percent(rate),
                percent(ci.low),
                percent(ci.high)
            ),
            _ => format!("{} of 0", self.failures),
        }
    }
}

/// How many consecutive clean trials show, at 95% confidence, that a failure rate of
/// `rate_before` is gone: the smallest n with `(1 - rate_before)^n <= 0.05`.
/// `None` when the rate before is not in (0, 1).
pub fn clean_trials_to_claim_fix(rate_before: f64) -> Option<u64> {
    if !(rate_before > 0.0 && rate_before < 1.0) {
        return (rate_before >= 1.0).then_some(3);
    }
    Some((0.05f64.ln() / (1.0 - rate_before).ln()).ceil() as u64)
}

/// A fraction as a percentage with enough digits to be honest about small rates.
pub fn percent(fraction: f64) -> String {
    let pct = fraction * 100.0;
    if pct == 0.0 || pct >= 10.0 {
        format!("{pct:.1}%")
    } else if pct >= 0.1 {
        format!("{pct:.2}%")
    } else {
        format!("{pct:.3}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_published_values() {
        // 9 of 500 (seed 001's figure): Wilson 95% is 0.95%-3.38%, computed independently
        // from the closed form.
        let ci = FailureCount::new(9, 500).wilson().expect("trials > 0");
        assert!((ci.low - 0.009_500).abs() < 2e-4, "{ci:?}");
        assert!((ci.high - 0.033_822).abs() < 2e-4, "{ci:?}");
    }

    #[test]
    fn zero_failures_give_the_rule_of_three() {
        let bound = FailureCount::new(0, 2000)
            .zero_failure_upper_bound()
            .expect("zero failures");
        assert!((bound - 3.0 / 2000.0).abs() < 1e-4, "{bound}");
        assert!(FailureCount::new(1, 2000).zero_failure_upper_bound().is_none());
    }

    #[test]
    fn clean_trials_for_seed_001_rate() {
        // 1.8% before: (1 - 0.018)^n <= 0.05 first holds at n = 165.
        assert_eq!(clean_trials_to_claim_fix(0.018), Some(165));
        assert_eq!(clean_trials_to_claim_fix(0.0), None);
        assert_eq!(clean_trials_to_claim_fix(1.0), Some(3));
    }

    #[test]
    fn summary_formats_both_cases() {
        // Wilson for 41 of 2000, by hand: centre 0.021419, half-width 0.006272.
        assert_eq!(
            FailureCount::new(0, 2000).summary(),
            "0 of 2000 (95% upper bound 0.15%)"
        );
        assert_eq!(
            FailureCount::new(41, 2000).summary(),
            "41 of 2000 (2.05%, 95% CI 1.51%-2.77%)"
        );
    }
}
