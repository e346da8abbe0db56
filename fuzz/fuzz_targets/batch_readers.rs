//! The with-batch body (`WineBatch`): both readers take any bytes without
//! panicking, and whatever the fast reader accepts, the full reader accepts
//! with the same rows, bit for bit (so the same predictions).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wine_lab::api::WineBatch;
use wine_lab::api::fuzzing::{read_fast, read_full};

fuzz_target!(|body: &[u8]| {
    let full = read_full::<WineBatch>(body);
    if let Some(WineBatch(fast)) = read_fast::<WineBatch>(body) {
        let Ok(WineBatch(full)) = full else {
            panic!("the fast reader accepted what the full reader refuses: {full:?}");
        };
        let bits = |rows: &[[f64; 13]]| -> Vec<u64> {
            rows.iter().flatten().map(|v| v.to_bits()).collect()
        };
        assert_eq!(bits(&fast), bits(&full));
    }
});
