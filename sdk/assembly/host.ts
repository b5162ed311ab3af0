// The host functions of ABI v1 (protocol/abi.md), as the module imports them. Only the SDK calls these.

@external("roam", "kv_get")
export declare function kv_get(storePtr: usize, storeLen: i32, keyPtr: usize, keyLen: i32): i32;

@external("roam", "kv_put")
export declare function kv_put(storePtr: usize, storeLen: i32, keyPtr: usize, keyLen: i32, valPtr: usize, valLen: i32): i32;

@external("roam", "kv_delete")
export declare function kv_delete(storePtr: usize, storeLen: i32, keyPtr: usize, keyLen: i32): i32;

@external("roam", "kv_list")
export declare function kv_list(storePtr: usize, storeLen: i32, prefixPtr: usize, prefixLen: i32, limit: i32): i32;

@external("roam", "call")
export declare function call(namePtr: usize, nameLen: i32, reqPtr: usize, reqLen: i32): i32;

@external("roam", "result_read")
export declare function result_read(dstPtr: usize, dstLen: i32): i32;

@external("roam", "log")
export declare function log(level: i32, msgPtr: usize, msgLen: i32): void;

@external("roam", "now_ns")
export declare function now_ns(): f64;

@external("roam", "random_fill")
export declare function random_fill(dstPtr: usize, dstLen: i32): void;
