//! Fuzz target `identity`: the site's signature of a visitor's identity
//! (`verify_identity`). Every check lives in `kefu::fuzzing::identity`, which
//! `tests/fuzz_corpus.rs` replays on this target's corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kefu::fuzzing::identity(data));
