//! [`ConcurrencyLimitLayer`]: named pools of slots, chosen per request.

use std::{borrow::Cow, collections::HashMap, sync::Arc, time::Duration};

use mcp_metrics::names;
use mcp_service::{ClassSet, McpRequest, MethodClass};
use metrics::Counter;
use tower_layer::Layer;

use super::ConcurrencyLimit;
use crate::{ConfigError, slots::Slots};

/// Which requests a pool takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolMatch {
    /// Calls of these tools.
    Tools(Vec<String>),
    /// Requests of these methods.
    Methods(Vec<String>),
    /// Requests of this class.
    Class(MethodClass),
}

/// Bulkheads: requests take a slot from a named pool for as long as they
/// run, so slow or expensive work cannot take every slot. A request's pool
/// is found by tool, then method, then class, then the default pool.
///
/// When its pool is full a request is rejected at once with
/// [`McpError::Overloaded`](mcp_service::McpError::Overloaded), or, with
/// [`queue`](ConcurrencyLimitBuilder::queue), waits in a bounded queue for a
/// bounded time. A slot comes back when the response future completes or
/// is dropped. Lifecycle methods and notifications take no slot by default.
///
/// ```
/// use mcp_limit::{ConcurrencyLimitLayer, PoolMatch};
///
/// let bulkheads = ConcurrencyLimitLayer::builder()
///     .pool("expensive", 2, PoolMatch::Tools(vec!["render_video".into()]))
///     .default_pool(16)
///     .build()?;
/// # let _ = bulkheads;
/// # Ok::<(), mcp_limit::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ConcurrencyLimitLayer {
    pools: Arc<Pools>,
}

impl ConcurrencyLimitLayer {
    /// A builder with no pools, lifecycle methods and notifications exempt,
    /// and no queue.
    pub fn builder() -> ConcurrencyLimitBuilder {
        ConcurrencyLimitBuilder {
            name: Cow::Borrowed("bulkheads"),
            pools: Vec::new(),
            default_slots: None,
            exempt: ClassSet::of(&[MethodClass::Lifecycle, MethodClass::Notification]),
            queue: None,
        }
    }

    /// A layer with no pools: every request passes straight through.
    pub fn disabled() -> Self {
        Self {
            pools: Arc::new(Pools {
                pools: Vec::new(),
                tools: HashMap::new(),
                methods: HashMap::new(),
                classes: Vec::new(),
                default: None,
                exempt: ClassSet::ALL,
            }),
        }
    }

    /// Free slots in the pool `name`, if there is one.
    pub fn available(&self, name: &str) -> Option<usize> {
        self.pools
            .pools
            .iter()
            .find(|pool| pool.name == name)
            .map(|pool| pool.slots.limit().saturating_sub(pool.slots.in_use()))
    }
}

impl<S> Layer<S> for ConcurrencyLimitLayer {
    type Service = ConcurrencyLimit<S>;

    fn layer(&self, inner: S) -> ConcurrencyLimit<S> {
        ConcurrencyLimit::new(inner, self.pools.clone())
    }
}

/// Builds a [`ConcurrencyLimitLayer`].
#[derive(Debug)]
pub struct ConcurrencyLimitBuilder {
    name: Cow<'static, str>,
    pools: Vec<(String, usize, PoolMatch)>,
    default_slots: Option<usize>,
    exempt: ClassSet,
    queue: Option<(usize, Duration)>,
}

impl ConcurrencyLimitBuilder {
    /// A name for metrics (label `limiter`; each pool is also labelled
    /// `pool`). Default `"bulkheads"`.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }
    /// A pool of `slots` for the requests `matching`.
    pub fn pool(mut self, name: &str, slots: usize, matching: PoolMatch) -> Self {
        self.pools.push((name.to_owned(), slots, matching));
        self
    }
    /// A pool named `default` of `slots` for every request no other pool
    /// takes. Without one, such requests are not limited.
    pub fn default_pool(mut self, slots: usize) -> Self {
        self.default_slots = Some(slots);
        self
    }
    /// Requests of `class` take no slot.
    pub fn exempt(mut self, class: MethodClass) -> Self {
        self.exempt = self.exempt.with(class);
        self
    }
    /// When a pool is full, up to `waiting` requests wait for a slot, each
    /// for at most `timeout`; the rest are rejected. Default: reject at once.
    pub fn queue(mut self, waiting: usize, timeout: Duration) -> Self {
        self.queue = Some((waiting, timeout));
        self
    }

    /// The layer, or which setting is out of range.
    pub fn build(self) -> Result<ConcurrencyLimitLayer, ConfigError> {
        let mut pools = Pools {
            pools: Vec::new(),
            tools: HashMap::new(),
            methods: HashMap::new(),
            classes: Vec::new(),
            default: None,
            exempt: self.exempt,
        };
        let named = self.pools.into_iter().chain(
            self.default_slots
                .map(|slots| ("default".to_owned(), slots, PoolMatch::Methods(Vec::new()))),
        );
        for (index, (name, slots, matching)) in named.enumerate() {
            if slots == 0 {
                return Err(ConfigError {
                    setting: "pool",
                    problem: format!("pool {name} has {slots} slots"),
                });
            }
            if pools.pools.iter().any(|pool| pool.name == name) {
                return Err(ConfigError {
                    setting: "pool",
                    problem: format!("two pools are named {name}"),
                });
            }
            match matching {
                PoolMatch::Tools(tools) => pools
                    .tools
                    .extend(tools.into_iter().map(|tool| (tool, index))),
                PoolMatch::Methods(methods) => {
                    pools
                        .methods
                        .extend(methods.into_iter().map(|method| (method, index)));
                }
                PoolMatch::Class(class) => pools.classes.push((class, index)),
            }
            let (max_waiting, timeout) = self.queue.unwrap_or((0, Duration::ZERO));
            let limiter = || (names::LIMITER, self.name.to_string());
            let labels = |reason: Option<&'static str>| {
                let mut labels = vec![limiter(), (names::POOL, name.clone())];
                labels.extend(reason.map(|reason| (names::REASON, reason.to_owned())));
                labels
            };
            metrics::gauge!(names::LIMIT_LIMIT, &labels(None)).set(slots as f64);
            pools.pools.push(Pool {
                slots: Slots::new(
                    slots,
                    max_waiting,
                    metrics::gauge!(names::LIMIT_IN_FLIGHT, &labels(None)),
                ),
                timeout,
                admissions: metrics::counter!(names::LIMIT_ADMISSIONS, &labels(None)),
                overloaded: metrics::counter!(
                    names::LIMIT_REJECTIONS,
                    &labels(Some(names::REASON_OVERLOADED))
                ),
                queue_timeouts: metrics::counter!(
                    names::LIMIT_REJECTIONS,
                    &labels(Some(names::REASON_QUEUE_TIMEOUT))
                ),
                name,
            });
        }
        pools.default = self.default_slots.map(|_| pools.pools.len() - 1);
        Ok(ConcurrencyLimitLayer {
            pools: Arc::new(pools),
        })
    }
}

#[derive(Debug)]
pub(crate) struct Pools {
    pub(crate) pools: Vec<Pool>,
    tools: HashMap<String, usize>,
    methods: HashMap<String, usize>,
    classes: Vec<(MethodClass, usize)>,
    default: Option<usize>,
    exempt: ClassSet,
}

#[derive(Debug)]
pub(crate) struct Pool {
    pub(crate) name: String,
    pub(crate) slots: Arc<Slots>,
    /// How long a request waits in the queue at most.
    pub(crate) timeout: Duration,
    pub(crate) admissions: Counter,
    pub(crate) overloaded: Counter,
    pub(crate) queue_timeouts: Counter,
}

impl Pools {
    /// The pool `request` takes a slot from; `None` when it takes none.
    #[inline]
    pub(crate) fn pool_for<R: McpRequest>(&self, request: &R) -> Option<&Pool> {
        let class = request.class();
        if self.exempt.contains(class) {
            return None;
        }
        // Hashing costs more than the rest: skip the maps that are empty.
        let by_tool = || {
            (!self.tools.is_empty())
                .then(|| request.tool_name().and_then(|tool| self.tools.get(tool)))
                .flatten()
        };
        let by_method = || {
            (!self.methods.is_empty())
                .then(|| self.methods.get(request.method()))
                .flatten()
        };
        let index = by_tool()
            .or_else(by_method)
            .copied()
            .or_else(|| {
                self.classes
                    .iter()
                    .find(|(c, _)| *c == class)
                    .map(|(_, index)| *index)
            })
            .or(self.default)?;
        self.pools.get(index)
    }
}
