//! Aggregations: which cell a stream uses and how its points are shaped.

mod histogram;
mod last_value;
mod sum;

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

/// Boundaries must be non-empty, finite and strictly increasing.
pub(crate) fn validate_boundaries(b: &[f64]) -> Result<(), Error> {
    if b.is_empty() {
        return Err(Error::InvalidBoundaries("boundaries are empty".into()));
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
    }
}
