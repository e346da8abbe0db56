//! The scripts the flake writes (nix/apps.nix), as the stand-in
//! `writeShellApplication` renders them: they pass what the real function's
//! build runs on them, and the push script does what it says.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{self, check_shell_script, read, read_json, root};
use crate::evaluate::flake;
use crate::flake::{keys, set};

/// writeShellApplication's build runs `bash -n` on the script and its
/// passthru.tests.shellcheck runs shellcheck: the scripts as the stand-in
/// renders them (the real function's text, see stand-in-pkgs.nix) pass both.
#[test]
#[ignore = "needs nix-instantiate and shellcheck"]
fn the_scripts_the_flake_writes_pass_bash_n_and_shellcheck() {
    common::require("shellcheck");
    let scratch = tempfile::tempdir().unwrap();
    let flake = flake(root(), "x86_64-linux").unwrap();
    let scripts = flake["scripts"].as_object().unwrap();
    assert_eq!(
        keys(&flake["scripts"]),
        set(&["up", "up-workers", "down", "load", "push"])
    );
    for (name, text) in scripts {
        let text = text.as_str().unwrap();
        assert!(text.starts_with("#!/nix/store/"), "{name}: {text}");
        let script = scratch.path().join(name);
        fs::write(&script, text).unwrap();
        if let Err(error) = check_shell_script(&script) {
            panic!("the {name} script fails its checks:\n{error}\n{text}");
        }
    }
    // ... and the checks can fail: an unquoted expansion.
    let bad = scratch.path().join("bad");
    fs::write(&bad, "#!/bin/bash\nrm $1\n").unwrap();
    assert!(check_shell_script(&bad).unwrap_err().contains("SC2086"));
}

/// `nix run .#push -- REGISTRY [option...]`, as the stand-in renders it, with
/// the image archives in a scratch folder and a stand-in skopeo that logs its
/// calls: each archive goes to REGISTRY/<repository>:<tag>, the options
/// passed on, and the last line names the variable docker-compose.swarm.yml
/// reads the repository from.
#[test]
#[ignore = "needs nix-instantiate"]
fn the_push_script_copies_each_archive_to_the_registry() {
    let flake = flake(root(), "x86_64-linux").unwrap();
    let script = flake["scripts"]["push"].as_str().unwrap();
    let archives_path = flake["packages"]["images"]["path"].as_str().unwrap();
    assert!(script.contains(archives_path), "{script}");
    let spec = read_json("deploy/images.json");
    let repository = spec["repository"].as_str().unwrap();
    let mut tags: Vec<String> = keys(&spec["servers"]).into_iter().collect();
    tags.push(spec["locustTag"].as_str().unwrap().to_owned());
    tags.sort();

    let scratch = tempfile::tempdir().unwrap();
    let archives = scratch.path().join("images");
    write_stand_in_archives(&archives, &tags);
    let bin = scratch.path().join("bin");
    write_stand_in_skopeo(&bin);
    let log = scratch.path().join("log");
    let tmp = scratch.path().join("tmp");
    fs::create_dir(&tmp).unwrap();
    let path = scratch.path().join("push");
    fs::write(
        &path,
        script.replace(archives_path, archives.to_str().unwrap()),
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new("bash")
            .arg(&path)
            .args(args)
            .env("FAKE_LOG", &log)
            .env("TMPDIR", &tmp)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .output()
            .unwrap()
    };

    let output = run(&["registry.example:5000/", "--dest-tls-verify=false"]);
    assert!(output.status.success(), "{output:?}");
    let calls: Vec<String> = read(&log).lines().map(str::to_owned).collect();
    let expected: Vec<String> = tags
        .iter()
        .map(|tag| {
            format!(
                "skopeo --insecure-policy copy --dest-tls-verify=false \
                 docker-archive:FILE docker://registry.example:5000/{repository}:{tag} [{tag}]"
            )
        })
        .collect();
    assert_eq!(calls, expected);
    assert_eq!(
        fs::read_dir(&tmp).unwrap().count(),
        0,
        "the decompressed archives are removed"
    );
    let said = String::from_utf8_lossy(&output.stdout);
    let variable = format!("WINE_LAB_REPOSITORY=registry.example:5000/{repository}");
    assert!(said.contains(&variable), "{said}");
    assert!(
        read("docker-compose.swarm.yml").contains("${WINE_LAB_REPOSITORY:-"),
        "docker-compose.swarm.yml reads the variable the push script names"
    );

    // No registry: the usage, nothing copied.
    fs::remove_file(&log).unwrap();
    let output = run(&[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).starts_with("usage: nix run .#push -- REGISTRY")
    );
    assert!(!log.exists());
}

/// `<tag>.tar.gz` in `folder` for each tag, each a gzip of its own tag, so the
/// stand-in skopeo's log shows which one was decompressed.
fn write_stand_in_archives(folder: &Path, tags: &[String]) {
    fs::create_dir(folder).unwrap();
    for tag in tags {
        let archive = fs::File::create(folder.join(format!("{tag}.tar.gz"))).unwrap();
        let status = Command::new("gzip")
            .arg("--stdout")
            .stdin(Stdio::piped())
            .stdout(archive)
            .spawn()
            .and_then(|mut gzip| {
                use std::io::Write;
                gzip.stdin.take().unwrap().write_all(tag.as_bytes())?;
                gzip.wait()
            })
            .unwrap();
        assert!(status.success());
    }
}

/// `bin/skopeo`, which appends its arguments to the file `$FAKE_LOG`, the
/// archive's place replaced by FILE and followed by what the archive held.
fn write_stand_in_skopeo(bin: &Path) {
    fs::create_dir(bin).unwrap();
    let skopeo = bin.join("skopeo");
    fs::write(
        &skopeo,
        r#"#!/bin/bash
args=()
for arg in "$@"; do
  case "$arg" in
    docker-archive:*) held=$(cat "${arg#docker-archive:}"); args+=("docker-archive:FILE") ;;
    *) args+=("$arg") ;;
  esac
done
echo "skopeo ${args[*]} [$held]" >> "$FAKE_LOG"
"#,
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&skopeo, fs::Permissions::from_mode(0o755)).unwrap();
}
