//! READ DISC INFORMATION and READ CAPACITY replies: never panic; fields
//! only from data that holds them.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(d) = discrec_mmc::parse_disc_information(data) {
        assert!(data.len() >= 12);
        assert!(d.first_track <= 255);
    }
    if discrec_mmc::parse_read_capacity(data).is_some() {
        assert!(data.len() >= 8);
    }
});
