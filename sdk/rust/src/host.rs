//! The host functions of ABI v1 (protocol/abi.md), as the module imports them. Only the SDK calls these.

#[link(wasm_import_module = "roam")]
extern "C" {
    pub fn kv_get(store: *const u8, store_len: i32, key: *const u8, key_len: i32) -> i32;
    pub fn kv_put(
        store: *const u8,
        store_len: i32,
        key: *const u8,
        key_len: i32,
        val: *const u8,
        val_len: i32,
    ) -> i32;
    pub fn kv_delete(store: *const u8, store_len: i32, key: *const u8, key_len: i32) -> i32;
    pub fn kv_list(store: *const u8, store_len: i32, prefix: *const u8, prefix_len: i32, limit: i32) -> i32;
    pub fn call(name: *const u8, name_len: i32, req: *const u8, req_len: i32) -> i32;
    pub fn result_read(dst: *mut u8, dst_len: i32) -> i32;
    pub fn log(level: i32, msg: *const u8, msg_len: i32);
    pub fn now_ns() -> f64;
    pub fn random_fill(dst: *mut u8, dst_len: i32);
}

/// Copies the result the host staged (`len` bytes, as a host function returned) into a new vector.
pub fn take_result(len: i32) -> Vec<u8> {
    let mut out = vec![0u8; len.max(0) as usize];
    if !out.is_empty() {
        let got = unsafe { result_read(out.as_mut_ptr(), len) };
        out.truncate(got.max(0) as usize);
    }
    out
}
