//! Durations on the command line (`30s`, `500ms`, `1m30s`, `PT45S`): one parser
//! and one way of printing them, shared by `wine-server` and `wine-lab` so both
//! accept the same forms and say the same thing about the rest.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A duration above zero, as a command-line value: parsed from and shown in
/// the friendly form (`30s`), so clap's `[default: …]` reads as users type it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Positive(pub Duration);

/// Parses a duration in any of the forms above. `None` for a negative one,
/// which no option wants; a message naming the forms for anything else.
pub fn parse(text: &str) -> Result<Option<Duration>, String> {
    // jiff's own message speaks to programmers ("try parsing into a
    // `jiff::Span`"), so the user gets the forms instead.
    let parsed: jiff::SignedDuration = text.trim().parse().map_err(|_| {
        format!("expected a duration such as 30s, 500ms, 2m or 1m30s, not {text:?}")
    })?;
    Ok(Duration::try_from(parsed).ok())
}

impl FromStr for Positive {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match parse(text)? {
            Some(duration) if !duration.is_zero() => Ok(Positive(duration)),
            _ => Err(format!("{text:?} is not more than zero")),
        }
    }
}

impl fmt::Display for Positive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match jiff::SignedDuration::try_from(self.0) {
            Ok(duration) => write!(f, "{duration:#}"),
            Err(_) => write!(f, "{:?}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms_and_prints_them_back() {
        for (text, duration) in [
            ("30s", Duration::from_secs(30)),
            ("500ms", Duration::from_millis(500)),
            ("1m30s", Duration::from_secs(90)),
            ("90 seconds", Duration::from_secs(90)),
            ("PT45S", Duration::from_secs(45)),
        ] {
            assert_eq!(text.parse(), Ok(Positive(duration)), "{text}");
        }
        assert_eq!(Positive(Duration::from_secs(30)).to_string(), "30s");
        assert_eq!(Positive(Duration::from_millis(500)).to_string(), "500ms");
        assert_eq!(Positive(Duration::from_secs(90)).to_string(), "1m 30s");
    }

    #[test]
    fn refuses_zero_negative_and_garbage_in_words_a_user_reads() {
        for text in ["0s", "-5s", "soon", ""] {
            let error = text.parse::<Positive>().unwrap_err();
            assert!(
                error.contains("more than zero") || error.contains("such as 30s"),
                "{text}: {error}"
            );
            assert!(!error.contains("jiff"), "{error}");
        }
    }
}
