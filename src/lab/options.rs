//! What a lab run is asked to do: the settings both modes share, the
//! settings of each mode, and the parsing of the ones given as text, kept here
//! (not in the binary) so unit tests cover them.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::duration;

/// Settings shared by both modes.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// Serve this model file instead of training the images' model.
    pub model: Option<PathBuf>,
    /// Use this locustfile instead of the repository's (compiled in).
    pub locustfile: Option<PathBuf>,
    /// The Locust program given (`--locust`); `None` looks for `locust` on
    /// PATH, else uses (or makes) wine-lab's own venv ([`super::locust::venv`]).
    pub locust: Option<OsString>,
    /// Servers on this port and the three after it; free ports when `None`.
    pub base_port: Option<u16>,
    /// Locust worker processes under one master; 0 runs Locust as one process.
    pub workers: u32,
    /// Which of the two built-in locustfiles runs (unless `locustfile` is given).
    pub client: Client,
}

/// The default of `--workers`: Locust worker processes under one master.
///
/// Two, from the trial on this 2-core machine (50 users, 12 s, HttpUser:
/// 1 process 1,767 requests/s, 2 workers 3,058). Still to be measured properly
/// with 1, 2 and 4 on a quiet machine (the coordinator's task).
pub const DEFAULT_WORKERS: u32 = 2;

/// The most `--workers` accepted: far more processes than cores only adds
/// switching (Locust's own advice is one per core).
pub const MAX_WORKERS: u32 = 64;

/// Locust's HTTP client in the built-in locustfile: the lab's own file
/// (`HttpUser`) or the same tasks on the faster client (`FastHttpUser`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Client {
    /// `HttpUser` (python-requests): the lab's locustfile.py, unchanged.
    Http,
    /// `FastHttpUser` (geventhttpclient): locustfile_fast.py, same tasks.
    Fast,
}

impl Client {
    /// The value of `--client` (and of the report's `client`).
    pub fn as_str(self) -> &'static str {
        match self {
            Client::Http => "http",
            Client::Fast => "fast",
        }
    }

    /// Locust's name for the User class the client runs.
    pub fn user_class(self) -> &'static str {
        match self {
            Client::Http => "HttpUser",
            Client::Fast => "FastHttpUser",
        }
    }
}

/// Which of the lab's two ways to run.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Locust's web UI, as the lab uses it: swarm from the browser.
    Web(WebOptions),
    /// A headless sweep of user counts that ends in a report.
    Sweep(SweepOptions),
}

/// Settings of the interactive mode.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// Address of Locust's web UI.
    pub host: String,
    /// Port of Locust's web UI.
    pub port: u16,
}

/// Settings of the headless sweep.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// User counts, one step each.
    pub users: Vec<u32>,
    /// Users started per second; each step's user count when `None`.
    pub spawn_rate: Option<f64>,
    /// Length of each step, whole seconds (see [`parse_step_duration`]).
    pub duration: Duration,
    /// Report folder.
    pub out: PathBuf,
}

/// Parses `--duration`: a whole number of seconds, at least 1, written as
/// jiff's friendly durations (`30s`, `2m`, `1m30s`, `90 seconds`), ISO 8601
/// (`PT30S`), or a bare number of seconds (`30`).
///
/// Whole seconds because Locust's `--run-time` counts in seconds.
pub fn parse_step_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let seconds = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<u64>()
            .map_err(|_| format!("{text} seconds is too long"))
            .map(Duration::from_secs)?
    } else {
        duration::parse(text)?.ok_or_else(|| WHOLE_SECONDS.to_owned())?
    };
    if seconds.is_zero() || seconds.subsec_nanos() != 0 {
        return Err(WHOLE_SECONDS.to_owned());
    }
    Ok(seconds)
}

/// What `--duration` accepts, said when it gets something else.
const WHOLE_SECONDS: &str =
    "give a whole number of seconds, at least 1 (Locust's --run-time has 1 s steps)";

/// Parses `--spawn-rate`: users started per second, above 0.
pub fn parse_spawn_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err("give a number of users per second above 0".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_the_forms_the_cli_documents() {
        for (text, seconds) in [
            ("30s", 30),
            ("30", 30),
            ("1m", 60),
            ("2m", 120),
            ("1m30s", 90),
            ("1m 30s", 90),
            ("90 seconds", 90),
            ("2 mins", 120),
            ("1h", 3600),
            ("PT45S", 45),
            (" 5s ", 5),
        ] {
            assert_eq!(
                parse_step_duration(text),
                Ok(Duration::from_secs(seconds)),
                "{text:?}"
            );
        }
    }

    #[test]
    fn durations_that_locust_cannot_run_are_refused_clearly() {
        for text in ["0s", "0", "1.5s", "500ms", "-5s"] {
            let error = parse_step_duration(text).unwrap_err();
            assert!(
                error.contains("whole number of seconds"),
                "{text:?}: {error}"
            );
        }
        for text in ["", "thirty", "30 parsecs", "s", "1y", "2d"] {
            let error = parse_step_duration(text).unwrap_err();
            assert!(error.contains("such as 30s"), "{text:?}: {error}");
        }
        let error = parse_step_duration("99999999999999999999").unwrap_err();
        assert!(error.contains("too long"), "{error}");
    }

    #[test]
    fn spawn_rates_above_zero() {
        assert_eq!(parse_spawn_rate("2.5"), Ok(2.5));
        for text in ["0", "-1", "NaN", "inf", "fast"] {
            assert!(parse_spawn_rate(text).is_err(), "{text:?}");
        }
    }
}
