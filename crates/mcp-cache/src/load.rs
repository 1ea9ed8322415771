//! [`CacheLayer::get_or_load`]: the cache for handler code, through the
//! same tiers, single-flight and stale rules as the layer.

use std::{future::Future, sync::Arc, time::Duration};

use mcp_service::{
    CacheHint, CacheKey, CacheScope, McpError, McpResponse, Outcome, ParamsDigest, Partition,
    RpcError,
};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    core::Found,
    flight::{Join, Landing},
    freshness::Rule,
    generations::{Tag, Tags},
    layer::CacheLayer,
    plan::Plan,
    signals::Tier,
};

/// The method name `get_or_load` keys live under, apart from requests'.
const LOAD: &str = "mcp-stack/load";

/// The key of a `get_or_load` value.
pub(crate) fn load_key(key: &str) -> Option<CacheKey> {
    let digest = ParamsDigest::of_value(key).ok()?;
    Some(CacheKey::new(LOAD, digest, None, Partition::Public))
}

/// A value kept for handler code: stored as JSON in the shared tier.
#[derive(Clone)]
pub(crate) struct Loaded<T>(pub(crate) T);

impl<T: Serialize + DeserializeOwned> McpResponse for Loaded<T> {
    fn outcome(&self) -> Outcome {
        Outcome::Complete
    }

    fn cache_hint(&self) -> CacheHint {
        CacheHint::default()
    }

    fn weight(&self) -> usize {
        serde_json::to_vec(&self.0).map_or(usize::MAX, |bytes| bytes.len())
    }

    fn encode(&self) -> Result<Vec<u8>, McpError> {
        serde_json::to_vec(&self.0).map_err(|error| RpcError::internal(error.to_string()).into())
    }

    fn decode(bytes: &[u8]) -> Result<Self, McpError> {
        serde_json::from_slice(bytes)
            .map(Loaded)
            .map_err(|error| RpcError::internal(error.to_string()).into())
    }
}

impl CacheLayer {
    /// The value kept under `key`, or the one `load` returns, kept for
    /// `ttl` (capped by `max_ttl`): the `@cached` decorator of handler
    /// code, for an upstream API or a database query.
    ///
    /// Concurrent calls with one key run `load` once; the others get its
    /// value, or its error (shared, as `Arc<E>`, and never kept). With
    /// stale-while-revalidate on, a stale value is returned at once and
    /// refreshed in the background; with stale-if-error, a failing `load`
    /// is answered with the stale value. Values are shared by every caller
    /// of the key and, with Redis, by every node, as JSON.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::time::Duration;
    /// let cache = mcp_cache::CacheLayer::new();
    /// let forecast: Result<String, _> = cache
    ///     .get_or_load("forecast:paris", Duration::from_secs(60), || async {
    ///         Ok::<_, std::io::Error>("sunny".to_owned())
    ///     })
    ///     .await;
    /// assert_eq!(forecast.unwrap(), "sunny");
    /// # });
    /// ```
    pub async fn get_or_load<T, E, F, Fut>(
        &self,
        key: &str,
        ttl: Duration,
        load: F,
    ) -> Result<T, Arc<E>>
    where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
        E: Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let core = &self.core;
        let Some(public) = load_key(key) else {
            return load().await.map_err(Arc::new);
        };
        let tags = Tags::new(&[Tag::Method(LOAD), Tag::Key(public)]);
        let plan = Plan {
            rule: Rule::ttl(ttl).with_scope(CacheScope::Public),
            public,
            principal: None,
            private: None,
        };
        let call = || async move { load().await.map(Loaded).map_err(Arc::new) };
        for _ in 0..3 {
            let (target, stale) = match core.find::<Loaded<T>>(&plan, core.clock.nanos()) {
                Found::Hit {
                    value,
                    target,
                    revalidate,
                    ..
                } => {
                    if !revalidate {
                        core.signals.hit(Tier::L1);
                        return Ok(value.0);
                    }
                    core.signals.stale(Tier::L1);
                    if let (Join::Lead(leader), Ok(runtime)) = (
                        core.join(target, None),
                        tokio::runtime::Handle::try_current(),
                    ) {
                        let core = core.clone();
                        runtime.spawn(async move {
                            let _ = core
                                .lead(leader, &plan, &tags, target, None, call(), |_: &Arc<E>| {
                                    false
                                })
                                .await;
                        });
                    }
                    return Ok(value.0);
                }
                Found::Miss { target, stale } => (target, stale),
                Found::Bypass => break,
            };
            match core.join(target, None) {
                Join::Lead(leader) => {
                    return core
                        .lead(leader, &plan, &tags, target, stale, call(), |_: &Arc<E>| {
                            true
                        })
                        .await
                        .map(|(value, _)| value.0);
                }
                Join::Follow(flight) => match core.follow(&flight, None).await {
                    Ok(Landing::Value { value, .. }) => {
                        if let Some(value) = value.downcast_ref::<Loaded<T>>() {
                            core.signals.coalesced();
                            return Ok(value.0.clone());
                        }
                    }
                    Ok(Landing::Failed(error)) => {
                        if let Ok(error) = error.downcast::<Arc<E>>() {
                            return Err((*error).clone());
                        }
                    }
                    Ok(Landing::Unshared | Landing::Abandoned) => {}
                    // Waited past the flight's deadline: load it here.
                    Err(_) => break,
                },
            }
        }
        call().await.map(|value| value.0)
    }
}
