//! What a gRPC answer means for the export pipeline: the status codes, the
//! OTLP specification's retry rules for them, the server's `RetryInfo`
//! delay, and the framing of one gRPC message. Pure functions, tested
//! without a network; [`super::grpc`] moves the bytes.
//!
//! | gRPC status | outcome | self-metrics reason |
//! |---|---|---|
//! | `OK` | delivered (partial success counted as for OTLP/HTTP) | - |
//! | `UNAVAILABLE`, `ABORTED`, `CANCELLED`, `OUT_OF_RANGE`, `DATA_LOSS` | retryable, after `RetryInfo` if sent | class of the code's HTTP mapping |
//! | `DEADLINE_EXCEEDED` | retryable | `timeout` |
//! | `RESOURCE_EXHAUSTED` with `RetryInfo` | retryable after its delay | `4xx` |
//! | `RESOURCE_EXHAUSTED` without `RetryInfo` | permanent | `4xx` |
//! | anything else | permanent | class of the code's HTTP mapping |
//!
//! The class of a code is that of the HTTP status `google/rpc/code.proto`
//! maps it to (`UNAVAILABLE` 503, `RESOURCE_EXHAUSTED` 429, ...), so the
//! `ferrometer.exporter.requests.failed{reason}` series mean the same for
//! both OTLP transports.

use crate::export::pipeline::{FailReason, Outcome};
use std::time::Duration;

/// The gRPC status codes (`google.rpc.Code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Code {
    Ok = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

impl Code {
    /// The code of a `grpc-status` value; unknown numbers are `UNKNOWN`,
    /// as the gRPC specification asks.
    pub(crate) fn from_i32(v: i32) -> Code {
        use Code::*;
        const ALL: [Code; 17] = [
            Ok,
            Cancelled,
            Unknown,
            InvalidArgument,
            DeadlineExceeded,
            NotFound,
            AlreadyExists,
            PermissionDenied,
            ResourceExhausted,
            FailedPrecondition,
            Aborted,
            OutOfRange,
            Unimplemented,
            Internal,
            Unavailable,
            DataLoss,
            Unauthenticated,
        ];
        usize::try_from(v)
            .ok()
            .and_then(|i| ALL.get(i).copied())
            .unwrap_or(Unknown)
    }

    /// The code's canonical name (`UNAVAILABLE`).
    pub(crate) fn name(self) -> &'static str {
        use Code::*;
        match self {
            Ok => "OK",
            Cancelled => "CANCELLED",
            Unknown => "UNKNOWN",
            InvalidArgument => "INVALID_ARGUMENT",
            DeadlineExceeded => "DEADLINE_EXCEEDED",
            NotFound => "NOT_FOUND",
            AlreadyExists => "ALREADY_EXISTS",
            PermissionDenied => "PERMISSION_DENIED",
            ResourceExhausted => "RESOURCE_EXHAUSTED",
            FailedPrecondition => "FAILED_PRECONDITION",
            Aborted => "ABORTED",
            OutOfRange => "OUT_OF_RANGE",
            Unimplemented => "UNIMPLEMENTED",
            Internal => "INTERNAL",
            Unavailable => "UNAVAILABLE",
            DataLoss => "DATA_LOSS",
            Unauthenticated => "UNAUTHENTICATED",
        }
    }

    /// The HTTP status `google/rpc/code.proto` gives the code.
    fn http_equivalent(self) -> u16 {
        use Code::*;
        match self {
            Ok => 200,
            Cancelled => 499,
            Unknown | Internal | DataLoss => 500,
            InvalidArgument | FailedPrecondition | OutOfRange => 400,
            DeadlineExceeded => 504,
            NotFound => 404,
            AlreadyExists | Aborted => 409,
            PermissionDenied => 403,
            ResourceExhausted => 429,
            Unimplemented => 501,
            Unavailable => 503,
            Unauthenticated => 401,
        }
    }

    /// The gRPC code of a non-200 HTTP status on a gRPC call (the gRPC
    /// specification's "HTTP to gRPC status code mapping": a proxy or a
    /// server that is not gRPC answered).
    pub(crate) fn of_http_status(status: u16) -> Code {
        match status {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502 | 503 | 504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }
}

/// What a finished call's status means: delivered (with partial success
/// decided by the caller), retryable or permanent. `retry_info` is the
/// delay of the server's `google.rpc.RetryInfo`, if it sent one.
pub(crate) fn outcome(
    code: Code,
    message: &str,
    retry_info: Option<Duration>,
    endpoint: &str,
) -> Outcome {
    use Code::*;
    let reason = match code {
        DeadlineExceeded => FailReason::Timeout,
        c => FailReason::of_status(c.http_equivalent()),
    };
    let detail = if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    };
    let retryable = match code {
        Ok => return Outcome::Delivered,
        Unavailable | DeadlineExceeded | Aborted | Cancelled | OutOfRange | DataLoss => true,
        // The specification: retry RESOURCE_EXHAUSTED only when the server
        // says it can recover (it sent RetryInfo).
        ResourceExhausted => retry_info.is_some(),
        _ => false,
    };
    if retryable {
        Outcome::Retryable {
            reason,
            message: format!("OTLP/gRPC export to {endpoint} got {}{detail}", code.name()),
            retry_after: retry_info,
        }
    } else {
        let why = if code == ResourceExhausted {
            "not retryable: no RetryInfo"
        } else {
            "not retryable"
        };
        Outcome::Permanent {
            reason,
            message: format!(
                "OTLP/gRPC export to {endpoint} got {} ({why}){detail}",
                code.name()
            ),
        }
    }
}

/// `google.rpc.Status` with its `details` (the OTLP/HTTP one in
/// [`super::proto::Status`] skips them).
#[derive(Clone, PartialEq, prost::Message)]
struct StatusWithDetails {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<Any>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
struct Any {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
struct ProtoDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// The `RetryInfo` delay in a `grpc-status-details-bin` value (base64,
/// padded or not, of a `google.rpc.Status`). A negative delay is no
/// delay; a `RetryInfo` without a delay counts as a zero delay (the server
/// still said the call may be retried).
pub(crate) fn retry_info(details_bin: &[u8]) -> Option<Duration> {
    use base64::Engine as _;
    use prost::Message as _;
    let trimmed: Vec<u8> = details_bin.iter().copied().filter(|b| *b != b'=').collect();
    let raw = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(trimmed)
        .ok()?;
    let status = StatusWithDetails::decode(&raw[..]).ok()?;
    let any = status
        .details
        .iter()
        .find(|a| a.type_url == RETRY_INFO_TYPE)?;
    let info = RetryInfo::decode(&any.value[..]).ok()?;
    let d = info.retry_delay.unwrap_or_default();
    if d.seconds < 0 || (d.seconds == 0 && d.nanos <= 0) {
        return Some(Duration::ZERO);
    }
    Some(Duration::new(
        d.seconds as u64,
        d.nanos.clamp(0, 999_999_999) as u32,
    ))
}

/// A `grpc-message` value, percent-decoded (invalid escapes are kept as
/// they are, as the gRPC specification asks).
pub(crate) fn decode_message(v: &[u8]) -> String {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'%' && i + 2 < v.len() {
            let hex = std::str::from_utf8(&v[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(v[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `grpc-timeout` value for `t`: whole milliseconds (at least 1),
/// within the 8 digits the specification allows.
pub(crate) fn timeout_header(t: Duration) -> String {
    let ms = t.as_millis().clamp(1, 99_999_999);
    format!("{ms}m")
}

/// The 5-byte gRPC message prefix: the compressed flag, then the length
/// (big-endian).
pub(crate) fn frame_prefix(compressed: bool, len: usize) -> [u8; 5] {
    let n = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
    [u8::from(compressed), n[0], n[1], n[2], n[3]]
}

/// The first message of a response body: `(compressed, message)`, or
/// `None` when the body is shorter than its prefix says.
pub(crate) fn first_message(body: &[u8]) -> Option<(bool, &[u8])> {
    let prefix = body.get(..5)?;
    let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
    Some((prefix[0] == 1, body.get(5..5 + len)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use prost::Message as _;

    fn details(delay: Option<(i64, i32)>, type_url: &str, pad: bool) -> Vec<u8> {
        let info = RetryInfo {
            retry_delay: delay.map(|(seconds, nanos)| ProtoDuration { seconds, nanos }),
        };
        let s = StatusWithDetails {
            code: 14,
            message: "busy".into(),
            details: vec![
                Any {
                    type_url: "type.googleapis.com/google.rpc.DebugInfo".into(),
                    value: vec![1, 2, 3],
                },
                Any {
                    type_url: type_url.into(),
                    value: info.encode_to_vec(),
                },
            ],
        };
        let e = if pad {
            base64::engine::general_purpose::STANDARD
        } else {
            base64::engine::general_purpose::STANDARD_NO_PAD
        };
        e.encode(s.encode_to_vec()).into_bytes()
    }

    #[test]
    fn retry_info_is_read_from_the_details() {
        assert_eq!(
            retry_info(&details(Some((1, 500_000_000)), RETRY_INFO_TYPE, false)),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_info(&details(Some((0, 250_000_000)), RETRY_INFO_TYPE, true)),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            retry_info(&details(Some((-3, 0)), RETRY_INFO_TYPE, false)),
            Some(Duration::ZERO)
        );
        assert_eq!(
            retry_info(&details(None, RETRY_INFO_TYPE, false)),
            Some(Duration::ZERO)
        );
        assert_eq!(
            retry_info(&details(Some((1, 0)), "type.googleapis.com/other", false)),
            None
        );
        assert_eq!(retry_info(b"!!not base64"), None);
    }

    #[test]
    fn the_specification_s_retryable_codes() {
        let retryable: Vec<&str> = (0..=17)
            .map(Code::from_i32)
            .filter(|c| matches!(outcome(*c, "", None, "e"), Outcome::Retryable { .. }))
            .map(Code::name)
            .collect();
        assert_eq!(
            retryable,
            [
                "CANCELLED",
                "DEADLINE_EXCEEDED",
                "ABORTED",
                "OUT_OF_RANGE",
                "UNAVAILABLE",
                "DATA_LOSS"
            ]
        );
        // RESOURCE_EXHAUSTED only with RetryInfo, whose delay is kept.
        let d = Some(Duration::from_millis(700));
        match outcome(Code::ResourceExhausted, "slow down", d, "e") {
            Outcome::Retryable {
                reason,
                retry_after,
                message,
            } => {
                assert_eq!(reason, FailReason::Status4xx);
                assert_eq!(retry_after, d);
                assert!(
                    message.contains("RESOURCE_EXHAUSTED: slow down"),
                    "{message}"
                );
            }
            o => panic!("{o:?}"),
        }
        match outcome(Code::ResourceExhausted, "", None, "e") {
            Outcome::Permanent { message, .. } => assert!(message.contains("no RetryInfo")),
            o => panic!("{o:?}"),
        }
        assert_eq!(outcome(Code::Ok, "", None, "e"), Outcome::Delivered);
        // Reasons follow code.proto's HTTP mapping.
        let reason = |c| match outcome(c, "", None, "e") {
            Outcome::Retryable { reason, .. } | Outcome::Permanent { reason, .. } => reason,
            o => panic!("{o:?}"),
        };
        assert_eq!(reason(Code::Unavailable), FailReason::Status5xx);
        assert_eq!(reason(Code::InvalidArgument), FailReason::Status4xx);
        assert_eq!(reason(Code::DeadlineExceeded), FailReason::Timeout);
        assert_eq!(reason(Code::Unimplemented), FailReason::Status5xx);
        assert_eq!(Code::from_i32(-1), Code::Unknown);
        assert_eq!(Code::from_i32(99), Code::Unknown);
        assert_eq!(Code::of_http_status(503), Code::Unavailable);
        assert_eq!(Code::of_http_status(404), Code::Unimplemented);
        assert_eq!(Code::of_http_status(500), Code::Unknown);
    }

    #[test]
    fn messages_timeouts_and_frames() {
        assert_eq!(decode_message(b"a%20b%zz%4"), "a b%zz%4");
        assert_eq!(decode_message("caf%C3%A9".as_bytes()), "café");
        assert_eq!(timeout_header(Duration::from_micros(10)), "1m");
        assert_eq!(timeout_header(Duration::from_millis(2500)), "2500m");
        assert_eq!(timeout_header(Duration::from_secs(1 << 40)), "99999999m");
        assert_eq!(frame_prefix(true, 0x0102_0304), [1, 1, 2, 3, 4]);
        let body = [0, 0, 0, 0, 2, 7, 8, 9];
        assert_eq!(first_message(&body), Some((false, &[7u8, 8][..])));
        assert_eq!(first_message(&body[..6]), None);
        assert_eq!(first_message(&[]), None);
    }
}
