//! READ FORMAT CAPACITIES replies: never panic; every format descriptor
//! lies in the data.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(f) = discrec_mmc::parse_format_capacities(data) {
        assert!(12 + f.formats.len() * 8 <= data.len());
        assert!(f.formats.iter().all(|d| d.0 < 0x40 && d.2 < 1 << 24));
    }
});
