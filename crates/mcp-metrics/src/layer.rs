//! [`MetricsLayer`], its builder, and [`NameRegistry`], the handle that
//! changes the registered names at run time.

use std::{
    fmt,
    sync::{
        Arc, Mutex, PoisonError, RwLock,
        atomic::{AtomicU64, Ordering::Acquire, Ordering::Release},
    },
    time::Duration,
};

use mcp_service::{Clock, clock::saturating_nanos};
use metrics::SharedString;
use tower_layer::Layer;

use super::Metrics;
use crate::{
    ConfigError, Stats, describe,
    labels::{LabelSet, Names},
    series::Common,
};

/// Measures every request on the `metrics` facade, under the
/// OpenTelemetry MCP names, feeds a [`Stats`] if given one, and wraps each
/// request in a tracing span.
///
/// - `mcp.server.operation.duration` (histogram, seconds) by method, tool
///   or prompt (registered names only, else `_OTHER`), `error.type`,
///   protocol version;
/// - `mcp.server.active_requests` (gauge) by method;
/// - `mcp.server.request.size` and `mcp.server.response.size` (histograms,
///   bytes) when [`sizes`](MetricsBuilder::sizes) is on.
///
/// Put it outermost, so it sees every request, rejections included.
/// Handles are taken from the recorder in place when a series is first
/// used, so install the recorder before serving.
///
/// ```
/// use mcp_metrics::MetricsLayer;
///
/// let metrics = MetricsLayer::builder().tools(["search", "fetch"]).build()?;
/// // Later, when the server's tools change:
/// metrics.names().set_tools(["search", "fetch", "summarize"]);
/// # Ok::<(), mcp_metrics::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct MetricsLayer {
    shared: Arc<Shared>,
}

impl MetricsLayer {
    /// A layer with the defaults: no tool or prompt registered (all are
    /// `_OTHER`), no stats, no size histograms, handles refreshed every 60 s.
    pub fn new() -> Self {
        Self::from_builder(Self::builder())
    }

    /// A layer that records nothing and passes every call straight
    /// through: a stack's metrics switched off, at the cost of one branch.
    pub fn disabled() -> Self {
        let mut layer = Self::new();
        if let Some(shared) = Arc::get_mut(&mut layer.shared) {
            shared.enabled = false;
        }
        layer
    }

    /// Whether this layer records anything (see [`disabled`](Self::disabled)).
    pub fn is_enabled(&self) -> bool {
        self.shared.enabled
    }

    /// A builder.
    pub fn builder() -> MetricsBuilder {
        MetricsBuilder {
            names: Names::default(),
            stats: None,
            sizes: false,
            transport: None,
            upstream: None,
            refresh: Duration::from_secs(60),
            always_record: false,
        }
    }

    /// The handle that changes which tool and prompt names get a series of
    /// their own, at run time.
    pub fn names(&self) -> NameRegistry {
        NameRegistry {
            shared: self.shared.clone(),
        }
    }

    fn from_builder(builder: MetricsBuilder) -> Self {
        describe::describe_metrics();
        let clock = builder
            .stats
            .as_ref()
            .map_or_else(Clock::new, |stats| stats.clock().clone());
        let common = Arc::new(Common {
            clock,
            always_record: builder.always_record || builder.stats.is_some(),
            stats: builder.stats,
            sizes: builder.sizes,
            transport: builder.transport,
            upstream: builder.upstream,
            refresh: saturating_nanos(builder.refresh),
        });
        let now = common.clock.nanos();
        let labels = LabelSet::new(&builder.names, &common, now.saturating_add(common.refresh));
        Self {
            shared: Arc::new(Shared {
                enabled: true,
                names: Mutex::new(builder.names),
                current: RwLock::new(Arc::new(labels)),
                generation: AtomicU64::new(0),
                common,
            }),
        }
    }
}

impl Default for MetricsLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MetricsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsLayer")
            .field("names", &*self.shared.lock_names())
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = Metrics<S>;

    fn layer(&self, inner: S) -> Metrics<S> {
        Metrics::new(inner, self.shared.clone())
    }
}

/// Builds a [`MetricsLayer`].
#[derive(Debug)]
pub struct MetricsBuilder {
    names: Names,
    stats: Option<Stats>,
    sizes: bool,
    transport: Option<SharedString>,
    upstream: Option<SharedString>,
    refresh: Duration,
    always_record: bool,
}

impl MetricsBuilder {
    /// Tools whose calls get a `gen_ai.tool.name` of their own; calls of any
    /// other tool are labelled `_OTHER`. Default none. Tools named by a
    /// latency objective of the [`stats`](Self::stats) are added.
    #[must_use]
    pub fn tools<I, S>(mut self, tools: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.names.tools.extend(tools.into_iter().map(Into::into));
        self
    }

    /// Prompts whose `prompts/get` gets a `gen_ai.prompt.name` of its own;
    /// any other is `_OTHER`. Default none.
    #[must_use]
    pub fn prompts<I, S>(mut self, prompts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.names
            .prompts
            .extend(prompts.into_iter().map(Into::into));
        self
    }

    /// Custom methods (beyond MCP's own) that get a `mcp.method.name` of
    /// their own; other unknown methods are `_OTHER`. Default none.
    #[must_use]
    pub fn methods<I, S>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.names
            .methods
            .extend(methods.into_iter().map(Into::into));
        self
    }

    /// Feeds `stats` with every request. Default none.
    #[must_use]
    pub fn stats(mut self, stats: Stats) -> Self {
        self.stats = Some(stats);
        self
    }

    /// Records `mcp.server.request.size` (the HTTP `Content-Length`, for
    /// requests that came over HTTP) and `mcp.server.response.size` (the
    /// result's JSON, which costs a pass over it). Default off.
    #[must_use]
    pub fn sizes(mut self, sizes: bool) -> Self {
        self.sizes = sizes;
        self
    }

    /// The `network.transport` of every series and span: `"pipe"` for
    /// stdio, `"tcp"` for HTTP. Default none (not labelled).
    #[must_use]
    pub fn network_transport(mut self, transport: &'static str) -> Self {
        self.transport = Some(SharedString::const_str(transport));
        self
    }

    /// The `mcp.upstream.name` of every series: the upstream a gateway
    /// forwards this layer's requests to. A gateway builds one layer per
    /// upstream, so its series stay apart by upstream. The name is the
    /// operator's, never a client's, so the label stays bounded. Default
    /// none (not labelled).
    #[must_use]
    pub fn upstream(mut self, name: impl Into<String>) -> Self {
        self.upstream = Some(SharedString::from(name.into()));
        self
    }

    /// How long a metric handle is kept before it is taken from the
    /// recorder again. An exporter that expires idle series (the Prometheus
    /// exporter of this crate does, after 10 minutes) forgets a series that
    /// had no samples for that long; a handle kept across that would record
    /// into nothing. Keep it below the exporter's idle timeout. Default 60 s.
    #[must_use]
    pub fn handle_refresh(mut self, refresh: Duration) -> Self {
        self.refresh = refresh;
        self
    }

    /// Records into the `metrics` recorder even when none seems installed.
    ///
    /// With no recorder installed (and no [`stats`](Self::stats)) the layer
    /// measures nothing and costs a branch or two; it tells by the
    /// recorder's size, since the `metrics` facade's no-op recorder is a
    /// unit struct. A recorder of your own with no fields, keeping its state
    /// in statics, needs this. Default off.
    #[must_use]
    pub fn always_record(mut self, always: bool) -> Self {
        self.always_record = always;
        self
    }

    /// The layer, or which setting is out of range.
    pub fn build(self) -> Result<MetricsLayer, ConfigError> {
        if self.refresh < Duration::from_secs(1) {
            return Err(ConfigError {
                setting: "handle_refresh",
                problem: format!("{:?} is shorter than a second", self.refresh),
            });
        }
        if self.upstream.as_deref() == Some("") {
            return Err(ConfigError {
                setting: "upstream",
                problem: "the upstream name is empty".to_owned(),
            });
        }
        let sets = [
            ("tools", &self.names.tools),
            ("prompts", &self.names.prompts),
            ("methods", &self.names.methods),
        ];
        if let Some((setting, _)) = sets.iter().find(|(_, names)| names.contains("")) {
            return Err(ConfigError {
                setting,
                problem: "a registered name is empty".to_owned(),
            });
        }
        Ok(MetricsLayer::from_builder(self))
    }
}

/// Changes, at run time, which tool and prompt names label a series of
/// their own; from [`MetricsLayer::names`]. Clones share the names.
///
/// A change is cheap for requests: the next request of each service sees a
/// new snapshot of the names, taken with one atomic load.
#[derive(Clone)]
pub struct NameRegistry {
    shared: Arc<Shared>,
}

impl NameRegistry {
    /// Replaces the registered tools.
    pub fn set_tools<I, S>(&self, tools: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.update(|names| names.tools = tools.into_iter().map(Into::into).collect());
    }

    /// Registers more tools.
    pub fn add_tools<I, S>(&self, tools: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.update(|names| names.tools.extend(tools.into_iter().map(Into::into)));
    }

    /// Replaces the registered prompts.
    pub fn set_prompts<I, S>(&self, prompts: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.update(|names| names.prompts = prompts.into_iter().map(Into::into).collect());
    }

    /// The registered tools.
    pub fn tools(&self) -> Vec<String> {
        self.shared.lock_names().tools.iter().cloned().collect()
    }

    /// The registered prompts.
    pub fn prompts(&self) -> Vec<String> {
        self.shared.lock_names().prompts.iter().cloned().collect()
    }

    fn update(&self, change: impl FnOnce(&mut Names)) {
        let mut names = self.shared.lock_names();
        change(&mut names);
        names.tools.remove("");
        names.prompts.remove("");
        let now = self.shared.common.clock.nanos();
        self.shared.publish(&names, now);
    }
}

impl fmt::Debug for NameRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.shared.lock_names();
        f.debug_struct("NameRegistry")
            .field("tools", &names.tools)
            .field("prompts", &names.prompts)
            .finish()
    }
}

/// What a layer and its services share.
pub(crate) struct Shared {
    /// False for [`MetricsLayer::disabled`]: calls pass through untouched.
    pub(crate) enabled: bool,
    names: Mutex<Names>,
    current: RwLock<Arc<LabelSet>>,
    /// Bumped, under the write lock of `current`, whenever it is replaced.
    generation: AtomicU64,
    pub(crate) common: Arc<Common>,
}

impl Shared {
    fn lock_names(&self) -> std::sync::MutexGuard<'_, Names> {
        self.names.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The generation of the current snapshot, for a service to tell
    /// whether its copy is still current.
    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Acquire)
    }

    /// The current snapshot and its generation, taken again first if its
    /// handles expired by `now`.
    pub(crate) fn current(&self, now: u64) -> (Arc<LabelSet>, u64) {
        {
            let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
            if now < current.expires_at {
                return (current.clone(), self.generation.load(Acquire));
            }
        }
        let names = self.lock_names();
        // Another service may have refreshed it while this one waited.
        let expired = now
            >= self
                .current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .expires_at;
        if expired {
            self.publish(&names, now);
        }
        drop(names);
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        (current.clone(), self.generation.load(Acquire))
    }

    /// Replaces the snapshot with one of `names`; the caller holds the
    /// names' lock, so publications do not interleave.
    fn publish(&self, names: &Names, now: u64) {
        let labels = Arc::new(LabelSet::new(
            names,
            &self.common,
            now.saturating_add(self.common.refresh),
        ));
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        *current = labels;
        self.generation.fetch_add(1, Release);
    }

    pub(crate) fn snapshot(&self) -> (Arc<LabelSet>, u64) {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        (current.clone(), self.generation.load(Acquire))
    }
}
