//! The kinds the layers share: what an instrument is, what number it
//! carries, a measurement on its way to a cell, and what a cell is. A
//! leaf: instruments, aggregations, storage and collection all use these,
//! and they use nothing of them.

use std::sync::Arc;

/// The kind of an instrument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum InstrumentKind {
    /// Monotonic sum, synchronous.
    Counter = 0,
    /// Non-monotonic sum, synchronous.
    UpDownCounter = 1,
    /// Distribution, synchronous.
    Histogram = 2,
    /// Last value, synchronous.
    Gauge = 3,
    /// Monotonic sum, reported by callbacks.
    ObservableCounter = 4,
    /// Non-monotonic sum, reported by callbacks.
    ObservableUpDownCounter = 5,
    /// Last value, reported by callbacks.
    ObservableGauge = 6,
}

impl InstrumentKind {
    /// Every kind, in discriminant order.
    pub(crate) const ALL: [InstrumentKind; 7] = [
        InstrumentKind::Counter,
        InstrumentKind::UpDownCounter,
        InstrumentKind::Histogram,
        InstrumentKind::Gauge,
        InstrumentKind::ObservableCounter,
        InstrumentKind::ObservableUpDownCounter,
        InstrumentKind::ObservableGauge,
    ];

    /// Whether values are reported by callbacks.
    pub fn is_observable(self) -> bool {
        matches!(
            self,
            InstrumentKind::ObservableCounter
                | InstrumentKind::ObservableUpDownCounter
                | InstrumentKind::ObservableGauge
        )
    }
}

/// The number type of an instrument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NumberKind {
    /// u64.
    U64,
    /// i64.
    I64,
    /// f64.
    F64,
}

/// A validated measurement.
#[derive(Clone, Copy, Debug)]
#[doc(hidden)]
pub enum Measure {
    /// Signed integer.
    Int(i64),
    /// Unsigned integer (a u64 instrument's value: its full range, which
    /// an `i64` would wrap past 2^63 - 1).
    UInt(u64),
    /// Float.
    Float(f64),
}

impl Measure {
    /// The measurement as two integers (variant, bits), which a call
    /// passes in two registers where the enum itself (one variant a
    /// float) goes through memory. The recording path passes this to its
    /// out-of-line exemplar branch: copying the enum to memory for that
    /// call, even a call never made, stalled every recording (a 16-byte
    /// load of two 8-byte stores; BENCHMARKS.md, "Seventh session").
    #[inline(always)]
    pub(crate) fn to_bits(self) -> (u8, u64) {
        match self {
            Measure::Int(i) => (0, i as u64),
            Measure::UInt(u) => (1, u),
            Measure::Float(f) => (2, f.to_bits()),
        }
    }

    /// The measurement [`to_bits`](Self::to_bits) gave.
    #[inline(always)]
    pub(crate) fn from_bits((variant, bits): (u8, u64)) -> Self {
        match variant {
            0 => Measure::Int(bits as i64),
            1 => Measure::UInt(bits),
            _ => Measure::Float(f64::from_bits(bits)),
        }
    }

    /// The measurement as an integer sum adds it. Integer sums belong to
    /// integer instruments (`make_stream` gives f64 ones `SumFloat`), so
    /// the float arm is out of line: a branch the hot path predicts,
    /// instead of a float conversion computed on every add and discarded
    /// (7 instructions per call, scripts/instructions-per-call.sh).
    #[inline]
    pub(crate) fn as_i64(self) -> i64 {
        #[cold]
        #[inline(never)]
        fn float(f: f64) -> i64 {
            f as i64
        }
        match self {
            Measure::Int(i) => i,
            // Integer sums add in two's complement: the same bits as u64.
            Measure::UInt(u) => u as i64,
            Measure::Float(f) => float(f),
        }
    }
    #[inline]
    pub(crate) fn as_u64(self) -> u64 {
        self.as_i64() as u64
    }
    #[inline]
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Measure::Int(i) => i as f64,
            Measure::UInt(u) => u as f64,
            Measure::Float(f) => f,
        }
    }
    #[inline]
    pub(crate) fn bits(self) -> u64 {
        match self {
            Measure::Int(i) => i as u64,
            Measure::UInt(u) => u,
            Measure::Float(f) => f.to_bits(),
        }
    }
}

/// An aggregation's cell: its state in one series (the atomics that
/// recording updates), built from its stream's configuration.
pub(crate) trait AggregationCell: Send + Sync + 'static {
    /// Per-stream configuration needed to build a cell (histogram bounds).
    type Config: Send + Sync + 'static;
    /// A fresh, empty cell.
    fn new(cfg: &Self::Config) -> Self;
    /// Called when this cell's series becomes one that recording threads
    /// reach without a lookup, before they can: the attribute-less series
    /// the map anchors (`SeriesMap::anchored`), a series a handle binds.
    /// Integer sums take a key in the per-thread sums (`thread_sums`), so
    /// that each thread adds to its own cell.
    fn hot(&self) {}
    /// Called once when the series map made this cell's series, before it
    /// is published: integer sums take a key while enough are free (see
    /// `thread_sums`).
    fn made(&self) {}
}

/// How a stream's points are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    Sum { monotonic: bool },
    Gauge,
    Histogram,
}

/// Identity of a stream.
#[derive(Clone, Debug)]
pub(crate) struct StreamDesc {
    pub name: Arc<str>,
    pub description: Arc<str>,
    pub unit: Arc<str>,
    pub kind: InstrumentKind,
    pub number: NumberKind,
    pub shape: Shape,
}
