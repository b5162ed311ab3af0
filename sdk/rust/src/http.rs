//! Request and Response, what a handler receives and returns, and calls to other endpoints through the mesh.

use crate::abi::{decode_response, encode_request};
use crate::host;
use crate::text::{form_value, url_decode};
use std::borrow::Cow;

/// An HTTP-shaped request: what the handler receives, and what `call` sends to another endpoint.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// "GET", "POST", ... as the client sent it.
    pub method: String,
    /// The path without the query, starting with "/", still percent-encoded.
    pub path: String,
    /// The raw query string, without "?".
    pub query: String,
    /// In arrival order; names are lower-case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// A request with no query, headers or body, e.g. for `call`.
    pub fn new(method: &str, path: &str) -> Request {
        Request { method: method.into(), path: path.into(), ..Request::default() }
    }

    pub fn with_query(mut self, query: &str) -> Request {
        self.query = query.into();
        self
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// Sets a header, replacing any of the same name (names are lower-cased).
    pub fn with_header(mut self, name: &str, value: &str) -> Request {
        set_in(&mut self.headers, name, value);
        self
    }

    /// A query parameter, URL-decoded; None when absent, "" for a bare `name`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_value(&self.query, name)
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }

    /// The body as UTF-8 text; invalid sequences become U+FFFD.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The path's non-empty segments, URL-decoded: "/cart/42/items" -> ["cart", "42", "items"].
    pub fn segments(&self) -> Vec<String> {
        self.path.split('/').filter(|s| !s.is_empty()).map(url_decode).collect()
    }
}

/// An HTTP-shaped response: status, headers (lower-case names, in order) and body.
#[derive(Clone, Debug, Default)]
pub struct Response {
    /// 100..599; anything else becomes a 502 at the host.
    pub status: u32,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// No body, no headers.
    pub fn empty(status: u32) -> Response {
        Response { status, ..Response::default() }
    }

    /// A UTF-8 text body, content-type text/plain.
    pub fn text(status: u32, text: &str) -> Response {
        Response::bytes(status, text.as_bytes(), "text/plain; charset=utf-8")
    }

    /// An already serialized JSON document (see JsonWriter), content-type application/json.
    pub fn json(status: u32, json: &str) -> Response {
        Response::bytes(status, json.as_bytes(), "application/json")
    }

    /// A binary body with the given content-type.
    pub fn bytes(status: u32, body: impl Into<Vec<u8>>, content_type: &str) -> Response {
        Response { status, headers: Vec::new(), body: body.into() }.with_header("content-type", content_type)
    }

    /// Sets a header, replacing any of the same name (names are lower-cased).
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        set_in(&mut self.headers, name, value);
        self
    }

    /// Appends a header even if one of the same name exists (e.g. set-cookie).
    pub fn add_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }

    /// The body as UTF-8 text; invalid sequences become U+FFFD.
    pub fn text_body(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

fn find<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

fn set_in(headers: &mut Vec<(String, String)>, name: &str, value: &str) {
    let lower = name.to_ascii_lowercase();
    match headers.iter_mut().find(|(n, _)| *n == lower) {
        Some(h) => h.1 = value.into(),
        None => headers.push((lower, value.into())),
    }
}

/// Why `call` returned no response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The mesh knows no endpoint of that name (the host's -3).
    UnknownEndpoint,
    /// Timeout, no healthy target, or a malformed answer (the host's -4).
    Failed,
}

/// Calls endpoint `name` with `req` through the mesh, wherever it runs now, and returns its response whatever
/// its status.
pub fn call(name: &str, req: &Request) -> Result<Response, CallError> {
    let mut encoded = Vec::new();
    encode_request(req, &mut encoded);
    let n = unsafe { host::call(name.as_ptr(), name.len() as i32, encoded.as_ptr(), encoded.len() as i32) };
    match n {
        -3 => Err(CallError::UnknownEndpoint),
        n if n < 0 => Err(CallError::Failed),
        n => decode_response(&host::take_result(n)).ok_or(CallError::Failed),
    }
}
