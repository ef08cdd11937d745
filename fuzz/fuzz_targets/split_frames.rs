//! Fuzz target `split_frames`: long-poll and JSONP send bodies cut into frames by
//! `split_frames`. Every check lives in `kefu::fuzzing::split_frames`, which
//! `tests/fuzz_corpus.rs` replays on this target's corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kefu::fuzzing::split_frames(data));
