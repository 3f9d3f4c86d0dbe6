//! The temporality a reader collects with: a preference (cumulative,
//! delta, low memory) and the temporality it selects per instrument kind.
//! A leaf shared by readers, by exporters (which state the preference
//! their reader should use) and by host producers; public at
//! `ferrometer::readers::{TemporalityPreference, TemporalitySelector}`.

use crate::collect::data::Temporality;
use crate::kinds::InstrumentKind;

/// Temporality preference of a reader, as the OpenTelemetry specification
/// defines it for OTLP exporters
/// (`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TemporalityPreference {
    /// Everything cumulative.
    #[default]
    Cumulative,
    /// Counters, observable counters, histograms (and gauges: only changed
    /// series) delta; up-down counters cumulative.
    Delta,
    /// Counters and histograms delta; everything else cumulative.
    LowMemory,
}

impl TemporalityPreference {
    /// Parses `cumulative`, `delta` or `lowmemory` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cumulative" => Some(Self::Cumulative),
            "delta" => Some(Self::Delta),
            "lowmemory" => Some(Self::LowMemory),
            _ => None,
        }
    }
}

/// Chooses the temporality per instrument kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemporalitySelector {
    pref: TemporalityPreference,
}

impl TemporalitySelector {
    /// The selector of a preference.
    pub(crate) fn new(pref: TemporalityPreference) -> Self {
        TemporalitySelector { pref }
    }

    /// The temporality for an instrument kind.
    pub fn temporality(&self, kind: InstrumentKind) -> Temporality {
        use InstrumentKind as K;
        use TemporalityPreference as P;
        match (self.pref, kind) {
            (P::Cumulative, _) => Temporality::Cumulative,
            (P::Delta, K::Counter | K::ObservableCounter | K::Histogram | K::Gauge) => {
                Temporality::Delta
            }
            (P::LowMemory, K::Counter | K::Histogram) => Temporality::Delta,
            _ => Temporality::Cumulative,
        }
    }
}
