//! View resolution: how a new instrument becomes its streams. Every view
//! that matches the instrument makes one stream, shaped by the view's
//! stream configuration (name, description, attribute filter, cardinality
//! limit, aggregation); an instrument no view matches gets one default
//! stream. The defaults (aggregation per instrument kind, the provider's
//! cardinality limit and default histogram aggregation) are resolved here
//! too, so the whole answer to "which streams does this instrument get" is
//! in one file, next to the views that shape it.

use super::View;
use crate::aggregation::Reservoir;
use crate::aggregation::{
    Aggregation, Aggregator, ExpoConfig, ExpoHistogramCell, HistConfig, HistogramCell, LastValue,
    SumFloat, SumInt, SumU64, DEFAULT_BOUNDARIES,
};
use crate::collect::stream::StreamCollect;
use crate::diagnostics::{diag_warn, Diag};
use crate::instruments::{register, InstrumentKind, NumberKind, StreamHandle};
use crate::kinds::{Shape, StreamDesc};
use crate::resource::InstrumentationScope;
use crate::storage::exemplars::Exemplars;
use crate::storage::stream::{AttrFilter, Stream};
use crate::trace::ExemplarFilter;
use arc_swap::ArcSwap;
use std::sync::Arc;

/// One stream of an instrument: the handle its recordings go through and
/// the collector its readers read.
pub(crate) type NewStream = (StreamHandle, Arc<dyn StreamCollect>);

/// What an instrument asks for, as its meter validated it.
pub(crate) struct InstrumentSpec<'a> {
    pub name: &'a Arc<str>,
    pub description: &'a str,
    pub unit: &'a str,
    pub kind: InstrumentKind,
    pub number: NumberKind,
    /// The bucket boundaries advice.
    pub advice: &'a Option<Vec<f64>>,
}

/// The provider's views and stream defaults: everything that decides the
/// streams of a new instrument.
pub(crate) struct StreamResolver {
    /// The views, in the order they were added (the builder's first, then
    /// `MeterProvider::add_view`'s). An instrument's creation reads one
    /// snapshot, so a view added meanwhile applies to it whole or not at
    /// all.
    pub(crate) views: ArcSwap<Vec<View>>,
    pub(crate) cardinality_limit: usize,
    pub(crate) evict_after: u32,
    /// The aggregation of histograms no view configures (`None`: explicit
    /// buckets, the advice's or the specification's boundaries).
    pub(crate) default_histogram: Option<Aggregation>,
    /// Which measurements may become exemplars (the provider's filter).
    pub(crate) exemplar_filter: ExemplarFilter,
}

/// How one stream is shaped: by a matching view, or the defaults.
struct StreamShape<'a> {
    name: Arc<str>,
    description: &'a str,
    aggregation: Option<&'a Aggregation>,
    filter: Option<AttrFilter>,
    limit: usize,
    /// The view's exemplar reservoir size (see `StreamConfig`).
    reservoir: Option<usize>,
}

impl StreamResolver {
    /// The streams of a new instrument of `scope`: one per matching view
    /// (a view whose aggregation is `Drop` makes none), or the default
    /// stream when no view matches. Its streams count rejections in `diag`.
    pub(crate) fn streams(
        &self,
        inst: &InstrumentSpec<'_>,
        scope: &InstrumentationScope,
        diag: &Arc<Diag>,
    ) -> Vec<NewStream> {
        // One snapshot of the views for the whole creation.
        let views = self.views.load_full();
        let matching: Vec<&View> = views
            .iter()
            .filter(|v| v.matches(inst.name, inst.kind, inst.unit, scope))
            .collect();
        let shapes: Vec<StreamShape<'_>> = if matching.is_empty() {
            vec![StreamShape {
                name: inst.name.clone(),
                description: inst.description,
                aggregation: None,
                filter: None,
                limit: self.cardinality_limit,
                reservoir: None,
            }]
        } else {
            matching.iter().map(|v| self.shape_of(v, inst)).collect()
        };
        shapes
            .into_iter()
            .filter_map(|shape| self.make_stream(inst, shape, diag))
            .collect()
    }

    /// The stream a matching view asks for.
    fn shape_of<'a>(&self, v: &'a View, inst: &InstrumentSpec<'a>) -> StreamShape<'a> {
        let sc = &v.stream;
        StreamShape {
            name: sc
                .name
                .as_deref()
                .map(Arc::from)
                .unwrap_or_else(|| inst.name.clone()),
            description: sc.description.as_deref().unwrap_or(inst.description),
            aggregation: sc.aggregation.as_ref(),
            filter: match (&sc.allowed_keys, &sc.denied_keys) {
                (Some(a), _) => Some(AttrFilter::Allow(a.clone())),
                (None, Some(d)) => Some(AttrFilter::Deny(d.clone())),
                _ => None,
            },
            limit: sc.cardinality_limit.unwrap_or(self.cardinality_limit),
            reservoir: sc.exemplar_reservoir_size,
        }
    }

    /// The aggregation of an instrument kind when no view sets one: sums
    /// for counters, last value for gauges, histograms as the provider's
    /// default (explicit buckets from the advice or the specification's
    /// boundaries unless configured otherwise).
    fn default_aggregation(&self, kind: InstrumentKind, advice: &Option<Vec<f64>>) -> Aggregation {
        use InstrumentKind as K;
        match kind {
            K::Counter | K::UpDownCounter | K::ObservableCounter | K::ObservableUpDownCounter => {
                Aggregation::Sum
            }
            K::Gauge | K::ObservableGauge => Aggregation::LastValue,
            K::Histogram => match &self.default_histogram {
                Some(Aggregation::ExplicitBucketHistogram {
                    boundaries,
                    record_min_max,
                }) => Aggregation::ExplicitBucketHistogram {
                    boundaries: advice.clone().unwrap_or_else(|| boundaries.clone()),
                    record_min_max: *record_min_max,
                },
                Some(exponential) => exponential.clone(),
                None => Aggregation::ExplicitBucketHistogram {
                    boundaries: advice
                        .clone()
                        .unwrap_or_else(|| DEFAULT_BOUNDARIES.to_vec()),
                    record_min_max: true,
                },
            },
        }
    }

    /// One stream with its cell type chosen from the aggregation; `None`
    /// for `Drop`.
    fn make_stream(
        &self,
        inst: &InstrumentSpec<'_>,
        shape: StreamShape<'_>,
        diag: &Arc<Diag>,
    ) -> Option<NewStream> {
        use InstrumentKind as K;
        let (kind, number) = (inst.kind, inst.number);
        let default = self.default_aggregation(kind, inst.advice);
        let mut agg = match shape.aggregation {
            None | Some(Aggregation::Default) => default.clone(),
            Some(a) => a.clone(),
        };
        if kind.is_observable() && agg.is_histogram() {
            diag_warn!(
                "view asks for a histogram of observable instrument {:?}: not supported, using its default aggregation",
                shape.name
            );
            agg = default;
        }
        let monotonic = matches!(kind, K::Counter | K::ObservableCounter | K::Histogram);
        let StreamShape {
            name,
            description,
            filter,
            limit,
            reservoir,
            ..
        } = shape;
        let mk_desc = |shape| StreamDesc {
            name: name.clone(),
            description: Arc::from(description),
            unit: Arc::from(inst.unit),
            kind,
            number,
            shape,
        };
        // One line per aggregation: its shape, its cell, its config.
        let (evict, diag) = (self.evict_after, diag.clone());
        // Exemplars: the view's fixed-size reservoir, else the
        // aggregation's default; none for observations (no measurement
        // context) or under the `AlwaysOff` filter. Series in slots past
        // twice the limit (evicted ones waiting for their slots to come
        // back) keep none.
        let filter_ex = if kind.is_observable() {
            ExemplarFilter::AlwaysOff
        } else {
            self.exemplar_filter
        };
        let exemplars = |res: Reservoir| {
            let res = reservoir.map_or(res, Reservoir::FixedSize);
            Exemplars::new(filter_ex, res, limit.saturating_mul(2).saturating_add(64))
        };
        macro_rules! stream {
            ($cell:ty, $shape:expr, $cfg:expr) => {{
                let cfg = $cfg;
                let ex = exemplars(<$cell as Aggregator>::reservoir(&cfg));
                register::<$cell>(
                    Stream::new(mk_desc($shape), cfg, limit, filter, diag).with_exemplars(ex),
                    evict,
                )
            }};
        }
        let sum = Shape::Sum { monotonic };
        Some(match agg {
            Aggregation::Drop => return None,
            Aggregation::Default => unreachable!("resolved above"),
            // Observations are totals: the last one is the sum.
            Aggregation::Sum if kind.is_observable() => stream!(LastValue, sum, ()),
            Aggregation::Sum if number == NumberKind::F64 => stream!(SumFloat, sum, ()),
            // u64 instruments are monotonic (counters, histograms).
            Aggregation::Sum if monotonic && number == NumberKind::U64 => {
                stream!(SumU64, sum, ())
            }
            Aggregation::Sum => stream!(SumInt, sum, ()),
            Aggregation::LastValue => stream!(LastValue, Shape::Gauge, ()),
            Aggregation::ExplicitBucketHistogram {
                boundaries,
                record_min_max,
            } => stream!(
                HistogramCell,
                Shape::Histogram,
                HistConfig {
                    bounds: boundaries.into(),
                    record_min_max,
                }
            ),
            Aggregation::Base2ExponentialHistogram {
                max_size,
                max_scale,
                record_min_max,
            } => stream!(
                ExpoHistogramCell,
                Shape::Histogram,
                ExpoConfig {
                    max_size,
                    max_scale,
                    record_min_max,
                }
            ),
        })
    }
}
