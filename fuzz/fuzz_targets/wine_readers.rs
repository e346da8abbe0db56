//! The no-batch body (`Wine`): both readers take any bytes without panicking,
//! and whatever the fast reader accepts, the full reader accepts with the
//! same 13 values, bit for bit (so the same prediction).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wine_lab::api::Wine;
use wine_lab::api::fuzzing::{read_fast, read_full};

fuzz_target!(|body: &[u8]| {
    let full = read_full::<Wine>(body);
    if let Some(Wine(fast)) = read_fast::<Wine>(body) {
        let Ok(Wine(full)) = full else {
            panic!("the fast reader accepted what the full reader refuses: {full:?}");
        };
        assert_eq!(fast.map(f64::to_bits), full.map(f64::to_bits));
    }
});
