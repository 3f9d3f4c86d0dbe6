//! The per-type C wrappers (`src/ffi/*/generated.rs`) must be exactly what
//! the generator in `tests/ffi_gen/` makes of its table, and no per-type
//! wrapper may be written by hand. Refresh the generated files with
//! `FERROMETER_UPDATE_FFI=1 cargo test --test ffi_wrappers` (then build:
//! build.rs regenerates the header from them).

mod ffi_gen;

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn generated_wrappers_match_the_table() {
    let update = std::env::var_os("FERROMETER_UPDATE_FFI").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (path, text) in ffi_gen::files() {
        let file = root().join(path);
        let committed = std::fs::read_to_string(&file).unwrap_or_default();
        if committed == text {
            continue;
        }
        if update {
            // Through a rename: the other test may be reading the file.
            let tmp = file.with_extension("rs.tmp");
            std::fs::write(&tmp, &text).unwrap_or_else(|e| panic!("write {path}: {e}"));
            std::fs::rename(&tmp, &file).unwrap_or_else(|e| panic!("rename to {path}: {e}"));
        } else {
            stale.push(path);
        }
    }
    assert!(
        stale.is_empty(),
        "{stale:?} stale: run FERROMETER_UPDATE_FFI=1 cargo test --test ffi_wrappers and commit them"
    );
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/ffi") {
        let p = entry.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The names of the exported functions in `text`.
fn exported(text: &str) -> Vec<&str> {
    text.split("pub extern \"C\" fn ")
        .skip(1)
        .filter_map(|rest| rest.split('(').next())
        .collect()
}

#[test]
fn per_type_wrappers_exist_only_as_generated() {
    let stems: Vec<&str> = ffi_gen::table::SYNC
        .iter()
        .map(|k| k.stem)
        .chain(ffi_gen::table::OBSERVABLE.iter().map(|k| k.stem))
        .collect();
    let generated: Vec<PathBuf> = ffi_gen::files()
        .iter()
        .map(|(p, _)| root().join(p))
        .collect();
    let mut files = Vec::new();
    rust_files(&root().join("src/ffi"), &mut files);
    let (mut in_generated, mut by_hand) = (0, Vec::new());
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read source");
        for name in exported(&text) {
            // `fm_counter_u64_add`, `fm_meter_create_counter_u64`, ...: the
            // stem is a whole `_`-separated part of the name.
            let per_type = stems
                .iter()
                .any(|s| name.ends_with(&format!("_{s}")) || name.contains(&format!("_{s}_")));
            match (per_type, generated.contains(f)) {
                (true, true) => in_generated += 1,
                (true, false) => by_hand.push(format!("{}: {name}", f.display())),
                (false, _) => {}
            }
        }
    }
    assert!(
        by_hand.is_empty(),
        "per-type wrappers written by hand: {by_hand:#?}"
    );
    // 8 synchronous types (9 functions, 10 with record_at), their bound
    // handles (4, 5), 7 observable types (6) plus 4 `_observe_f64`, and the
    // global twins (4 per synchronous, 4 per observable type, 4 more
    // `_observe_f64`): the generator's output is where they all are.
    assert_eq!(
        in_generated,
        8 * 8 + 2 + 8 * 4 + 2 + 7 * 6 + 4 + 8 * 4 + 7 * 4 + 4
    );
}
