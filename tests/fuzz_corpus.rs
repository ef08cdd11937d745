//! The fuzz corpora, replayed on the stable toolchain: every file of every
//! `fuzz/corpus/<target>/` goes through the same `kefu::fuzzing` function as the fuzz
//! target of that name, and must not panic. Every target has a non-empty corpus, and every
//! corpus a target, so this cannot pass by finding nothing to replay. Fuzzing itself (new
//! inputs) needs cargo-fuzz: `fuzz/README.md`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

#[test]
fn every_target_has_a_corpus_and_every_corpus_a_target() {
    let mut dirs: Vec<String> = std::fs::read_dir(corpus_root())
        .expect("fuzz/corpus exists")
        .map(|e| e.expect("a readable directory entry"))
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut targets: Vec<String> = kefu::fuzzing::TARGETS
        .iter()
        .map(|(name, _)| name.to_string())
        .collect();
    targets.sort();
    assert_eq!(dirs, targets);
    // Each target is also a binary of the fuzz crate.
    let manifest = std::fs::read_to_string(corpus_root().join("../Cargo.toml")).unwrap();
    for t in &targets {
        assert!(
            manifest.contains(&format!("path = \"fuzz_targets/{t}.rs\"")),
            "{t} is not a target of fuzz/Cargo.toml"
        );
    }
}

#[test]
fn every_corpus_file_replays_without_a_panic() {
    let mut failures = Vec::new();
    for (name, run) in kefu::fuzzing::TARGETS {
        let dir = corpus_root().join(name);
        let inputs = files(&dir);
        assert!(!inputs.is_empty(), "{}: empty corpus", dir.display());
        for path in &inputs {
            let data = std::fs::read(path).unwrap();
            if catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
                failures.push(format!("{name}: {}", path.display()));
            }
        }
        eprintln!("{name}: {} inputs replayed", inputs.len());
    }
    assert!(failures.is_empty(), "panicked on:\n{}", failures.join("\n"));
}
