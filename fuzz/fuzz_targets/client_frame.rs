//! Fuzz target `client_frame`: client frames, parsed and validated by `parse_client_frame`.
//! Every check lives in `kefu::fuzzing::client_frame`, which `tests/fuzz_corpus.rs` replays
//! on this target's corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kefu::fuzzing::client_frame(data));
