//! What stands between a request's body and the router: a 413 answered from
//! the declared `Content-Length` before a byte of the body is read, a budget
//! of bytes that all in-flight bodies together may hold, and a deadline for
//! a body that stops arriving.
//!
//! Measured before this existed (issue 12): 1,000 clients each sending
//! 1 MiB − 1 of body and then stalling held 1.07 GB for as long as they
//! liked, and a declared 10 GiB body with `Expect: 100-continue` got
//! `100 Continue` and was read until 1 MiB had arrived.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::future::RouteFuture;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use pin_project_lite::pin_project;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower_service::Service;

use crate::api;

/// The router behind the body checks; one per server, cloned per connection.
#[derive(Clone)]
pub(super) struct BodyGuard {
    router: Router,
    shared: Arc<Shared>,
}

/// What every connection's guard shares.
struct Shared {
    max_body_bytes: usize,
    body_read_timeout: Duration,
    /// Bytes that bodies being read or handled may still claim, one permit a byte.
    budget: Arc<Semaphore>,
}

impl BodyGuard {
    /// Guards `router`, whose requests' bodies are at most `max_body_bytes`,
    /// with `max_body_memory` bytes shared by all bodies in flight (at least
    /// `max_body_bytes`, so that every acceptable body can be read) and a
    /// `body_read_timeout` for each body.
    pub(super) fn new(
        router: Router,
        max_body_bytes: usize,
        max_body_memory: usize,
        body_read_timeout: Duration,
    ) -> Self {
        let permits = max_body_memory.min(Semaphore::MAX_PERMITS);
        BodyGuard {
            router,
            shared: Arc::new(Shared {
                max_body_bytes,
                body_read_timeout,
                budget: Arc::new(Semaphore::new(permits)),
            }),
        }
    }
}

impl hyper::service::Service<Request<Incoming>> for BodyGuard {
    type Response = Response;
    type Error = Infallible;
    type Future = Guarded;

    fn call(&self, request: Request<Incoming>) -> Guarded {
        let shared = &self.shared;
        // hyper's size hint is exact for a Content-Length body (and zero for
        // none); a chunked body may be anything up to the limit.
        let claim = match request.body().size_hint().exact() {
            Some(0) => return Guarded::route(self.router.clone().call(request), None),
            Some(declared) if declared > shared.max_body_bytes as u64 => {
                // Answered without polling the body, so hyper sends no
                // `100 Continue` and closes the connection instead of reading it.
                return Guarded::ready(api::payload_too_large(shared.max_body_bytes));
            }
            Some(declared) => declared as usize,
            None => shared.max_body_bytes,
        };
        let claim = u32::try_from(claim).unwrap_or(u32::MAX);
        let timeout = shared.body_read_timeout;
        let request = request.map(|body| DeadlineBody::new(body, timeout));
        match Arc::clone(&shared.budget).try_acquire_many_owned(claim) {
            Ok(permit) => Guarded::route(self.router.clone().call(request), Some(permit)),
            // The budget is spent: wait for it, for as long as a body may take.
            Err(_) => {
                let budget = Arc::clone(&shared.budget);
                let mut router = self.router.clone();
                Guarded::waiting(Box::pin(async move {
                    match tokio::time::timeout(timeout, budget.acquire_many_owned(claim)).await {
                        Ok(Ok(_permit)) => match router.call(request).await {
                            Ok(response) => response,
                            Err(never) => match never {},
                        },
                        Ok(Err(_)) | Err(_) => busy(),
                    }
                }))
            }
        }
    }
}

/// 503 when the body budget stayed spent for a whole body-read timeout.
fn busy() -> Response {
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        r#"{"detail":"Too many request bodies in flight; retry later"}"#,
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

pin_project! {
    /// The response future of a guarded request: the router's own future
    /// (holding the body's share of the budget until the answer is ready),
    /// an answer given at once, or, only when the budget is spent, a boxed wait.
    #[project = GuardedProj]
    pub(super) enum Guarded {
        Route { #[pin] future: RouteFuture<Infallible>, permit: Option<OwnedSemaphorePermit> },
        Ready { response: Option<Response> },
        Waiting { future: Pin<Box<dyn Future<Output = Response> + Send>> },
    }
}

impl Guarded {
    fn route(future: RouteFuture<Infallible>, permit: Option<OwnedSemaphorePermit>) -> Self {
        Guarded::Route { future, permit }
    }

    fn ready(response: Response) -> Self {
        Guarded::Ready {
            response: Some(response),
        }
    }

    fn waiting(future: Pin<Box<dyn Future<Output = Response> + Send>>) -> Self {
        Guarded::Waiting { future }
    }
}

impl Future for Guarded {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            GuardedProj::Route { future, permit } => {
                let response = std::task::ready!(future.poll(cx));
                // The body and everything decoded from it are gone now.
                permit.take();
                Poll::Ready(response)
            }
            GuardedProj::Ready { response } => Poll::Ready(Ok(response.take().unwrap_or_default())),
            GuardedProj::Waiting { future } => future.as_mut().poll(cx).map(Ok),
        }
    }
}

pin_project! {
    /// A request body that fails once it has kept the server waiting for
    /// longer than the body-read timeout in total.
    ///
    /// The clock starts the first time the body is not ready, so a body that
    /// came with its headers (every request of the lab's load) never touches
    /// the timer. (tower-http's `RequestBodyTimeout` would arm a timer on
    /// every frame and restart it after each one, so a body dripping one byte
    /// just under the timeout would never end; tower-http 0.7.1,
    /// src/timeout/body.rs.)
    pub(super) struct DeadlineBody {
        #[pin]
        inner: Incoming,
        timeout: Duration,
        deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    }
}

impl DeadlineBody {
    fn new(inner: Incoming, timeout: Duration) -> Self {
        DeadlineBody {
            inner,
            timeout,
            deadline: None,
        }
    }
}

/// The error of a body that did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub(super) struct BodyTimedOut(Duration);

impl Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let timeout = *this.timeout;
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimedOut(timeout).into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
