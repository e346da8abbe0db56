//! `wine-train`: trains the lab's model and writes the model file the servers load.
//!
//! Deterministic: the same seed and data give a byte-identical file.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use wine_lab::dataset::{Dataset, SPLIT_JSON, Split, WINE_CSV};
use wine_lab::model_file::{DataSource, sha256_hex};
use wine_lab::train::{DEFAULT_SEED, TrainingData, train};

/// Train the wine classifier (standard scaler + random forest of 10 trees) on the
/// lab's 133 training rows and write the model file.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Where to write the model file.
    #[arg(long, short, value_name = "FILE")]
    out: PathBuf,
    /// Seed of the forest's random number generator.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
    /// Train on this CSV instead of the built-in data/wine.csv (same columns).
    #[arg(long, value_name = "CSV")]
    data: Option<PathBuf>,
    /// Use this train/held-out split instead of the built-in data/split.json.
    #[arg(long, value_name = "JSON")]
    split: Option<PathBuf>,
}

fn main() {
    if let Err(error) = run(Args::parse()) {
        eprintln!("wine-train: {error:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    let data = match (&args.data, &args.split) {
        (None, None) => TrainingData::embedded()?,
        (data, split) => {
            let (csv, name) = match data {
                Some(path) => (read(path)?, path.display().to_string()),
                None => (WINE_CSV.to_owned(), "data/wine.csv".to_owned()),
            };
            let dataset = Dataset::from_csv(&csv)?;
            let split = match split {
                Some(path) => Split::from_json(&read(path)?, dataset.len())?,
                None => Split::from_json(SPLIT_JSON, dataset.len())?,
            };
            let source = DataSource {
                name,
                sha256: sha256_hex(csv.as_bytes()),
                rows: dataset.len(),
            };
            TrainingData {
                dataset,
                source,
                split,
            }
        }
    };
    let file = train(&data, args.seed).context("training failed")?;
    file.save(&args.out)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let provenance = &file.provenance;
    println!(
        "trained {} trees (seed {}) on {} rows of {}",
        provenance.forest.trees,
        provenance.seed,
        provenance.split.train.len(),
        provenance.data.name
    );
    println!("training accuracy: {}", provenance.train_accuracy);
    println!("held-out accuracy: {}", provenance.held_out_accuracy);
    println!("wrote {}", args.out.display());
    Ok(())
}

fn read(path: &PathBuf) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}
