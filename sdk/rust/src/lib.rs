//! The Roam endpoint SDK for Rust: the module side of the endpoint ABI v1 (protocol/abi.md). An endpoint is
//! one function from `&Request` to `Response`, registered with `roam::endpoint!`; it reaches named data
//! stores, other endpoints, the log, the clock and randomness through this crate, and nothing else.
//!
//! Built with plain `rustc` for `wasm32-unknown-unknown` (no cargo, no registry): see docs/sdk-rust.md.

mod abi;
mod host;
mod http;
mod json;
mod store;
mod text;

pub use http::{call, CallError, Request, Response};
pub use json::{Json, JsonWriter};
pub use store::{Store, StoreError};
pub use text::{form_value, parse_decimal, url_decode};

#[doc(hidden)]
pub use abi::{alloc as __alloc, handle as __handle};

/// Makes `handler` (a `fn(&roam::Request) -> roam::Response`) the module's endpoint: defines the three
/// exports ABI v1 requires. Use it once, at the top level of the endpoint's crate.
#[macro_export]
macro_rules! endpoint {
    ($handler:path) => {
        #[no_mangle]
        pub extern "C" fn roam_abi_version() -> i32 {
            1
        }

        #[no_mangle]
        pub extern "C" fn roam_alloc(size: i32) -> *mut u8 {
            $crate::__alloc(size)
        }

        #[no_mangle]
        pub extern "C" fn roam_handle(ptr: *const u8, len: i32) -> *const u32 {
            $crate::__handle(ptr, len, $handler)
        }
    };
}

/// Log lines at the host, tagged with the endpoint; rate-limited there.
pub mod log {
    fn emit(level: i32, message: &str) {
        unsafe { crate::host::log(level, message.as_ptr(), message.len() as i32) }
    }
    pub fn debug(message: &str) {
        emit(0, message)
    }
    pub fn info(message: &str) {
        emit(1, message)
    }
    pub fn warn(message: &str) {
        emit(2, message)
    }
    pub fn error(message: &str) {
        emit(3, message)
    }
}

/// Monotonic time in nanoseconds from an arbitrary origin (exact up to 2^53 ns).
pub fn now_ns() -> f64 {
    unsafe { host::now_ns() }
}

/// Fills `buf` with cryptographically secure random bytes.
pub fn random_fill(buf: &mut [u8]) {
    if !buf.is_empty() {
        unsafe { host::random_fill(buf.as_mut_ptr(), buf.len() as i32) }
    }
}
