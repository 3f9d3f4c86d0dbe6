//! Views: select instruments and change the streams they produce
//! ([`View`], this file), and the resolution of a new instrument into its
//! streams by the views that match it (`resolve.rs`).

use crate::aggregation::Aggregation;
use crate::error::Error;
use crate::instruments::{validate_description, validate_name, InstrumentKind};
use crate::resource::InstrumentationScope;
use std::collections::HashSet;
use std::sync::Arc;

mod resolve;

pub(crate) use resolve::{InstrumentSpec, StreamResolver};

/// A view: selection criteria plus the stream configuration to apply.
///
/// Several views may match one instrument; each match makes one stream.
/// An instrument no view matches gets its default stream.
#[derive(Clone, Debug)]
pub struct View {
    pub(crate) criteria: Criteria,
    pub(crate) stream: StreamConfig,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Criteria {
    pub name: Option<String>,
    pub kind: Option<InstrumentKind>,
    pub unit: Option<String>,
    pub meter_name: Option<String>,
    pub meter_version: Option<String>,
    pub meter_schema_url: Option<String>,
}

/// The most cells a view may give each series' exemplar reservoir: an
/// exemplar cell takes 80 bytes per series.
pub const MAX_EXEMPLAR_RESERVOIR: usize = 256;

/// What a matching view sets on its stream.
#[derive(Clone, Debug, Default)]
pub(crate) struct StreamConfig {
    pub name: Option<String>,
    pub description: Option<String>,
    pub allowed_keys: Option<Arc<HashSet<String>>>,
    pub denied_keys: Option<Arc<HashSet<String>>>,
    pub aggregation: Option<Aggregation>,
    pub cardinality_limit: Option<usize>,
    /// Cells of each series' fixed-size exemplar reservoir (0: no
    /// exemplars); `None`: the aggregation's default reservoir.
    pub exemplar_reservoir_size: Option<usize>,
}

impl View {
    /// Starts a view definition.
    pub fn builder() -> ViewBuilder {
        ViewBuilder {
            view: View {
                criteria: Criteria::default(),
                stream: StreamConfig::default(),
            },
        }
    }

    pub(crate) fn matches(
        &self,
        name: &str,
        kind: InstrumentKind,
        unit: &str,
        scope: &InstrumentationScope,
    ) -> bool {
        let c = &self.criteria;
        c.name.as_deref().is_none_or(|p| wildcard_match(p, name))
            && c.kind.is_none_or(|k| k == kind)
            && c.unit.as_deref().is_none_or(|u| u == unit)
            && c.meter_name.as_deref().is_none_or(|m| m == scope.name())
            && c.meter_version
                .as_deref()
                .is_none_or(|v| Some(v) == scope.version())
            && c.meter_schema_url
                .as_deref()
                .is_none_or(|u| u == scope.schema_url().unwrap_or(""))
    }
}

/// Builds a [`View`].
#[derive(Debug)]
pub struct ViewBuilder {
    view: View,
}

impl ViewBuilder {
    /// Selects instruments by name; `*` matches any run of characters and
    /// `?` one character. Names are compared case-insensitively.
    pub fn instrument_name(mut self, pattern: impl Into<String>) -> Self {
        self.view.criteria.name = Some(pattern.into());
        self
    }
    /// Selects instruments of this kind.
    pub fn instrument_kind(mut self, kind: InstrumentKind) -> Self {
        self.view.criteria.kind = Some(kind);
        self
    }
    /// Selects instruments with exactly this unit.
    pub fn instrument_unit(mut self, unit: impl Into<String>) -> Self {
        self.view.criteria.unit = Some(unit.into());
        self
    }
    /// Selects instruments of meters with this name.
    pub fn meter_name(mut self, name: impl Into<String>) -> Self {
        self.view.criteria.meter_name = Some(name.into());
        self
    }
    /// Selects instruments of meters with this version.
    pub fn meter_version(mut self, v: impl Into<String>) -> Self {
        self.view.criteria.meter_version = Some(v.into());
        self
    }
    /// Selects instruments of meters with exactly this schema URL; an
    /// empty URL selects the meters created without one.
    pub fn meter_schema_url(mut self, url: impl Into<String>) -> Self {
        self.view.criteria.meter_schema_url = Some(url.into());
        self
    }
    /// Renames the stream (only valid when the name criterion has no wildcard).
    pub fn stream_name(mut self, name: impl Into<String>) -> Self {
        self.view.stream.name = Some(name.into());
        self
    }
    /// Sets the stream's description.
    pub fn stream_description(mut self, d: impl Into<String>) -> Self {
        self.view.stream.description = Some(d.into());
        self
    }
    /// Keeps only these attribute keys.
    pub fn allowed_attribute_keys<S: Into<String>>(
        mut self,
        keys: impl IntoIterator<Item = S>,
    ) -> Self {
        self.view.stream.allowed_keys = Some(Arc::new(keys.into_iter().map(Into::into).collect()));
        self
    }
    /// Removes these attribute keys.
    pub fn denied_attribute_keys<S: Into<String>>(
        mut self,
        keys: impl IntoIterator<Item = S>,
    ) -> Self {
        self.view.stream.denied_keys = Some(Arc::new(keys.into_iter().map(Into::into).collect()));
        self
    }
    /// Sets the aggregation.
    pub fn aggregation(mut self, a: Aggregation) -> Self {
        self.view.stream.aggregation = Some(a);
        self
    }
    /// Sets the stream's cardinality limit: the most points the stream
    /// reports per collection, the overflow series included (`n - 1`
    /// attribute sets get their own series; 1 sends every measurement to
    /// the overflow series). 0 is refused by [`build`](Self::build).
    pub fn cardinality_limit(mut self, n: usize) -> Self {
        self.view.stream.cardinality_limit = Some(n);
        self
    }

    /// Keeps up to `n` exemplars per series and collection in a fixed-size
    /// reservoir (the specification's `SimpleFixedSizeExemplarReservoir`,
    /// for histograms too, in place of one per bucket); 0 keeps none for
    /// this stream. At most [`MAX_EXEMPLAR_RESERVOIR`].
    pub fn exemplar_reservoir_size(mut self, n: usize) -> Self {
        self.view.stream.exemplar_reservoir_size = Some(n);
        self
    }

    /// Keeps no exemplars for this stream, whatever the provider's filter.
    pub fn without_exemplars(self) -> Self {
        self.exemplar_reservoir_size(0)
    }

    /// Checks and builds the view.
    pub fn build(self) -> Result<View, Error> {
        let v = self.view;
        let c = &v.criteria;
        if c.name.is_none()
            && c.kind.is_none()
            && c.unit.is_none()
            && c.meter_name.is_none()
            && c.meter_version.is_none()
            && c.meter_schema_url.is_none()
        {
            return Err(Error::InvalidView(
                "a view needs at least one selection criterion".into(),
            ));
        }
        if let Some(n) = &v.stream.name {
            validate_name(n)?;
            let exact = c.name.as_deref().is_some_and(|p| !p.contains(['*', '?']));
            if !exact {
                return Err(Error::InvalidView(format!(
                    "renaming to {n:?} needs an instrument name criterion without wildcards, or several instruments would share one stream name"
                )));
            }
        }
        if let Some(d) = &v.stream.description {
            validate_description(d)?;
        }
        if let Some(a) = &v.stream.aggregation {
            a.validate()?;
        }
        if v.stream.exemplar_reservoir_size > Some(MAX_EXEMPLAR_RESERVOIR) {
            return Err(Error::InvalidView(format!(
                "exemplar reservoir size {} is above the most allowed, {MAX_EXEMPLAR_RESERVOIR}",
                v.stream.exemplar_reservoir_size.unwrap_or_default()
            )));
        }
        if v.stream.cardinality_limit == Some(0) {
            return Err(Error::InvalidView(
                "cardinality limit must be at least 1".into(),
            ));
        }
        if v.stream.allowed_keys.is_some() && v.stream.denied_keys.is_some() {
            return Err(Error::InvalidView(
                "use either an allow-list or a deny-list of attribute keys, not both".into(),
            ));
        }
        Ok(v)
    }
}

/// Case-insensitive glob match with `*` and `?`.
pub(crate) fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let n: Vec<char> = name.to_lowercase().chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("http.*", "http.server.duration"));
        assert!(wildcard_match("HTTP.*.duration", "http.client.duration"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(!wildcard_match("a?c", "abbc"));
        assert!(!wildcard_match("http.*", "rpc.server"));
        assert!(wildcard_match("*.duration", "x.duration"));
        assert!(!wildcard_match("*.duration", "x.durations"));
    }

    #[test]
    fn view_validation() {
        assert!(View::builder().build().is_err());
        assert!(View::builder()
            .instrument_name("a*")
            .stream_name("b")
            .build()
            .is_err());
        assert!(View::builder()
            .instrument_name("a")
            .stream_name("b")
            .build()
            .is_ok());
        assert!(View::builder()
            .instrument_name("a")
            .stream_name("9b")
            .build()
            .is_err());
        assert!(View::builder()
            .instrument_name("a")
            .aggregation(Aggregation::ExplicitBucketHistogram {
                boundaries: vec![2.0, 1.0],
                record_min_max: true
            })
            .build()
            .is_err());
        assert!(View::builder()
            .instrument_name("a")
            .cardinality_limit(0)
            .build()
            .is_err());
        assert!(View::builder()
            .instrument_name("a")
            .allowed_attribute_keys(["x"])
            .denied_attribute_keys(["y"])
            .build()
            .is_err());
    }

    #[test]
    fn matching_criteria() {
        let v = View::builder()
            .instrument_name("req*")
            .instrument_kind(InstrumentKind::Counter)
            .meter_name("m")
            .build()
            .unwrap();
        let m = InstrumentationScope::new("m");
        let other = InstrumentationScope::new("other");
        assert!(v.matches("requests", InstrumentKind::Counter, "", &m));
        assert!(!v.matches("requests", InstrumentKind::Histogram, "", &m));
        assert!(!v.matches("requests", InstrumentKind::Counter, "", &other));
        assert!(!v.matches("latency", InstrumentKind::Counter, "", &m));
    }

    #[test]
    fn schema_url_criterion() {
        let v1 = "https://opentelemetry.io/schemas/1.26.0";
        let by_url = View::builder().meter_schema_url(v1).build().unwrap();
        let without = View::builder().meter_schema_url("").build().unwrap();
        let k = InstrumentKind::Counter;
        let s1 = InstrumentationScope::new("m").with_schema_url(v1);
        let s2 = InstrumentationScope::new("m")
            .with_schema_url("https://opentelemetry.io/schemas/1.27.0");
        let none = InstrumentationScope::new("m");
        assert!(by_url.matches("x", k, "", &s1));
        assert!(!by_url.matches("x", k, "", &s2));
        assert!(!by_url.matches("x", k, "", &none));
        assert!(without.matches("x", k, "", &none));
        assert!(!without.matches("x", k, "", &s1));
    }
}
