//! INQUIRY replies, standard and vital product data: never panic;
//! identification only from 36 bytes on; VPD identities only from their page.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(i) = discrec_mmc::parse_inquiry(data) {
        assert!(data.len() >= 36);
        assert!(i.vendor.len() <= 8 * 3 && i.product.len() <= 16 * 3 && i.revision.len() <= 4 * 3);
    }
    if discrec_mmc::parse_unit_serial(data).is_some() {
        assert_eq!(data[1], 0x80);
    }
    if let Some(id) = discrec_mmc::parse_device_identification(data) {
        assert_eq!(data[1], 0x83);
        assert!(id.starts_with("naa:") || id.starts_with("eui:") || id.starts_with("t10:"));
    }
});
