//! Shared helper of the Prometheus exposition tests: feed a text
//! exposition to `promtool check metrics` and collect its verdict.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `promtool check metrics` (found on PATH) on `text`; returns
/// whether it succeeded and its stdout followed by its stderr.
pub fn promtool_check(text: &str) -> (bool, String) {
    promtool_check_with("promtool", text)
}

/// As [`promtool_check`], with the `promtool` binary given explicitly.
pub fn promtool_check_with(promtool: impl AsRef<OsStr>, text: &str) -> (bool, String) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package `prometheus`) must be installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let msg =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), msg)
}
