//! Fuzz target `jsonp_query`: JSONP query strings: callback names, script wrapping,
//! percent-decoding. Every check lives in `kefu::fuzzing::jsonp_query`, which
//! `tests/fuzz_corpus.rs` replays on this target's corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kefu::fuzzing::jsonp_query(data));
