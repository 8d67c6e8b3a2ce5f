//! Sense data: never panic; decoded fields stay in range.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(s) = discrec_mmc::parse_sense(data) {
        assert!(s.key < 16);
        assert!(!s.describe().is_empty());
    }
});
