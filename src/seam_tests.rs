//! The PSP seam holds: no file of `src/` outside a family's own modules (`src/psp/<family>/`,
//! `src/sim/<family>/`) names a family, except the registry lines (`startup::psp_families`,
//! `startup::simulators`) and the module declarations in `src/psp/mod.rs` and `src/sim/mod.rs`.
//! Test code is exempt (a test may pick a family). The family names come from the registries, so
//! a new family is checked as soon as it is registered. (Issue 19: adding a family touches only
//! its modules, the two registry lines, the config files, tests and the README.)

use std::path::{Path, PathBuf};

/// Every registered family's name (adapters and simulators).
fn families() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = crate::startup::psp_families()
        .iter()
        .map(|f| f.name)
        .chain(crate::startup::simulators().iter().map(|r| r.family))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// A file that holds only tests (`*tests.rs`, `tests/` folders, the lib's test support).
fn test_only(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    name.ends_with("tests.rs")
        || name.ends_with("_fuzz.rs")
        || rel.contains("/tests/")
        || rel == "testing.rs"
}

/// Whether `rel` (relative to `src/`) is one of `family`'s own modules.
fn in_family_module(rel: &str, family: &str) -> bool {
    ["psp", "sim"].iter().any(|layer| {
        rel.starts_with(&format!("{layer}/{family}/")) || rel == format!("{layer}/{family}.rs")
    })
}

/// Whether `line` of `rel` is a registry line or a family's module declaration.
fn allowed(rel: &str, line: &str, families: &[&str]) -> bool {
    let line = line.trim();
    match rel {
        "psp/mod.rs" | "sim/mod.rs" => families.iter().any(|f| line == format!("pub mod {f};")),
        "startup.rs" => {
            let mut rest = line.to_string();
            for f in families {
                rest = rest
                    .replace(&format!("crate::psp::{f}::FAMILY"), "")
                    .replace(&format!("crate::sim::{f}::SIMULATOR"), "");
            }
            !names_a_family(&rest, families)
        }
        _ => false,
    }
}

fn names_a_family(text: &str, families: &[&str]) -> bool {
    let lower = text.to_ascii_lowercase();
    families.iter().any(|f| lower.contains(f))
}

/// The lines of `text` that are not inside its `#[cfg(test)]` module (by convention the file's
/// last item), with their numbers.
fn non_test_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let end = text.find("#[cfg(test)]\nmod tests").unwrap_or(text.len());
    text[..end].lines().enumerate().map(|(i, l)| (i + 1, l))
}

/// Every place outside the family modules that names a family, as `file:line: text`.
fn offenders(src: &Path, families: &[&str]) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut found = Vec::new();
    for path in files {
        let rel = path
            .strip_prefix(src)
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        if test_only(&rel) || families.iter().any(|f| in_family_module(&rel, f)) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            found.push(format!("{rel}: unreadable"));
            continue;
        };
        for (n, line) in non_test_lines(&text) {
            if names_a_family(line, families) && !allowed(&rel, line, families) {
                found.push(format!("src/{rel}:{n}: {}", line.trim()));
            }
        }
    }
    found
}

#[test]
fn no_file_outside_the_family_modules_names_a_family() {
    let families = families();
    assert!(
        families.len() >= 2,
        "the registries list the families: {families:?}"
    );
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = offenders(&src, &families);
    assert!(
        found.is_empty(),
        "family names outside src/psp/<family>/ and src/sim/<family>/ (move the code into the \
         family's module, or make it generic):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scan_finds_a_family_name_and_allows_only_the_registry_lines() {
    let families = ["acme"];
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path();
    let write = |rel: &str, text: &str| {
        let p = src.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    };
    write("psp/mod.rs", "pub mod acme;\n// Acme's quirk\n");
    write("psp/acme/mod.rs", "pub struct Acme;\n");
    write("sim/acme.rs", "const N: &str = \"acme\";\n");
    write(
        "startup.rs",
        "vec![&crate::psp::acme::FAMILY]\nif name == \"acme\" {}\n",
    );
    write(
        "flows/x.rs",
        "fn f() {}\n#[cfg(test)]\nmod tests {\n    const F: &str = \"ACME\";\n}\n",
    );
    write("flows/x_tests.rs", "const F: &str = \"acme\";\n");
    write("http/y.rs", "/// The ACME header.\nfn g() {}\n");
    let found = offenders(src, &families);
    assert_eq!(
        found,
        vec![
            "src/http/y.rs:1: /// The ACME header.".to_string(),
            "src/psp/mod.rs:2: // Acme's quirk".to_string(),
            "src/startup.rs:2: if name == \"acme\" {}".to_string(),
        ]
    );
}
