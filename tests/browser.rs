//! What a student sees, in a real browser: Locust's page with its Servers tab
//! (issue 19), driven in headless Chromium the way the lab says: 50 users,
//! spawn rate 10, Start, wait, open the Servers tab, read the table from the
//! page. Both ways the lab runs: the Docker stack (`docker-compose up`, the
//! repository's own compose file) and wine-lab's web mode (no Docker).
//!
//! What must show: a row per server with its time and CPU per request and per
//! row, batch-64's CPU per row under a fifth of batch-1's (about 1/45 when
//! measured), and the sentence under the table. Not asserted: an order of the
//! per-request figures, which differ by 10–20% and can swap on a busy machine.
//! On the Docker stack a server is stopped mid-run too: its row shows why, the
//! others go on, and the page answers.
//!
//! Each test saves screenshots under `target/tmp/screenshots/` and prints
//! their paths. The browser is driven by `tests/browser/servers_tab.py`
//! (Selenium, pinned in tests/browser-requirements.txt, on Debian's chromium
//! and chromium-driver).

mod common;
mod e2e;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde::Deserialize;
use wine_lab::lab::TARGETS;

use e2e::images::{self, phase};
use e2e::project::Project;
use e2e::{docker, log, repo};

/// What the lab tells students to type first, and how long a student looks.
const USERS: &str = "50";
const SPAWN_RATE: &str = "10";
const SECONDS: &str = "25";

/// A table as the page shows it.
#[derive(Debug, Deserialize)]
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// One look at the Servers tab.
#[derive(Debug, Deserialize)]
struct Reading {
    tabs: Vec<String>,
    servers: Table,
    /// Locust's own statistics table (the first look only).
    statistics: Option<Table>,
    /// The links of the Download Data tab (the first look only).
    #[serde(default)]
    downloads: Vec<Link>,
}

/// A link on the page.
#[derive(Debug, Deserialize)]
struct Link {
    text: String,
    href: String,
}

impl Table {
    /// The row whose first cell is `first`.
    fn row(&self, first: &str) -> Option<&Vec<String>> {
        self.rows
            .iter()
            .find(|row| row.first().is_some_and(|cell| cell == first))
    }

    /// The cell of `row` under the column titled `title`.
    fn cell<'a>(&self, row: &'a [String], title: &str) -> Option<&'a str> {
        let index = self
            .header
            .iter()
            .position(|h| h.replace('\n', " ") == title)?;
        row.get(index).map(String::as_str)
    }

    /// [`Table::cell`] as a number ("12,345" and "0.57" alike).
    fn number(&self, row: &[String], title: &str) -> Option<f64> {
        self.cell(row, title)?.replace(',', "").parse().ok()
    }
}

/// The browser, driven by tests/browser/servers_tab.py: it starts a test
/// from the page, then reads the Servers tab once more each time it is asked.
struct Browser {
    child: Child,
    ask: Option<ChildStdin>,
    answers: BufReader<ChildStdout>,
    screenshot: PathBuf,
}

impl Browser {
    /// Opens `url`, starts a test with the lab's values, waits, and reads.
    fn start(url: &str, name: &str) -> (Browser, Reading) {
        common::require("chromium");
        common::require("chromedriver");
        let selenium = Command::new("python3")
            .args(["-c", "import selenium"])
            .status()
            .is_ok_and(|status| status.success());
        assert!(
            selenium,
            "this test needs Selenium for python3: pip install -r tests/browser-requirements.txt (bash .ci/run does)"
        );
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&dir).expect("make the screenshots folder");
        let screenshot = dir.join(format!("{name}.png"));
        let mut child = Command::new("python3")
            .arg(repo().join("tests/browser/servers_tab.py"))
            .arg(url)
            .args([
                "--users",
                USERS,
                "--spawn-rate",
                SPAWN_RATE,
                "--seconds",
                SECONDS,
            ])
            .arg("--screenshot")
            .arg(&screenshot)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start tests/browser/servers_tab.py");
        let ask = child.stdin.take();
        let answers = BufReader::new(child.stdout.take().expect("its stdout"));
        let mut browser = Browser {
            child,
            ask,
            answers,
            screenshot,
        };
        let first = browser.answer();
        (browser, first)
    }

    /// Reads the Servers tab again.
    fn again(&mut self) -> Reading {
        let ask = self.ask.as_mut().expect("the browser is still driven");
        writeln!(ask, "read").expect("ask the browser to read again");
        self.answer()
    }

    fn answer(&mut self) -> Reading {
        let mut line = String::new();
        self.answers
            .read_line(&mut line)
            .expect("read the browser's answer");
        assert!(
            !line.is_empty(),
            "the browser stopped without an answer (screenshots: {})",
            self.screenshot.display()
        );
        log(&format!("screenshot: {}", self.screenshot.display()));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// Presses Stop and closes the browser.
    fn finish(mut self) {
        drop(self.ask.take());
        let status = common::wait_with_timeout(&mut self.child, Duration::from_secs(60));
        assert!(status.success(), "servers_tab.py failed: {status}");
    }
}

/// Everything the Servers tab must show after a test ran; the problems found.
fn servers_tab_problems(reading: &Reading) -> Vec<String> {
    let mut problems = Vec::new();
    let csv = reading
        .downloads
        .iter()
        .find(|link| link.text.contains("servers' own figures"));
    match csv {
        Some(link) => problems.extend(servers_csv_problems(&link.href)),
        None => problems.push(format!(
            "no CSV of the servers among the downloads: {:?}",
            reading.downloads
        )),
    }
    if !reading
        .tabs
        .iter()
        .any(|tab| tab.eq_ignore_ascii_case("servers"))
    {
        problems.push(format!("no Servers tab among {:?}", reading.tabs));
    }
    let table = &reading.servers;
    for target in TARGETS {
        let Some(row) = table.row(target.service) else {
            problems.push(format!("no row for {}", target.service));
            continue;
        };
        for title in ["Requests", "Time/req mean µs", "CPU µs/req", "CPU µs/row"] {
            if !table.number(row, title).is_some_and(|value| value > 0.0) {
                problems.push(format!(
                    "{}: {title} is {:?}",
                    target.service,
                    table.cell(row, title)
                ));
            }
        }
        if table.cell(row, "Status") != Some("ok") {
            problems.push(format!(
                "{}: status {:?}",
                target.service,
                table.cell(row, "Status")
            ));
        }
    }
    let per_row = |service| {
        table
            .row(service)
            .and_then(|row| table.number(row, "CPU µs/row"))
    };
    match (per_row("batch-1"), per_row("batch-64")) {
        (Some(one), Some(sixty_four)) if sixty_four < one / 5.0 => log(&format!(
            "CPU per row: batch-1 {one} µs, batch-64 {sixty_four} µs (1/{:.0})",
            one / sixty_four
        )),
        other => problems.push(format!(
            "batch-64's CPU per row is not under a fifth of batch-1's: {other:?}"
        )),
    }
    let sentence = table
        .rows
        .iter()
        .filter_map(|row| row.first())
        .find(|first| first.starts_with("batch-64:"));
    match sentence {
        Some(sentence) if sentence.contains("per request") && sentence.contains("per row") => {
            log(&format!("the sentence: {sentence}"));
        }
        _ => problems.push(format!(
            "no sentence comparing batch-64 with batch-1: {:?}",
            table.rows
        )),
    }
    problems
}

/// What the page's CSV link gives: the table's columns and a row per server.
fn servers_csv_problems(href: &str) -> Vec<String> {
    let Some((addr, path)) = href
        .strip_prefix("http://")
        .and_then(|rest| rest.split_once('/'))
    else {
        return vec![format!(
            "the CSV's link is not on this page's server: {href}"
        )];
    };
    let addr = addr.parse().expect("the page's address");
    let request = common::request("GET", &format!("/{path}"), None, b"");
    let answer = common::send_raw(addr, &request);
    let text = answer.text();
    let header = text.lines().next().unwrap_or_default();
    let mut problems = Vec::new();
    if answer.status != 200 || !header.starts_with("server,requests,rows,") {
        problems.push(format!("GET {href}: {} {text}", answer.status));
    }
    for target in TARGETS {
        let row = format!("{},", target.service);
        if !text.lines().any(|line| line.starts_with(&row)) {
            problems.push(format!("the CSV has no row for {}: {text}", target.service));
        }
    }
    problems
}

fn assert_no_problems(what: &str, problems: &[String], reading: &Reading) {
    assert!(
        problems.is_empty(),
        "{what}:\n  {}\nthe table: {:?}",
        problems.join("\n  "),
        reading.servers
    );
}

#[test]
#[ignore = "needs docker and chromium"]
fn the_servers_tab_on_the_docker_stack_in_a_real_browser() {
    common::require("docker");
    common::require("docker-compose");
    let images = images::ready();
    let project = Project::with_locust_ui_on_loopback(&repo().join("docker-compose.yml"));
    let services = project.services();
    phase("docker-compose up: the five containers", || {
        project.up(&services)
    });
    let url = project.locust_ui();
    phase("wait until the servers and Locust's page answer", || {
        let servers: Vec<String> = TARGETS
            .iter()
            .map(|t| format!("http://{}:{}/", t.service, images.spec.port))
            .chain(["http://locust:8089/".to_owned()])
            .collect();
        for answer in project.fetch("locust", &servers, Duration::from_secs(60)) {
            assert_eq!(answer.status, Some(200), "{answer:?}");
        }
    });

    let (mut browser, first) = phase(
        &format!("{url}: {USERS} users, spawn rate {SPAWN_RATE}, Start, the Servers tab"),
        || Browser::start(&url, "servers-tab-docker"),
    );
    let statistics = first.statistics.as_ref().expect("Locust's own table");
    log(&format!("Locust's own table: {:?}", statistics.rows));
    assert_no_problems(
        "the Servers tab on the Docker stack",
        &servers_tab_problems(&first),
        &first,
    );

    phase(
        "one server stopped mid-run: its row says why, the others go on",
        || {
            let victim = "no-batch";
            let stopped = docker()
                .args(["stop", "--time", "5", &project.container(victim)])
                .status()
                .expect("docker stop");
            assert!(stopped.success());
            std::thread::sleep(Duration::from_secs(5));
            let after = browser.again();
            let table = &after.servers;
            let victim_row = table.row(victim).expect("the stopped server keeps its row");
            let status = table.cell(victim_row, "Status").unwrap_or_default();
            assert_ne!(
                status, "ok",
                "{victim}'s row after it stopped: {victim_row:?}"
            );
            log(&format!("{victim}'s status after it stopped: {status}"));
            for target in TARGETS.iter().filter(|t| t.service != victim) {
                let before = first
                    .servers
                    .row(target.service)
                    .and_then(|row| first.servers.number(row, "Requests"));
                let now = table
                    .row(target.service)
                    .and_then(|row| table.number(row, "Requests"));
                assert!(
                    matches!((before, now), (Some(b), Some(n)) if n > b),
                    "{}: requests {before:?} then {now:?}: not updating",
                    target.service
                );
            }
        },
    );
    browser.finish();
}

#[test]
#[ignore = "needs locust and chromium"]
fn the_servers_tab_in_wine_labs_web_mode_in_a_real_browser() {
    common::require("locust");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let mut lab = common::Guarded(
        Command::new(common::binary("wine-lab"))
            .args(["--web-host", "127.0.0.1", "--web-port", &port.to_string()])
            .process_group(0)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start wine-lab"),
    );
    let mut said = BufReader::new(lab.0.stderr.take().expect("its stderr")).lines();
    let mut seen = Vec::new();
    while !seen
        .last()
        .is_some_and(|line: &String| line.contains("Locust web UI"))
    {
        match said.next() {
            Some(Ok(line)) => seen.push(line),
            _ => panic!("wine-lab stopped before its web UI was up: {seen:?}"),
        }
    }
    std::thread::spawn(move || said.for_each(drop));
    let url = format!("http://127.0.0.1:{port}/");
    let (browser, reading) = phase(
        &format!("{url}: {USERS} users, spawn rate {SPAWN_RATE}, Start, the Servers tab"),
        || Browser::start(&url, "servers-tab-wine-lab"),
    );
    assert_no_problems(
        "the Servers tab in wine-lab's web mode",
        &servers_tab_problems(&reading),
        &reading,
    );
    browser.finish();
    // Ctrl-C, as a terminal sends it to the foreground job's group.
    common::signal(lab.0.id(), libc::SIGINT);
    let status = common::wait_with_timeout(&mut lab.0, Duration::from_secs(30));
    assert!(status.success(), "wine-lab after Ctrl-C: {status}");
}
