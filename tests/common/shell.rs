//! A shell script checked the way this repository checks every script: it
//! parses (`bash -n`) and passes shellcheck.

use std::path::Path;
use std::process::Command;

/// Runs `bash -n`, then shellcheck, on `script`; `Err` names the program that
/// refused it and holds what it said.
pub fn check_shell_script(script: &Path) -> Result<(), String> {
    for (program, args) in [("bash", &["-n"][..]), ("shellcheck", &[][..])] {
        let output = Command::new(program)
            .args(args)
            .arg(script)
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"));
        if !output.status.success() {
            return Err(format!(
                "{program}: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    Ok(())
}
