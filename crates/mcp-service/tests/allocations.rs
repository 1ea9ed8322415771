//! Key hashing allocates nothing for small params, typed or raw: a counting
//! allocator watches the thread that hashes.

#![allow(
    unsafe_code,
    reason = "a counting global allocator is the only way to observe allocations"
)]
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    hint::black_box,
};

use mcp_service::{
    CacheKey, McpRequest, ParamsDigest, Partition, Principal,
    jsonrpc::{DecodeLimits, JsonRpcRequest},
};
use rmcp::model::CallToolRequestParams;
use serde_json::json;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is a const-initialized thread-local, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(pointer, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations(work: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    work();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn keys_of_small_params_allocate_nothing() {
    let arguments = json!({"query": "rust tower", "limit": 10, "ratio": 0.25, "tags": ["a", "b"],
        "nested": {"deep": [true, null, -3]}});
    let typed = CallToolRequestParams::new("search")
        .with_arguments(arguments.as_object().cloned().unwrap());
    let message = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": serde_json::to_value(&typed).unwrap()});
    let raw = JsonRpcRequest::decode(message.to_string().as_bytes(), &DecodeLimits::default())
        .unwrap()
        .with_session_protocol_version("2025-11-25");
    let partition = Partition::Principal(Principal::from_identity("alice"));
    black_box(ParamsDigest::empty());

    let typed_allocations = allocations(|| {
        let params = ParamsDigest::of_value(black_box(&typed)).unwrap();
        black_box(CacheKey::new(
            "tools/call",
            params,
            Some("2025-11-25"),
            partition,
        ));
    });
    assert_eq!(typed_allocations, 0, "typed params");

    let raw_allocations = allocations(|| {
        black_box(black_box(&raw).cache_key(partition).unwrap());
    });
    assert_eq!(raw_allocations, 0, "raw params");

    let sanity = allocations(|| {
        black_box(serde_json::to_vec(&typed).unwrap());
    });
    assert!(sanity > 0, "the counter sees allocations");
}
