//! [`ThreadCopies`]: a service called from `&self` without a clone per call.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering::Relaxed},
    },
    task::{Context, Poll, Waker},
};

use pin_project_lite::pin_project;
use tower::{ServiceExt, util::Oneshot};
use tower_service::Service;

/// Copies of a service, one per shard of threads, so code that holds it by
/// `&self` (an rmcp handler, a router) can call it without cloning it.
///
/// The usual `service.clone().oneshot(request)` clones every layer of a
/// stack, and so touches every layer's shared reference counts; with a
/// runtime's threads all doing it, those counts bounce between cores. On
/// the project's 2-core VM a clone and drop of the whole mcp-stack took
/// 86 ns on one thread and 1.4 µs on each of two at once. A call here
/// locks its thread's copy (a lock no other thread normally touches),
/// and calls it when it is ready at once, as every mcp-stack layer is.
/// When the copy is busy (another thread of the same shard holds it) or
/// not ready, the call goes to a clone that waits until it is ready.
///
/// Clones share the copies.
pub struct ThreadCopies<S> {
    service: S,
    copies: Arc<[Mutex<S>]>,
}

/// Enough for every worker thread of a large machine to have its own.
const MAX_SHARDS: usize = 256;

impl<S: Clone> ThreadCopies<S> {
    /// Copies of `service`: twice as many as the machine has threads, so
    /// a runtime's workers rarely share one.
    pub fn new(service: S) -> Self {
        let shards = std::thread::available_parallelism().map_or(4, |n| n.get() * 2);
        let copies = (0..shards.min(MAX_SHARDS))
            .map(|_| Mutex::new(service.clone()))
            .collect();
        Self { service, copies }
    }

    /// Calls one of the copies with `request`, as `oneshot` would a clone.
    pub fn oneshot<R>(&self, request: R) -> CopyCall<S, R>
    where
        S: Service<R>,
    {
        let shard = &self.copies[shard_of_thread() % self.copies.len()];
        if let Ok(mut copy) = shard.try_lock() {
            let mut cx = Context::from_waker(Waker::noop());
            match copy.poll_ready(&mut cx) {
                Poll::Ready(Ok(())) => {
                    return CopyCall::new(State::Now {
                        future: copy.call(request),
                    });
                }
                Poll::Ready(Err(error)) => {
                    return CopyCall::new(State::Failed { error: Some(error) });
                }
                Poll::Pending => {}
            }
        }
        CopyCall::new(State::Later {
            oneshot: self.service.clone().oneshot(request),
        })
    }
}

impl<S> ThreadCopies<S> {
    /// The service the copies were made of.
    pub fn get_ref(&self) -> &S {
        &self.service
    }
}

impl<S: Clone> Clone for ThreadCopies<S> {
    fn clone(&self) -> Self {
        Self {
            service: self.service.clone(),
            copies: self.copies.clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for ThreadCopies<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadCopies")
            .field("service", &self.service)
            .field("copies", &self.copies.len())
            .finish()
    }
}

/// The shard of copies the calling thread uses: threads are numbered as
/// they first call, so the workers of a runtime take different shards.
fn shard_of_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Relaxed);
    }
    SHARD.with(|shard| *shard)
}

pin_project! {
    /// The call [`ThreadCopies::oneshot`] started.
    pub struct CopyCall<S, R>
    where
        S: Service<R>,
    {
        #[pin]
        state: State<S, R>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, R>
    where
        S: Service<R>,
    {
        // Started on the thread's copy.
        Now { #[pin] future: S::Future },
        // Waiting for a clone to be ready.
        Later { #[pin] oneshot: Oneshot<S, R> },
        // The copy's readiness failed; the error until it is returned.
        Failed { error: Option<S::Error> },
    }
}

impl<S: Service<R>, R> CopyCall<S, R> {
    fn new(state: State<S, R>) -> Self {
        Self { state }
    }
}

impl<S: Service<R>, R> Future for CopyCall<S, R> {
    type Output = Result<S::Response, S::Error>;

    #[expect(clippy::panic, reason = "polling a finished future is a caller's bug")]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Now { future } => future.poll(cx),
            StateProj::Later { oneshot } => oneshot.poll(cx),
            StateProj::Failed { error } => match error.take() {
                Some(error) => Poll::Ready(Err(error)),
                None => panic!("CopyCall polled after it finished"),
            },
        }
    }
}

impl<S: Service<R>, R> fmt::Debug for CopyCall<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Now { .. } => "Now",
            State::Later { .. } => "Later",
            State::Failed { .. } => "Failed",
        };
        f.debug_tuple("CopyCall").field(&state).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    use super::*;

    /// Counts its clones; ready unless `ready` is false, failing readiness
    /// when `fail` is set.
    struct Counted {
        clones: Arc<AtomicUsize>,
        ready: bool,
        fail: bool,
    }

    impl Clone for Counted {
        fn clone(&self) -> Self {
            self.clones.fetch_add(1, SeqCst);
            Self {
                clones: self.clones.clone(),
                ready: self.ready,
                fail: self.fail,
            }
        }
    }

    impl Service<u32> for Counted {
        type Response = u32;
        type Error = &'static str;
        type Future = std::future::Ready<Result<u32, &'static str>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), &'static str>> {
            if self.fail {
                return Poll::Ready(Err("broken"));
            }
            if !self.ready {
                // Ready next time: a waiting clone gets there.
                self.ready = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: u32) -> Self::Future {
            std::future::ready(Ok(request * 2))
        }
    }

    fn copies(ready: bool, fail: bool) -> (ThreadCopies<Counted>, Arc<AtomicUsize>) {
        let clones = Arc::new(AtomicUsize::new(0));
        let service = Counted {
            clones: clones.clone(),
            ready,
            fail,
        };
        let copies = ThreadCopies::new(service);
        clones.store(0, SeqCst);
        (copies, clones)
    }

    #[tokio::test]
    async fn a_ready_copy_is_called_without_a_clone() {
        let (copies, clones) = copies(true, false);
        for n in 0..1_000 {
            assert_eq!(copies.oneshot(n).await, Ok(n * 2));
        }
        assert_eq!(clones.load(SeqCst), 0);
    }

    #[tokio::test]
    async fn a_copy_not_ready_hands_the_call_to_a_clone_that_waits() {
        let (copies, clones) = copies(false, false);
        assert_eq!(copies.oneshot(1).await, Ok(2));
        assert_eq!(clones.load(SeqCst), 1, "the copy was not ready: a clone");
        // The copy asked first is ready now.
        assert_eq!(copies.oneshot(2).await, Ok(4));
        assert_eq!(clones.load(SeqCst), 1);
    }

    #[tokio::test]
    async fn failed_readiness_is_the_calls_error() {
        let (copies, _) = copies(true, true);
        assert_eq!(copies.oneshot(1).await, Err("broken"));
    }

    #[test]
    fn a_copy_held_by_another_call_is_not_waited_for() {
        let (copies, clones) = copies(true, false);
        let shard = &copies.copies[shard_of_thread() % copies.copies.len()];
        let _held = shard.lock().unwrap();
        let call = copies.oneshot(3);
        assert_eq!(format!("{call:?}"), "CopyCall(\"Later\")");
        assert_eq!(clones.load(SeqCst), 1);
        assert_eq!(futures_now(call), Some(Ok(6)));
    }

    fn futures_now<F: Future>(future: F) -> Option<F::Output> {
        let mut future = std::pin::pin!(future);
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(output) => Some(output),
            Poll::Pending => None,
        }
    }
}
