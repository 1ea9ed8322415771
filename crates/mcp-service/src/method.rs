//! Method classes: what kind of work an MCP method is, so layers can pick
//! defaults (lifecycle is never limited, lists and reads are cacheable).

use std::fmt;

/// The class of an MCP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MethodClass {
    /// Session setup and liveness: `initialize`, `ping`, `server/discover`,
    /// `logging/setLevel`. Never rate limited or shed by default.
    Lifecycle,
    /// Listing: `tools/list`, `prompts/list`, `resources/list`,
    /// `resources/templates/list`, `skills/list`. Paginated, cacheable.
    List,
    /// Reading one thing: `resources/read`, `prompts/get`,
    /// `completion/complete`, `skills/get`, `resources/directory/read`.
    Read,
    /// `tools/call`: runs a tool; not cacheable unless the operator opts in.
    ToolCall,
    /// Long-lived or stateful subscriptions: `subscriptions/listen`,
    /// `resources/subscribe`, `resources/unsubscribe`.
    Subscription,
    /// Task state (`tasks/*`): changes over time, never cached.
    Task,
    /// Requests a server sends to its client: `sampling/createMessage`,
    /// `roots/list`, `elicitation/create`. A gateway forwards them.
    Callback,
    /// A JSON-RPC notification (`notifications/*`): no response is sent.
    Notification,
    /// A method this crate does not know (custom or from a newer revision).
    Unknown,
}

macro_rules! methods {
    ($($class:ident => [$($name:literal),* $(,)?]),* $(,)?) => {
        /// Every method of MCP 2025-06-18, 2025-11-25 and 2026-07-28 (with the
        /// tasks and skills extensions), with its class.
        pub const KNOWN_METHODS: &[(&str, MethodClass)] = &[
            $($(($name, MethodClass::$class),)*)*
        ];

        impl MethodClass {
            /// The class of `method`. Unknown `notifications/*` methods are
            /// notifications; anything else unknown is [`MethodClass::Unknown`].
            pub fn of(method: &str) -> Self {
                match method {
                    $($($name)|* => Self::$class,)*
                    other if other.starts_with("notifications/") => Self::Notification,
                    _ => Self::Unknown,
                }
            }
        }
    };
}

methods! {
    Lifecycle => ["initialize", "ping", "server/discover", "logging/setLevel"],
    List => [
        "tools/list",
        "prompts/list",
        "resources/list",
        "resources/templates/list",
        "skills/list",
    ],
    Read => [
        "resources/read",
        "prompts/get",
        "completion/complete",
        "skills/get",
        "resources/directory/read",
    ],
    ToolCall => ["tools/call"],
    Subscription => ["subscriptions/listen", "resources/subscribe", "resources/unsubscribe"],
    Task => ["tasks/get", "tasks/result", "tasks/list", "tasks/cancel", "tasks/update"],
    Callback => ["sampling/createMessage", "roots/list", "elicitation/create"],
    Notification => [
        "notifications/initialized",
        "notifications/cancelled",
        "notifications/progress",
        "notifications/message",
        "notifications/resources/updated",
        "notifications/resources/list_changed",
        "notifications/tools/list_changed",
        "notifications/prompts/list_changed",
        "notifications/roots/list_changed",
        "notifications/elicitation/complete",
        "notifications/tasks/status",
        "notifications/tasks",
        "notifications/subscriptions/acknowledged",
    ],
}

impl MethodClass {
    /// A short, stable name for labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lifecycle => "lifecycle",
            Self::List => "list",
            Self::Read => "read",
            Self::ToolCall => "tool_call",
            Self::Subscription => "subscription",
            Self::Task => "task",
            Self::Callback => "callback",
            Self::Notification => "notification",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for MethodClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of method classes, such as the classes a layer exempts: one word,
/// so asking whether a request's class is in it costs one test.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ClassSet(u16);

impl ClassSet {
    /// No class.
    pub const EMPTY: Self = Self(0);

    /// Every class, including any a later version adds.
    pub const ALL: Self = Self(u16::MAX);

    /// The set of `classes`.
    pub const fn of(classes: &[MethodClass]) -> Self {
        let mut bits = 0;
        let mut index = 0;
        while index < classes.len() {
            bits |= 1 << classes[index] as u16;
            index += 1;
        }
        Self(bits)
    }

    /// Whether `class` is in the set.
    #[inline]
    pub const fn contains(self, class: MethodClass) -> bool {
        self.0 & (1 << class as u16) != 0
    }

    /// The set with `class` added.
    pub const fn with(self, class: MethodClass) -> Self {
        Self(self.0 | 1 << class as u16)
    }

    /// The set with `class` removed.
    pub const fn without(self, class: MethodClass) -> Self {
        Self(self.0 & !(1 << class as u16))
    }
}

impl fmt::Debug for ClassSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let classes = KNOWN_METHODS
            .iter()
            .map(|(_, class)| *class)
            .chain([MethodClass::Notification, MethodClass::Unknown]);
        let mut seen = Self::EMPTY;
        let mut set = f.debug_set();
        for class in classes {
            if self.contains(class) && !seen.contains(class) {
                seen = seen.with(class);
                set.entry(&class);
            }
        }
        set.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_sets_hold_what_was_put_in() {
        let set = ClassSet::of(&[MethodClass::Lifecycle, MethodClass::Notification]);
        assert!(set.contains(MethodClass::Lifecycle));
        assert!(!set.contains(MethodClass::ToolCall));
        let set = set
            .with(MethodClass::ToolCall)
            .without(MethodClass::Lifecycle);
        assert!(set.contains(MethodClass::ToolCall) && !set.contains(MethodClass::Lifecycle));
        assert_eq!(format!("{set:?}"), "{ToolCall, Notification}");
        assert!(!ClassSet::EMPTY.contains(MethodClass::Unknown));
        assert!(
            ClassSet::ALL.contains(MethodClass::Unknown)
                && ClassSet::ALL.contains(MethodClass::Lifecycle)
        );
    }

    #[test]
    fn every_known_method_has_its_class() {
        for (name, class) in KNOWN_METHODS {
            assert_eq!(MethodClass::of(name), *class, "{name}");
        }
        let mut names: Vec<_> = KNOWN_METHODS.iter().map(|(name, _)| name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), KNOWN_METHODS.len(), "no method listed twice");
    }

    #[test]
    fn classes_drive_the_defaults_layers_rely_on() {
        assert_eq!(MethodClass::of("initialize"), MethodClass::Lifecycle);
        assert_eq!(MethodClass::of("server/discover"), MethodClass::Lifecycle);
        assert_eq!(
            MethodClass::of("resources/templates/list"),
            MethodClass::List
        );
        assert_eq!(MethodClass::of("resources/read"), MethodClass::Read);
        assert_eq!(MethodClass::of("tools/call"), MethodClass::ToolCall);
        assert_eq!(
            MethodClass::of("subscriptions/listen"),
            MethodClass::Subscription
        );
        assert_eq!(MethodClass::of("tasks/get"), MethodClass::Task);
    }

    #[test]
    fn unknown_methods_are_classified_not_rejected() {
        assert_eq!(
            MethodClass::of("notifications/vendor/thing"),
            MethodClass::Notification
        );
        assert_eq!(MethodClass::of("vendor/custom"), MethodClass::Unknown);
        assert_eq!(MethodClass::of(""), MethodClass::Unknown);
        assert_eq!(
            MethodClass::of("TOOLS/CALL"),
            MethodClass::Unknown,
            "methods are case-sensitive"
        );
    }
}
