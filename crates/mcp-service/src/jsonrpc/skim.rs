//! One pass over a JSON text that checks it and hands back the raw text of
//! the members a caller asks for, so a message's envelope, and the few
//! fields layers read inside it, cost one scan instead of a serde pass each.
//!
//! The reader is a fast path, not a parser of record: `None` means "not
//! read here", never "invalid". It declines whatever it was not built to be
//! sure of (text that is not UTF-8, a key or a sought value with an escape,
//! a `\u` escape of a surrogate, nesting deeper than [`MAX_DEPTH`]), and the
//! caller then reads the text with serde_json, which also words the error
//! when there is one. What it accepts, serde_json accepts too: the property
//! tests check it against serde_json on generated and cut texts.
//!
//! ```
//! use mcp_service::jsonrpc::skim::Reader;
//!
//! let mut reader = Reader::new(br#"{"id": 7, "params": {"name": "echo"}}"#).unwrap();
//! let (mut id, mut name) = (None, None);
//! reader
//!     .object(|reader, key| {
//!         match key {
//!             "id" => id = Some(reader.value()?),
//!             "params" => {
//!                 reader.object(|reader, key| {
//!                     match key {
//!                         "name" => name = reader.plain_string(),
//!                         _ => drop(reader.value()?),
//!                     }
//!                     Some(())
//!                 })?;
//!             }
//!             _ => drop(reader.value()?),
//!         }
//!         Some(())
//!     })
//!     .unwrap();
//! reader.finish().unwrap();
//! assert_eq!((id, name), (Some("7"), Some("echo")));
//! ```

/// Objects and arrays nested deeper than this are left to serde_json.
pub const MAX_DEPTH: u32 = 64;

/// A position in a JSON text, read forward.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    text: &'a str,
    at: usize,
    depth: u32,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `text`; `None` when it is not UTF-8.
    pub fn new(text: &'a [u8]) -> Option<Self> {
        Some(Self {
            text: std::str::from_utf8(text).ok()?,
            at: 0,
            depth: 0,
        })
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes().get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte that is not whitespace, not consumed.
    pub fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.bytes().get(self.at).copied()
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Reads one value of any kind and returns its text, without the
    /// whitespace around it.
    pub fn value(&mut self) -> Option<&'a str> {
        let start = match self.peek()? {
            b'{' => return self.object(|reader, _| reader.value().map(drop)),
            b'[' => return self.array(),
            b'"' => return self.string().map(|(raw, _)| raw),
            _ => self.at,
        };
        match self.bytes()[start] {
            b't' => self.literal("true")?,
            b'f' => self.literal("false")?,
            b'n' => self.literal("null")?,
            b'-' | b'0'..=b'9' => self.number()?,
            _ => return None,
        }
        Some(&self.text[start..self.at])
    }

    /// Reads an object, calling `member` with each key; `member` must read
    /// the key's value, with [`value`](Self::value) or any other reading
    /// method. Returns the object's text. Keys with an escape are declined.
    pub fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, &'a str) -> Option<()>,
    ) -> Option<&'a str> {
        self.items(b'{', b'}', |reader| {
            if reader.peek()? != b'"' {
                return None;
            }
            let (key, escaped) = reader.string()?;
            if escaped {
                return None;
            }
            reader.expect(b':')?;
            member(reader, &key[1..key.len() - 1])
        })
    }

    /// Reads a string and returns what is between its quotes when it has no
    /// escape; a string with one, or any other value, is declined and left
    /// unread.
    pub fn plain_string(&mut self) -> Option<&'a str> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.at;
        match self.string()? {
            (raw, false) => Some(&raw[1..raw.len() - 1]),
            (_, true) => {
                self.at = start;
                None
            }
        }
    }

    /// Only whitespace is left.
    pub fn finish(mut self) -> Option<()> {
        self.skip_whitespace();
        (self.at == self.text.len()).then_some(())
    }

    fn enter(&mut self, open: u8) -> Option<()> {
        if self.bytes().get(self.at) != Some(&open) || self.depth >= MAX_DEPTH {
            return None;
        }
        self.at += 1;
        self.depth += 1;
        Some(())
    }

    fn array(&mut self) -> Option<&'a str> {
        self.items(b'[', b']', |reader| reader.value().map(drop))
    }

    /// An object or an array from `open` to its `close`, each item read by
    /// `item`, the commas between them checked; its text.
    fn items(
        &mut self,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<&'a str> {
        self.skip_whitespace();
        let start = self.at;
        self.enter(open)?;
        if self.peek()? == close {
            self.at += 1;
        } else {
            loop {
                item(self)?;
                match self.peek()? {
                    b',' => self.at += 1,
                    byte if byte == close => {
                        self.at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(&self.text[start..self.at])
    }

    /// A string at the opening quote: its text with the quotes, and whether
    /// it holds an escape.
    fn string(&mut self) -> Option<(&'a str, bool)> {
        let bytes = self.bytes();
        let start = self.at;
        let mut at = start + 1;
        let mut escaped = false;
        loop {
            at += plain_run(bytes.get(at..)?)?;
            match bytes[at] {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    at += match *bytes.get(at + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => 2,
                        b'u' => {
                            let hex = bytes.get(at + 2..at + 6)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            let unit = hex.iter().fold(0u32, |unit, &digit| {
                                unit << 4 | char::from(digit).to_digit(16).unwrap_or_default()
                            });
                            if (0xD800..=0xDFFF).contains(&unit) {
                                return None;
                            }
                            6
                        }
                        _ => return None,
                    };
                }
                // A raw control character: not JSON.
                _ => return None,
            }
        }
        self.at = at + 1;
        Some((&self.text[start..self.at], escaped))
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        self.text[self.at..]
            .starts_with(word)
            .then(|| self.at += word.len())
    }

    fn number(&mut self) -> Option<()> {
        self.at = number_end(self.bytes(), self.at)?.0;
        Some(())
    }
}

/// Where the number at `from` ends, and whether it has a fraction or an
/// exponent: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, as
/// JSON writes one; what follows is the caller's to check.
pub(crate) fn number_end(bytes: &[u8], from: usize) -> Option<(usize, bool)> {
    let start = from + usize::from(bytes.get(from) == Some(&b'-'));
    let digits = count_digits(bytes, start);
    if digits == 0 || (digits > 1 && bytes[start] == b'0') {
        return None;
    }
    let mut end = start + digits;
    let mut float = false;
    if bytes.get(end) == Some(&b'.') {
        let fraction = count_digits(bytes, end + 1);
        if fraction == 0 {
            return None;
        }
        end += 1 + fraction;
        float = true;
    }
    if let Some(b'e' | b'E') = bytes.get(end) {
        end += 1;
        if let Some(b'+' | b'-') = bytes.get(end) {
            end += 1;
        }
        let exponent = count_digits(bytes, end);
        if exponent == 0 {
            return None;
        }
        end += exponent;
        float = true;
    }
    Some((end, float))
}

/// Where the first `"`, `\` or control byte of `bytes` is, if anywhere.
///
/// Eight bytes at a time: in each word, a byte equal to one of the two, or
/// below 0x20, gets its top bit set, and the lowest such bit is the first
/// match. (A borrow can only mark bytes above a true match, never below.)
pub(crate) fn plain_run(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const TOPS: u64 = ONES << 7;
    let zero_byte = |word: u64| word.wrapping_sub(ONES) & !word;
    let mut at = 0;
    while let Some(chunk) = bytes
        .get(at..at + 8)
        .and_then(|c| <[u8; 8]>::try_from(c).ok())
    {
        let word = u64::from_le_bytes(chunk);
        let marked = (zero_byte(word ^ (ONES * u64::from(b'"')))
            | zero_byte(word ^ (ONES * u64::from(b'\\')))
            | (word.wrapping_sub(ONES * 0x20) & !word))
            & TOPS;
        if marked != 0 {
            return Some(at + (marked.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let tail = bytes.get(at..)?;
    let found = tail
        .iter()
        .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)?;
    Some(at + found)
}

/// How many ASCII digits `bytes` has from `from` on.
fn count_digits(bytes: &[u8], from: usize) -> usize {
    bytes.get(from..).map_or(0, |rest| {
        rest.iter().take_while(|byte| byte.is_ascii_digit()).count()
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use proptest::prelude::*;

    use super::*;

    /// The whole text as one value, when the reader takes it.
    fn read(text: &[u8]) -> Option<&str> {
        let mut reader = Reader::new(text)?;
        let value = reader.value()?;
        reader.finish()?;
        Some(value)
    }

    fn serde_takes(text: &[u8]) -> bool {
        serde_json::from_slice::<serde::de::IgnoredAny>(text).is_ok()
    }

    #[test]
    fn valid_texts_are_read_whole() {
        for text in [
            r#"{}"#,
            r#" {"a" : [1, -0.5e+3, true, false, null, "x\"\\\/\b\f\n\r\t\u00e9"], "b":{}} "#,
            r#"[[],[{}],""]"#,
            "0",
            "-12.25E-7",
            "\"\u{1F600}\"",
        ] {
            assert_eq!(read(text.as_bytes()), Some(text.trim()), "{text}");
            assert!(serde_takes(text.as_bytes()), "{text}");
        }
    }

    #[test]
    fn invalid_texts_are_declined() {
        for text in [
            "",
            "{",
            "}",
            "[1,]",
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{1:2}"#,
            "01",
            "-",
            "1.",
            "1e",
            "+1",
            ".5",
            "tru",
            "nul",
            "\"\t\"",
            r#""\x""#,
            r#""\u12""#,
            r#""\u+123""#,
            "[1 2]",
            r#"{"a":1}{}"#,
            "\"abc",
            "NaN",
        ] {
            assert_eq!(read(text.as_bytes()), None, "{text}");
            assert!(!serde_takes(text.as_bytes()), "{text}");
        }
    }

    #[test]
    fn what_it_is_not_sure_of_is_left_to_serde() {
        // Valid JSON, declined: surrogates, an escaped key, deep nesting,
        // text that is not UTF-8 inside a string.
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        for text in [
            br#""\ud83d\ude00""#.as_slice(),
            br#"{"n\u0061me":1}"#,
            deep.as_bytes(),
            b"\"\xff\"",
        ] {
            assert_eq!(read(text), None);
        }
        let deepest = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(read(deepest.as_bytes()).is_some());
    }

    #[test]
    fn members_are_handed_to_the_caller_with_their_text() {
        let mut reader = Reader::new(br#"{ "a": [1, {"b": 2}] , "c": "d\n" }"#).unwrap();
        let mut seen = Vec::new();
        let whole = reader
            .object(|reader, key| {
                seen.push((key, reader.value()?));
                Some(())
            })
            .unwrap();
        assert_eq!(whole, r#"{ "a": [1, {"b": 2}] , "c": "d\n" }"#);
        assert_eq!(seen, [("a", r#"[1, {"b": 2}]"#), ("c", r#""d\n""#)]);
        let mut reader = Reader::new(br#""a\"b""#).unwrap();
        assert_eq!(reader.plain_string(), None);
        assert_eq!(reader.value(), Some(r#""a\"b""#));
    }

    /// Texts near JSON: built from its pieces, then cut and spliced.
    fn near_json() -> impl Strategy<Value = Vec<u8>> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("fals".to_owned()),
            "-?(0|[1-9][0-9]{0,3})(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?",
            "-?0[0-9]",
            "\"([a-z \\\\\"/é\u{1F600}\t]|\\\\[nrtbfu\"/\\\\x]|\\\\u[0-9a-fA-F]{4}){0,6}\"",
        ];
        let value = leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|items| format!("[{}]", items.join(","))),
                prop::collection::vec(("[a-z\\\\\"]{0,3}", inner), 0..4).prop_map(|members| {
                    let members: Vec<String> = members
                        .into_iter()
                        .map(|(key, value)| format!("\"{key}\" : {value}"))
                        .collect();
                    format!("{{ {} }}", members.join(","))
                }),
            ]
        });
        (
            value,
            any::<prop::sample::Index>(),
            0..3usize,
            "[ ,:\\[\\]{}\"0a]{0,2}",
        )
            .prop_map(|(text, at, how, piece)| {
                let mut bytes = text.into_bytes();
                let cut = at.index(bytes.len() + 1);
                match how {
                    0 => {}
                    1 => bytes.truncate(cut),
                    _ => {
                        bytes.splice(cut..cut, piece.bytes());
                    }
                }
                bytes
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn what_the_reader_takes_serde_json_takes(text in near_json()) {
            if let Some(value) = read(&text) {
                prop_assert!(serde_takes(&text), "{:?}", String::from_utf8_lossy(&text));
                prop_assert_eq!(value, std::str::from_utf8(&text).unwrap().trim_matches([' ', '\t', '\n', '\r']));
            }
        }

        #[test]
        fn what_serde_json_writes_is_read(value in any::<(i64, bool, String, f32)>()) {
            // serde_json escapes quotes, backslashes and control characters
            // only, none of them as a surrogate.
            let text = serde_json::json!({
                "n": value.0, "b": [value.1, null], "s": value.2, "f": value.3, "o": {}
            })
            .to_string();
            prop_assert_eq!(read(text.as_bytes()), Some(text.as_str()));
        }
    }
}
