//! Canonical params digests against any text: never a panic, and JSON
//! values equal up to member order, whitespace, string escapes and the
//! root `_meta` digest equal, through the text and through `Serialize`.
//!
//! Shared with the fuzz target `canonical_key`.

// A failed check panics: that is what the test harness and the fuzzer see.
#![allow(clippy::panic)]

use std::fmt::{self, Write as _};

use mcp_service::{CacheKey, ParamsDigest, Partition};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

/// A JSON value as written: members in their order, duplicates kept.
#[derive(Debug, Clone)]
enum Tree {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Tree>),
    Object(Vec<(String, Tree)>),
}

pub(crate) fn check(bytes: &[u8]) {
    let Some((&seed, text)) = bytes.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let digest = ParamsDigest::of_json(text);
    let tree: Result<Tree, _> = serde_json::from_str(text);
    let (digest, tree) = match (digest, tree) {
        (Ok(digest), Ok(tree)) => (digest, tree),
        (Err(_), Err(_)) => return,
        (digest, tree) => panic!("the digest ({digest:?}) and the parser ({tree:?}) disagree"),
    };

    let mut shuffle = Shuffle(u64::from(seed) | 1);
    let rewritten = shuffle.write(&tree);
    assert_eq!(
        ParamsDigest::of_json(&rewritten),
        Ok(digest),
        "{text:?} and {rewritten:?} are the same JSON value"
    );
    let key = |digest| CacheKey::new("tools/call", digest, Some("2025-06-18"), Partition::Public);
    assert_eq!(ParamsDigest::of_json(&rewritten).map(key), Ok(key(digest)));

    if serde_value_reads(&tree) {
        let value: serde_json::Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(error) => panic!("the digest read {text:?}, serde_json did not: {error}"),
        };
        assert_eq!(
            ParamsDigest::of_value(&value),
            Ok(digest),
            "text and Serialize digest differently"
        );
    }

    if let Tree::Object(members) = &tree {
        let mut with_meta = members.clone();
        let at = usize::from(seed) % (members.len() + 1);
        let meta = Tree::Object(vec![("progressToken".into(), Tree::Number(7.into()))]);
        with_meta.insert(at, ("_meta".into(), meta.clone()));
        let with_meta = shuffle.write(&Tree::Object(with_meta));
        assert_eq!(
            ParamsDigest::of_json(&with_meta),
            Ok(digest),
            "the root `_meta` is not what is asked"
        );

        if let Some(at) = members
            .iter()
            .position(|(name, value)| name != "_meta" && matches!(value, Tree::Object(_)))
        {
            let mut nested = members.clone();
            if let (_, Tree::Object(inner)) = &mut nested[at] {
                inner.push(("_meta".into(), meta));
            }
            let nested = shuffle.write(&Tree::Object(nested));
            assert_ne!(
                ParamsDigest::of_json(&nested),
                Ok(digest),
                "a `_meta` deeper inside is data"
            );
        }
    }
}

/// Whether `serde_json::Value` holds the same value: not when a member is
/// repeated (it keeps the last) or is named as serde_json's raw-value
/// marker (it refuses the object).
fn serde_value_reads(tree: &Tree) -> bool {
    const RAW_VALUE_MARKER: &str = "$serde_json::private::RawValue";
    match tree {
        Tree::Array(items) => items.iter().all(serde_value_reads),
        Tree::Object(members) => {
            let mut names: Vec<&str> = members.iter().map(|(name, _)| name.as_str()).collect();
            names.sort_unstable();
            names.windows(2).all(|pair| pair[0] != pair[1])
                && !names.contains(&RAW_VALUE_MARKER)
                && members.iter().all(|(_, value)| serde_value_reads(value))
        }
        _ => true,
    }
}

/// Writes a tree with members in another order and other whitespace,
/// chosen by a small generator.
struct Shuffle(u64);

impl Shuffle {
    fn next(&mut self) -> u64 {
        // xorshift64: deterministic and never stuck at zero from an odd seed.
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn space(&mut self, out: &mut String) {
        out.push_str([" ", "", "\n\t", "  \r\n"][(self.next() % 4) as usize]);
    }

    fn write(&mut self, tree: &Tree) -> String {
        let mut out = String::new();
        self.write_into(tree, &mut out);
        out
    }

    fn write_into(&mut self, tree: &Tree, out: &mut String) {
        self.space(out);
        match tree {
            Tree::Null => out.push_str("null"),
            Tree::Bool(value) => out.push_str(if *value { "true" } else { "false" }),
            Tree::Number(number) => {
                let _ = write!(out, "{number}");
            }
            Tree::String(text) => out.push_str(&escaped(text)),
            Tree::Array(items) => {
                out.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    self.write_into(item, out);
                }
                self.space(out);
                out.push(']');
            }
            Tree::Object(members) => {
                let mut order: Vec<&(String, Tree)> = members.iter().collect();
                if !order.is_empty() {
                    let turn = (self.next() % order.len() as u64) as usize;
                    order.rotate_left(turn);
                    if self.next().is_multiple_of(2) {
                        order.reverse();
                    }
                }
                out.push('{');
                for (index, (name, value)) in order.into_iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    self.space(out);
                    out.push_str(&escaped(name));
                    self.space(out);
                    out.push(':');
                    self.write_into(value, out);
                }
                self.space(out);
                out.push('}');
            }
        }
        self.space(out);
    }
}

/// A JSON string, with every non-ASCII character as a `\u` escape, so the
/// text differs from the input's while the value does not.
fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
    out
}

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TreeVisitor)
    }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Tree;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Tree, E> {
        Ok(Tree::Null)
    }
    fn visit_bool<E>(self, value: bool) -> Result<Tree, E> {
        Ok(Tree::Bool(value))
    }
    fn visit_u64<E>(self, value: u64) -> Result<Tree, E> {
        Ok(Tree::Number(value.into()))
    }
    fn visit_i64<E>(self, value: i64) -> Result<Tree, E> {
        Ok(Tree::Number(value.into()))
    }
    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Tree, E> {
        Number::from_f64(value)
            .map(Tree::Number)
            .ok_or_else(|| E::custom("not a finite number"))
    }
    fn visit_str<E>(self, value: &str) -> Result<Tree, E> {
        Ok(Tree::String(value.to_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Tree::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
        let mut members = Vec::new();
        while let Some(member) = map.next_entry()? {
            members.push(member);
        }
        Ok(Tree::Object(members))
    }
}
