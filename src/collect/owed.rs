//! What a delta reader is owed for series that left the map before it
//! reported them.
//!
//! Eviction removes a series once it has been idle for the configured
//! number of cycles, whether or not every delta reader has reported its last
//! change: a reader that collects rarely (or never) must not keep series in
//! the map for the readers that do, or fill the map until everybody's new
//! series fall into the overflow series. Instead, when an evicted series is
//! settled (after the grace period that makes its value final), each delta
//! reader's remaining delta for it is computed with that reader's own
//! cursor and kept here, as finished points, until the reader's next
//! collection merges them into its output.
//!
//! A reader's store holds at most `cap` points (the stream's cardinality
//! limit). Past that, further points are folded into one point carrying
//! `otel.metric.overflow=true`, as the recording path does at the limit,
//! and counted: the lagging reader receives every measurement, aggregated,
//! and its memory stays bounded. The readers that keep up never pay for
//! it.

use super::data::{
    fold, ExponentialHistogramPoint, HistogramPoint, MetricData, Number, NumberPoint,
};
use crate::attributes::{AttributeSet, KeyValue};
use std::collections::HashMap;

/// Points owed to one reader by one stream.
#[derive(Debug, Default)]
pub(crate) struct Owed {
    data: Option<MetricData>,
    /// Attributes -> index in `data`'s points.
    index: HashMap<AttributeSet, usize>,
}

impl Owed {
    /// Keeps `data`'s points (one reader's deltas of settled series),
    /// merging points with the same attributes. Returns how many points
    /// were folded into the overflow point because the store held `cap`
    /// points already.
    pub(crate) fn stash(&mut self, data: MetricData, cap: usize) -> u64 {
        let mut folded = 0;
        let cap = cap.max(1);
        let dst = match &mut self.data {
            Some(d) => d,
            None => {
                // Start from an empty copy of the data's shape.
                let mut empty = data.clone();
                clear(&mut empty);
                self.data.insert(empty)
            }
        };
        for point in points_of(data) {
            let attrs = point.attributes().clone();
            if let Some(&i) = self.index.get(&attrs) {
                merge_into(dst, i, point);
                continue;
            }
            if self.index.len() + 1 >= cap {
                folded += 1;
                let ov = overflow_attrs();
                match self.index.get(&ov) {
                    Some(&i) => merge_into(dst, i, point.with_attributes(ov)),
                    None => {
                        self.index.insert(ov.clone(), dst.len());
                        push(dst, point.with_attributes(ov));
                    }
                }
                continue;
            }
            self.index.insert(attrs, dst.len());
            push(dst, point);
        }
        folded
    }

    /// Merges what is owed into a collection's output for the same stream
    /// and reader: points with the same attributes are combined, the others
    /// appended with the collection's time `now`.
    pub(crate) fn settle_into(self, out: &mut MetricData, now: u64) {
        let Some(owed) = self.data else { return };
        let mut at: HashMap<AttributeSet, usize> = HashMap::new();
        for (i, a) in attributes_of(out).into_iter().enumerate() {
            at.insert(a, i);
        }
        for mut point in points_of(owed) {
            match at.get(point.attributes()) {
                Some(&i) => merge_into(out, i, point),
                None => {
                    point.set_time(now);
                    at.insert(point.attributes().clone(), out.len());
                    push(out, point);
                }
            }
        }
    }
}

/// The attributes of the overflow series.
fn overflow_attrs() -> AttributeSet {
    AttributeSet::from_key_values(vec![KeyValue::new("otel.metric.overflow", true)])
}

/// One point of any shape.
enum Point {
    Number(NumberPoint),
    Histogram(HistogramPoint),
    Exponential(ExponentialHistogramPoint),
}

impl Point {
    fn attributes(&self) -> &AttributeSet {
        match self {
            Point::Number(p) => &p.attributes,
            Point::Histogram(p) => &p.attributes,
            Point::Exponential(p) => &p.attributes,
        }
    }

    fn with_attributes(mut self, a: AttributeSet) -> Self {
        match &mut self {
            Point::Number(p) => p.attributes = a,
            Point::Histogram(p) => p.attributes = a,
            Point::Exponential(p) => p.attributes = a,
        }
        self
    }

    fn set_time(&mut self, now: u64) {
        match self {
            Point::Number(p) if !p.explicit_time => p.time = now,
            Point::Number(_) => {}
            Point::Histogram(p) => p.time = now,
            Point::Exponential(p) => p.time = now,
        }
    }
}

fn points_of(d: MetricData) -> Vec<Point> {
    match d {
        MetricData::Gauge(g) => g.points.into_iter().map(Point::Number).collect(),
        MetricData::Sum(s) => s.points.into_iter().map(Point::Number).collect(),
        MetricData::Histogram(h) => h.points.into_iter().map(Point::Histogram).collect(),
        MetricData::ExponentialHistogram(h) => {
            h.points.into_iter().map(Point::Exponential).collect()
        }
    }
}

fn attributes_of(d: &MetricData) -> Vec<AttributeSet> {
    match d {
        MetricData::Gauge(g) => g.points.iter().map(|p| p.attributes.clone()).collect(),
        MetricData::Sum(s) => s.points.iter().map(|p| p.attributes.clone()).collect(),
        MetricData::Histogram(h) => h.points.iter().map(|p| p.attributes.clone()).collect(),
        MetricData::ExponentialHistogram(h) => {
            h.points.iter().map(|p| p.attributes.clone()).collect()
        }
    }
}

fn clear(d: &mut MetricData) {
    match d {
        MetricData::Gauge(g) => g.points.clear(),
        MetricData::Sum(s) => s.points.clear(),
        MetricData::Histogram(h) => h.points.clear(),
        MetricData::ExponentialHistogram(h) => h.points.clear(),
    }
}

fn push(d: &mut MetricData, p: Point) {
    match (d, p) {
        (MetricData::Gauge(g), Point::Number(p)) => g.points.push(p),
        (MetricData::Sum(s), Point::Number(p)) => s.points.push(p),
        (MetricData::Histogram(h), Point::Histogram(p)) => h.points.push(p),
        (MetricData::ExponentialHistogram(h), Point::Exponential(p)) => h.points.push(p),
        // One stream always produces one shape.
        _ => debug_assert!(false, "owed point of another shape"),
    }
}

/// Combines `p` into point `i` of `d`: sums add, gauges keep the later
/// value, histograms add bucket by bucket (exponential ones at the coarser
/// of the two scales). The result starts at the
/// earlier start time and is stamped with the later time.
fn merge_into(d: &mut MetricData, i: usize, p: Point) {
    match (d, p) {
        (MetricData::Sum(s), Point::Number(p)) => {
            let a = &mut s.points[i];
            a.value = add(a.value, p.value);
            a.start_time = a.start_time.min(p.start_time);
            a.time = a.time.max(p.time);
        }
        (MetricData::Gauge(g), Point::Number(p)) => {
            let a = &mut g.points[i];
            if p.time > a.time {
                *a = NumberPoint {
                    exemplars: Default::default(),
                    attributes: a.attributes.clone(),
                    ..p
                };
            }
        }
        (MetricData::Histogram(h), Point::Histogram(p)) => {
            let a = &mut h.points[i];
            if a.bucket_counts.len() == p.bucket_counts.len() {
                for (x, y) in a.bucket_counts.iter_mut().zip(&p.bucket_counts) {
                    *x = x.saturating_add(*y);
                }
            }
            a.count = a.count.saturating_add(p.count);
            a.sum += p.sum;
            a.min = fold(a.min, p.min, f64::min);
            a.max = fold(a.max, p.max, f64::max);
            a.start_time = a.start_time.min(p.start_time);
            a.time = a.time.max(p.time);
        }
        (MetricData::ExponentialHistogram(h), Point::Exponential(p)) => h.points[i].merge(&p),
        _ => debug_assert!(false, "owed point of another shape"),
    }
}

fn add(a: Number, b: Number) -> Number {
    match (a, b) {
        (Number::U64(x), Number::U64(y)) => Number::U64(x.saturating_add(y)),
        (Number::I64(x), Number::I64(y)) => Number::I64(x.saturating_add(y)),
        (x, y) => Number::F64(x.as_f64() + y.as_f64()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::data::{Sum, Temporality};

    fn sum(points: &[(i64, u64, u64)]) -> MetricData {
        MetricData::Sum(Sum {
            temporality: Temporality::Delta,
            is_monotonic: true,
            points: points
                .iter()
                .map(|&(k, v, start)| NumberPoint {
                    exemplars: Default::default(),
                    attributes: AttributeSet::from_key_values(vec![KeyValue::new("k", k)]),
                    start_time: start,
                    time: start + 1,
                    explicit_time: false,
                    value: Number::U64(v),
                })
                .collect(),
        })
    }

    fn values(d: &MetricData) -> Vec<(String, u64, u64)> {
        let MetricData::Sum(s) = d else { panic!() };
        let mut v: Vec<_> = s
            .points
            .iter()
            .map(|p| {
                let Number::U64(x) = p.value else { panic!() };
                (format!("{:?}", p.attributes), x, p.start_time)
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn stash_merges_exponential_points_at_the_coarser_scale() {
        use crate::collect::data::{ExponentialBuckets, ExponentialHistogram};
        let point = |scale, offset, counts: Vec<u64>, start| {
            let total: u64 = counts.iter().sum();
            ExponentialHistogramPoint {
                exemplars: Default::default(),
                attributes: AttributeSet::empty(),
                start_time: start,
                time: start + 1,
                count: total + 1,
                sum: 10.0,
                min: Some(0.0),
                max: Some(9.0),
                scale,
                zero_count: 1,
                zero_threshold: 0.0,
                positive: ExponentialBuckets { offset, counts },
                negative: ExponentialBuckets::default(),
            }
        };
        let data = |p| {
            MetricData::ExponentialHistogram(ExponentialHistogram {
                points: vec![p],
                temporality: Temporality::Delta,
            })
        };
        let mut owed = Owed::default();
        // Scale 1 buckets 4 and 5 are bucket 2 at scale 0.
        assert_eq!(owed.stash(data(point(1, 4, vec![2, 3], 10)), 10), 0);
        assert_eq!(owed.stash(data(point(0, 1, vec![7], 5)), 10), 0);
        let mut out = data(point(0, 2, vec![1], 20));
        owed.settle_into(&mut out, 99);
        let MetricData::ExponentialHistogram(h) = out else {
            panic!()
        };
        assert_eq!(h.points.len(), 1);
        let p = &h.points[0];
        assert_eq!(p.scale, 0);
        assert_eq!(p.positive.offset, 1);
        assert_eq!(p.positive.counts, vec![7, 6]);
        assert_eq!((p.count, p.zero_count, p.sum), (6 + 8 + 2, 3, 30.0));
        assert_eq!((p.start_time, p.time), (5, 21));
    }

    #[test]
    fn stash_merges_equal_attributes_and_folds_past_the_cap() {
        let mut owed = Owed::default();
        assert_eq!(owed.stash(sum(&[(1, 5, 10), (2, 7, 10)]), 3), 0);
        // k=1 merges (earlier start kept); k=3 and k=4 exceed the cap of 3
        // points (two series plus the overflow point).
        assert_eq!(owed.stash(sum(&[(1, 1, 4), (3, 2, 20), (4, 3, 30)]), 3), 2);
        let mut out = sum(&[(2, 100, 50)]);
        owed.settle_into(&mut out, 99);
        let v = values(&out);
        let total: u64 = v.iter().map(|x| x.1).sum();
        assert_eq!(total, 5 + 7 + 1 + 2 + 3 + 100);
        assert_eq!(v.len(), 3, "{v:?}");
        assert!(v.iter().any(|x| x.0.contains("k") && x.1 == 6 && x.2 == 4));
        assert!(v.iter().any(|x| x.1 == 107 && x.2 == 10));
        assert!(v
            .iter()
            .any(|x| x.0.contains("otel.metric.overflow") && x.1 == 5));
    }
}
