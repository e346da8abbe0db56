//! Stopping without failing the requests of a load generator that stops later.
//!
//! Under Docker Compose the servers stop before Locust: in the seed's file each
//! server `links` to `locust`, and Compose stops a service only after those that
//! depend on it. A server that closed at once would fail every request Locust
//! still sends, and those failures, caused by the stop alone, would end up in
//! the report the student keeps. So after its stop signal a server goes on
//! serving for a moment, says in every answer that it is stopping (the
//! [`STOPPING_HEADER`]; the lab's Locust extension, `locust_servers.py`, stops
//! the test once every server has said so, and tests/extension.rs holds the two
//! names equal), and stops once no request has come for [`QUIET`], or
//! [`LINGER_LIMIT`] after the signal at the latest, for clients that do not
//! listen.
//!
//! Cost while serving: one relaxed atomic load per request.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tokio::time::Instant;

/// The header every answer carries once the server got its stop signal.
pub const STOPPING_HEADER: HeaderName = HeaderName::from_static("wine-server-stopping");

/// A stopping server stops when no request came for this long: long enough
/// for Locust to stop its users after the last server has said so (a few
/// milliseconds, a master's message to its workers included).
pub const QUIET: Duration = Duration::from_millis(250);

/// A stopping server stops at the latest this long after its stop signal,
/// whatever its clients do; with [`super::DRAIN_TIMEOUT`] for the requests
/// then in flight, still under Docker's 10 s before SIGKILL.
pub const LINGER_LIMIT: Duration = Duration::from_secs(3);

/// Whether the server is stopping, and how many requests came since.
#[derive(Clone, Default)]
pub(super) struct Stopping {
    state: Arc<State>,
}

#[derive(Default)]
struct State {
    stopping: AtomicBool,
    requests_since: AtomicU64,
}

impl Stopping {
    /// From now on, every answer says the server is stopping.
    pub(super) fn begin(&self) {
        self.state.stopping.store(true, Ordering::Relaxed);
    }

    /// Resolves once no request has come for [`QUIET`], or [`LINGER_LIMIT`]
    /// after it was called.
    pub(super) async fn until_quiet(&self) {
        let deadline = Instant::now() + LINGER_LIMIT;
        let mut seen = self.state.requests_since.load(Ordering::Relaxed);
        loop {
            tokio::time::sleep_until((Instant::now() + QUIET).min(deadline)).await;
            let now = self.state.requests_since.load(Ordering::Relaxed);
            if now == seen || Instant::now() >= deadline {
                return;
            }
            seen = now;
        }
    }

    fn note_request(&self) -> bool {
        let stopping = self.state.stopping.load(Ordering::Relaxed);
        if stopping {
            self.state.requests_since.fetch_add(1, Ordering::Relaxed);
        }
        stopping
    }
}

/// Passes requests to the service it wraps, and marks each answer with the
/// [`STOPPING_HEADER`] once [`Stopping::begin`] was called.
#[derive(Clone)]
pub(super) struct Announce<S> {
    inner: S,
    stopping: Stopping,
}

impl<S> Announce<S> {
    pub(super) fn new(inner: S, stopping: Stopping) -> Self {
        Announce { inner, stopping }
    }
}

impl<S, B, ResBody> hyper::service::Service<Request<B>> for Announce<S>
where
    S: hyper::service::Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = AnnounceFuture<S::Future>;

    fn call(&self, request: Request<B>) -> Self::Future {
        AnnounceFuture {
            inner: self.inner.call(request),
            stopping: self.stopping.note_request(),
        }
    }
}

pin_project! {
    /// The wrapped service's future; marks its answer if the server is stopping.
    pub(super) struct AnnounceFuture<F> {
        #[pin]
        inner: F,
        stopping: bool,
    }
}

impl<F, ResBody, E> Future for AnnounceFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.inner.poll(cx))?;
        if *this.stopping {
            response
                .headers_mut()
                .insert(STOPPING_HEADER, HeaderValue::from_static("1"));
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn quiet_ends_the_linger_at_once_without_requests() {
        let stopping = Stopping::default();
        stopping.begin();
        let started = Instant::now();
        stopping.until_quiet().await;
        assert_eq!(started.elapsed(), QUIET);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_keep_it_serving_until_the_limit() {
        let stopping = Stopping::default();
        stopping.begin();
        let busy = stopping.clone();
        let client = tokio::spawn(async move {
            loop {
                assert!(busy.note_request(), "a stopping server says so");
                tokio::time::sleep(QUIET / 5).await;
            }
        });
        let started = Instant::now();
        stopping.until_quiet().await;
        client.abort();
        assert_eq!(started.elapsed(), LINGER_LIMIT);
    }

    #[tokio::test(start_paused = true)]
    async fn it_stops_one_quiet_spell_after_the_last_request() {
        let stopping = Stopping::default();
        assert!(!stopping.note_request(), "not stopping before begin()");
        stopping.begin();
        let busy = stopping.clone();
        tokio::spawn(async move {
            for _ in 0..5 {
                busy.note_request();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let started = Instant::now();
        stopping.until_quiet().await;
        let took = started.elapsed();
        assert!(
            took > Duration::from_millis(500) && took <= Duration::from_millis(500) + 2 * QUIET,
            "{took:?}"
        );
    }
}
