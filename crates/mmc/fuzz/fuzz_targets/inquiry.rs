//! INQUIRY replies: never panic; identification only from 36 bytes on.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(i) = discrec_mmc::parse_inquiry(data) {
        assert!(data.len() >= 36);
        assert!(i.vendor.len() <= 8 * 3 && i.product.len() <= 16 * 3 && i.revision.len() <= 4 * 3);
    }
});
