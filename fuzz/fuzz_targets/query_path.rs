//! Fuzz target `query_path`: request paths and queries: conversation ids in paths, query
//! parameters. Every check lives in `kefu::fuzzing::query_path`, which
//! `tests/fuzz_corpus.rs` replays on this target's corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kefu::fuzzing::query_path(data));
