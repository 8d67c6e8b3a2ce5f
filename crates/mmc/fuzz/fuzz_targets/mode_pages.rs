//! MODE SENSE(10) replies: never panic; every page fits in the data.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let pages = discrec_mmc::parse_mode_pages(data);
    assert!(pages.len() * 2 <= data.len());
    assert!(pages.iter().all(|p| *p < 0x40));
});
