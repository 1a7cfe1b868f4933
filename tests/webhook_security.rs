//! Who may be reached and who may manage subscriptions: internal addresses are refused when a
//! subscription is created and again when a delivery is made, every webhook route wants an
//! API key, and a rotated secret keeps verifying beside the new one.

mod support;

use std::time::Duration;

use orderflow_schemas::clock::now_ms;
use orderflow_schemas::events::WebhookSubscription;
use orderflow_schemas::{EventType, SubscriptionId};
use orderflow_webhooks::SigningSecret;
use reqwest::Method;
use serde_json::{json, Value};
use support::receivers::{Answer, Receiver};
use support::webhooks::{
    attempts_until, await_dead_letters, subscribe, topic_end, unverified, Writer, SINK_CATCH_UP,
};
use support::{eventually, http, send_json, stack_is_up, Pipeline};

/// Bound on any one wait for deliveries or for the gateway to see a record.
const LIMIT: Duration = Duration::from_secs(30);

/// A pipeline as production runs it: no internal network is allowed.
async fn without_allow_list(prefix: &str) -> Pipeline {
    let allowed = [("ORDERFLOW_WEBHOOKS__ALLOWED_NETWORKS", "[]".to_owned())];
    Pipeline::start_with(prefix, &allowed).await
}

fn pointers(problem: &Value) -> Vec<&str> {
    let errors = problem["errors"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    errors
        .iter()
        .filter_map(|e| e["pointer"].as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_to_internal_addresses_are_refused_without_an_allow_list() {
    if !stack_is_up("webhook_security") {
        return;
    }
    let receiver = Receiver::answering(Answer::Status(204)).await;
    let pipeline = without_allow_list("wh-ssrf-api").await;
    let topic = pipeline
        .topics()
        .of(EventType::WebhookSubscription)
        .to_owned();
    let before = topic_end(&topic, 1);

    let port = receiver.port;
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://[::1]:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://0.0.0.0:{port}/"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://2130706433:{port}/"),
        format!("http://0x7f.1:{port}/"),
        format!("http://localhost:{port}/"),
        "http://10.0.0.1/".to_owned(),
        "http://[fd00::1]/".to_owned(),
    ] {
        let body = json!({"url": url, "event_types": ["order.completed"]});
        let (status, problem) =
            send_json(&http(), Method::POST, &pipeline.url("/v1/webhooks"), &body).await;
        assert_eq!(status, 422, "{url} was accepted: {problem}");
        assert_eq!(pointers(&problem), ["/url"], "{url}: {problem}");
    }

    assert_eq!(
        topic_end(&topic, 1),
        before,
        "a refused subscription was written"
    );
    let (_, listed) = send_json(
        &http(),
        Method::GET,
        &pipeline.url("/v1/webhooks"),
        &Value::Null,
    )
    .await;
    assert_eq!(listed["data"], json!([]));
    assert_eq!(receiver.connections(), 0, "checking a URL connected to it");

    // The same request to a public address is taken: the refusals were about the address.
    let body = json!({"url": "https://93.184.216.34/hooks", "event_types": ["order.completed"]});
    let (status, created) =
        send_json(&http(), Method::POST, &pipeline.url("/v1/webhooks"), &body).await;
    assert_eq!(status, 201, "{created}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_to_an_internal_address_written_past_the_api_is_refused_when_delivering() {
    if !stack_is_up("webhook_security") {
        return;
    }
    let receiver = Receiver::answering(Answer::Status(204)).await;
    let pipeline = without_allow_list("wh-ssrf-sink").await;
    let writer = Writer::new(&pipeline);
    // One literal address, checked before dialling; one name, checked on what it resolves to.
    let urls = [
        receiver.url(),
        format!("http://localhost:{}/hooks", receiver.port),
    ];
    let mut ids = Vec::new();
    for url in urls {
        let subscription = WebhookSubscription {
            subscription_id: SubscriptionId::generate(),
            url,
            event_types: vec!["order.completed".into()],
            secret: SigningSecret::generate().unwrap().expose(),
            created_at_ms: now_ms(),
            enabled: true,
            disabled_reason: None,
            previous_secrets: Vec::new(),
            updated_at_ms: now_ms(),
        };
        writer.write(&subscription).await;
        ids.push(subscription.subscription_id.to_string());
    }
    tokio::time::sleep(SINK_CATCH_UP).await;
    let event = writer.complete_order().await;

    for id in &ids {
        let url = pipeline.url(&format!("/v1/webhooks/{id}"));
        eventually("the gateway knows the subscription", LIMIT, || async {
            let (status, _) = send_json(&http(), Method::GET, &url, &Value::Null).await;
            (status == 200).then_some(())
        })
        .await;
        let listed = attempts_until(&pipeline, id, LIMIT, |a| !a.is_empty()).await;
        assert_eq!(
            listed.len(),
            1,
            "a refused delivery is not retried: {listed:?}"
        );
        assert_eq!(listed[0]["result"], "refused", "{listed:?}");
        let error = listed[0]["error"].as_str().unwrap_or_default();
        assert!(error.contains("internal address"), "{error}");
        let dead = await_dead_letters(&pipeline, id, 1, LIMIT).await;
        assert_eq!((dead[0].event_id, dead[0].attempts), (event.event_id, 1));
    }
    assert_eq!(
        receiver.connections(),
        0,
        "the sink connected to an internal address"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_routes_refuse_requests_without_a_valid_key_and_change_nothing() {
    if !stack_is_up("webhook_security") {
        return;
    }
    let receiver = Receiver::answering(Answer::Status(204)).await;
    let pipeline = Pipeline::start("wh-auth").await;
    let subscription = subscribe(&pipeline, &receiver.url()).await;
    let topics = pipeline.topics();
    let written = || {
        let subscriptions = topic_end(topics.of(EventType::WebhookSubscription), 1);
        let replays = topic_end(
            topics.of(EventType::WebhookDeliveryRequested),
            support::PARTITIONS,
        );
        (subscriptions, replays)
    };
    let before = written();

    let id = &subscription.id;
    let routes = [
        (Method::GET, "/v1/webhooks".to_owned(), Value::Null),
        (
            Method::POST,
            "/v1/webhooks".to_owned(),
            json!({"url": receiver.url(), "event_types": ["order.completed"]}),
        ),
        (Method::GET, format!("/v1/webhooks/{id}"), Value::Null),
        (
            Method::PATCH,
            format!("/v1/webhooks/{id}"),
            json!({"enabled": false}),
        ),
        (Method::DELETE, format!("/v1/webhooks/{id}"), Value::Null),
        (
            Method::POST,
            format!("/v1/webhooks/{id}/rotate-secret"),
            json!({}),
        ),
        (
            Method::GET,
            format!("/v1/webhooks/{id}/attempts"),
            Value::Null,
        ),
        (
            Method::POST,
            format!("/v1/webhooks/{id}/replay"),
            json!({"since": "2020-01-01T00:00:00Z"}),
        ),
    ];
    let anonymous = reqwest::Client::new();
    for (method, path, body) in &routes {
        for authorization in [
            None,
            Some("Bearer not-the-key-0123456789"),
            Some("Basic dGVzdA=="),
        ] {
            let mut request = anonymous.request(method.clone(), pipeline.url(path));
            if let Some(value) = authorization {
                request = request.header("authorization", value);
            }
            if !body.is_null() {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            let what = format!("{method} {path} with {authorization:?}");
            assert_eq!(response.status().as_u16(), 401, "{what}");
            let headers = response.headers();
            assert_eq!(headers["www-authenticate"], "Bearer", "{what}");
            assert_eq!(
                headers["content-type"], "application/problem+json",
                "{what}"
            );
            let problem: Value = response.json().await.unwrap();
            assert_eq!(problem["status"], 401, "{what}: {problem}");
        }
    }

    assert_eq!(written(), before, "a refused request wrote to Kafka");
    let url = pipeline.url(&format!("/v1/webhooks/{id}"));
    let (status, shown) = send_json(&http(), Method::GET, &url, &Value::Null).await;
    assert_eq!(status, 200, "the subscription is still there: {shown}");
    assert_eq!(
        (&shown["enabled"], &shown["url"]),
        (&json!(true), &json!(receiver.url()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_secrets_are_refused_naming_the_secret_field() {
    if !stack_is_up("webhook_security") {
        return;
    }
    let receiver = Receiver::answering(Answer::Status(204)).await;
    let pipeline = Pipeline::start("wh-bad-secret").await;
    let subscription = subscribe(&pipeline, &receiver.url()).await;
    let rotate = pipeline.url(&format!("/v1/webhooks/{}/rotate-secret", subscription.id));
    for secret in [
        "abc",
        "whsec_!!!",
        "whsec_AAAA",
        "v1,c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0",
    ] {
        let body =
            json!({"url": receiver.url(), "event_types": ["order.failed"], "secret": secret});
        let (status, problem) =
            send_json(&http(), Method::POST, &pipeline.url("/v1/webhooks"), &body).await;
        assert_eq!(
            (status, pointers(&problem)),
            (422, vec!["/secret"]),
            "{secret}: {problem}"
        );
        let body = json!({"secret": secret});
        let (status, problem) = send_json(&http(), Method::POST, &rotate, &body).await;
        assert_eq!(
            (status, pointers(&problem)),
            (422, vec!["/secret"]),
            "{secret}: {problem}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_rotation_deliveries_verify_with_the_old_and_the_new_secret() {
    if !stack_is_up("webhook_security") {
        return;
    }
    let receiver = Receiver::answering(Answer::Status(204)).await;
    let pipeline = Pipeline::start("wh-rotate").await;
    let subscription = subscribe(&pipeline, &receiver.url()).await;
    let url = pipeline.url(&format!("/v1/webhooks/{}/rotate-secret", subscription.id));
    let response = http().post(&url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let rotated: Value = response.json().await.unwrap();
    let (old, new) = (
        subscription.secret.as_str(),
        rotated["secret"].as_str().unwrap(),
    );
    assert!(new.starts_with("whsec_") && new != old, "{rotated}");
    assert_eq!(
        rotated["previous_secrets_expire_at"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    tokio::time::sleep(SINK_CATCH_UP).await;
    Writer::new(&pipeline).complete_order().await;

    let received = eventually("a delivery", LIMIT, || async {
        let received = receiver.received();
        (!received.is_empty()).then_some(received)
    })
    .await;
    let signatures = received[0].header("webhook-signature").unwrap_or_default();
    assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
    assert_eq!(
        unverified(&received, old),
        Vec::<String>::new(),
        "with the old secret"
    );
    assert_eq!(
        unverified(&received, new),
        Vec::<String>::new(),
        "with the new secret"
    );
    let stranger = SigningSecret::generate().unwrap().expose();
    assert_eq!(
        unverified(&received, &stranger).len(),
        1,
        "any secret verified"
    );
}
