//! A strict RFC 8259 JSON reader that builds `serde_json::Value`s.
//!
//! We read JSON ourselves rather than through `serde_json::from_str` because
//! the spec pins down behaviour that serde_json leaves to cargo features, which
//! any other crate in the build can switch on (feature unification):
//! `arbitrary_precision` would accept `1e400`, `unbounded_depth` would lift the
//! nesting limit. Here the rules are fixed: numbers are IEEE doubles and one
//! beyond their range is an error; an escape leaving a UTF-16 surrogate unpaired
//! is an error; nesting deeper than [`MAX_DEPTH`] arrays/objects is an error; a
//! repeated object key keeps the last value.

use serde_json::{Map, Number, Value};

/// Nesting allowed: 128 containers deep is fine, 129 is not.
pub(crate) const MAX_DEPTH: usize = 128;

/// Parse one JSON text (surrounding JSON whitespace allowed). `None` on any
/// error: callers only need to know the block is invalid.
pub(crate) fn parse(text: &str) -> Option<Value> {
    let mut r = Reader {
        b: text.as_bytes(),
        s: text,
        i: 0,
        depth: 0,
    };
    r.ws();
    let v = r.value()?;
    r.ws();
    (r.i == r.b.len()).then_some(v)
}

struct Reader<'a> {
    b: &'a [u8],
    s: &'a str,
    i: usize,
    depth: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn lit(&mut self, word: &[u8], v: Value) -> Option<Value> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Some(v)
        } else {
            None
        }
    }

    fn value(&mut self) -> Option<Value> {
        match self.peek()? {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => self.string().map(Value::String),
            b't' => self.lit(b"true", Value::Bool(true)),
            b'f' => self.lit(b"false", Value::Bool(false)),
            b'n' => self.lit(b"null", Value::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    fn array(&mut self) -> Option<Value> {
        self.enter()?;
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
        } else {
            loop {
                self.ws();
                items.push(self.value()?);
                self.ws();
                match self.peek()? {
                    b',' => self.i += 1,
                    b']' => {
                        self.i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(Value::Array(items))
    }

    fn object(&mut self) -> Option<Value> {
        self.enter()?;
        self.i += 1;
        let mut map = Map::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
        } else {
            loop {
                self.ws();
                if self.peek()? != b'"' {
                    return None;
                }
                let key = self.string()?;
                self.ws();
                if self.peek()? != b':' {
                    return None;
                }
                self.i += 1;
                self.ws();
                let v = self.value()?;
                // Insert overwrites: the last of repeated keys counts.
                map.insert(key, v);
                self.ws();
                match self.peek()? {
                    b',' => self.i += 1,
                    b'}' => {
                        self.i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(Value::Object(map))
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.b.get(self.i..self.i + 4)?;
        let mut v = 0u32;
        for &c in h {
            v = v * 16 + (c as char).to_digit(16)?;
        }
        self.i += 4;
        Some(v)
    }

    /// At the opening quote; returns the decoded string.
    fn string(&mut self) -> Option<String> {
        self.i += 1;
        let mut out = String::new();
        loop {
            // Copy the run of plain characters in one go; `"`, `\` and control
            // characters are ASCII, so the run ends on a char boundary.
            let start = self.i;
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            out.push_str(&self.s[start..self.i]);
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(out);
                }
                b'\\' => {
                    self.i += 1;
                    let e = self.peek()?;
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return None,
                    };
                    out.push(c);
                }
                // A raw control character inside a string.
                _ => return None,
            }
        }
    }

    /// After `\u`: one scalar, pairing surrogates; an unpaired one is an error.
    fn unicode_escape(&mut self) -> Option<char> {
        let hi = self.hex4()?;
        match hi {
            0xD800..=0xDBFF => {
                if self.b.get(self.i..self.i + 2)? != b"\\u" {
                    return None;
                }
                self.i += 2;
                let lo = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&lo) {
                    return None;
                }
                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
            }
            0xDC00..=0xDFFF => None,
            _ => char::from_u32(hi),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        let mut integral = true;
        if self.peek() == Some(b'.') {
            integral = false;
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            integral = false;
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        let text = &self.s[start..self.i];
        // Keep integers exact where they fit, as serde_json does, so that
        // `ai_drafted_parameters` round-trips; anything else is a double.
        if integral {
            if negative {
                if let Ok(n) = text.parse::<i64>() {
                    return Some(Value::Number(n.into()));
                }
            } else if let Ok(n) = text.parse::<u64>() {
                return Some(Value::Number(n.into()));
            }
        }
        let f: f64 = text.parse().ok()?;
        // `from_f64` refuses infinities: a number beyond the double range.
        Number::from_f64(f).map(Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts() {
        let cases: &[(&str, Value)] = &[
            ("null", json!(null)),
            (" true ", json!(true)),
            ("false", json!(false)),
            ("0", json!(0)),
            ("-0.5e1", json!(-5.0)),
            ("1E2", json!(100.0)),
            ("18446744073709551615", json!(18446744073709551615u64)),
            ("-9223372036854775808", json!(i64::MIN)),
            ("1e-400", json!(0.0)),
            ("1.7976931348623157e308", json!(f64::MAX)),
            (r#""a\"\\\/\b\f\n\r\t""#, json!("a\"\\/\u{8}\u{c}\n\r\t")),
            (r#""\ud83d\ude00 é""#, json!("😀 é")),
            (r#""\u00e9""#, json!("é")),
            (r#"{"a": 1, "a": 2}"#, json!({"a": 2})),
            ("[1, [2, {}], []]", json!([1, [2, {}], []])),
            ("\n\t{ }\r\n", json!({})),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input).as_ref(), Some(want), "{input:?}");
        }
    }

    #[test]
    fn rejects() {
        let cases = [
            "",
            " ",
            "NaN",
            "Infinity",
            "-",
            "01",
            "1.",
            ".5",
            "1e",
            "+1",
            "1e400",
            "-1e400",
            "[1,]",
            "{\"a\":1,}",
            "{a:1}",
            "'x'",
            "\"\\ud83d\"",
            "\"\\ude00\"",
            "\"\\ud83d\\u0041\"",
            "\"\\x\"",
            "\"\\u12\"",
            "\"a\tb\"",
            "\"open",
            "[1 2]",
            "{\"a\" 1}",
            "1 2",
            "tru",
            "nul",
            "[",
            "{",
            "\u{a0}1",
        ];
        for input in cases {
            assert_eq!(parse(input), None, "{input:?}");
        }
    }

    #[test]
    fn depth_limit_is_128() {
        let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(&nest(128)).is_some());
        assert!(parse(&nest(129)).is_none());
        // The limit resets after a container closes.
        assert!(parse(&format!("[{},{}]", nest(127), nest(127))).is_some());
    }
}
