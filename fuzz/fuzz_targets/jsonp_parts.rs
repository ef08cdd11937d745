//! Fuzz target `jsonp_parts`: JSONP multi-part reassembly (`Parts`), against a model of its
//! rules. Every check lives in `kefu::fuzzing::jsonp_parts`, which `tests/fuzz_corpus.rs`
//! replays on this target's corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kefu::fuzzing::jsonp_parts(data));
