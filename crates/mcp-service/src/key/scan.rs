//! The params digest's fast path: a scanner for JSON text, driving the same
//! encoder as the `serde_json` visitor in `de`, without its per-value
//! generic machinery. It gives up, and the visitor decides, on what is rare
//! or hard to read exactly as `serde_json` does: a `\u` escape of a
//! surrogate, `-0`, an integer beyond 64 bits, a float out of range, deep
//! nesting, or text that is not JSON. So the two paths agree on every input
//! the scanner takes, and errors come from `serde_json` alone.

use super::{Canon, ObjectSum, skipped};
use crate::jsonrpc::skim::{number_end, plain_run};

/// Deeper values are left to `serde_json`, whose own limit then applies.
const MAX_DEPTH: u32 = 32;

/// The digest of `text`, or `None` when the scanner leaves it to the visitor.
pub(super) fn digest(text: &str) -> Option<u128> {
    let mut scan = Scan { text, at: 0 };
    let mut canon = Canon::root();
    scan.value(&mut canon, 0)?;
    scan.skip_space();
    (scan.at == text.len()).then(|| canon.finish())
}

struct Scan<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scan<'a> {
    fn skip_space(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.text.as_bytes().get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte that is not white space, left in place.
    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.text.as_bytes().get(self.at).copied()
    }

    fn value(&mut self, out: &mut Canon, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'{' => self.object(out, depth),
            b'[' => self.array(out, depth),
            b'"' => {
                let mut scratch = String::new();
                out.str(self.string(&mut scratch)?);
                Some(())
            }
            b't' => self.literal("true").then(|| out.bool(true)),
            b'f' => self.literal("false").then(|| out.bool(false)),
            b'n' => self.literal("null").then(|| out.null()),
            b'-' | b'0'..=b'9' => self.number(out),
            _ => None,
        }
    }

    fn literal(&mut self, word: &str) -> bool {
        let found = self.text.as_bytes()[self.at..].starts_with(word.as_bytes());
        if found {
            self.at += word.len();
        }
        found
    }

    /// A string, at its quote. Borrowed when it has no escape; else decoded
    /// into `scratch`.
    fn string<'s>(&mut self, scratch: &'s mut String) -> Option<&'s str>
    where
        'a: 's,
    {
        let bytes = self.text.as_bytes();
        let start = self.at + 1;
        let mut end = start + plain_run(bytes.get(start..)?)?;
        if bytes[end] == b'"' {
            // No escape, the common case: the text itself.
            self.at = end + 1;
            return self.text.get(start..end);
        }
        // Decoded run by run, each run scanned once.
        scratch.clear();
        let mut from = start;
        loop {
            match bytes[end] {
                b'\\' => {
                    scratch.push_str(self.text.get(from..end)?);
                    self.at = end;
                    scratch.push(self.escape()?);
                    from = self.at;
                    end = from + plain_run(bytes.get(from..)?)?;
                }
                b'"' => {
                    scratch.push_str(self.text.get(from..end)?);
                    self.at = end + 1;
                    return Some(scratch);
                }
                // A raw control character: not JSON.
                _ => return None,
            }
        }
    }

    /// The escape at a backslash, stepping past it.
    fn escape(&mut self) -> Option<char> {
        let decoded = match self.text.as_bytes().get(self.at + 1)? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hex = self.text.get(self.at + 2..self.at + 6)?;
                if !hex.bytes().all(|byte| byte.is_ascii_hexdigit()) {
                    return None;
                }
                self.at += 4;
                // Surrogates (pairs and lone ones) are the parser's.
                char::from_u32(u32::from_str_radix(hex, 16).ok()?)?
            }
            _ => return None,
        };
        self.at += 2;
        Some(decoded)
    }

    /// A number as `serde_json` reads one: `u64` when it fits, else `i64`
    /// when negative and it fits, else `f64`. `-0` (a float to
    /// `serde_json`), an integer beyond 64 bits and a float out of range are
    /// left to the visitor.
    fn number(&mut self, out: &mut Canon) -> Option<()> {
        let bytes = self.text.as_bytes();
        let from = self.at;
        let negative = bytes[from] == b'-';
        let start = from + usize::from(negative);
        let (end, float) = number_end(bytes, from)?;
        self.at = end;
        if float {
            // `serde_json` reads floats correctly rounded (`float_roundtrip`),
            // as the standard library does.
            let value: f64 = self.text.get(from..end)?.parse().ok()?;
            if !value.is_finite() {
                return None;
            }
            out.f64(value);
            return Some(());
        }
        let mut value: u64 = 0;
        for &digit in &bytes[start..end] {
            value = value
                .checked_mul(10)?
                .checked_add(u64::from(digit - b'0'))?;
        }
        if !negative {
            out.u64(value);
        } else if value == 0 {
            return None;
        } else {
            out.i64(0_i64.checked_sub_unsigned(value)?);
        }
        Some(())
    }

    fn array(&mut self, out: &mut Canon, depth: u32) -> Option<()> {
        self.at += 1;
        out.array_start();
        if self.peek()? == b']' {
            self.at += 1;
        } else {
            loop {
                self.value(out, depth + 1)?;
                match self.peek()? {
                    b',' => self.at += 1,
                    b']' => {
                        self.at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        out.array_end();
        Some(())
    }

    /// As the visitor's `visit_map`: each member hashed on its own into an
    /// order-free sum, the root's `_meta` left out.
    fn object(&mut self, out: &mut Canon, depth: u32) -> Option<()> {
        self.at += 1;
        let root = out.take_root();
        let mut object = ObjectSum::default();
        if self.peek()? == b'}' {
            self.at += 1;
        } else {
            let mut member = Canon::new();
            let mut scratch = String::new();
            loop {
                if self.peek()? != b'"' {
                    return None;
                }
                let key = self.string(&mut scratch)?;
                member.str(key);
                let skip = skipped(root, key);
                if self.peek()? != b':' {
                    return None;
                }
                self.at += 1;
                self.value(&mut member, depth + 1)?;
                if skip {
                    member.finish();
                } else {
                    object.add(&mut member);
                }
                match self.peek()? {
                    b',' => self.at += 1,
                    b'}' => {
                        self.at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        object.write(out);
        Some(())
    }
}
