//! Aggregations: which cell a stream uses and how its points are shaped.

mod exponential;
mod histogram;
mod last_value;
mod sum;

#[allow(unused_imports)] // wired into streams and views by the engine
pub(crate) use exponential::{ExpoConfig, ExpoHistogramCell, ExpoRead};
pub use histogram::DEFAULT_BOUNDARIES;
pub(crate) use histogram::{HistConfig, HistRead, HistogramCell};
pub(crate) use last_value::LastValue;
pub(crate) use sum::{FastAdd, SumFloat, SumInt, SumU64};

use crate::error::Error;

/// How a stream aggregates measurements.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Aggregation {
    /// The instrument kind's default (sum, last value or histogram).
    #[default]
    Default,
    /// Discard every measurement.
    Drop,
    /// Arithmetic sum.
    Sum,
    /// The last measurement.
    LastValue,
    /// Explicit-bucket histogram.
    ExplicitBucketHistogram {
        /// Strictly increasing, finite upper bounds (inclusive).
        boundaries: Vec<f64>,
        /// Whether to record min and max.
        record_min_max: bool,
    },
}

impl Aggregation {
    /// A histogram with the specification's default boundaries.
    pub fn default_histogram() -> Self {
        Aggregation::ExplicitBucketHistogram {
            boundaries: DEFAULT_BOUNDARIES.to_vec(),
            record_min_max: true,
        }
    }

    /// Checks the aggregation's parameters.
    pub fn validate(&self) -> Result<(), Error> {
        if let Aggregation::ExplicitBucketHistogram { boundaries, .. } = self {
            validate_boundaries(boundaries)?;
        }
        Ok(())
    }
}

/// The most bucket boundaries a histogram may have (views and instrument
/// advice alike). Every series holds one 8-byte count per bucket and every
/// delta reader a copy: at this cap a series costs 32 KiB, a stream at the
/// default cardinality limit 64 MiB, and a Prometheus scrape 4097 bucket
/// lines per series; far past what classic histograms use (the default has
/// 15 boundaries, exponential histograms default to 160 buckets), while
/// the uncapped million boundaries cost 8 MiB per series.
pub const MAX_BOUNDARIES: usize = 4096;

/// Boundaries must be non-empty, at most [`MAX_BOUNDARIES`], finite and
/// strictly increasing.
pub(crate) fn validate_boundaries(b: &[f64]) -> Result<(), Error> {
    if b.is_empty() {
        return Err(Error::InvalidBoundaries("boundaries are empty".into()));
    }
    if b.len() > MAX_BOUNDARIES {
        return Err(Error::InvalidBoundaries(format!(
            "{} boundaries given, at most {MAX_BOUNDARIES} are allowed",
            b.len()
        )));
    }
    if let Some(x) = b.iter().find(|x| !x.is_finite()) {
        return Err(Error::InvalidBoundaries(format!(
            "boundary {x} is not a finite number"
        )));
    }
    if let Some(w) = b.windows(2).find(|w| w[0] >= w[1]) {
        return Err(Error::InvalidBoundaries(format!(
            "boundaries are not strictly increasing: {} then {}",
            w[0], w[1]
        )));
    }
    Ok(())
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn boundary_validation() {
        assert!(validate_boundaries(&DEFAULT_BOUNDARIES).is_ok());
        assert!(validate_boundaries(&[]).is_err());
        assert!(validate_boundaries(&[1.0, f64::NAN]).is_err());
        assert!(validate_boundaries(&[1.0, f64::INFINITY]).is_err());
        assert!(validate_boundaries(&[1.0, 1.0]).is_err());
        assert!(validate_boundaries(&[2.0, 1.0]).is_err());
        assert!(validate_boundaries(&[-1.0, 0.0, 1.0]).is_ok());
        let at_cap: Vec<f64> = (0..MAX_BOUNDARIES).map(|i| i as f64).collect();
        assert!(validate_boundaries(&at_cap).is_ok());
        let past_cap: Vec<f64> = (0..=MAX_BOUNDARIES).map(|i| i as f64).collect();
        assert!(validate_boundaries(&past_cap).is_err());
    }
}
