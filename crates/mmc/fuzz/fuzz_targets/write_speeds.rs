//! GET PERFORMANCE write speed replies: never panic; fastest first, each
//! speed once, none zero, each from a descriptor in the data.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let speeds = discrec_mmc::parse_write_speeds(data);
    assert!(8 + speeds.len() * 16 <= data.len().max(8));
    assert!(speeds.windows(2).all(|w| w[0] > w[1]));
    assert!(!speeds.contains(&0));
});
