//! A strict, allocation-free reader for the two bodies real clients send:
//! `{"batches": [[13 numbers], ...]}` and one object with the 13 feature names.
//!
//! Why not serde_json here: profiling the batch-64 body under callgrind showed
//! serde_json (with exact float parsing) spending about 260 instructions per
//! number, 80% of the server's work; this reader spends a few per digit. It
//! accepts only plain JSON of exactly those shapes (no escapes, no other keys)
//! and returns `None` for anything else, which then goes through serde_json
//! and the full validator as before. Numbers are correctly rounded: short
//! decimals by Clinger's exact fast path, the rest by the standard library's
//! parser, so both paths give bit-identical values (a test compares them).

use crate::features::{FEATURE_NAMES, Features, N_FEATURES};

/// Calls `row` for each row of a `{"batches": [...]}` body, in order.
/// `None` when the body is not exactly that shape; rows seen before the
/// problem have then been passed to `row` already, so callers discard its output.
pub fn batch_rows(bytes: &[u8], mut row: impl FnMut(&Features)) -> Option<()> {
    let mut reader = Reader { bytes, pos: 0 };
    reader.expect(b'{')?;
    if reader.key()? != b"batches" {
        return None;
    }
    reader.expect(b':')?;
    reader.expect(b'[')?;
    if !reader.next_is(b']') {
        loop {
            reader.expect(b'[')?;
            let mut features = [0.0; N_FEATURES];
            for (i, value) in features.iter_mut().enumerate() {
                if i > 0 {
                    reader.expect(b',')?;
                }
                *value = reader.number()?;
            }
            reader.expect(b']')?;
            row(&features);
            if !reader.next_is(b',') {
                break;
            }
        }
        reader.expect(b']')?;
    }
    reader.expect(b'}')?;
    reader.end()
}

/// The 13 features of a no-batch body whose keys are exactly the feature names
/// (in any order, each once) with plain numbers; `None` otherwise.
pub fn wine(bytes: &[u8]) -> Option<Features> {
    let mut reader = Reader { bytes, pos: 0 };
    let mut features = [0.0; N_FEATURES];
    let mut seen = 0u16;
    reader.expect(b'{')?;
    for i in 0..N_FEATURES {
        if i > 0 {
            reader.expect(b',')?;
        }
        let key = reader.key()?;
        let index = FEATURE_NAMES
            .iter()
            .position(|name| name.as_bytes() == key)?;
        if seen & (1 << index) != 0 {
            return None;
        }
        seen |= 1 << index;
        reader.expect(b':')?;
        features[index] = reader.number()?;
    }
    reader.expect(b'}')?;
    reader.end()?;
    Some(features)
}

/// Exact powers of ten: every one up to 1e22 is a double.
const POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    /// Skips whitespace, then consumes `byte` if it comes next.
    fn next_is(&mut self, byte: u8) -> bool {
        self.skip_whitespace();
        if self.bytes.get(self.pos) == Some(&byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.next_is(byte).then_some(())
    }

    /// A string without escapes or control characters, as raw bytes.
    fn key(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let start = self.pos;
        loop {
            match *self.bytes.get(self.pos)? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => self.pos += 1,
            }
        }
        let key = &self.bytes[start..self.pos];
        self.pos += 1;
        Some(key)
    }

    /// Only whitespace is left.
    fn end(&mut self) -> Option<()> {
        self.skip_whitespace();
        (self.pos == self.bytes.len()).then_some(())
    }

    /// A JSON number (RFC 8259 grammar), finite, correctly rounded.
    #[inline]
    fn number(&mut self) -> Option<f64> {
        self.skip_whitespace();
        let bytes = &self.bytes[self.pos..];
        let negative = bytes.first() == Some(&b'-');
        let integer_start = usize::from(negative);

        // Digits of the integer part, then of the fraction, into one mantissa.
        let (mut mantissa, mut i) = digits(bytes, integer_start, 0);
        let integer_digits = i - integer_start;
        if integer_digits == 0 || (integer_digits > 1 && bytes[integer_start] == b'0') {
            return None; // no digit, or a leading zero
        }
        let mut fraction_digits = 0;
        if bytes.get(i) == Some(&b'.') {
            let (value, end) = digits(bytes, i + 1, mantissa);
            fraction_digits = end - (i + 1);
            if fraction_digits == 0 {
                return None;
            }
            (mantissa, i) = (value, end);
        }
        let mut exponent = -(fraction_digits as i64);
        if let Some(b'e' | b'E') = bytes.get(i) {
            i += 1;
            let negative_exponent = bytes.get(i) == Some(&b'-');
            i += usize::from(matches!(bytes.get(i), Some(b'-' | b'+')));
            let exponent_start = i;
            let mut value: i64 = 0;
            while let Some(&byte @ b'0'..=b'9') = bytes.get(i) {
                value = (value * 10 + i64::from(byte - b'0')).min(1_000_000);
                i += 1;
            }
            if i == exponent_start {
                return None;
            }
            exponent += if negative_exponent { -value } else { value };
        }
        self.pos += i;

        // Clinger's fast path: an exact mantissa (at most 19 digits, so no
        // wrap-around, and at most 2^53) and an exact power of ten give a
        // correctly rounded quotient or product.
        if integer_digits + fraction_digits <= 19
            && mantissa <= 1 << 53
            && (-22..=22).contains(&exponent)
        {
            let power = POWERS_OF_TEN[exponent.unsigned_abs() as usize];
            let magnitude = if exponent < 0 {
                mantissa as f64 / power
            } else {
                mantissa as f64 * power
            };
            return Some(if negative { -magnitude } else { magnitude });
        }
        parse_exactly(&bytes[..i])
    }
}

/// Long or extreme numbers: the standard library's exact parser. Kept out of
/// line so the common case stays small enough to inline.
#[cold]
#[inline(never)]
fn parse_exactly(text: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(text).ok()?;
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Reads decimal digits from `start`, accumulating them onto `value` (wrapping:
/// callers only trust the value for at most 19 digits); returns it and the end.
#[inline(always)]
fn digits(bytes: &[u8], start: usize, mut value: u64) -> (u64, usize) {
    let mut i = start;
    while i < bytes.len() {
        let digit = bytes[i].wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        value = value.wrapping_mul(10).wrapping_add(u64::from(digit));
        i += 1;
    }
    (value, i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(text: &str) -> Option<f64> {
        let mut reader = Reader {
            bytes: text.as_bytes(),
            pos: 0,
        };
        let value = reader.number()?;
        (reader.pos == text.len()).then_some(value)
    }

    #[test]
    fn numbers_are_exact() {
        let cases = [
            "0",
            "-0",
            "1.0",
            "13.64",
            "845.0",
            "0.17",
            "1e3",
            "1E+3",
            "2.5e-3",
            "-7.25",
            "123456789012345678",
            "9007199254740993",
            "0.1",
            "0.30000000000000004",
            "1.7976931348623157e308",
            "5e-324",
            "4.9e-324",
            "123456.789e-5",
            "0.000000000000000000000000001",
            "18446744073709551616",
            "1e22",
            "1e23",
            "3.14159265358979323846",
        ];
        for text in cases {
            let expected: f64 = text.parse().unwrap();
            let got = number(text).unwrap_or_else(|| panic!("{text} refused"));
            assert_eq!(got.to_bits(), expected.to_bits(), "{text}");
            let via_serde: f64 = serde_json::from_str(text).unwrap();
            assert_eq!(got.to_bits(), via_serde.to_bits(), "{text} (serde_json)");
        }
    }

    #[test]
    fn invalid_json_numbers_are_refused() {
        for text in [
            "", "-", "01", "1.", ".5", "+1", "1e", "1e+", "--1", "1e400", "-1e400", "NaN",
            "Infinity",
        ] {
            assert_eq!(number(text), None, "{text:?}");
        }
    }

    #[test]
    fn many_numbers_match_the_standard_parser() {
        // A deterministic spread of magnitudes and digit counts.
        let mut rng = fastrand::Rng::with_seed(0x9E37_79B9_7F4A_7C15);
        for _ in 0..200_000 {
            let value = f64::from_bits(rng.u64(..));
            if !value.is_finite() {
                continue;
            }
            for text in [
                format!("{value}"),
                format!("{value:e}"),
                format!("{:.3}", value % 1e6),
            ] {
                let expected: f64 = text.parse().unwrap();
                assert_eq!(
                    number(&text).map(f64::to_bits),
                    Some(expected.to_bits()),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn batch_shapes() {
        let mut rows = Vec::new();
        let body = "{ \"batches\" :\n [ [1,2,3,4,5,6,7,8,9,10,11,12,13] , [0.5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1e2] ] }\n";
        assert_eq!(batch_rows(body.as_bytes(), |r| rows.push(*r)), Some(()));
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][12], 13.0);
        assert_eq!(rows[1][12], -100.0);
        assert_eq!(batch_rows(b"{\"batches\": []}", |_| panic!()), Some(()));
        for refused in [
            &b"{\"batches\": [[1,2,3,4,5,6,7,8,9,10,11,12]]}"[..],
            b"{\"batches\": [[1,2,3,4,5,6,7,8,9,10,11,12,13,14]]}",
            b"{\"batches\": [[1,2,3,4,5,6,7,8,9,10,11,12,13],]}",
            b"{\"batches\": [], \"x\": 1}",
            b"{\"batche\\u0073\": []}",
            b"{\"batches\": []} x",
            b"[]",
            b"{\"batches\": [[true,2,3,4,5,6,7,8,9,10,11,12,13]]}",
        ] {
            assert_eq!(
                batch_rows(refused, |_| {}),
                None,
                "{}",
                String::from_utf8_lossy(refused)
            );
        }
    }

    #[test]
    fn wine_shapes() {
        let names = crate::features::FEATURE_NAMES;
        let fields: Vec<String> = names
            .iter()
            .rev()
            .enumerate()
            .map(|(i, n)| format!("\"{n}\": {i}"))
            .collect();
        let body = format!("{{{}}}", fields.join(", "));
        let features = wine(body.as_bytes()).unwrap();
        assert_eq!(features[12], 0.0);
        assert_eq!(features[0], 12.0);
        let duplicate = body.replacen("\"hue\"", "\"ash\"", 1);
        assert_eq!(wine(duplicate.as_bytes()), None);
        let unknown = body.replacen("\"hue\"", "\"foo\"", 1);
        assert_eq!(wine(unknown.as_bytes()), None);
        let missing = format!("{{{}}}", fields[1..].join(", "));
        assert_eq!(wine(missing.as_bytes()), None);
        let extra = format!("{{{}, \"foo\": 1}}", fields.join(", "));
        assert_eq!(wine(extra.as_bytes()), None);
    }
}
