//! The layer rule of docs/architecture.md, checked on the source: every
//! module of `src/` sits in one layer of the table in that document, a
//! module imports only modules of its own layer or below, and no import
//! circle joins files of different folders.
//!
//! What counts as an import of module `m` by module `a`: a `use` of an
//! item of `m` (`crate::`, `super::`, `self::` or child-relative paths,
//! followed through `use` re-exports to the module that defines the item)
//! and any `crate::`/`super::` path written in `a`'s code. Comments,
//! strings and `#[cfg(test)]` items are left out (tests may import
//! anything). A `pub use` whose name the module never uses itself is a
//! re-export (a name, often a compatibility path), not an import: it is
//! followed, not counted.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// One `use` leaf: the path as written (rooted at `crate`, `super`, `self`
/// or a child module), the name it brings in (`None` for a glob), and
/// whether it is public (`pub`, `pub(crate)`, ...).
#[derive(Clone, Debug, PartialEq)]
struct UseLeaf {
    path: Vec<String>,
    name: Option<String>,
    public: bool,
    /// The inline module (inside the file) the `use` is written in.
    inline: Vec<String>,
}

/// A module file, its code cleaned for scanning.
struct ModFile {
    file: PathBuf,
    scan: Scan,
    /// Child modules declared `#[cfg(test)] mod x;` (test-only files).
    test_children: Vec<String>,
}

/// Source text with comments, string and char literals blanked out
/// (newlines kept).
fn strip(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    while i < c.len() {
        if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if c[i] == 'r'
            && (c.get(i + 1) == Some(&'"') || c.get(i + 1) == Some(&'#'))
            && (i == 0 || !(c[i - 1].is_alphanumeric() || c[i - 1] == '_'))
        {
            // Raw string r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= c.len() {
                    break;
                }
                if c[j] == '"' && (0..hashes).all(|h| c.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                blank(&mut out, c[j]);
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1;
                }
                if i < c.len() {
                    blank(&mut out, c[i]);
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c[i] == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if c.get(i + 1) == Some(&'\\') {
                let mut j = i + 2;
                while j < c.len() && c[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
                out.push_str("' '");
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                out.push('\'');
                i += 1;
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// Index just past the item starting at `i` (after its attributes): up to
/// its `;` at depth 0, or its balanced `{...}` block.
fn item_end(c: &[char], mut i: usize) -> usize {
    let mut depth = 0i32;
    while i < c.len() {
        match c[i] {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ';' if depth == 0 => return i + 1,
            '{' if depth == 0 => {
                let mut d = 0;
                while i < c.len() {
                    if c[i] == '{' {
                        d += 1;
                    } else if c[i] == '}' {
                        d -= 1;
                        if d == 0 {
                            return i + 1;
                        }
                    }
                    i += 1;
                }
                return i;
            }
            _ => {}
        }
        i += 1;
    }
    i
}

/// Blanks every `#[cfg(test)]` / `#[cfg(all(test, ...))]` item out of
/// stripped code; returns the code and the names of test-only child
/// module files (`#[cfg(test)] mod x;`).
fn drop_test_items(code: &str) -> (String, Vec<String>) {
    let mut c: Vec<char> = code.chars().collect();
    let mut children = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let is_test_cfg = c[i] == '#' && {
            let rest: String = c[i..(i + 24).min(c.len())]
                .iter()
                .filter(|ch| !ch.is_whitespace())
                .collect();
            rest.starts_with("#[cfg(test)]") || rest.starts_with("#[cfg(all(test")
        };
        if is_test_cfg {
            // Skip this and any further attributes.
            let start = i;
            let mut j = i;
            loop {
                while j < c.len() && c[j].is_whitespace() {
                    j += 1;
                }
                if c.get(j) == Some(&'#') {
                    let mut d = 0;
                    while j < c.len() {
                        if c[j] == '[' {
                            d += 1;
                        } else if c[j] == ']' {
                            d -= 1;
                            if d == 0 {
                                j += 1;
                                break;
                            }
                        }
                        j += 1;
                    }
                } else {
                    break;
                }
            }
            let end = item_end(&c, j);
            let item: String = c[j..end].iter().collect();
            let words: Vec<&str> = item
                .split(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == ';'))
                .filter(|w| !w.is_empty())
                .collect();
            let mod_at = words.iter().position(|w| *w == "mod");
            if let Some(m) = mod_at {
                if item.trim_end().ends_with(';') && !item.contains('{') {
                    if let Some(name) = words.get(m + 1) {
                        children.push(name.trim_end_matches(';').to_string());
                    }
                }
            }
            for ch in c.iter_mut().take(end).skip(start) {
                if *ch != '\n' {
                    *ch = ' ';
                }
            }
            i = end;
        } else {
            i += 1;
        }
    }
    (c.into_iter().collect(), children)
}

fn tokens(code: &str) -> Vec<String> {
    let c: Vec<char> = code.chars().collect();
    let mut t = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_alphanumeric() || ch == '_' {
            let s = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            t.push(c[s..i].iter().collect());
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            t.push("::".to_string());
            i += 2;
        } else if ch.is_whitespace() {
            i += 1;
        } else {
            t.push(ch.to_string());
            i += 1;
        }
    }
    t
}

fn is_ident(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// Parses one use tree starting at `t[*i]` into leaves.
fn parse_tree(
    t: &[String],
    i: &mut usize,
    prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, Option<String>)>,
) {
    let mut segs = prefix;
    if t.get(*i).map(String::as_str) == Some("::") {
        *i += 1; // `use ::std::...`
    }
    loop {
        let Some(tok) = t.get(*i) else { return };
        match tok.as_str() {
            "{" => {
                *i += 1;
                loop {
                    match t.get(*i).map(String::as_str) {
                        None => return,
                        Some("}") => {
                            *i += 1;
                            return;
                        }
                        Some(",") => *i += 1,
                        _ => parse_tree(t, i, segs.clone(), out),
                    }
                }
            }
            "*" => {
                *i += 1;
                out.push((segs, None));
                return;
            }
            s if is_ident(s) => {
                segs.push(s.to_string());
                *i += 1;
                if t.get(*i).map(String::as_str) == Some("::") {
                    *i += 1;
                    continue;
                }
                let name = if t.get(*i).map(String::as_str) == Some("as") {
                    *i += 2;
                    t[*i - 1].clone()
                } else if segs.last().map(String::as_str) == Some("self") {
                    segs.pop();
                    segs.last().cloned().unwrap_or_default()
                } else {
                    s.to_string()
                };
                out.push((segs, Some(name)));
                return;
            }
            _ => {
                *i += 1;
                return;
            }
        }
    }
}

/// The `use` leaves and written paths of cleaned code.
fn scan(code: &str) -> Scan {
    let t = tokens(code);
    let mut uses = Vec::new();
    let mut paths = Vec::new();
    let mut body: HashMap<String, usize> = HashMap::new();
    // Inline modules: (name, brace depth inside it).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < t.len() {
        match t[i].as_str() {
            "{" => depth += 1,
            "}" => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            "mod" if t.get(i + 2).map(String::as_str) == Some("{") => {
                inline.push((t[i + 1].clone(), depth + 1));
            }
            "use" => {
                let public = match t[..i].last().map(String::as_str) {
                    Some("pub") => true,
                    // pub(crate), pub(super), pub(in path)
                    Some(")") => t[..i]
                        .iter()
                        .rposition(|s| s == "(")
                        .is_some_and(|open| open > 0 && t[open - 1] == "pub"),
                    _ => false,
                };
                let mut j = i + 1;
                let mut leaves = Vec::new();
                parse_tree(&t, &mut j, Vec::new(), &mut leaves);
                let here: Vec<String> = inline.iter().map(|(n, _)| n.clone()).collect();
                for (path, name) in leaves {
                    uses.push(UseLeaf {
                        path,
                        name,
                        public,
                        inline: here.clone(),
                    });
                }
                while j < t.len() && t[j] != ";" {
                    j += 1;
                }
                i = j + 1;
                continue;
            }
            "crate" | "super" | "self" if t.get(i + 1).map(String::as_str) == Some("::") => {
                let mut segs = vec![t[i].clone()];
                let mut j = i + 1;
                while t.get(j).map(String::as_str) == Some("::")
                    && t.get(j + 1).is_some_and(|s| is_ident(s))
                {
                    segs.push(t[j + 1].clone());
                    j += 2;
                }
                let here: Vec<String> = inline.iter().map(|(n, _)| n.clone()).collect();
                paths.push((segs, here));
                i = j;
                continue;
            }
            other => {
                if is_ident(other) {
                    *body.entry(other.to_string()).or_default() += 1;
                }
            }
        }
        i += 1;
    }
    Scan { uses, paths, body }
}

/// What [`scan`] finds in a module's cleaned code.
struct Scan {
    uses: Vec<UseLeaf>,
    /// `crate::`/`super::`/`self::` paths written in code (not in `use`),
    /// with the inline module they are written in.
    paths: Vec<(Vec<String>, Vec<String>)>,
    /// How often each identifier occurs outside `use` declarations.
    body: HashMap<String, usize>,
}

fn module_path(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts.join("::")
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

struct Crate {
    mods: BTreeMap<String, ModFile>,
}

fn join(p: &[String]) -> String {
    p.join("::")
}

impl Crate {
    fn load(src: &Path) -> Crate {
        let mut files = Vec::new();
        rs_files(src, &mut files);
        let mut mods = BTreeMap::new();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            let (code, test_children) = drop_test_items(&strip(&text));
            mods.insert(
                module_path(src, &f),
                ModFile {
                    file: f,
                    scan: scan(&code),
                    test_children,
                },
            );
        }
        // Test-only module files are not part of the layering.
        let test_only: Vec<String> = mods
            .iter()
            .flat_map(|(m, f)| {
                f.test_children.iter().map(move |c| {
                    if m.is_empty() {
                        c.clone()
                    } else {
                        format!("{m}::{c}")
                    }
                })
            })
            .collect();
        for t in test_only {
            mods.remove(&t);
        }
        Crate { mods }
    }

    /// An absolute path (segments after `crate`) for `path` written in
    /// module `m` (inside its inline modules `inline`); `None` for paths
    /// into other crates.
    fn absolute(&self, m: &str, inline: &[String], path: &[String]) -> Option<Vec<String>> {
        let mut here: Vec<String> = if m.is_empty() {
            Vec::new()
        } else {
            m.split("::").map(String::from).collect()
        };
        here.extend(inline.iter().cloned());
        let mut rest = path;
        match rest.first().map(String::as_str) {
            Some("crate") => return Some(rest[1..].to_vec()),
            Some("self") => rest = &rest[1..],
            Some("super") => {
                while rest.first().map(String::as_str) == Some("super") {
                    here.pop()?;
                    rest = &rest[1..];
                }
            }
            Some(first) => {
                // A child module of the file, or another crate (std,
                // arc_swap, ...) or a local item, which are no imports.
                let mut child = here.clone();
                child.push(first.to_string());
                if !self.mods.contains_key(&join(&child)) {
                    return None;
                }
            }
            None => return None,
        }
        here.extend(rest.iter().cloned());
        Some(here)
    }

    /// The module defining the item an absolute path names, following
    /// `use` re-exports; `None` when it leads out of the crate or to the
    /// crate root itself.
    fn resolve(&self, abs: &[String], depth: u32) -> Option<String> {
        if depth > 16 {
            return None;
        }
        let mut n = abs.len();
        while n > 0 && !self.mods.contains_key(&join(&abs[..n])) {
            n -= 1;
        }
        let m = join(&abs[..n]);
        if n == abs.len() {
            return (!m.is_empty()).then_some(m);
        }
        let name = &abs[n];
        let f = &self.mods[&m];
        if let Some(u) = f
            .scan
            .uses
            .iter()
            .find(|u| u.inline.is_empty() && u.name.as_deref() == Some(name.as_str()))
        {
            let mut target = self.absolute(&m, &[], &u.path)?;
            target.extend(abs[n + 1..].iter().cloned());
            return self.resolve(&target, depth + 1);
        }
        (!m.is_empty()).then_some(m)
    }

    /// Every import edge (from module, to module), as the module doc says.
    fn edges(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (m, f) in &self.mods {
            let mut add = |to: Option<String>| {
                if let Some(to) = to {
                    if to != *m && self.mods.contains_key(&to) {
                        edges.entry(m.clone()).or_default().insert(to);
                    }
                }
            };
            for u in &f.scan.uses {
                if u.public {
                    // A re-export counts only when the module uses the
                    // name itself (beyond the `use` that brings it in).
                    let Some(name) = &u.name else { continue };
                    if !f.scan.body.contains_key(name) {
                        continue;
                    }
                }
                let Some(abs) = self.absolute(m, &u.inline, &u.path) else {
                    continue;
                };
                add(self.resolve(&abs, 0));
            }
            for (p, inline) in &f.scan.paths {
                if let Some(abs) = self.absolute(m, inline, p) {
                    add(self.resolve(&abs, 0));
                }
            }
        }
        edges
    }

    fn folder(&self, m: &str) -> PathBuf {
        self.mods[m].file.parent().unwrap().to_path_buf()
    }
}

/// The layer table of docs/architecture.md: (rank, module prefixes),
/// rank 1 at the top.
fn layer_table(doc: &str) -> Vec<(u32, Vec<String>)> {
    let mut rows = Vec::new();
    let mut in_layers = false;
    for line in doc.lines() {
        if line.starts_with("## ") {
            in_layers = line.trim() == "## Layers";
            continue;
        }
        if !in_layers || !line.starts_with('|') {
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(rank) = cells.get(1).and_then(|c| c.parse::<u32>().ok()) else {
            continue;
        };
        let modules_cell = cells.get(3).copied().unwrap_or("");
        let modules: Vec<String> = modules_cell
            .split('`')
            .skip(1)
            .step_by(2)
            .map(String::from)
            .collect();
        rows.push((rank, modules));
    }
    rows
}

/// The rank of module `m`: its longest matching prefix in the table.
fn rank_of(table: &[(u32, Vec<String>)], m: &str) -> Option<u32> {
    let mut best: Option<(usize, u32)> = None;
    for (rank, prefixes) in table {
        for p in prefixes {
            let hit = m == p || m.starts_with(&format!("{p}::"));
            if hit && best.is_none_or(|(len, _)| p.len() > len) {
                best = Some((p.len(), *rank));
            }
        }
    }
    best.map(|b| b.1)
}

/// Strongly connected components of more than one module (Tarjan).
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct St<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: HashMap<&'a str, usize>,
        low: HashMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut St<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on.insert(v);
        if let Some(ws) = s.edges.get(v) {
            for w in ws {
                let w = w.as_str();
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low[v];
                    s.low.insert(v, lv.min(lw));
                } else if s.on.contains(w) {
                    let iw = s.index[w];
                    let lv = s.low[v];
                    s.low.insert(v, lv.min(iw));
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let mut s = St {
        edges,
        index: HashMap::new(),
        low: HashMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    let nodes: BTreeSet<&str> = edges
        .iter()
        .flat_map(|(a, bs)| std::iter::once(a.as_str()).chain(bs.iter().map(String::as_str)))
        .collect();
    for v in nodes {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn real() -> (Crate, BTreeMap<String, BTreeSet<String>>) {
    let c = Crate::load(&root().join("src"));
    let e = c.edges();
    (c, e)
}

/// What breaks the layer rule in `krate` under the table of `doc`: table
/// rows naming no module, modules in no row, and imports of a module of a
/// higher layer.
fn layer_problems(doc: &str, krate: &Crate) -> Vec<String> {
    let table = layer_table(doc);
    assert!(
        table.len() >= 2,
        "docs/architecture.md has no layer table under \"## Layers\""
    );
    let edges = krate.edges();
    let mut problems = Vec::new();
    for (_, prefixes) in &table {
        for p in prefixes {
            if !krate
                .mods
                .keys()
                .any(|m| m == p || m.starts_with(&format!("{p}::")))
            {
                problems.push(format!(
                    "the layer table names `{p}`, which is no module of src/"
                ));
            }
        }
    }
    for m in krate.mods.keys().filter(|m| !m.is_empty()) {
        if rank_of(&table, m).is_none() {
            problems.push(format!(
                "module `{m}` is in no layer: add it to the table of docs/architecture.md"
            ));
        }
    }
    for (a, bs) in &edges {
        let Some(ra) = rank_of(&table, a) else {
            continue;
        };
        for b in bs {
            let Some(rb) = rank_of(&table, b) else {
                continue;
            };
            if rb < ra {
                problems.push(format!(
                    "`{a}` (layer {ra}, {}) imports `{b}`, which sits above it (layer {rb})",
                    krate.mods[a].file.display()
                ));
            }
        }
    }
    problems
}

/// The import circles of `krate` that join files of different folders.
fn circle_problems(krate: &Crate) -> Vec<String> {
    let edges = krate.edges();
    let mut problems = Vec::new();
    for comp in circles(&edges) {
        let folders: BTreeSet<PathBuf> = comp.iter().map(|m| krate.folder(m)).collect();
        if folders.len() > 1 {
            let inner: Vec<String> = comp
                .iter()
                .flat_map(|a| {
                    edges[a]
                        .iter()
                        .filter(|b| comp.contains(b))
                        .map(move |b| format!("  {a} -> {b}"))
                })
                .collect();
            problems.push(format!("circle {comp:?}:\n{}", inner.join("\n")));
        }
    }
    problems
}

#[test]
fn every_module_has_a_layer_and_imports_only_its_own_layer_or_below() {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let table = layer_table(&doc);
    assert!(
        table.len() >= 5,
        "docs/architecture.md has no layer table under \"## Layers\""
    );
    let problems = layer_problems(&doc, &Crate::load(&root().join("src")));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn no_import_circle_joins_files_of_different_folders() {
    let problems = circle_problems(&Crate::load(&root().join("src")));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The two checks above can fail: on a small crate written for the
/// purpose, with one upward import, one circle between two folders, one
/// circle inside a folder (allowed) and one module missing from the
/// table, they report exactly the three problems.
#[test]
fn the_checks_reject_an_upward_import_a_circle_between_folders_and_a_missing_module() {
    let dir = std::env::temp_dir().join(format!("ferrometer-layers-{}", std::process::id()));
    let files: &[(&str, &str)] = &[
        (
            "lib.rs",
            "mod top;\nmod bottom;\nmod a;\nmod b;\nmod c;\nmod stray;\n",
        ),
        (
            "top.rs",
            "use crate::bottom::B;\npub struct T;\npub fn f(_: B) {}\n",
        ),
        // Upward: layer 2 imports layer 1.
        (
            "bottom.rs",
            "use crate::top::T;\npub struct B;\npub fn g(_: T) {}\n",
        ),
        // A circle between the folders a/ and b/.
        (
            "a/mod.rs",
            "use crate::b::Y;\npub struct X;\npub fn f(_: Y) {}\n",
        ),
        (
            "b/mod.rs",
            "use crate::a::X;\npub struct Y;\npub fn g(_: X) {}\n",
        ),
        // A circle inside the folder c/: allowed.
        ("c/mod.rs", "mod x;\nmod y;\n"),
        (
            "c/x.rs",
            "use super::y::Q;\npub struct P;\npub fn f(_: Q) {}\n",
        ),
        (
            "c/y.rs",
            "use super::x::P;\npub struct Q;\npub fn g(_: P) {}\n",
        ),
        ("stray.rs", "pub struct S;\n"),
    ];
    for (path, text) in files {
        let p = dir.join("src").join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
    }
    let doc = "## Layers\n\n| # | layer | modules |\n|---|---|---|\n\
               | 1 | top | `top`, `a`, `b`, `c` |\n| 2 | bottom | `bottom` |\n";
    let krate = Crate::load(&dir.join("src"));
    let layers = layer_problems(doc, &krate);
    let circles = circle_problems(&krate);
    std::fs::remove_dir_all(&dir).unwrap();

    assert_eq!(layers.len(), 2, "{layers:#?}");
    assert!(
        layers[0].starts_with("module `stray` is in no layer"),
        "{layers:#?}"
    );
    assert!(
        layers[1].starts_with("`bottom` (layer 2,")
            && layers[1].contains("imports `top`, which sits above it (layer 1)"),
        "{layers:#?}"
    );
    assert_eq!(circles.len(), 1, "{circles:#?}");
    assert!(
        circles[0].starts_with("circle [\"a\", \"b\"]"),
        "{circles:#?}"
    );
}

/// The scanner sees what it must: the graph is not empty, and imports
/// known to exist (written different ways) are found where they are.
#[test]
fn the_scanner_finds_known_imports() {
    let (_, edges) = real();
    let has = |a: &str, b: &str| edges.get(a).is_some_and(|s| s.contains(b));
    // `use crate::readers::{Collect, ReaderCore}` through the re-export
    // in readers/mod.rs to the file that defines them.
    assert!(
        has("provider", "readers::shared"),
        "{:?}",
        edges.get("provider")
    );
    // `use super::{recycle, Shared, ...}` from a child file to the
    // parent file that defines them.
    assert!(
        has("export::pipeline::worker", "export::pipeline"),
        "{:?}",
        edges.get("export::pipeline::worker")
    );
    // `crate::MeterProvider` through the crate root's re-export.
    assert!(
        has("readers::periodic", "provider"),
        "{:?}",
        edges.get("readers::periodic")
    );
    // A path written in code, not in a `use`.
    assert!(has("export", "collect::data"), "{:?}", edges.get("export"));
    let n: usize = edges.values().map(BTreeSet::len).sum();
    assert!(n > 150, "only {n} import edges found");
}

#[test]
fn use_trees_expand_to_their_leaves() {
    let code = "pub(crate) use crate::a::{b, c::{d as e, self}, f::*};\nuse super::g;";
    let uses = scan(&strip(code)).uses;
    let got: Vec<(String, Option<String>, bool)> = uses
        .iter()
        .map(|u| (u.path.join("::"), u.name.clone(), u.public))
        .collect();
    assert_eq!(
        got,
        vec![
            ("crate::a::b".to_string(), Some("b".to_string()), true),
            ("crate::a::c::d".to_string(), Some("e".to_string()), true),
            ("crate::a::c".to_string(), Some("c".to_string()), true),
            ("crate::a::f".to_string(), None, true),
            ("super::g".to_string(), Some("g".to_string()), false),
        ]
    );
}

#[test]
fn comments_strings_and_test_items_are_not_imports() {
    let code = r#"
// use crate::gone;
/* crate::gone2::X */
const S: &str = "crate::gone3::Y";
const C: char = '"';
fn f<'a>(x: &'a str) -> crate::kept::Z { crate::kept2::g() }
#[cfg(test)]
mod tests { use crate::gone4::T; }
#[cfg(all(test, loom))]
mod loom_models;
"#;
    let (cleaned, children) = drop_test_items(&strip(code));
    let Scan { uses, paths, .. } = scan(&cleaned);
    assert!(uses.is_empty(), "{uses:?}");
    let written: Vec<String> = paths.iter().map(|(p, _)| p.join("::")).collect();
    assert_eq!(written, vec!["crate::kept::Z", "crate::kept2::g"]);
    assert_eq!(children, vec!["loom_models".to_string()]);
}

#[test]
fn circles_are_found_and_chains_are_not() {
    let mut e: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut add = |a: &str, b: &str| {
        e.entry(a.into()).or_default().insert(b.into());
    };
    add("a", "b");
    add("b", "c");
    add("c", "a");
    add("c", "d");
    add("d", "e");
    assert_eq!(
        circles(&e),
        vec![vec!["a".to_string(), "b".into(), "c".into()]]
    );
}

#[test]
fn the_longest_prefix_sets_the_layer() {
    let table = vec![
        (1, vec!["readers".to_string()]),
        (2, vec!["provider".to_string()]),
        (3, vec!["readers::shared".to_string()]),
    ];
    assert_eq!(rank_of(&table, "readers::periodic"), Some(1));
    assert_eq!(rank_of(&table, "readers::shared"), Some(3));
    assert_eq!(rank_of(&table, "readers_x"), None);
    assert_eq!(rank_of(&table, "provider"), Some(2));
}
