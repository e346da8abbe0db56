//! The model alone, timed: rows per second through the lab's forest one row
//! at a time ([`WineModel::predict`]) and in blocks ([`WineModel::predict_rows`]),
//! on batches of 64 rows, the benchmark's largest body.
//!
//! Two row sets: `ones` (64 × 13 × 1.0, what `bench/run` sends: every row
//! takes the same path, so branches are always predicted) and `data` (the
//! 178 rows of `data/wine.csv`, cycled: paths vary as real traffic's would).
//!
//! `cargo build --profile profiling --example model_bench`, then
//! `target/profiling/examples/model_bench [BATCHES]`: for each set and way,
//! `REPS` repetitions of `BATCHES` batches, the median ns per row printed.
//! `model_bench count rows|blocks ones|data BATCHES` does one run and no
//! timing, for instruction counts under callgrind.

use std::hint::black_box;
use std::time::Instant;

use wine_lab::features::Features;
use wine_lab::model::WineModel;
use wine_lab::train::{DEFAULT_SEED, TrainingData, train};

/// Rows per batch.
const BATCH: usize = 64;
/// Timed repetitions per set and way (the median is reported).
const REPS: usize = 9;

/// One way of predicting a batch.
fn predict(model: &WineModel, blocks: bool, rows: &[Features]) -> u64 {
    if blocks {
        model.predict_rows(rows).iter().map(|&c| u64::from(c)).sum()
    } else {
        rows.iter().map(|row| u64::from(model.predict(row))).sum()
    }
}

/// The two row sets, as batches of [`BATCH`] rows.
fn batches(data: &TrainingData, set: &str) -> Vec<Vec<Features>> {
    match set {
        "ones" => vec![vec![[1.0; 13]; BATCH]],
        _ => {
            let rows = &data.dataset.rows;
            (0..rows.len())
                .map(|start| (0..BATCH).map(|i| rows[(start + i) % rows.len()]).collect())
                .collect()
        }
    }
}

fn run(model: &WineModel, blocks: bool, batches: &[Vec<Features>], count: usize) -> u64 {
    let mut checksum = 0;
    for i in 0..count {
        checksum += predict(model, blocks, black_box(&batches[i % batches.len()]));
    }
    checksum
}

fn main() -> anyhow::Result<()> {
    let data = TrainingData::embedded()?;
    let model = WineModel::new(&train(&data, DEFAULT_SEED)?.params)?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [mode, way, set, count] = args.as_slice()
        && mode == "count"
    {
        let count: usize = count.parse()?;
        let sum = run(&model, way == "blocks", &batches(&data, set), count);
        println!("{way} {set} {count} batches: checksum {sum}");
        return Ok(());
    }
    let count: usize = args.first().map_or(Ok(20_000), |n| n.parse())?;
    for set in ["ones", "data"] {
        let batches = batches(&data, set);
        let mut sums = Vec::new();
        for (way, blocks) in [("rows", false), ("blocks", true)] {
            run(&model, blocks, &batches, count / 10);
            let mut ns: Vec<f64> = (0..REPS)
                .map(|_| {
                    let start = Instant::now();
                    sums.push(run(&model, blocks, &batches, count));
                    start.elapsed().as_nanos() as f64 / (count * BATCH) as f64
                })
                .collect();
            ns.sort_by(f64::total_cmp);
            println!(
                "{set:>4} {way:>6}: median {:6.1} ns/row (min {:.1}, max {:.1}; {REPS} × {count} batches of {BATCH})",
                ns[REPS / 2],
                ns[0],
                ns[REPS - 1]
            );
        }
        anyhow::ensure!(
            sums.iter().all(|&s| s == sums[0]),
            "the two ways disagree on {set}"
        );
    }
    Ok(())
}
