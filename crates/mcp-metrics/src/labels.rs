//! Bounded label values: the names a label may carry, and the snapshot
//! that maps a request to its [`Target`] in a hash lookup or two.
//!
//! Tool and prompt names come from clients. Only names the server
//! registered get a series of their own; every other name is [`OTHER`],
//! so a client sending a million made-up names adds one series, not a
//! million. Methods and protocol versions are bounded the same way, by the
//! ones MCP defines (and methods the server registered).
//!
//! [`OTHER`]: crate::names::OTHER

use std::{
    collections::{BTreeSet, HashMap},
    hash::{BuildHasherDefault, Hasher},
    sync::Arc,
};

use mcp_service::{McpRequest, method::KNOWN_METHODS};
use metrics::SharedString;

use crate::{
    names,
    series::{Common, Target},
};

/// The protocol versions that get a label value of their own.
const PROTOCOL_VERSIONS: [&str; 5] = [
    "2024-11-05",
    "2025-03-26",
    "2025-06-18",
    "2025-11-25",
    "2026-07-28",
];

/// Slots of a target's series by protocol version: none known, each of
/// [`PROTOCOL_VERSIONS`], and any other.
pub(crate) const VERSION_SLOTS: usize = PROTOCOL_VERSIONS.len() + 2;

/// The version slot of a request's protocol version.
#[inline]
pub(crate) fn version_slot(version: Option<&str>) -> u8 {
    let slot = match version {
        None => 0,
        Some(version) => PROTOCOL_VERSIONS
            .iter()
            .position(|known| *known == version)
            .map_or(VERSION_SLOTS - 1, |index| index + 1),
    };
    // VERSION_SLOTS is 7.
    slot as u8
}

/// The label value of a version slot; `None` for the slot of requests whose
/// version is not known.
pub(crate) fn version_label(slot: usize) -> Option<&'static str> {
    match slot {
        0 => None,
        slot if slot <= PROTOCOL_VERSIONS.len() => Some(PROTOCOL_VERSIONS[slot - 1]),
        _ => Some(names::OTHER),
    }
}

/// A multiply-rotate hash of a name, a word at a time: a few instructions
/// for a short name, where SipHash costs tens of nanoseconds. The keys are
/// the server's names, so a client cannot flood the table; a made-up name
/// only misses.
#[derive(Default)]
pub(crate) struct NameHasher(u64);

/// The multiplier of rustc's hash (rustc-hash 2).
const SEED: u64 = 0xf135_7aea_2e62_a9c5;

impl NameHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for NameHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.add(u64::from_le_bytes(word.try_into().unwrap_or_default()));
        }
        // The last 1 to 7 bytes, read as two overlapping halves (as XXH3
        // does) or byte by byte, with no copy.
        let rest = words.remainder();
        let tail = match rest.len() {
            0 => 0,
            len @ 4..=7 => {
                let half = |at: usize| {
                    u64::from(u32::from_le_bytes(
                        rest[at..at + 4].try_into().unwrap_or_default(),
                    ))
                };
                half(0) | (half(len - 4) << 32)
            }
            _ => rest
                .iter()
                .fold(0, |word, byte| (word << 8) | u64::from(*byte)),
        };
        // The length keeps "a" and "a\0" apart.
        self.add(tail ^ ((bytes.len() as u64) << 56));
    }

    #[inline]
    fn write_u8(&mut self, _marker: u8) {
        // `str` hashes end with a 0xff marker; the length is in already.
    }

    #[inline]
    fn finish(&self) -> u64 {
        // The product's best-mixed bits are its high ones; the table picks
        // buckets by the low ones.
        self.0.rotate_left(26)
    }
}

type NameMap<T> = HashMap<Box<str>, T, BuildHasherDefault<NameHasher>>;

/// The names the server registered: the only tool, prompt and custom method
/// names that label a series.
#[derive(Debug, Clone, Default)]
pub(crate) struct Names {
    pub(crate) tools: BTreeSet<String>,
    pub(crate) prompts: BTreeSet<String>,
    pub(crate) methods: BTreeSet<String>,
}

/// One snapshot of the registered names, each with its [`Target`] (its
/// cached metric handles), replaced whole when the names change or the
/// handles are refreshed.
pub(crate) struct LabelSet {
    methods: NameMap<Arc<Target>>,
    other_method: Arc<Target>,
    tools: NameMap<Arc<Target>>,
    other_tool: Arc<Target>,
    prompts: NameMap<Arc<Target>>,
    other_prompt: Arc<Target>,
    /// On the clock of [`Common`]: when the handles are taken again.
    pub(crate) expires_at: u64,
}

impl LabelSet {
    pub(crate) fn new(names: &Names, common: &Arc<Common>, expires_at: u64) -> Self {
        let target = |method: SharedString, name: Option<(&'static str, SharedString)>| {
            Arc::new(Target::new(method, name, common.clone()))
        };
        let named = |key: &'static str, method: &'static str, names: &BTreeSet<String>| {
            names
                .iter()
                .map(|name| {
                    let value = SharedString::from(name.clone());
                    (
                        name.as_str().into(),
                        target(method.into(), Some((key, value))),
                    )
                })
                .collect::<NameMap<_>>()
        };
        let mut tools = names.tools.clone();
        if let Some(stats) = &common.stats {
            // A tool with an objective is known to the operator: it gets its
            // own series, like a registered one.
            tools.extend(stats.objective_tools().map(str::to_owned));
        }
        let methods = KNOWN_METHODS
            .iter()
            .map(|(method, _)| (*method).to_owned())
            .chain(names.methods.iter().cloned())
            .map(|method| {
                let target = target(SharedString::from(method.clone()), None);
                (method.into_boxed_str(), target)
            })
            .collect();
        let other = || SharedString::const_str(names::OTHER);
        Self {
            methods,
            other_method: target(other(), None),
            tools: named(names::TOOL_NAME, "tools/call", &tools),
            other_tool: target("tools/call".into(), Some((names::TOOL_NAME, other()))),
            prompts: named(names::PROMPT_NAME, "prompts/get", &names.prompts),
            other_prompt: target("prompts/get".into(), Some((names::PROMPT_NAME, other()))),
            expires_at,
        }
    }

    /// The target of `request`: its tool, its prompt, or its method.
    #[inline]
    pub(crate) fn target_of<R: McpRequest>(&self, request: &R) -> &Arc<Target> {
        // Only a `tools/call` has a tool name and only a `prompts/get` a
        // prompt name, so the method need not be looked up for them.
        if let Some(tool) = request.tool_name() {
            return self.tools.get(tool).unwrap_or(&self.other_tool);
        }
        if let Some(prompt) = request.prompt_name() {
            return self.prompts.get(prompt).unwrap_or(&self.other_prompt);
        }
        self.methods
            .get(request.method())
            .unwrap_or(&self.other_method)
    }

    /// Whether `name` is a tool with a series of its own.
    pub(crate) fn is_known_tool(&self, name: &str) -> bool {
        self.tools.contains_key(name)
    }

    /// Whether `name` is a prompt with a series of its own.
    pub(crate) fn is_known_prompt(&self, name: &str) -> bool {
        self.prompts.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_bounded_to_the_ones_mcp_defines() {
        assert_eq!(version_slot(None), 0);
        let label = |version| version_label(version_slot(version).into());
        assert_eq!(label(None), None);
        for version in PROTOCOL_VERSIONS {
            assert_eq!(label(Some(version)), Some(version));
        }
        assert_eq!(label(Some("1999-01-01")), Some(names::OTHER));
        assert_eq!(label(Some("")), Some(names::OTHER));
    }

    #[test]
    fn the_name_hasher_spreads_names_that_differ_in_one_byte() {
        let hash = |name: &str| {
            let mut hasher = NameHasher::default();
            std::hash::Hash::hash(name, &mut hasher);
            hasher.finish()
        };
        let hashes: BTreeSet<u64> = (0..1000).map(|i| hash(&format!("tool-{i}"))).collect();
        assert_eq!(hashes.len(), 1000);
        assert_eq!(hash("search"), hash("search"));
    }
}
