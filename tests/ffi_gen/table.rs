//! The table every per-type C wrapper is generated from: one row per
//! instrument type. Adding or changing an instrument type of the C API is
//! one edit here, then `FERROMETER_UPDATE_FFI=1 cargo test --test
//! ffi_wrappers` rewrites the generated files and build.rs the header.

/// What the instruments of one family share.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Counter,
    UpDownCounter,
    Histogram,
    Gauge,
}

impl Family {
    /// The recording verb of the C functions (`fm_counter_u64_add`).
    pub fn verb(self) -> &'static str {
        match self {
            Family::Counter | Family::UpDownCounter => "add",
            Family::Histogram | Family::Gauge => "record",
        }
    }

    /// The verb in the third person, for the doc comments.
    pub fn verbs(self) -> &'static str {
        match self {
            Family::Counter | Family::UpDownCounter => "adds",
            Family::Histogram | Family::Gauge => "records",
        }
    }

    /// The core type (`Counter`), its bound type (`BoundCounter`) and the
    /// suffix of its `Meter` constructor (`u64_counter`).
    pub fn rust(self) -> &'static str {
        match self {
            Family::Counter => "Counter",
            Family::UpDownCounter => "UpDownCounter",
            Family::Histogram => "Histogram",
            Family::Gauge => "Gauge",
        }
    }

    pub fn constructor(self) -> &'static str {
        match self {
            Family::Counter => "counter",
            Family::UpDownCounter => "up_down_counter",
            Family::Histogram => "histogram",
            Family::Gauge => "gauge",
        }
    }
}

/// A synchronous instrument type.
pub struct Sync {
    /// The C name: `fm_<stem>`, `fm_meter_create_<stem>`, `fm_bound_<stem>`,
    /// `fm_global_<stem>`.
    pub stem: &'static str,
    pub family: Family,
    /// The value type (Rust and C: `u64`, `i64`, `f64`).
    pub value: &'static str,
    /// What it is, for the handle's doc comment.
    pub summary: &'static str,
    /// Which values the recording functions drop (and count).
    pub value_rule: &'static str,
}

/// An observable (asynchronous) instrument type.
pub struct Observable {
    /// The C name: `fm_<stem>`, `fm_meter_create_<stem>`, `fm_global_<stem>`.
    pub stem: &'static str,
    pub family: Family,
    pub value: &'static str,
    /// What it is and what it reports, for the handle's doc comment.
    pub summary: &'static str,
    pub reports: &'static str,
    /// Which values `_observe` drops (and counts).
    pub value_rule: &'static str,
    /// Integer instruments also take doubles (`_observe_f64`): the rounding
    /// function of `src/ffi/observable.rs` and the doc comment.
    pub from_double: Option<(&'static str, &'static str)>,
}

pub const SYNC: &[Sync] = &[
    Sync {
        stem: "counter_u64",
        family: Family::Counter,
        value: "u64",
        summary: "A monotonic counter of u64 increments",
        value_rule: "An increment the series' total cannot hold
(it holds at least 2^63 - 1 and never wraps) is dropped and counted
(`sum_overflow`).",
    },
    Sync {
        stem: "counter_f64",
        family: Family::Counter,
        value: "f64",
        summary: "A monotonic counter of double increments",
        value_rule: "NaN, infinite and negative increments are dropped and counted, and so
is an increment that would make the total infinite (`sum_overflow`).",
    },
    Sync {
        stem: "updown_counter_i64",
        family: Family::UpDownCounter,
        value: "i64",
        summary: "A counter of i64 increments that may go up and down",
        value_rule: "Every i64 value is accepted.",
    },
    Sync {
        stem: "updown_counter_f64",
        family: Family::UpDownCounter,
        value: "f64",
        summary: "A counter of double increments that may go up and down",
        value_rule: "NaN and infinite increments are dropped and counted, and so
is an increment that would make the total infinite (`sum_overflow`).",
    },
    Sync {
        stem: "histogram_u64",
        family: Family::Histogram,
        value: "u64",
        summary: "A distribution of u64 values",
        value_rule: "Every u64 value is accepted.",
    },
    Sync {
        stem: "histogram_f64",
        family: Family::Histogram,
        value: "f64",
        summary: "A distribution of non-negative double values",
        value_rule: "NaN, infinite and negative values are dropped and counted, and so
is a value that would make the sum infinite (`sum_overflow`).",
    },
    Sync {
        stem: "gauge_i64",
        family: Family::Gauge,
        value: "i64",
        summary: "The last i64 value of something",
        value_rule: "Every i64 value is accepted.",
    },
    Sync {
        stem: "gauge_f64",
        family: Family::Gauge,
        value: "f64",
        summary: "The last double value of something",
        value_rule: "NaN is dropped and counted.",
    },
];

pub const OBSERVABLE: &[Observable] = &[
    Observable {
        stem: "observable_counter_u64",
        family: Family::Counter,
        value: "u64",
        summary: "An observable monotonic sum",
        reports: "u64 totals",
        value_rule: "Every u64 value is accepted.",
        from_double: Some((
            "round_u64",
            "Like `fm_observable_counter_u64_observe` with a double, rounded to the
nearest integer. NaN, infinite, negative and values of 2^64 or more are
dropped and counted (`nan`, `infinite`, `negative`, `sum_overflow`).",
        )),
    },
    Observable {
        stem: "observable_counter_i64",
        family: Family::Counter,
        value: "i64",
        summary: "An observable monotonic sum",
        reports: "i64 totals",
        value_rule: "Negative totals are dropped and counted.",
        from_double: Some((
            "round_i64",
            "Like `fm_observable_counter_i64_observe` with a double, rounded to the
nearest integer. NaN, infinite and values outside the i64 range are
dropped and counted (`nan`, `infinite`, `sum_overflow`).",
        )),
    },
    Observable {
        stem: "observable_counter_f64",
        family: Family::Counter,
        value: "f64",
        summary: "An observable monotonic sum",
        reports: "double totals",
        value_rule: "NaN, infinite and negative totals are dropped and counted.",
        from_double: None,
    },
    Observable {
        stem: "observable_updown_counter_i64",
        family: Family::UpDownCounter,
        value: "i64",
        summary: "An observable non-monotonic sum",
        reports: "i64 totals",
        value_rule: "Every i64 value is accepted.",
        from_double: Some((
            "round_i64",
            "Like `fm_observable_updown_counter_i64_observe` with a double, rounded
to the nearest integer. NaN, infinite and values outside the i64 range
are dropped and counted (`nan`, `infinite`, `sum_overflow`).",
        )),
    },
    Observable {
        stem: "observable_updown_counter_f64",
        family: Family::UpDownCounter,
        value: "f64",
        summary: "An observable non-monotonic sum",
        reports: "double totals",
        value_rule: "NaN and infinite totals are dropped and counted.",
        from_double: None,
    },
    Observable {
        stem: "observable_gauge_i64",
        family: Family::Gauge,
        value: "i64",
        summary: "An observable gauge",
        reports: "i64 values",
        value_rule: "Every i64 value is accepted.",
        from_double: Some((
            "round_i64",
            "Like `fm_observable_gauge_i64_observe` with a double, rounded to the
nearest integer. NaN, infinite and values outside the i64 range are
dropped and counted (`nan`, `infinite`, `sum_overflow`).",
        )),
    },
    Observable {
        stem: "observable_gauge_f64",
        family: Family::Gauge,
        value: "f64",
        summary: "An observable gauge",
        reports: "double values",
        value_rule: "NaN is dropped and counted.",
        from_double: None,
    },
];
