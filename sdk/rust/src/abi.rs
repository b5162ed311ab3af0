//! The exports ABI v1 requires (roam_alloc, roam_handle), behind `roam::endpoint!`: the request buffer, the
//! decoding of requests and the encoding of responses in the ABI's wire format.

use crate::http::{Request, Response};
use std::alloc::{self, Layout};

// The request buffer is reused for every request and only grows. It is taken with the raw allocator, which
// answers null instead of aborting when memory is exhausted, so roam_alloc can return 0 as the ABI asks.
static mut ARENA: (*mut u8, usize) = (std::ptr::null_mut(), 0);
/// The encoded response, kept until the next call into the module as the ABI requires.
static mut RESPONSE: Vec<u8> = Vec::new();
static mut DESCRIPTOR: [u32; 2] = [0, 0];

pub fn alloc(size: i32) -> *mut u8 {
    if size < 0 {
        return std::ptr::null_mut();
    }
    let need = (size as usize).max(1);
    unsafe {
        if need <= ARENA.1 {
            return ARENA.0;
        }
        if !ARENA.0.is_null() {
            alloc::dealloc(ARENA.0, Layout::from_size_align_unchecked(ARENA.1, 8));
            ARENA = (std::ptr::null_mut(), 0);
        }
        let cap = need.max(4096).next_power_of_two();
        let ptr = alloc::alloc(Layout::from_size_align_unchecked(cap, 8));
        if !ptr.is_null() {
            ARENA = (ptr, cap);
        }
        ptr
    }
}

pub fn handle(ptr: *const u8, len: i32, handler: fn(&Request) -> Response) -> *const u32 {
    let res = if len < 0 {
        None
    } else {
        let bytes = unsafe { std::slice::from_raw_parts(ptr, len as usize) };
        decode_request(bytes)
    };
    let res = match res {
        Some(req) => handler(&req),
        None => Response::text(400, "malformed request encoding"),
    };
    unsafe {
        RESPONSE.clear();
        encode_response(&res, &mut RESPONSE);
        DESCRIPTOR = [RESPONSE.as_ptr() as u32, RESPONSE.len() as u32];
        DESCRIPTOR.as_ptr()
    }
}

/// Reads the ABI's length-prefixed fields in order; every length is checked against what is left.
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    pub fn u32(&mut self) -> Option<u32> {
        if self.bytes.len() < 4 {
            return None;
        }
        let (head, rest) = self.bytes.split_at(4);
        self.bytes = rest;
        Some(u32::from_le_bytes([head[0], head[1], head[2], head[3]]))
    }

    pub fn field(&mut self) -> Option<&'a [u8]> {
        let len = self.u32()? as usize;
        if self.bytes.len() < len {
            return None;
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Some(head)
    }

    pub fn string(&mut self) -> Option<String> {
        Some(String::from_utf8_lossy(self.field()?).into_owned())
    }

    pub fn headers(&mut self) -> Option<Vec<(String, String)>> {
        let n = self.u32()? as usize;
        // Each header takes at least 8 bytes: a count larger than what is left is refused before allocating.
        if n > self.bytes.len() / 8 {
            return None;
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push((self.string()?, self.string()?));
        }
        Some(out)
    }

    pub fn is_done(&self) -> bool {
        self.bytes.is_empty()
    }
}

fn decode_request(bytes: &[u8]) -> Option<Request> {
    let mut r = Reader::new(bytes);
    let req = Request {
        method: r.string()?,
        path: r.string()?,
        query: r.string()?,
        headers: r.headers()?,
        body: r.field()?.to_vec(),
    };
    if r.is_done() {
        Some(req)
    } else {
        None
    }
}

pub fn decode_response(bytes: &[u8]) -> Option<Response> {
    let mut r = Reader::new(bytes);
    let res = Response { status: r.u32()?, headers: r.headers()?, body: r.field()?.to_vec() };
    if r.is_done() {
        Some(res)
    } else {
        None
    }
}

fn put_field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn put_headers(out: &mut Vec<u8>, headers: &[(String, String)]) {
    out.extend_from_slice(&(headers.len() as u32).to_le_bytes());
    for (name, value) in headers {
        put_field(out, name.as_bytes());
        put_field(out, value.as_bytes());
    }
}

pub fn encode_request(req: &Request, out: &mut Vec<u8>) {
    put_field(out, req.method.as_bytes());
    put_field(out, req.path.as_bytes());
    put_field(out, req.query.as_bytes());
    put_headers(out, &req.headers);
    put_field(out, &req.body);
}

fn encode_response(res: &Response, out: &mut Vec<u8>) {
    out.extend_from_slice(&res.status.to_le_bytes());
    put_headers(out, &res.headers);
    put_field(out, &res.body);
}
