//! Timing every request for `GET /metrics`: the outermost service hyper
//! calls, so its clock starts as soon as hyper has parsed a request's
//! headers and stops when hyper drops the response body, that is once the
//! body is in the connection's write buffer (or the connection is gone).
//!
//! hyper reads a whole small request in one read, so "headers parsed" is
//! microseconds after the first byte read; the time hyper takes to parse
//! the headers themselves is not counted.
//!
//! Cost: one `Instant::now()` at each end, an `Arc` clone, and atomic adds
//! on counters resolved at start-up (see [`crate::metrics`]); no lock, no
//! allocation.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::http::{Request, Response};
use hyper::body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::metrics::{Route, ServerMetrics};

/// Times the requests of the service it wraps (into `metrics`; with `None`
/// it only passes them through, for a server started without metrics).
#[derive(Clone)]
pub(super) struct Timed<S> {
    inner: S,
    metrics: Option<Arc<ServerMetrics>>,
}

impl<S> Timed<S> {
    pub(super) fn new(inner: S, metrics: Option<Arc<ServerMetrics>>) -> Self {
        Timed { inner, metrics }
    }
}

impl<S, B, ResBody> hyper::service::Service<Request<B>> for Timed<S>
where
    S: hyper::service::Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<TimedBody<ResBody>>;
    type Error = S::Error;
    type Future = TimedFuture<S::Future>;

    fn call(&self, request: Request<B>) -> Self::Future {
        let clock = self
            .metrics
            .as_ref()
            .map(|metrics| Clock::start(Arc::clone(metrics), Route::of(request.uri().path())));
        TimedFuture {
            inner: self.inner.call(request),
            clock,
        }
    }
}

/// A request's clock, from [`Timed::call`] until its response body is
/// dropped; it records the request when it is dropped itself.
struct Clock {
    metrics: Arc<ServerMetrics>,
    route: Route,
    status: Option<u16>,
    started: Instant,
}

impl Clock {
    fn start(metrics: Arc<ServerMetrics>, route: Route) -> Self {
        metrics.started();
        Clock {
            metrics,
            route,
            status: None,
            started: Instant::now(),
        }
    }
}

impl Drop for Clock {
    fn drop(&mut self) {
        self.metrics
            .ended(self.route, self.status, self.started.elapsed());
    }
}

pin_project! {
    /// The wrapped service's future; its response carries the clock on.
    pub(super) struct TimedFuture<F> {
        #[pin]
        inner: F,
        clock: Option<Clock>,
    }
}

impl<F, ResBody, E> Future for TimedFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<TimedBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = std::task::ready!(this.inner.poll(cx))?;
        let mut clock = this.clock.take();
        if let Some(clock) = &mut clock {
            clock.status = Some(response.status().as_u16());
        }
        Poll::Ready(Ok(response.map(|inner| TimedBody { inner, clock })))
    }
}

pin_project! {
    /// A response body that stops its request's clock when hyper drops it.
    pub(super) struct TimedBody<B> {
        #[pin]
        inner: B,
        clock: Option<Clock>,
    }
}

impl<B: Body> Body for TimedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
