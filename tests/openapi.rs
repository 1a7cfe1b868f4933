//! The gateway's contract, `ingest/openapi.json`, is the document it serves at `/openapi.json`,
//! and it names every route and method the gateway answers, and no other. What the document
//! says about each operation is held to the real answers by schemathesis
//! (`tests/contract/run.sh`, `make test-contract`).

mod support;

use std::collections::{BTreeMap, BTreeSet};

use orderflow_ingest::problem::ProblemKind;
use reqwest::Method;
use serde_json::Value;
use support::{stack_is_up, Pipeline};

const DOCUMENT: &str = "ingest/openapi.json";
/// Where the gateway's router declares its routes.
const ROUTER: &str = "ingest/src/server.rs";
/// Methods tried on every documented path; HEAD is left out, as every GET route answers it.
const PROBED_METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
/// What a path parameter is replaced with when a path is probed: it names nothing, so no
/// probe changes anything.
const PROBE_SEGMENT: &str = "contract-probe";

fn read(path: &str) -> String {
    let path = support::repo_root().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn document() -> Value {
    serde_json::from_str(&read(DOCUMENT)).expect("ingest/openapi.json is JSON")
}

/// Each documented path with the methods the document gives it, upper-case.
fn documented_operations(document: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let paths = document["paths"]
        .as_object()
        .expect("the document has paths");
    paths
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .expect("a path item is an object")
                .keys()
                .filter(|k| PROBED_METHODS.contains(&k.to_uppercase().as_str()))
                .map(|k| k.to_uppercase())
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

/// The paths the router declares: the string literal that opens every `.route(` call.
fn routed_paths() -> BTreeSet<String> {
    let source = read(ROUTER);
    source
        .split(".route(")
        .skip(1)
        .filter_map(|call| {
            let literal = call.trim_start().strip_prefix('"')?;
            literal.split('"').next().map(str::to_owned)
        })
        .collect()
}

/// A concrete path for a template: each `{parameter}` becomes [`PROBE_SEGMENT`].
fn probe_path(template: &str) -> String {
    template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                PROBE_SEGMENT
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn the_document_names_exactly_the_paths_the_router_declares() {
    let documented: BTreeSet<String> = documented_operations(&document()).into_keys().collect();
    let routed = routed_paths();
    assert!(
        routed.len() >= 10,
        "found only {routed:?} in {ROUTER}; has the router changed shape?"
    );
    let undocumented: Vec<&String> = routed.difference(&documented).collect();
    let stale: Vec<&String> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && stale.is_empty(),
        "routes missing from {DOCUMENT}: {undocumented:?}; documented but not routed: {stale:?}"
    );
}

#[test]
fn every_problem_type_is_documented() {
    let document = document();
    let slugs: BTreeSet<&str> = document["components"]["schemas"]["ProblemSlug"]["enum"]
        .as_array()
        .expect("ProblemSlug lists the problem types")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let kinds: BTreeSet<&str> = ProblemKind::ALL.iter().map(|k| k.slug()).collect();
    assert_eq!(slugs, kinds);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_serves_the_document_in_the_repository() {
    if !stack_is_up("openapi") {
        return;
    }
    let pipeline = Pipeline::start("openapi").await;

    let response = reqwest::get(pipeline.url("/openapi.json"))
        .await
        .expect("the gateway answers");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().ok();
    assert_eq!(content_type, Some("application/json"));
    let served = response.text().await.expect("a body");
    assert!(
        served == read(DOCUMENT),
        "GET /openapi.json is not {DOCUMENT}; rebuild the binary"
    );
}

/// A documented method reaches its handler (whatever it answers, it is not 405); any other
/// method on a documented path is 405, as a problem. With the test above, no route or method
/// the gateway answers is missing from the document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_answers_exactly_the_documented_methods() {
    if !stack_is_up("openapi") {
        return;
    }
    let pipeline = Pipeline::start("openapi").await;
    let http = support::http();

    let mut wrong = Vec::new();
    for (template, documented) in documented_operations(&document()) {
        let path = probe_path(&template);
        for method in PROBED_METHODS {
            let verb = Method::from_bytes(method.as_bytes()).expect("an HTTP method");
            let response = http
                .request(verb, pipeline.url(&path))
                .send()
                .await
                .expect("the gateway answers");
            let status = response.status().as_u16();
            let problem = response
                .headers()
                .get("content-type")
                .is_some_and(|v| v == "application/problem+json");
            let expected = documented.contains(method);
            if expected == (status == 405) || (status == 405 && !problem) {
                wrong.push(format!("{method} {path}: {status}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "answers that disagree with {DOCUMENT}: {wrong:?}"
    );
}
