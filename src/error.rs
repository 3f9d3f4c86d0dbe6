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
    /// The library was built without what the call asks for (the message
    /// names the build option, e.g. OTLP/gRPC without `FERROMETER_OTLP_GRPC`).
    Unsupported(String),
    /// An export, flush or shutdown left points undelivered: the
    /// destination refused them, or the deadline passed while an export
    /// was still running (on another thread, which finishes on its own).
    /// `message` says what happened and includes the count.
    NotDelivered {
        /// Points not delivered (0 when a deadline passed before the
        /// points were collected, so their number is unknown).
        points: u64,
        /// The deadline passed (status `FM_STATUS_TIMEOUT` at the C
        /// boundary); otherwise the export failed (`FM_STATUS_FAILED`).
        deadline_passed: bool,
        /// What was not delivered and why.
        message: String,
    },
}

impl Error {
    /// The points an export, flush or shutdown left undelivered, when
    /// this error says ([`Error::NotDelivered`]).
    pub fn undelivered_points(&self) -> Option<u64> {
        match self {
            Error::NotDelivered { points, .. } => Some(*points),
            _ => None,
        }
    }

    /// The message without the category [`Display`](fmt::Display) puts in
    /// front ("operation failed: ", "invalid unit: ", ...): the C
    /// boundary's last error text, which callers print after the status's
    /// own name.
    pub fn detail(&self) -> String {
        match self {
            Error::InvalidName(m)
            | Error::InvalidUnit(m)
            | Error::InvalidDescription(m)
            | Error::InvalidBoundaries(m)
            | Error::InvalidView(m)
            | Error::InvalidArgument(m)
            | Error::Failed(m)
            | Error::Unsupported(m) => m.clone(),
            Error::NotDelivered { message, .. } => message.clone(),
            other => other.to_string(),
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
            Error::Unsupported(m) => write!(f, "not in this build: {m}"),
            Error::NotDelivered { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

/// Result alias for the core.
pub type Result<T> = std::result::Result<T, Error>;
