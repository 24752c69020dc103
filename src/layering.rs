//! Checks the crate's imports against the layering written in the README's code map, so that a
//! module cycle or a resolver reaching into `store` fails the tests instead of creeping in.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layer of each module, read from the numbered list between the README's markers.
fn layers(readme: &str) -> BTreeMap<String, usize> {
    let start = readme
        .find("<!-- layering:start -->")
        .expect("README has a layering:start marker");
    let end = readme
        .find("<!-- layering:end -->")
        .expect("README has a layering:end marker");
    let mut out = BTreeMap::new();
    for line in readme[start..end].lines().skip(1) {
        let Some((n, modules)) = line.split_once(". ") else {
            continue;
        };
        let n: usize = n.trim().parse().expect("a layer number");
        for m in modules.split(',') {
            let previous = out.insert(m.trim().to_owned(), n);
            assert!(previous.is_none(), "{m} is placed twice in the README");
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable src dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The crate modules a file names: `crate::x` anywhere, and the top-level names of
/// `use crate::{x, y::z}` groups. Comment lines are skipped.
fn imports(source: &str) -> BTreeSet<String> {
    let code: String = source
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(ident(item.trim()));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 || c != '{' {
                    item.push(c);
                }
            }
            found.insert(ident(item.trim()));
        } else {
            found.insert(ident(rest));
        }
    }
    found.retain(|m| !m.is_empty() && m != "self");
    found
}

/// Every way `source` (a file of `module`) breaks the layering.
fn violations(
    layer: &BTreeMap<String, usize>,
    module: &str,
    file: &str,
    source: &str,
) -> Vec<String> {
    let Some(&own) = layer.get(module) else {
        return vec![format!("{module} is not placed in the README's layering")];
    };
    let mut broken = Vec::new();
    if module != "store" && source.contains("entity::") {
        broken.push(format!("{file} names a SeaORM entity outside store"));
    }
    if matches!(module, "domain" | "pricing")
        && ["sea_orm", "tokio", "async fn"]
            .iter()
            .any(|w| source.contains(w))
    {
        broken.push(format!("{file} is not pure"));
    }
    for used in imports(source) {
        let Some(&theirs) = layer.get(&used) else {
            continue;
        };
        if used != module && theirs >= own {
            broken.push(format!("{file} imports {used} (layer {theirs} >= {own})"));
        }
        if matches!(module, "graphql" | "http") && used == "store" {
            broken.push(format!("{file} reaches into store"));
        }
    }
    broken
}

#[test]
fn follows_the_readme() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let layer = layers(&readme);
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut broken = Vec::new();
    for file in files {
        let rel = file.strip_prefix(root.join("src")).expect("under src");
        let first = rel.components().next().expect("a path");
        let module = first.as_os_str().to_string_lossy();
        let module = module.trim_end_matches(".rs");
        if matches!(module, "lib" | "main" | "layering") {
            continue;
        }
        let source = std::fs::read_to_string(&file).expect("readable source");
        broken.extend(violations(
            &layer,
            module,
            &rel.display().to_string(),
            &source,
        ));
    }
    assert!(broken.is_empty(), "layering broken:\n{}", broken.join("\n"));
}

#[test]
fn imports_are_read_from_paths_and_use_groups() {
    let found = imports(
        "use crate::a::X;\nuse crate::{b, c::{D, E}, self};\n// use crate::z;\nfn f() { crate::e::g(); }",
    );
    let expected: BTreeSet<String> = ["a", "b", "c", "e"].map(String::from).into();
    assert_eq!(found, expected);
}

#[test]
fn an_import_upwards_or_sideways_or_into_store_is_reported() {
    let readme =
        "<!-- layering:start -->\n1. store\n2. low, peer\n3. graphql\n<!-- layering:end -->";
    let layer = layers(readme);
    assert!(violations(&layer, "low", "low.rs", "use crate::store::x;").is_empty());
    assert_eq!(
        violations(&layer, "low", "low.rs", "use crate::graphql::X;").len(),
        1
    );
    assert_eq!(
        violations(&layer, "low", "low.rs", "use crate::{peer, store};").len(),
        1
    );
    assert_eq!(
        violations(&layer, "graphql", "g.rs", "use crate::store;").len(),
        1
    );
    assert_eq!(
        violations(&layer, "low", "low.rs", "use entity::users;").len(),
        1
    );
    assert_eq!(violations(&layer, "new", "new.rs", "").len(), 1);
}
