//! `wine-lab`: the main job (placeholder until the lab runner lands).
fn main() {
    eprintln!("wine-lab: the lab runner is not written yet");
    std::process::exit(2);
}
