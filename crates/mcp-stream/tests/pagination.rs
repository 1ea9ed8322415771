//! Pagination through a real rmcp client and server, and over raw
//! JSON-RPC: long lists page completely, once each, and forged, stale and
//! foreign cursors get a clear error.

#![cfg(feature = "rmcp")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::{
    collections::BTreeSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering::SeqCst},
    },
};

use mcp_service::{
    McpError, McpRequest, Principal,
    jsonrpc::{JsonRpcRequest, JsonRpcResponse, RequestId},
    rmcp::StackedHandler,
};
use mcp_stream::PaginationLayer;
use mcp_testkit::connect;
use rmcp::{
    ErrorData, ServerHandler,
    model::{
        JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    },
    service::{RequestContext, RoleServer},
};
use serde_json::{Value, json};
use tower::{Layer, Service, ServiceExt, service_fn};

/// A server with many tools; `generation` renames them all, as a
/// deployment that changes its tool set would.
#[derive(Clone)]
struct ManyTools {
    tools: Arc<Mutex<Arc<Vec<Tool>>>>,
    lists: Arc<AtomicU64>,
    /// The inner service's own page size, when it pages too.
    own_pages: Option<usize>,
}

fn tools(count: usize, generation: u32) -> Arc<Vec<Tool>> {
    let schema: Arc<JsonObject> = Arc::new(json!({"type": "object"}).as_object().cloned().unwrap());
    Arc::new(
        (0..count)
            .map(|n| {
                Tool::new(
                    format!("tool-{generation}-{n:06}"),
                    "A tool.",
                    schema.clone(),
                )
            })
            .collect(),
    )
}

impl ManyTools {
    fn new(count: usize) -> Self {
        Self {
            tools: Arc::new(Mutex::new(tools(count, 0))),
            lists: Arc::default(),
            own_pages: None,
        }
    }

    fn change(&self, count: usize, generation: u32) {
        *self.tools.lock().unwrap() = tools(count, generation);
    }
}

impl ServerHandler for ManyTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        params: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.lists.fetch_add(1, SeqCst);
        let all = self.tools.lock().unwrap().clone();
        let Some(size) = self.own_pages else {
            return Ok(ListToolsResult::with_all_items(all.to_vec()));
        };
        // Its own cursors are plain offsets.
        let start: usize = match params.and_then(|params| params.cursor) {
            Some(cursor) => cursor
                .parse()
                .map_err(|_| ErrorData::invalid_params("bad cursor", None))?,
            None => 0,
        };
        let end = (start + size).min(all.len());
        let mut page = ListToolsResult::with_all_items(all[start..end].to_vec());
        page.next_cursor = (end < all.len()).then(|| end.to_string());
        Ok(page)
    }
}

fn names(tools: &[Tool]) -> Vec<String> {
    tools.iter().map(|tool| tool.name.to_string()).collect()
}

#[tokio::test]
async fn a_list_of_100000_tools_pages_completely_without_duplicates() {
    let server = ManyTools::new(100_000);
    let layer = PaginationLayer::builder().page_size(2_000).build().unwrap();
    let pair = connect(StackedHandler::new(server.clone(), layer))
        .await
        .unwrap();

    let listed = pair.client.peer().list_all_tools().await.unwrap();
    let listed = names(&listed);
    assert_eq!(listed.len(), 100_000);
    assert_eq!(
        listed.iter().collect::<BTreeSet<_>>().len(),
        100_000,
        "no duplicates"
    );
    assert_eq!(listed, names(&tools(100_000, 0)), "every tool, in order");
    assert_eq!(server.lists.load(SeqCst), 50, "one page per request");
}

#[tokio::test]
async fn short_lists_pass_unchanged() {
    let server = ManyTools::new(10);
    let layer = PaginationLayer::builder().page_size(100).build().unwrap();
    let pair = connect(StackedHandler::new(server, layer)).await.unwrap();
    let page = pair.client.peer().list_tools(None).await.unwrap();
    assert_eq!((page.tools.len(), page.next_cursor), (10, None));
}

#[tokio::test]
async fn a_list_that_changes_while_paged_restarts_cleanly() {
    let server = ManyTools::new(250);
    let layer = PaginationLayer::builder().page_size(100).build().unwrap();
    let pair = connect(StackedHandler::new(server.clone(), layer))
        .await
        .unwrap();
    let peer = pair.client.peer();

    let first = peer.list_tools(None).await.unwrap();
    let cursor = first.next_cursor.clone().unwrap();
    server.change(260, 1);
    let error = peer
        .list_tools(Some(
            PaginatedRequestParams::default().with_cursor(Some(cursor)),
        ))
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(text.contains("stale cursor for tools/list"), "{text}");
    assert!(text.contains("list again without a cursor"), "{text}");

    // Listing again from the start gets the new list, whole.
    let listed = names(&peer.list_all_tools().await.unwrap());
    assert_eq!(listed, names(&tools(260, 1)));
}

#[tokio::test]
async fn forged_cursors_are_refused() {
    let server = ManyTools::new(250);
    let layer = PaginationLayer::builder().page_size(100).build().unwrap();
    let pair = connect(StackedHandler::new(server.clone(), layer))
        .await
        .unwrap();
    let peer = pair.client.peer();
    let genuine = peer.list_tools(None).await.unwrap().next_cursor.unwrap();

    let mut altered = genuine.clone().into_bytes();
    altered[3] = if altered[3] == b'A' { b'B' } else { b'A' };
    let lists_before = server.lists.load(SeqCst);
    for cursor in [
        String::from_utf8(altered).unwrap(),
        "100".into(),
        String::new(),
    ] {
        let error = peer
            .list_tools(Some(
                PaginatedRequestParams::default().with_cursor(Some(cursor.clone())),
            ))
            .await
            .unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("invalid cursor for tools/list"),
            "{cursor}: {text}"
        );
        assert!(text.contains("-32602"), "{text}");
    }
    assert_eq!(
        server.lists.load(SeqCst),
        lists_before,
        "refused before the server"
    );

    // A cursor of another layer (another key) is as good as forged.
    let other = PaginationLayer::builder().page_size(100).build().unwrap();
    let pair = connect(StackedHandler::new(server, other)).await.unwrap();
    let error = pair
        .client
        .peer()
        .list_tools(Some(
            PaginatedRequestParams::default().with_cursor(Some(genuine)),
        ))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("invalid cursor"), "{error}");
}

#[tokio::test]
async fn the_inner_services_own_pages_are_wrapped_and_followed() {
    let server = ManyTools {
        own_pages: Some(350),
        ..ManyTools::new(1_000)
    };
    let layer = PaginationLayer::builder().page_size(100).build().unwrap();
    let pair = connect(StackedHandler::new(server.clone(), layer))
        .await
        .unwrap();
    let listed = names(&pair.client.peer().list_all_tools().await.unwrap());
    assert_eq!(listed, names(&tools(1_000, 0)));
    // Inner pages of 350 served by 100: 4 + 4 + 3 requests.
    assert_eq!(server.lists.load(SeqCst), 11);
}

/// A raw JSON-RPC list of `count` prompts, as a gateway's upstream sends it.
fn prompts(count: usize) -> Value {
    let prompts: Vec<Value> = (0..count)
        .map(|n| json!({ "name": format!("p{n}"), "description": "say \"hi\"" }))
        .collect();
    json!({ "prompts": prompts, "ttlMs": 5000 })
}

fn list(cursor: Option<&str>, principal: Option<&str>) -> JsonRpcRequest {
    let params = cursor.map(|cursor| json!({ "cursor": cursor }));
    let mut request =
        JsonRpcRequest::new(Some(RequestId::Number(1)), "prompts/list", params.as_ref()).unwrap();
    if let Some(who) = principal {
        request.insert_extension(Principal::from_identity(who));
    }
    request
}

fn page(response: &JsonRpcResponse) -> (Vec<String>, Option<String>, Value) {
    let value: Value = serde_json::from_str(response.result().get()).unwrap();
    let names = value["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|prompt| prompt["name"].as_str().unwrap().to_owned())
        .collect();
    let next = value["nextCursor"].as_str().map(ToOwned::to_owned);
    (names, next, value)
}

#[tokio::test]
async fn raw_json_rpc_lists_are_paged_from_their_text() {
    let layer = PaginationLayer::builder().page_size(100).build().unwrap();
    let inner_cursors = Arc::new(Mutex::new(Vec::new()));
    let seen = inner_cursors.clone();
    let mut service = layer.layer(service_fn(move |request: JsonRpcRequest| {
        let principal = request.principal();
        seen.lock()
            .unwrap()
            .push((request.cursor().map(ToOwned::to_owned), principal));
        async { JsonRpcResponse::from_value(&prompts(1_050)) }
    }));

    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let request = list(cursor.as_deref(), Some("alice"));
        let response = service.ready().await.unwrap().call(request).await.unwrap();
        let (names, next, value) = page(&response);
        assert_eq!(value["ttlMs"], 5000, "the list's other members stay");
        assert_eq!(value["prompts"][0]["description"], "say \"hi\"");
        all.extend(names);
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let expected: Vec<String> = (0..1_050).map(|n| format!("p{n}")).collect();
    assert_eq!(all, expected);
    let inner = inner_cursors.lock().unwrap();
    assert_eq!(inner.len(), 11);
    assert!(
        inner.iter().all(|(cursor, _)| cursor.is_none()),
        "the inner service lists whole"
    );
    let alice = Some(Principal::from_identity("alice"));
    assert!(
        inner.iter().all(|(_, principal)| *principal == alice),
        "a rewritten request keeps its principal"
    );
}

#[tokio::test]
async fn another_principals_cursor_is_refused() {
    let layer = PaginationLayer::builder().page_size(10).build().unwrap();
    let mut service = layer.layer(service_fn(|_: JsonRpcRequest| async {
        JsonRpcResponse::from_value(&prompts(30))
    }));
    let first = service
        .ready()
        .await
        .unwrap()
        .call(list(None, Some("alice")))
        .await
        .unwrap();
    let (_, next, _) = page(&first);
    let next = next.unwrap();

    for intruder in [Some("bob"), None] {
        let error = service
            .ready()
            .await
            .unwrap()
            .call(list(Some(&next), intruder))
            .await
            .unwrap_err();
        let McpError::Rpc(rpc) = &error else {
            panic!("{error:?}")
        };
        assert_eq!(rpc.code, -32602);
        assert_eq!(rpc.data.as_ref().unwrap()["kind"], "invalid_cursor");
    }
    let second = service
        .ready()
        .await
        .unwrap()
        .call(list(Some(&next), Some("alice")))
        .await
        .unwrap();
    assert_eq!(page(&second).0.first().map(String::as_str), Some("p10"));
}
