//! Fuzz target `ws_frames`: WebSocket frames as a client sends them, read by the
//! server's frame reader. Every check lives in `kefu::fuzzing::ws_frames`, which
//! `tests/fuzz_corpus.rs` replays on this target's corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kefu::fuzzing::ws_frames(data));
