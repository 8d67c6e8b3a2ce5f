//! READ TRACK INFORMATION replies: never panic, whatever the length.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(t) = discrec_mmc::parse_track_information(data) {
        assert!(data.len() >= 28);
        assert!(data.len() > 32 || t.track <= 255);
    }
});
