//! The interactive lab, as the course runs it: the four servers, then
//! Locust's web UI, until Ctrl-C or Locust exits.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::error::LabError;
use super::locust::{self, Locust, LocustFiles};
use super::options::{LabOptions, WebOptions};
use super::servers::{LabServers, LocalStack};
use crate::http_client as http;

/// How long Locust may take to open its web UI.
const WEB_UI_TIMEOUT: Duration = Duration::from_secs(60);

/// Servers, then Locust's web UI, until Ctrl-C (a clean stop) or Locust exits.
pub async fn run(
    locust: &Locust,
    options: &LabOptions,
    web: &WebOptions,
    stop: CancellationToken,
) -> Result<(), LabError> {
    check_web_port_free(web).await?;
    // wine-lab's hook makes Locust's workers die with their master.
    let files = LocustFiles::write(options.locustfile.as_deref(), options.client, None)?;
    let servers = LabServers::start(options, &locust.version).await?;
    let result = session(locust, &files, &servers.stack, web, options.workers, &stop).await;
    servers.stop_after(result).await
}

/// Fails early, before training and starting anything, if Locust could not
/// listen on its web UI's address (most often: a previous stack still runs).
async fn check_web_port_free(web: &WebOptions) -> Result<(), LabError> {
    match TcpListener::bind((web.host.as_str(), web.port)).await {
        Ok(_listener) => Ok(()),
        Err(source) if source.kind() == ErrorKind::AddrInUse => Err(LabError::WebPortInUse {
            host: web.host.clone(),
            port: web.port,
            source,
        }),
        Err(source) => Err(LabError::WebAddressUnusable {
            host: web.host.clone(),
            port: web.port,
            source,
        }),
    }
}

/// Locust with its web UI against the running servers: started, announced
/// once its UI (and every worker) is up, then waited for until it exits or
/// Ctrl-C stops it.
async fn session(
    locust: &Locust,
    files: &LocustFiles,
    stack: &LocalStack,
    web: &WebOptions,
    workers: u32,
    stop: &CancellationToken,
) -> Result<(), LabError> {
    let mut child = locust
        .command(files.paths(), &stack.locust_env(), workers)?
        .args(["--web-host", &web.host, "--web-port", &web.port.to_string()])
        .spawn()
        .map_err(|source| LabError::LocustSpawn { source })?;
    // Wait for the web UI to listen, unless Locust gives up first.
    let ui_host = match web.host.as_str() {
        "0.0.0.0" | "*" => "127.0.0.1",
        "::" => "::1",
        host => host,
    };
    let deadline = Instant::now() + WEB_UI_TIMEOUT;
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|source| LabError::LocustWait { source })?
        {
            return Err(LabError::WebUiNeverStarted { status });
        }
        // With workers, the UI is announced once they are all connected:
        // a swarm started before would be refused.
        if listens(ui_host, web.port).await
            && (workers == 0
                || workers_connected(ui_host, web.port).await >= Some(u64::from(workers)))
        {
            break;
        }
        if stop.is_cancelled() || Instant::now() > deadline {
            let _ = locust::terminate(&mut child).await;
            return Err(if stop.is_cancelled() {
                LabError::Interrupted
            } else {
                LabError::WebUiTimeout {
                    host: ui_host.to_owned(),
                    port: web.port,
                    waited: WEB_UI_TIMEOUT,
                }
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let shown = match web.host.as_str() {
        "127.0.0.1" | "0.0.0.0" => "localhost",
        host => host,
    };
    eprintln!(
        "\nLocust web UI: http://{shown}:{}  (start swarming there; Ctrl-C stops everything)\n",
        web.port
    );
    match locust::wait_or_stop(&mut child, stop).await {
        Ok(None) => {
            eprintln!("stopped Locust and the servers");
            Ok(())
        }
        Ok(Some(status)) if status.success() => Ok(()),
        Ok(Some(status)) => Err(LabError::LocustExited { status }),
        Err(source) => Err(LabError::LocustWait { source }),
    }
}

/// How many workers Locust's master at `host:port` has, from its web UI's
/// `/stats/requests` (its `worker_count`); `None` if it does not say yet.
async fn workers_connected(host: &str, port: u16) -> Option<u64> {
    let stats = http::get_text(host, port, "/stats/requests", Duration::from_secs(2)).await;
    let stats: serde_json::Value = serde_json::from_str(&stats.ok()?).ok()?;
    stats["worker_count"].as_u64()
}

/// Whether something accepts connections at `host:port` (a host that
/// does not answer counts as not yet).
async fn listens(host: &str, port: u16) -> bool {
    let connect = TcpStream::connect((host, port));
    matches!(
        tokio::time::timeout(Duration::from_secs(1), connect).await,
        Ok(Ok(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_taken_web_port_is_found_before_anything_starts() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = taken.local_addr().unwrap().port();
        let web = WebOptions {
            host: "127.0.0.1".into(),
            port,
        };
        let error = check_web_port_free(&web).await.unwrap_err();
        assert!(matches!(error, LabError::WebPortInUse { .. }), "{error}");
        assert!(listens("127.0.0.1", port).await);
        drop(taken);
        check_web_port_free(&web).await.unwrap();
        assert!(!listens("127.0.0.1", port).await);
    }
}
