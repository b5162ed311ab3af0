//! Minimal JSON for endpoints: a writer that escapes correctly, and a strict parser (RFC 8259, nesting up to
//! 64) that answers None on any bad input, so a handler can answer 400. Both follow the AssemblyScript SDK's
//! rules to the byte, so an endpoint ported from it gives the same answers.

/// A parsed JSON value. Object members keep document order; `get` finds the last of a repeated name.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Parses a whole document; None if it is not valid JSON (or nests deeper than 64).
    pub fn parse(text: &str) -> Option<Json> {
        let mut p = Parser { s: text.as_bytes(), i: 0, depth: 0 };
        let v = p.value()?;
        p.ws();
        if p.i == p.s.len() {
            Some(v)
        } else {
            None
        }
    }

    /// The member called `key` of an object (the last one if repeated).
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// A number with no fractional part within ±2^53 (exactly representable as an i64).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Json::Number(n) if n == n.floor() && n.abs() <= 9007199254740992.0 => Some(n as i64),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    /// Member `key` if it is a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Json::as_str)
    }

    /// Member `key` if it is an integer (see as_i64).
    pub fn get_i64(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(Json::as_i64)
    }
}

const MAX_DEPTH: u32 = 64;

// 10^k as f64: literals are correctly rounded (exact up to 1e22), so 10^k for k >= 32, a product of two, is
// within about an ulp. The same tables and steps as the AssemblyScript SDK, so numbers convert identically.
const POW10_LO: [f64; 32] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
    1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28, 1e29, 1e30, 1e31,
];
const POW10_HI: [f64; 10] = [1e0, 1e32, 1e64, 1e96, 1e128, 1e160, 1e192, 1e224, 1e256, 1e288];

fn pow10(k: i32) -> f64 {
    if k < 32 {
        POW10_LO[k as usize]
    } else if k >= 320 {
        f64::INFINITY
    } else {
        POW10_HI[(k >> 5) as usize] * POW10_LO[(k & 31) as usize]
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: u32,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn literal(&mut self, word: &[u8], v: Json) -> Option<Json> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Some(v)
        } else {
            None
        }
    }

    fn value(&mut self) -> Option<Json> {
        self.ws();
        match self.peek()? {
            b'{' => self.container(true),
            b'[' => self.container(false),
            b'"' => self.string().map(Json::String),
            b't' => self.literal(b"true", Json::Bool(true)),
            b'f' => self.literal(b"false", Json::Bool(false)),
            b'n' => self.literal(b"null", Json::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// Reads digits into `mant` (at most 19 significant) and moves `exp` so mant * 10^exp stays the value read.
    fn significand(&mut self, fraction: bool, mant: &mut u64, digits: &mut u32, exp: &mut i32) {
        while let Some(c @ b'0'..=b'9') = self.peek() {
            if *digits < 19 {
                *mant = *mant * 10 + (c - b'0') as u64;
                if *mant != 0 {
                    *digits += 1;
                }
                if fraction {
                    *exp -= 1;
                }
            } else if !fraction {
                *exp += 1;
            }
            self.i += 1;
        }
    }

    /// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    fn number(&mut self) -> Option<Json> {
        let neg = self.peek() == Some(b'-');
        if neg {
            self.i += 1;
        }
        let (mut mant, mut digits, mut exp) = (0u64, 0u32, 0i32);
        let int_start = self.i;
        self.significand(false, &mut mant, &mut digits, &mut exp);
        let int_digits = self.i - int_start;
        if int_digits == 0 || (int_digits > 1 && self.s[int_start] == b'0') {
            return None;
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            let frac_start = self.i;
            self.significand(true, &mut mant, &mut digits, &mut exp);
            if self.i == frac_start {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            let exp_neg = self.peek() == Some(b'-');
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            let exp_start = self.i;
            let mut x: i32 = 0;
            while let Some(c @ b'0'..=b'9') = self.peek() {
                if x < 100000 {
                    x = x * 10 + (c - b'0') as i32;
                }
                self.i += 1;
            }
            if self.i == exp_start {
                return None;
            }
            exp += if exp_neg { -x } else { x };
        }
        let m = mant as f64;
        let r = if mant == 0 {
            0.0
        } else if exp == 0 {
            m
        } else if exp > 0 {
            if exp > 400 {
                f64::INFINITY
            } else {
                m * pow10(exp)
            }
        } else if exp >= -308 {
            m / pow10(-exp)
        } else if exp >= -346 {
            m / 1e308 / pow10(-exp - 308)
        } else {
            0.0
        };
        Some(Json::Number(if neg { -r } else { r }))
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.s.get(self.i..self.i + 4)?;
        let mut v = 0;
        for &c in digits {
            v = v << 4 | (c as char).to_digit(16)?;
        }
        self.i += 4;
        Some(v)
    }

    /// A string literal at its opening quote. A \u escape of a lone surrogate becomes U+FFFD.
    fn string(&mut self) -> Option<String> {
        self.i += 1;
        let mut out = String::new();
        let mut run = self.i;
        loop {
            let c = self.peek()?;
            if c == b'"' {
                out.push_str(std::str::from_utf8(&self.s[run..self.i]).ok()?);
                self.i += 1;
                return Some(out);
            }
            if c < 32 {
                return None;
            }
            if c != b'\\' {
                self.i += 1;
                continue;
            }
            out.push_str(std::str::from_utf8(&self.s[run..self.i]).ok()?);
            self.i += 1;
            let e = self.peek()?;
            self.i += 1;
            match e {
                b'"' => out.push('"'),
                b'\\' => out.push('\\'),
                b'/' => out.push('/'),
                b'n' => out.push('\n'),
                b't' => out.push('\t'),
                b'r' => out.push('\r'),
                b'b' => out.push('\u{8}'),
                b'f' => out.push('\u{c}'),
                b'u' => {
                    let code = self.hex4()?;
                    let pair = (0xd800..0xdc00).contains(&code) && self.s[self.i..].starts_with(b"\\u");
                    let low = if pair { self.peek_low_surrogate() } else { None };
                    let ch = match low {
                        Some(low) => {
                            self.i += 6;
                            char::from_u32(0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00))
                        }
                        None => char::from_u32(code),
                    };
                    out.push(ch.unwrap_or('\u{fffd}'));
                }
                _ => return None,
            }
            run = self.i;
        }
    }

    /// The low surrogate of a `\uDC00`..`\uDFFF` escape at the cursor, without consuming it.
    fn peek_low_surrogate(&mut self) -> Option<u32> {
        let at = self.i;
        self.i += 2;
        let low = self.hex4();
        self.i = at;
        low.filter(|l| (0xdc00..0xe000).contains(l))
    }

    fn container(&mut self, is_object: bool) -> Option<Json> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let close = if is_object { b'}' } else { b']' };
        self.i += 1;
        let mut items = Vec::new();
        let mut members = Vec::new();
        self.ws();
        if self.peek() == Some(close) {
            self.i += 1;
        } else {
            loop {
                if is_object {
                    self.ws();
                    if self.peek() != Some(b'"') {
                        return None;
                    }
                    let key = self.string()?;
                    self.ws();
                    if self.peek() != Some(b':') {
                        return None;
                    }
                    self.i += 1;
                    members.push((key, self.value()?));
                } else {
                    items.push(self.value()?);
                }
                self.ws();
                let c = self.peek();
                self.i += 1;
                if c == Some(close) {
                    break;
                }
                if c != Some(b',') {
                    return None;
                }
            }
        }
        self.depth -= 1;
        Some(if is_object { Json::Object(members) } else { Json::Array(items) })
    }
}

/// Builds a JSON document piece by piece:
/// `JsonWriter::new().begin_object().key("a").int(1).end_object().finish()`.
pub struct JsonWriter {
    out: String,
    /// Per open container: does the next value need a comma before it?
    need_comma: Vec<bool>,
}

impl Default for JsonWriter {
    fn default() -> Self {
        JsonWriter::new()
    }
}

impl JsonWriter {
    pub fn new() -> JsonWriter {
        JsonWriter { out: String::with_capacity(128), need_comma: vec![false] }
    }

    fn sep(&mut self) {
        let top = self.need_comma.last_mut().expect("the writer's root level is never popped");
        if *top {
            self.out.push(',');
        } else {
            *top = true;
        }
    }

    fn quoted(&mut self, s: &str) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.out.push('"');
        let mut run = 0;
        for (i, c) in s.bytes().enumerate() {
            if c >= 32 && c != b'"' && c != b'\\' {
                continue;
            }
            self.out.push_str(&s[run..i]);
            run = i + 1;
            match c {
                b'"' => self.out.push_str("\\\""),
                b'\\' => self.out.push_str("\\\\"),
                b'\n' => self.out.push_str("\\n"),
                b'\r' => self.out.push_str("\\r"),
                b'\t' => self.out.push_str("\\t"),
                _ => {
                    self.out.push_str("\\u00");
                    self.out.push(HEX[(c >> 4) as usize] as char);
                    self.out.push(HEX[(c & 15) as usize] as char);
                }
            }
        }
        self.out.push_str(&s[run..]);
        self.out.push('"');
    }

    fn close(&mut self, c: char) -> &mut Self {
        if self.need_comma.len() > 1 {
            self.need_comma.pop();
        }
        self.out.push(c);
        self
    }

    pub fn begin_object(&mut self) -> &mut Self {
        self.sep();
        self.out.push('{');
        self.need_comma.push(false);
        self
    }

    pub fn end_object(&mut self) -> &mut Self {
        self.close('}')
    }

    pub fn begin_array(&mut self) -> &mut Self {
        self.sep();
        self.out.push('[');
        self.need_comma.push(false);
        self
    }

    pub fn end_array(&mut self) -> &mut Self {
        self.close(']')
    }

    /// An object member's key; the value written next belongs to it.
    pub fn key(&mut self, k: &str) -> &mut Self {
        self.sep();
        self.quoted(k);
        self.out.push(':');
        if let Some(top) = self.need_comma.last_mut() {
            *top = false;
        }
        self
    }

    pub fn string(&mut self, v: &str) -> &mut Self {
        self.sep();
        self.quoted(v);
        self
    }

    pub fn int(&mut self, v: i64) -> &mut Self {
        self.sep();
        self.out.push_str(&v.to_string());
        self
    }

    /// A number; NaN and infinities, which JSON cannot represent, are written as null. Integral values below
    /// 1e15 are written as integers, others in the shortest form that reads back the same, as JavaScript does.
    pub fn number(&mut self, v: f64) -> &mut Self {
        if !v.is_finite() {
            return self.null();
        }
        if v == v.floor() && v.abs() < 1e15 {
            return self.int(v as i64);
        }
        self.sep();
        let a = v.abs();
        if a >= 1e21 || a < 1e-6 {
            let e = format!("{:e}", v);
            match e.find("e-") {
                Some(_) => self.out.push_str(&e),
                None => self.out.push_str(&e.replacen('e', "e+", 1)),
            }
        } else {
            self.out.push_str(&v.to_string());
        }
        self
    }

    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.sep();
        self.out.push_str(if v { "true" } else { "false" });
        self
    }

    pub fn null(&mut self) -> &mut Self {
        self.sep();
        self.out.push_str("null");
        self
    }

    /// A parsed value, written back out (e.g. to pass part of one document into another).
    pub fn value(&mut self, v: &Json) -> &mut Self {
        match v {
            Json::Null => self.null(),
            Json::Bool(b) => self.bool(*b),
            Json::Number(n) => self.number(*n),
            Json::String(s) => self.string(s),
            Json::Array(items) => {
                self.begin_array();
                for item in items {
                    self.value(item);
                }
                self.end_array()
            }
            Json::Object(members) => {
                self.begin_object();
                for (k, item) in members {
                    self.key(k).value(item);
                }
                self.end_object()
            }
        }
    }

    /// The document written.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.out)
    }
}
