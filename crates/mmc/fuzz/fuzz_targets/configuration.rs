//! GET CONFIGURATION replies: never panic; nothing parsed past the data.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(c) = discrec_mmc::parse_configuration(data) {
        // Each feature takes at least its 4-byte header, each profile 4 bytes.
        assert!(c.features.len() * 4 <= data.len());
        assert!(c.profiles.len() * 4 <= data.len());
    }
});
