//! [`Cache`]: the service [`CacheLayer`](crate::CacheLayer) wraps around
//! an inner MCP service.

use std::{
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use mcp_service::{McpError, McpRequest, McpResponse};
use serde_json::json;
use tower::ServiceExt;
use tower_service::Service;

use crate::{
    core::{Begin, Core, Fill, Found, Served},
    entry::Entry,
    flight::{Flight, Join, Landing},
    future::ResponseFuture,
    generations::Tags,
    plan::{Plan, Target},
    signals::Tier,
};

/// The `_meta` member the hit marker sets on served results.
pub const HIT_MARKER: &str = "dev.mcp-stack/cache";

/// Answers cacheable requests from the tiers and sends the rest, and the
/// misses, to the inner service. Clones share one cache.
#[derive(Clone)]
pub struct Cache<S> {
    inner: S,
    core: Arc<Core>,
}

impl<S> std::fmt::Debug for Cache<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").finish_non_exhaustive()
    }
}

impl<S> Cache<S> {
    pub(crate) fn new(inner: S, core: Arc<Core>) -> Self {
        Self { inner, core }
    }
}

impl<S, Req> Service<Req> for Cache<S>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Response: McpResponse + Clone + Send + Sync + 'static,
    S::Error: Into<McpError>,
    S::Future: Send,
    Req: McpRequest + Clone + Send + 'static,
{
    type Response = S::Response;
    type Error = McpError;
    type Future = ResponseFuture<S, Req>;

    /// The inner service's readiness: a miss calls it at once. Layers below
    /// the cache take their slots in `call` (mcp-limit's do), so a hit
    /// that leaves that readiness unused holds nothing.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let core = &self.core;
        if !core.enabled {
            return ResponseFuture::direct(self.inner.call(request));
        }
        let Some(plan) = core.rules.plan(&request) else {
            core.signals.bypass();
            return ResponseFuture::direct(self.inner.call(request));
        };
        let seen = core.flights.landings();
        // One reading serves the lookup and the flight a miss starts.
        let now = core.clock.nanos();
        match core.find::<S::Response>(&plan, now) {
            Found::Hit {
                value,
                served,
                target,
                revalidate,
            } => {
                if revalidate {
                    core.signals.stale(Tier::L1);
                    self.refresh(plan, target, request);
                } else {
                    core.signals.hit(Tier::L1);
                }
                ResponseFuture::ready(Ok(core.mark(value, served)))
            }
            Found::Bypass => {
                core.signals.bypass();
                ResponseFuture::direct(self.inner.call(request))
            }
            Found::Miss { target, stale } => self.miss(request, plan, target, stale, seen, now),
        }
    }
}

impl<S> Cache<S> {
    /// A miss. The common one, with no call of the same in flight and no
    /// shared tier to ask first, is a named future around the inner call:
    /// no box, no clone. The rest (following another's call, asking Redis)
    /// waits, and is boxed. `seen` is the flights' landings before the
    /// lookup, `now` the clock as the lookup read it.
    fn miss<Req>(
        &mut self,
        request: Req,
        plan: Plan,
        target: Target,
        stale: Option<Arc<Entry>>,
        seen: u64,
        now: u64,
    ) -> ResponseFuture<S, Req>
    where
        S: Service<Req> + Clone + Send + 'static,
        S::Response: McpResponse + Clone + Send + Sync + 'static,
        S::Error: Into<McpError>,
        S::Future: Send,
        Req: McpRequest + Send + 'static,
    {
        let core = &self.core;
        let tags = plan.tags(&request);
        if !core.has_shared_tier()
            && let Join::Lead(leader) = core.join_at(target, Some(seen), now)
        {
            return match core.begin::<S::Response>(leader, &plan, &tags, target) {
                Begin::Answered(value, served) => {
                    core.signals.hit(Tier::L1);
                    ResponseFuture::ready(Ok(core.mark(value, served)))
                }
                Begin::Fill(fill) => {
                    core.signals.miss();
                    let call = self.inner.call(request);
                    ResponseFuture::filling(
                        call,
                        Filling {
                            core: core.clone(),
                            fill,
                            plan,
                            target,
                            stale,
                        },
                    )
                }
            };
        }
        // The ready service goes into the future; this one readies anew.
        let inner = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, inner);
        ResponseFuture::resolve(Box::pin(resolve(
            core.clone(),
            inner,
            request,
            plan,
            tags,
            target,
            stale,
        )))
    }
}

/// What a named miss must do once its call returns.
pub(crate) struct Filling {
    core: Arc<Core>,
    fill: Fill,
    plan: Plan,
    target: Target,
    stale: Option<Arc<Entry>>,
}

impl Filling {
    /// Keeps, lands and marks the call's `result`.
    pub(crate) fn finish<R>(self, result: Result<R, McpError>) -> Result<R, McpError>
    where
        R: McpResponse + Clone + Send + Sync + 'static,
    {
        let Self {
            core,
            fill,
            plan,
            target,
            stale,
        } = self;
        let (value, served) = core.finish(fill, &plan, target, stale, result, serves_stale)?;
        Ok(core.mark(value, served))
    }
}

impl<S> Cache<S> {
    /// Refreshes a stale entry in the background, once per key, while the
    /// stale one is served (stale-while-revalidate).
    fn refresh<Req>(&self, plan: Plan, target: Target, request: Req)
    where
        S: Service<Req> + Clone + Send + 'static,
        S::Response: McpResponse + Clone + Send + Sync + 'static,
        S::Error: Into<McpError>,
        S::Future: Send,
        Req: McpRequest + Send + 'static,
    {
        let Join::Lead(leader) = self.core.join(target, None) else {
            return;
        };
        // Outside a runtime nothing can run in the background: the leader
        // is dropped and the next request past the window fills instead.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let core = self.core.clone();
        let tags = plan.tags(&request);
        let call = self.inner.clone().oneshot(request);
        runtime.spawn(async move {
            let call = async move { call.await.map_err(Into::into) };
            let _ = core
                .lead(leader, &plan, &tags, target, None, call, |_: &McpError| {
                    false
                })
                .await;
        });
    }
}

/// Errors a stale entry may answer for: the server or what it depends on
/// failed, not the request.
pub(crate) fn serves_stale(error: &McpError) -> bool {
    match error {
        McpError::Rpc(error) => !error.is_client_error(),
        McpError::Cancelled | McpError::TooLarge { .. } => false,
        _ => true,
    }
}

impl Core {
    /// The value as served, with the hit marker when it is on.
    pub(crate) fn mark<R: McpResponse>(&self, mut value: R, served: Served) -> R {
        if let (true, Served::Cached { tier, age, stale }) = (self.hit_marker, served) {
            let age_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
            value.insert_meta(
                HIT_MARKER,
                json!({ "tier": tier.as_str(), "ageMs": age_ms, "stale": stale }),
            );
        }
        value
    }

    /// Waits for another request's call, as long as the flight's deadline
    /// and the asker's patience allow.
    pub(crate) async fn follow(
        &self,
        flight: &Flight,
        cancellation: Option<tokio_util::sync::CancellationToken>,
    ) -> Result<Landing, McpError> {
        let waited = Duration::from_nanos(self.clock.nanos().saturating_sub(flight.started()));
        let deadline = tokio::time::sleep(self.flight_timeout.saturating_sub(waited));
        let cancelled = async move {
            match cancellation {
                Some(token) => token.cancelled_owned().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            landing = flight.wait() => Ok(landing),
            () = deadline => Err(McpError::Timeout { after: self.flight_timeout }),
            () = cancelled => Err(McpError::Cancelled),
        }
    }
}

/// A miss: lead the key's flight or follow it; when the flight's answer is
/// not for this asker, look again; after a few tries, call directly.
async fn resolve<S, Req>(
    core: Arc<Core>,
    inner: S,
    request: Req,
    plan: Plan,
    tags: Tags,
    mut target: Target,
    mut stale: Option<Arc<Entry>>,
) -> Result<S::Response, McpError>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Response: McpResponse + Clone + Send + Sync + 'static,
    S::Error: Into<McpError>,
    S::Future: Send,
    Req: McpRequest + Send + 'static,
{
    for _ in 0..3 {
        match core.join(target, None) {
            Join::Lead(leader) => {
                let call = inner.oneshot(request);
                let call = async move { call.await.map_err(Into::into) };
                let (value, served) = core
                    .lead(leader, &plan, &tags, target, stale, call, serves_stale)
                    .await?;
                return Ok(core.mark(value, served));
            }
            Join::Follow(flight) => {
                let cancellation = request.cancellation().cloned();
                match core.follow(&flight, cancellation).await? {
                    Landing::Value { value, sharing } if sharing.admits(plan.principal) => {
                        if let Some(value) = value.downcast_ref::<S::Response>() {
                            core.signals.coalesced();
                            return Ok(value.clone());
                        }
                    }
                    Landing::Failed(error) => {
                        if let Some(error) = error.downcast_ref::<McpError>() {
                            return Err(error.clone());
                        }
                    }
                    Landing::Unshared => break,
                    // Abandoned, or private to someone else: look again.
                    Landing::Value { .. } | Landing::Abandoned => {}
                }
            }
        }
        match core.find::<S::Response>(&plan, core.clock.nanos()) {
            Found::Hit { value, served, .. } => {
                core.signals.hit(Tier::L1);
                return Ok(core.mark(value, served));
            }
            Found::Miss {
                target: next,
                stale: older,
            } => (target, stale) = (next, older),
            Found::Bypass => break,
        }
    }
    core.signals.bypass();
    inner.oneshot(request).await.map_err(Into::into)
}
