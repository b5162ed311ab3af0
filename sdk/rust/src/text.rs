//! Form and query decoding and strict decimal integers, with the same rules as the AssemblyScript SDK.

fn hex_value(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Decodes %XX escapes and "+" (space), as in query strings and form bodies. A malformed escape is kept as it
/// is; bytes that do not form UTF-8 become U+FFFD.
pub fn url_decode(s: &str) -> String {
    if !s.contains(|c| c == '%' || c == '+') {
        return s.into();
    }
    let src = s.as_bytes();
    let mut out = Vec::with_capacity(src.len());
    let mut i = 0;
    while i < src.len() {
        let c = src[i];
        if c == b'+' {
            out.push(b' ');
        } else if c == b'%' && i + 2 < src.len() {
            match (hex_value(src[i + 1]), hex_value(src[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(c),
            }
        } else {
            out.push(c);
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The URL-decoded value of `name` in an application/x-www-form-urlencoded string (a query or a form body):
/// the first occurrence wins, "" for a bare `name`, None when absent.
pub fn form_value(encoded: &str, name: &str) -> Option<String> {
    for pair in encoded.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = match pair.find('=') {
            Some(eq) => (&pair[..eq], Some(&pair[eq + 1..])),
            None => (pair, None),
        };
        if url_decode(key) == name {
            return Some(value.map(url_decode).unwrap_or_default());
        }
    }
    None
}

/// A decimal integer: an optional leading "-" and 1 to 18 digits, nothing else.
pub fn parse_decimal(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let v = digits.bytes().fold(0i64, |v, c| v * 10 + (c - b'0') as i64);
    Some(if digits.len() < s.len() { -v } else { v })
}
