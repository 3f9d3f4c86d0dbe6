//! The core's error type.

use std::fmt;

/// Errors returned by fallible (non-recording) calls.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// An instrument or view name breaks the specification's syntax.
    InvalidName(String),
    /// A unit is not ASCII or longer than 63 characters.
    InvalidUnit(String),
    /// A description contains characters outside the Basic Multilingual Plane.
    InvalidDescription(String),
    /// Histogram boundaries are empty, not finite or not strictly increasing.
    InvalidBoundaries(String),
    /// A view definition is inconsistent.
    InvalidView(String),
    /// An argument is out of range or malformed.
    InvalidArgument(String),
    /// The provider (or reader) has been shut down.
    Shutdown,
    /// The reader is not attached to a provider, or already to another one.
    ReaderNotRegistered,
    /// The reader is already attached to a provider.
    ReaderAlreadyRegistered,
    /// A deadline passed before the operation finished.
    Timeout,
    /// An export or collection failed.
    Failed(String),
    /// A flush or shutdown finished with `points` data points that did not
    /// reach their destination (export failed, refused, or still queued at
    /// the deadline); `detail` says why.
    Undelivered {
        /// Data points that were not delivered.
        points: u64,
        /// What happened, for diagnostics.
        detail: String,
    },
}

impl Error {
    /// The data points an [`Undelivered`](Self::Undelivered) error counts;
    /// 0 for every other error.
    pub fn undelivered_points(&self) -> u64 {
        match self {
            Error::Undelivered { points, .. } => *points,
            _ => 0,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidName(m) => write!(f, "invalid instrument name: {m}"),
            Error::InvalidUnit(m) => write!(f, "invalid unit: {m}"),
            Error::InvalidDescription(m) => write!(f, "invalid description: {m}"),
            Error::InvalidBoundaries(m) => write!(f, "invalid histogram boundaries: {m}"),
            Error::InvalidView(m) => write!(f, "invalid view: {m}"),
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::Shutdown => f.write_str("the meter provider has been shut down"),
            Error::ReaderNotRegistered => {
                f.write_str("the reader is not registered with a meter provider")
            }
            Error::ReaderAlreadyRegistered => {
                f.write_str("the reader is already registered with a meter provider")
            }
            Error::Timeout => f.write_str("the deadline passed"),
            Error::Failed(m) => write!(f, "operation failed: {m}"),
            Error::Undelivered { points, detail } => {
                write!(f, "{points} point(s) not delivered: {detail}")
            }
        }
    }
}

impl std::error::Error for Error {}

/// Result alias for the core.
pub type Result<T> = std::result::Result<T, Error>;
