//! The C ABI: the only place with `extern "C"`, raw pointers and the panic
//! boundary. `build.rs` turns it into `include/ferrometer.h` with cbindgen.
//!
//! API conventions (repeated in the header):
//! - Names are `fm_<type>_<verb>`; handles are opaque pointers.
//! - Every `_new`/`_create`/`_get` that hands out a handle has one
//!   `_release` that accepts NULL and must be called exactly once.
//! - Fallible calls return `fm_status` (`FM_STATUS_OK` = 0) and write their
//!   outputs only on success; `fm_last_error_message()` then explains the
//!   failure (thread-local).
//! - Hot-path calls (`_add`, `_record`, `_observe`) return void: rejected
//!   measurements (NULL/invalid attributes, NaN, negative increments, after
//!   shutdown) are counted (see `fm_provider_rejected`), never fatal.
//! - Strings are pointer + byte length, UTF-8, not necessarily
//!   NUL-terminated; NULL with length 0 is the empty string.
//! - No panic crosses the boundary: every body runs in `ffi_boundary!`.

// C callers cannot see Rust's `unsafe`: every exported function states its
// pointer contract in its doc comment (which lands in the header), and each
// dereference is checked for NULL and commented with its SAFETY argument.
#![allow(clippy::not_unsafe_ptr_arg_deref)]
#![allow(non_camel_case_types)]

#[macro_use]
mod panic;
mod status;
#[macro_use]
mod handle;
mod attributes;
mod bound;
mod diagnostics;
mod exporters;
mod global;
mod http_options;
mod instrument_options;
mod instruments;
mod meter;
// After `meter` and before `observable`: the header lists declarations in
// the order cbindgen meets them, and `fm_callback_registration_release`
// has its place there.
mod callbacks;
mod observable;
mod otlp;
mod otlp_grpc;
mod producer;
mod prometheus;
mod provider;
mod reader;
mod remote_write;
mod snapshot;
pub(crate) mod trace;
mod version;
mod views;
