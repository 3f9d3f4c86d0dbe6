//! The committed C header must be exactly what build.rs generates.
//! Refresh it with `FERROMETER_UPDATE_HEADER=1 cargo build`.

#[test]
fn committed_header_matches_generated() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/ferrometer.h"));
    let committed = include_str!("../include/ferrometer.h");
    assert!(
        generated == committed,
        "include/ferrometer.h is stale: rebuild with FERROMETER_UPDATE_HEADER=1 and commit it"
    );
}

#[test]
fn header_version_macros_match_cargo() {
    let h = include_str!("../include/ferrometer.h");
    for (k, v) in [
        ("MAJOR", env!("CARGO_PKG_VERSION_MAJOR")),
        ("MINOR", env!("CARGO_PKG_VERSION_MINOR")),
        ("PATCH", env!("CARGO_PKG_VERSION_PATCH")),
    ] {
        let line = format!("#define FERROMETER_VERSION_{k} {v}\n");
        assert!(h.contains(&line), "missing {line:?}");
    }
}
