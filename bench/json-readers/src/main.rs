//! Our request reader (`src/api/fast_json.rs`) against maintained JSON crates,
//! on the benchmark's two hot bodies, each producing the server's typed result:
//! the 13 features of the no-batch body, the 64 rows of 13 of the batch-64 body.
//!
//! The contenders (dependencies of this crate only: the servers' dependency
//! tree does not change) are serde_json (what ours was measured against), sonic-rs and
//! simd-json, the last two through their serde front ends into the same structs.
//! simd-json parses in place, so its time includes copying the body, as a server
//! holding an immutable request buffer would have to. bench/README.md
//! ("JSON readers") records the numbers and the decision they support.
//!
//! ```text
//! cargo build --profile profiling --manifest-path bench/json-readers/Cargo.toml
//! bench/json-readers/target/profiling/json-readers time            # ns per parse, repeated rounds
//! bench/json-readers/target/profiling/json-readers run sonic-rs batch-64 1000   # for callgrind
//! ```
//!
//! Instruction counts per parse: run `run READER BODY N` under
//! `valgrind --tool=callgrind` for two values of N and divide the difference of
//! the totals by the difference of the Ns (that cancels start-up).

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::Deserialize;
use wine_lab::api::{RequestBody, Wine, WineBatch};
use wine_lab::features::{FEATURE_NAMES, Features, N_FEATURES};

/// The rows of the locustfile's largest batch task.
const BATCH_ROWS: usize = 64;

/// The no-batch body as serde sees it: exactly the 13 named features.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NamedWine {
    alcohol: f64,
    malic_acid: f64,
    ash: f64,
    alcalinity_of_ash: f64,
    magnesium: f64,
    total_phenols: f64,
    flavanoids: f64,
    nonflavanoid_phenols: f64,
    proanthocyanins: f64,
    color_intensity: f64,
    hue: f64,
    od280_od315_of_diluted_wines: f64,
    proline: f64,
}

impl NamedWine {
    /// The features in the model's order (FEATURE_NAMES), as our reader returns them.
    fn features(&self) -> Features {
        [
            self.alcohol,
            self.malic_acid,
            self.ash,
            self.alcalinity_of_ash,
            self.magnesium,
            self.total_phenols,
            self.flavanoids,
            self.nonflavanoid_phenols,
            self.proanthocyanins,
            self.color_intensity,
            self.hue,
            self.od280_od315_of_diluted_wines,
            self.proline,
        ]
    }
}

/// The with-batch body as serde sees it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batches {
    batches: Vec<Features>,
}

/// A parsed body: what the server's handler receives.
#[derive(Debug, PartialEq)]
enum Parsed {
    One(Features),
    Rows(Vec<Features>),
}

/// The readers compared, by name.
const READERS: [&str; 4] = ["ours", "serde_json", "sonic-rs", "simd-json"];

/// The bodies compared, by bench/run's names.
const BODIES: [&str; 2] = ["no-batch", "batch-64"];

/// A body as bench/run sends it: Python's `json.dumps` of the locustfile's
/// `request_body` (default separators, every value 1.0).
fn body(name: &str) -> Option<Vec<u8>> {
    match name {
        "no-batch" => {
            let fields: Vec<String> = FEATURE_NAMES
                .iter()
                .map(|name| format!("\"{name}\": 1.0"))
                .collect();
            Some(format!("{{{}}}", fields.join(", ")).into_bytes())
        }
        "batch-64" => {
            let row = format!("[{}]", vec!["1.0"; N_FEATURES].join(", "));
            let rows = vec![row; BATCH_ROWS].join(", ");
            Some(format!("{{\"batches\": [{rows}]}}").into_bytes())
        }
        _ => None,
    }
}

/// One parse of `bytes` (a `body_name` body) by `reader`; `None` if it rejects it.
fn parse(reader: &str, body_name: &str, bytes: &[u8]) -> Option<Parsed> {
    match (reader, body_name == "no-batch") {
        ("ours", true) => Wine::parse_fast(bytes).map(|w| Parsed::One(w.0)),
        ("ours", false) => WineBatch::parse_fast(bytes).map(|b| Parsed::Rows(b.0)),
        (_, true) => parse_serde::<NamedWine>(reader, bytes).map(|w| Parsed::One(w.features())),
        (_, false) => parse_serde::<Batches>(reader, bytes).map(|b| Parsed::Rows(b.batches)),
    }
}

/// One parse of `bytes` into `T` by one of the serde front ends; `None` if it
/// rejects them, or if `reader` names none.
fn parse_serde<T: serde::de::DeserializeOwned>(reader: &str, bytes: &[u8]) -> Option<T> {
    match reader {
        "serde_json" => serde_json::from_slice(bytes).ok(),
        "sonic-rs" => sonic_rs::from_slice(bytes).ok(),
        // It parses in place: the copy of the body is part of its cost.
        "simd-json" => simd_json::serde::from_slice(&mut bytes.to_vec()).ok(),
        _ => None,
    }
}

/// Checks every reader gives our reader's result on every body; the first difference.
fn check_agreement() -> Result<(), String> {
    for body_name in BODIES {
        let bytes = body(body_name).expect("a known body");
        let expected = parse("ours", body_name, &bytes)
            .ok_or_else(|| format!("our reader rejects the {body_name} body"))?;
        for reader in READERS {
            if parse(reader, body_name, &bytes).as_ref() != Some(&expected) {
                return Err(format!("{reader} reads the {body_name} body differently"));
            }
        }
    }
    Ok(())
}

/// (fastest, median) ns per parse over `rounds` rounds of a fixed number of parses
/// each. On a shared machine the fastest round is the one least disturbed.
fn time_one(reader: &str, body_name: &str, bytes: &[u8], rounds: usize) -> (f64, f64) {
    // Enough parses per round that one round takes about 20 ms.
    let start = Instant::now();
    let mut calibrate = 0u32;
    while start.elapsed() < Duration::from_millis(20) && calibrate < 1_000_000 {
        black_box(parse(reader, body_name, black_box(bytes)));
        calibrate += 1;
    }
    let per_round = calibrate.max(1);
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_round {
                black_box(parse(reader, body_name, black_box(bytes)));
            }
            start.elapsed().as_nanos() as f64 / f64::from(per_round)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    (samples[0], samples[samples.len() / 2])
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if let Err(problem) = check_agreement() {
        eprintln!("json-readers: {problem}");
        return ExitCode::FAILURE;
    }
    match args.as_slice() {
        ["time"] | ["time", _] => {
            let rounds = match args.get(1).map(|r| r.parse::<usize>()) {
                None => 31,
                Some(Ok(r)) if r > 0 => r,
                Some(_) => {
                    eprintln!("json-readers: ROUNDS must be a positive integer");
                    return ExitCode::FAILURE;
                }
            };
            println!(
                "| body | reader | ns per parse, fastest of {rounds} rounds | vs ours | median round | vs ours |"
            );
            println!("|---|---|---:|---:|---:|---:|");
            for body_name in BODIES {
                let bytes = body(body_name).expect("a known body");
                let ours = time_one("ours", body_name, &bytes, rounds);
                for reader in READERS {
                    let (fastest, median) = if reader == "ours" {
                        ours
                    } else {
                        time_one(reader, body_name, &bytes, rounds)
                    };
                    println!(
                        "| {body_name} | {reader} | {fastest:.0} | {:.2} | {median:.0} | {:.2} |",
                        fastest / ours.0,
                        median / ours.1
                    );
                }
            }
            ExitCode::SUCCESS
        }
        ["run", reader, body_name, n] => {
            let (Some(bytes), true, Ok(n)) =
                (body(body_name), READERS.contains(reader), n.parse::<u64>())
            else {
                eprintln!(
                    "json-readers: run READER BODY N, READER one of {READERS:?}, BODY one of {BODIES:?}"
                );
                return ExitCode::FAILURE;
            };
            for _ in 0..n {
                black_box(parse(reader, body_name, black_box(&bytes)));
            }
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: json-readers time [ROUNDS] | json-readers run READER BODY N");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every reader gives our reader's values on both bodies (what `main`
    /// checks before timing), so the comparison compares like with like.
    #[test]
    fn every_reader_agrees_with_ours() {
        super::check_agreement().unwrap();
    }
}
