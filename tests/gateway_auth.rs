//! API keys: writes and webhook routes need a bearer key with the route's scope (`401` with
//! `WWW-Authenticate` without one or with a wrong one, `403` without the scope), and no key,
//! valid or not, ever reaches the gateway's log.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use support::gateway::GatewayProcess;
use support::orders::{order, Answer};
use support::records::orders_created;
use support::{stack_is_up, API_KEY, KAFKA};

/// A key that may set stock and nothing else.
const CLERK_KEY: &str = "stock-clerk-key-fedcba9876543210";
/// A key no gateway knows.
const WRONG_KEY: &str = "wrong-key-but-long-enough-0000";

async fn call(
    gateway: &GatewayProcess,
    method: Method,
    path: &str,
    authorization: Option<&str>,
    body: &Value,
) -> Answer {
    let mut request = reqwest::Client::new().request(method, gateway.url(path));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    if !body.is_null() {
        request = request.json(body);
    }
    Answer::read(request.send().await.expect("the gateway answers")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_need_a_key_with_the_route_scope_and_no_key_is_ever_logged() {
    if !stack_is_up("gateway_auth") {
        return;
    }
    let keys = format!(
        "[{{name=\"tests\", key=\"{API_KEY}\"}}, \
         {{name=\"stock-clerk\", key=\"{CLERK_KEY}\", scopes=[\"inventory\"]}}]"
    );
    let settings = [
        ("ORDERFLOW_GATEWAY__API_KEYS", keys),
        // As much as the gateway would ever say about a request.
        ("RUST_LOG", "debug,librdkafka=info,rdkafka=info".to_owned()),
    ];
    let gateway = GatewayProcess::alone("auth", &settings).await;
    let clerk = format!("Bearer {CLERK_KEY}");
    let order = order("cust-auth");
    let subscription = json!({"url": "http://127.0.0.1:9/hooks", "event_types": ["order.failed"]});
    let writes: [(Method, &str, &Value); 4] = [
        (Method::POST, "/v1/orders", &order),
        (
            Method::POST,
            "/v1/orders/batch",
            &json!({"orders": [order.clone()]}),
        ),
        (Method::POST, "/v1/webhooks", &subscription),
        (Method::GET, "/v1/webhooks", &Value::Null),
    ];

    let wrong = format!("Bearer {WRONG_KEY}");
    let basic = format!("Basic {API_KEY}");
    for (method, path, body) in &writes {
        for authorization in [None, Some(wrong.as_str()), Some(basic.as_str())] {
            let answer = call(&gateway, method.clone(), path, authorization, body).await;
            assert_eq!(answer.status, 401, "{method} {path} with {authorization:?}");
            assert_eq!(answer.problem_type(), "/problems/unauthorized");
            assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
        }
        let answer = call(&gateway, method.clone(), path, Some(&clerk), body).await;
        assert_eq!(answer.status, 403, "{method} {path} with the clerk's key");
        assert_eq!(answer.problem_type(), "/problems/forbidden");
    }
    let stock = json!({"total": 5});
    let set = call(
        &gateway,
        Method::PUT,
        "/v1/inventory/AUTH-SKU",
        Some(&clerk),
        &stock,
    )
    .await;
    assert_eq!(set.status, 202, "{}", set.body);
    let unset = call(
        &gateway,
        Method::PUT,
        "/v1/inventory/AUTH-SKU",
        None,
        &stock,
    )
    .await;
    assert_eq!(unset.status, 401);
    let placed = call(
        &gateway,
        Method::POST,
        "/v1/orders",
        Some(&format!("Bearer {API_KEY}")),
        &order,
    )
    .await;
    assert_eq!(placed.status, 201, "{}", placed.body);

    let created = orders_created(KAFKA, &gateway.topics(), &gateway.codec()).await;
    assert_eq!(created.len(), 1, "only the authorized order is written");
    let log = gateway.log.clone();
    drop(gateway);
    let text = std::fs::read_to_string(&log).expect("the gateway's log");
    assert!(
        text.contains("gateway listening"),
        "{} is the gateway's log",
        log.display()
    );
    for key in [API_KEY, CLERK_KEY, WRONG_KEY] {
        assert!(!text.contains(key), "{} holds a key", log.display());
    }
    assert!(
        text.contains("stock-clerk"),
        "requests are logged by the key's name"
    );
}
