//! [`ResponseFuture`]: records the outcome, or hands the permit back if dropped.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use mcp_service::{McpError, McpResponse};
use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::state::{Circuit, Permit};
use crate::classify::Classifier;

pin_project! {
    /// The response future of [`CircuitBreaker`](super::CircuitBreaker).
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProjection]
    enum Kind<F> {
        Admitted {
            #[pin]
            future: F,
            guard: Guard,
        },
        Rejected {
            error: Option<McpError>,
        },
    }
}

/// The permit of a call in flight; hands it back if the call is dropped
/// before its outcome is recorded.
struct Guard {
    circuit: Arc<Circuit>,
    permit: Option<Permit>,
    classifier: Classifier,
    started: Option<Instant>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.circuit.release(permit);
        }
    }
}

impl<F> ResponseFuture<F> {
    /// Asks `circuit` for leave to call, and makes the call with `call` only
    /// when given it; a rejection is counted and answered at once.
    pub(crate) fn admit(
        circuit: &Arc<Circuit>,
        classifier: Classifier,
        call: impl FnOnce() -> F,
    ) -> Self {
        match circuit.acquire(Instant::now) {
            Ok(permit) => {
                // The clock is read only when slow calls are judged.
                let started = circuit.measures_duration().then(Instant::now);
                Self::admitted(call(), circuit.clone(), permit, classifier, started)
            }
            Err(retry_after) => {
                circuit.count_rejection();
                Self::rejected(McpError::CircuitOpen { retry_after })
            }
        }
    }

    fn admitted(
        future: F,
        circuit: Arc<Circuit>,
        permit: Permit,
        classifier: Classifier,
        started: Option<Instant>,
    ) -> Self {
        let guard = Guard {
            circuit,
            permit: Some(permit),
            classifier,
            started,
        };
        Self {
            kind: Kind::Admitted { future, guard },
        }
    }

    fn rejected(error: McpError) -> Self {
        Self {
            kind: Kind::Rejected { error: Some(error) },
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    T: McpResponse,
    E: Into<McpError>,
{
    type Output = Result<T, McpError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProjection::Admitted { future, guard } => {
                let result = ready!(future.poll(cx)).map_err(Into::into);
                if let Some(permit) = guard.permit.take() {
                    let verdict = guard.classifier.classify(&result);
                    let elapsed = guard.started.map(|started| started.elapsed());
                    guard
                        .circuit
                        .record_with(permit, verdict, elapsed, Instant::now);
                }
                Poll::Ready(result)
            }
            KindProjection::Rejected { error } => {
                Poll::Ready(Err(error.take().unwrap_or_else(|| {
                    McpError::unavailable("response future polled after completion")
                })))
            }
        }
    }
}
