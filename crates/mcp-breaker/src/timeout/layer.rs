//! [`TimeoutLayer`] and the deadlines it applies.

use std::{collections::HashMap, sync::Arc, time::Duration};

use mcp_service::McpRequest;
use tower_layer::Layer;

use super::Timeout;

/// Gives each request a deadline: by tool for `tools/call`, else by method,
/// else the default. When it passes, the handler's cancellation token is
/// cancelled, the call is dropped, and the caller gets
/// [`McpError::Timeout`](mcp_service::McpError::Timeout).
///
/// Progress does not extend a deadline unless [`extend_on_progress`] is set:
/// then each request carries a [`DeadlineExtender`] in its extensions, and a
/// handler that reports progress calls [`DeadlineExtender::progressed`], which
/// starts the deadline again from then.
///
/// [`extend_on_progress`]: TimeoutLayer::extend_on_progress
/// [`DeadlineExtender`]: super::DeadlineExtender
/// [`DeadlineExtender::progressed`]: super::DeadlineExtender::progressed
///
/// ```
/// use std::time::Duration;
/// use mcp_breaker::TimeoutLayer;
///
/// let timeout = TimeoutLayer::new(Duration::from_secs(30))
///     .method("tools/list", Duration::from_secs(5))
///     .tool("generate_report", Duration::from_secs(300));
/// assert_eq!(timeout.deadline_for("tools/call", Some("generate_report")), Some(Duration::from_secs(300)));
/// assert_eq!(timeout.deadline_for("tools/call", Some("echo")), Some(Duration::from_secs(30)));
/// ```
#[derive(Debug, Clone)]
pub struct TimeoutLayer {
    deadlines: Arc<Deadlines>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Deadlines {
    default: Option<Duration>,
    methods: HashMap<Box<str>, Duration>,
    tools: HashMap<Box<str>, Duration>,
    pub(crate) extend_on_progress: bool,
}

impl Deadlines {
    pub(crate) fn for_request<R: McpRequest>(&self, request: &R) -> Option<Duration> {
        self.lookup(request.method(), request.tool_name())
    }

    fn lookup(&self, method: &str, tool: Option<&str>) -> Option<Duration> {
        tool.and_then(|tool| self.tools.get(tool))
            .or_else(|| self.methods.get(method))
            .copied()
            .or(self.default)
    }
}

impl TimeoutLayer {
    /// Every request gets `default` unless a method or tool deadline applies.
    pub fn new(default: Duration) -> Self {
        Self {
            deadlines: Arc::new(Deadlines {
                default: Some(default),
                ..Deadlines::default()
            }),
        }
    }

    /// Only the methods and tools named later get deadlines.
    pub fn none_by_default() -> Self {
        Self {
            deadlines: Arc::default(),
        }
    }

    /// No deadline for anything: calls pass straight through.
    pub fn disabled() -> Self {
        Self::none_by_default()
    }

    /// The deadline of `method` (for `tools/call`, a tool deadline wins).
    #[must_use]
    pub fn method(mut self, method: &str, deadline: Duration) -> Self {
        Arc::make_mut(&mut self.deadlines)
            .methods
            .insert(method.into(), deadline);
        self
    }

    /// The deadline of `tools/call` for the tool `name`.
    #[must_use]
    pub fn tool(mut self, name: &str, deadline: Duration) -> Self {
        Arc::make_mut(&mut self.deadlines)
            .tools
            .insert(name.into(), deadline);
        self
    }

    /// Lets handlers that report progress push their deadline back; see
    /// [`DeadlineExtender`](super::DeadlineExtender). Default off.
    #[must_use]
    pub fn extend_on_progress(mut self, extend: bool) -> Self {
        Arc::make_mut(&mut self.deadlines).extend_on_progress = extend;
        self
    }

    /// The deadline a request of `method` for `tool` gets, if any.
    pub fn deadline_for(&self, method: &str, tool: Option<&str>) -> Option<Duration> {
        self.deadlines.lookup(method, tool)
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout::new(inner, self.deadlines.clone())
    }
}
