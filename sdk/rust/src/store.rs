//! Named data stores (the ABI's kv_* host functions). The mesh decides where a store lives; the host accounts
//! every access, which is how Roam learns an endpoint's data locality.

use crate::abi::Reader;
use crate::host;

/// The store is unreachable, misconfigured, or a size limit was hit (the host's -2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreError;

/// A named data store. `const`, so an endpoint can keep one in a `static`.
pub struct Store {
    name: &'static str,
}

impl Store {
    pub const fn new(name: &'static str) -> Store {
        Store { name }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The value, or None when the key is absent.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let n = unsafe {
            host::kv_get(self.name.as_ptr(), self.name.len() as i32, key.as_ptr(), key.len() as i32)
        };
        match n {
            -1 => Ok(None),
            n if n < 0 => Err(StoreError),
            n => Ok(Some(host::take_result(n))),
        }
    }

    /// The value as UTF-8 text (invalid sequences become U+FFFD), or None when the key is absent.
    pub fn get_string(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.get(key)?.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    pub fn put(&self, key: &str, value: impl AsRef<[u8]>) -> Result<(), StoreError> {
        let value = value.as_ref();
        let r = unsafe {
            host::kv_put(
                self.name.as_ptr(),
                self.name.len() as i32,
                key.as_ptr(),
                key.len() as i32,
                value.as_ptr(),
                value.len() as i32,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(StoreError)
        }
    }

    /// True if a key was deleted, false if it was absent.
    pub fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let r = unsafe {
            host::kv_delete(self.name.as_ptr(), self.name.len() as i32, key.as_ptr(), key.len() as i32)
        };
        if r < 0 {
            Err(StoreError)
        } else {
            Ok(r == 1)
        }
    }

    /// Keys starting with `prefix`, in byte order, at most `limit`.
    pub fn list(&self, prefix: &str, limit: u32) -> Result<Vec<String>, StoreError> {
        let n = unsafe {
            host::kv_list(
                self.name.as_ptr(),
                self.name.len() as i32,
                prefix.as_ptr(),
                prefix.len() as i32,
                limit.min(i32::MAX as u32) as i32,
            )
        };
        if n < 0 {
            return Err(StoreError);
        }
        let staged = host::take_result(n);
        let mut r = Reader::new(&staged);
        let mut keys = Vec::new();
        for _ in 0..r.u32().unwrap_or(0) {
            match r.string() {
                Some(k) => keys.push(k),
                None => break,
            }
        }
        Ok(keys)
    }
}
