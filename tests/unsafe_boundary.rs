//! The `unsafe` boundary: the crate root denies `unsafe_code` and only the
//! modules listed here allow it, each with a comment above the allowance
//! saying why. A module that comes to need `unsafe` joins this list on
//! purpose, in review, instead of by an unnoticed attribute.

use std::path::{Path, PathBuf};

/// (file, the module declaration the allowance applies to).
const ALLOWED: &[(&str, &str)] = &[
    ("src/aggregation/mod.rs", "mod sum;"),
    ("src/attributes/mod.rs", "mod set;"),
    ("src/attributes/mod.rs", "mod str;"),
    ("src/lib.rs", "mod context;"),
    ("src/lib.rs", "mod ffi;"),
    ("src/lib.rs", "mod global;"),
    ("src/lib.rs", "mod hint;"),
    ("src/lib.rs", "mod thread_sums;"),
    ("src/storage/mod.rs", "mod loom_models;"),
    ("src/storage/mod.rs", "pub(crate) mod exemplars;"),
    ("src/storage/mod.rs", "pub(crate) mod map;"),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_the_listed_modules_allow_unsafe_code() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).expect("lib.rs");
    assert!(
        lib.lines().any(|l| l.trim() == "#![deny(unsafe_code)]"),
        "the crate root no longer denies unsafe_code"
    );
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut found = Vec::new();
    for file in files {
        let rel = file.strip_prefix(root).expect("under the root");
        let rel = rel.to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(&file).expect("source file");
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !line.contains("allow(unsafe_code)") {
                continue;
            }
            let attribute = |l: &str| l.trim_start().starts_with("#[");
            let item = lines[i + 1..]
                .iter()
                .find(|l| !attribute(l))
                .map(|l| l.trim().to_owned())
                .unwrap_or_default();
            let mut first = i;
            while first > 0 && attribute(lines[first - 1]) {
                first -= 1;
            }
            let why = first.checked_sub(1).map(|j| lines[j].trim_start());
            assert!(
                why.is_some_and(|c| c.starts_with("// ") && c.len() > 12),
                "{rel}:{}: an unsafe_code allowance without a comment saying why",
                i + 1
            );
            found.push((rel.clone(), item));
        }
    }
    found.sort();
    let expected: Vec<(String, String)> = ALLOWED
        .iter()
        .map(|&(f, m)| (f.to_owned(), m.to_owned()))
        .collect();
    assert_eq!(found, expected, "modules allowing unsafe_code");
}
