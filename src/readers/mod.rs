//! Readers: how collected metrics leave the engine. Every reader has its own
//! temporality and its own cursors; readers never disturb each other.
//!
//! A reader's state the provider drives ([`ReaderCore`]) and the one way
//! a reader collects (`Collect`, implemented by the provider) are in
//! `shared.rs`, below the provider; the readers themselves (manual,
//! periodic, the Prometheus pull endpoint) are plugged into a provider
//! through [`MetricReader`] and sit above it.

mod manual;
mod periodic;
mod prometheus;
mod shared;

pub use crate::temporality::{TemporalityPreference, TemporalitySelector};
pub use manual::ManualReader;
pub use periodic::{PeriodicReader, PeriodicReaderBuilder, DEFAULT_INTERVAL, DEFAULT_TIMEOUT};
pub use prometheus::{PrometheusAuth, PrometheusServer, PrometheusServerOptions};

pub(crate) use self::shared::Collect;
pub use self::shared::ReaderCore;
// The provider's contract with its readers is defined with the provider
// (its hook receives the provider's handle); this is its public path.
pub use crate::provider::MetricReader;
