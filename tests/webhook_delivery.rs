//! Webhook delivery against real HTTP receivers on loopback: retries, timeouts, `Retry-After`,
//! `410 Gone`, redirects, huge and broken answers, an endpoint that comes back, and payloads
//! that the reference Standard Webhooks library verifies.

mod support;

use std::sync::Arc;
use std::time::Duration;

use orderflow_schemas::events::{AnyEvent, DisableReason};
use orderflow_schemas::EventType;
use orderflow_webhooks::signature::verify;
use orderflow_webhooks::SigningSecret;
use serde_json::Value;
use support::receivers::{Answer, Receiver};
use support::webhooks::{
    assert_signed, attempts_until, attempts_until_delivered, await_dead_letters, completed_order,
    dead_letters, field, reference_receiver, show, subscribe, Writer,
};
use support::{eventually, pick_port, read_all, stack_is_up, Pipeline};

/// Bound on any one wait for deliveries: the test schedule spends about 4 s per event.
const DELIVERY_LIMIT: Duration = Duration::from_secs(30);

#[test]
fn the_receivers_verifier_agrees_with_the_standard_webhooks_test_vector() {
    // The example of the specification, which its reference libraries test against.
    let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let (id, timestamp, body) = (
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1_614_265_330,
        br#"{"test": 2432232314}"#,
    );
    let signature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    assert_eq!(
        verify(&secret, id, timestamp, signature, body, timestamp),
        Ok(())
    );
    assert!(verify(&secret, id, timestamp + 1, signature, body, timestamp).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_fails_twice_receives_the_event_on_the_third_attempt() {
    if !stack_is_up("webhook_delivery") {
        return;
    }
    let receiver = Receiver::failing_first(2, Answer::Status(500), Answer::Status(204)).await;
    let pipeline = Pipeline::start("wh-retry").await;
    let subscription = subscribe(&pipeline, &receiver.url()).await;
    let event = Writer::new(&pipeline).complete_order().await;

    let listed = attempts_until_delivered(&pipeline, &subscription.id, DELIVERY_LIMIT).await;
    assert_eq!(
        field(&listed, "attempt"),
        [3, 2, 1],
        "newest first: {listed:?}"
    );
    assert_eq!(field(&listed, "result"), ["delivered", "failed", "failed"]);
    assert_eq!(field(&listed, "status"), [204, 500, 500]);
    assert_eq!(
        listed[1]["error"],
        "endpoint answered 500 Internal Server Error"
    );
    assert_eq!(listed[1]["response_body"], "receiver answered 500");
    let times: Vec<&str> = listed
        .iter()
        .map(|a| a["attempted_at"].as_str().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );

    let received = receiver.received();
    assert_eq!(received.len(), 3);
    let id = event.event_id.to_string();
    assert!(
        received.iter().all(|r| r.webhook_id() == id),
        "one webhook-id on every retry"
    );
    assert_signed(&receiver, &subscription.secret);
    let body = received[2].json();
    assert_eq!(body["type"], "order.completed");
    assert_eq!(body["id"], id);
    assert_eq!(body["data"]["order_id"], event.order_id.to_string());
    assert!(dead_letters(&pipeline, &subscription.id).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_never_followed_and_the_event_is_dead_lettered_after_the_schedule() {
    if !stack_is_up("webhook_delivery") {
        return;
    }
    let internal = Receiver::answering(Answer::Status(204)).await;
    let redirecting = Receiver::answering(Answer::Redirect(internal.url())).await;
    let pipeline = Pipeline::start("wh-redirect").await;
    let subscription = subscribe(&pipeline, &redirecting.url()).await;
    let event = Writer::new(&pipeline).complete_order().await;

    let dead = await_dead_letters(&pipeline, &subscription.id, 1, DELIVERY_LIMIT).await;
    assert_eq!(dead[0].event_id, event.event_id);
    assert_eq!(dead[0].attempts, 4, "one attempt per entry of the schedule");
    assert!(dead[0].reason.contains("302"), "{}", dead[0].reason);
    let listed = attempts_until(&pipeline, &subscription.id, DELIVERY_LIMIT, |a| {
        a.len() >= 4
    })
    .await;
    assert_eq!(field(&listed, "attempt"), [4, 3, 2, 1]);
    assert!(
        listed
            .iter()
            .all(|a| a["result"] == "failed" && a["status"] == 302),
        "{listed:?}"
    );
    assert_eq!(redirecting.received().len(), 4);
    assert_signed(&redirecting, &subscription.secret);
    assert_eq!(internal.connections(), 0, "the redirect target was reached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_hangs_past_the_timeout_is_retried() {
    if !stack_is_up("webhook_delivery") {
        return;
    }
    let receiver = Receiver::failing_first(1, Answer::Hang, Answer::Status(200)).await;
    let timeout = [("ORDERFLOW_WEBHOOKS__REQUEST_TIMEOUT_MS", "1000".to_owned())];
    let pipeline = Pipeline::start_with("wh-hang", &timeout).await;
    let subscription = subscribe(&pipeline, &receiver.url()).await;
    Writer::new(&pipeline).complete_order().await;

    let listed = attempts_until_delivered(&pipeline, &subscription.id, DELIVERY_LIMIT).await;
    assert_eq!(field(&listed, "result"), ["delivered", "failed"]);
    let error = listed[1]["error"].as_str().unwrap();
    assert!(error.starts_with("timed out"), "{error}");
    let waited = listed[1]["duration_ms"].as_i64().unwrap();
    assert!(
        (1000..5000).contains(&waited),
        "the timeout bounded the attempt: {waited} ms"
    );
    assert_eq!(receiver.received().len(), 2);
    assert_signed(&receiver, &subscription.secret);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_of_429_and_503_delays_the_next_attempt_at_least_that_long() {
    if !stack_is_up("webhook_delivery") {
        return;
    }
    // The schedule alone would retry about a second later.
    let script = |n| match n {
        0 => Answer::RetryAfter(429, 2),
        1 => Answer::RetryAfter(503, 2),
        _ => Answer::Status(204),
    };
    let receiver = Receiver::start(Arc::new(script)).await;
    let pipeline = Pipeline::start("wh-retry-after").await;
    let subscription = subscribe(&pipeline, &receiver.url()).await;
    Writer::new(&pipeline).complete_order().await;

    let listed = attempts_until_delivered(&pipeline, &subscription.id, DELIVERY_LIMIT).await;
    assert_eq!(field(&listed, "status"), [204, 503, 429]);
    let received = receiver.received();
    assert_eq!(received.len(), 3);
    for pair in received.windows(2) {
        let gap = pair[1].at_ms - pair[0].at_ms;
        assert!(gap >= 2000, "retried {gap} ms after Retry-After: 2");
        let stamps = [&pair[0], &pair[1]].map(|r| r.header("webhook-timestamp").unwrap_or("0"));
        let stamps = stamps.map(|t| t.parse::<i64>().unwrap_or(0));
        assert!(
            stamps[1] > stamps[0],
            "each attempt is signed anew: {stamps:?}"
        );
    }
    assert_signed(&receiver, &subscription.secret);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_disables_the_subscription_and_dead_letters_the_event() {
    if !stack_is_up("webhook_delivery") {
        return;
    }
    let receiver = Receiver::answering(Answer::Status(410)).await;
    let pipeline = Pipeline::start("wh-gone").await;
    let subscription = subscribe(&pipeline, &receiver.url()).await;
    let writer = Writer::new(&pipeline);
    let first = writer.complete_order().await;

    let dead = await_dead_letters(&pipeline, &subscription.id, 1, DELIVERY_LIMIT).await;
    assert_eq!((dead[0].event_id, dead[0].attempts), (first.event_id, 1));
    let shown = eventually("the subscription disabled", DELIVERY_LIMIT, || async {
        let shown = show(&pipeline, &subscription.id).await;
        (shown["enabled"] == false).then_some(shown)
    })
    .await;
    let reason = shown["disabled_reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("gone"), "{shown}");
    let announced = read_all(&pipeline, EventType::WebhookSubscriptionDisabled).await;
    assert!(
        announced
            .iter()
            .any(|e| matches!(e, AnyEvent::WebhookSubscriptionDisabled(d)
            if d.subscription_id.as_str() == subscription.id && d.reason == DisableReason::Gone)),
        "no operational event: {announced:?}"
    );

    // Later events are not sent to the endpoint that said it is gone.
    let second = writer.complete_order().await;
    let dead = await_dead_letters(&pipeline, &subscription.id, 2, DELIVERY_LIMIT).await;
    let later = dead.iter().find(|d| d.event_id == second.event_id);
    assert_eq!(
        later.map(|d| d.reason.as_str()),
        Some("subscription disabled")
    );
    assert_eq!(receiver.received().len(), 1);
    assert_signed(&receiver, &subscription.secret);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_mb_answer_is_read_only_to_20_kib_and_its_2xx_counts_as_delivered() {
    if !stack_is_up("webhook_delivery") {
        return;
    }
    const ANSWER_BYTES: usize = 50 * 1024 * 1024;
    let receiver = Receiver::answering(Answer::Huge(ANSWER_BYTES)).await;
    let pipeline = Pipeline::start("wh-huge").await;
    let subscription = subscribe(&pipeline, &receiver.url()).await;
    Writer::new(&pipeline).complete_order().await;

    let listed = attempts_until(&pipeline, &subscription.id, DELIVERY_LIMIT, |a| {
        !a.is_empty()
    })
    .await;
    assert_eq!(
        field(&listed, "result"),
        ["delivered"],
        "{:?}",
        field(&listed, "error")
    );
    let kept = listed[0]["response_body"].as_str().unwrap();
    assert_eq!(kept.len(), 20 * 1024, "the answer's first 20 KiB are kept");
    assert!(kept.bytes().all(|b| b == b'x'));
    let sent = eventually("the receiver done writing", DELIVERY_LIMIT, || async {
        Some(receiver.body_bytes_sent()).filter(|sent| *sent > 0)
    })
    .await;
    assert!(sent < ANSWER_BYTES, "the sink read the whole answer");
    assert_eq!(receiver.received().len(), 1);
    assert_signed(&receiver, &subscription.secret);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_cut_off_midway_is_a_failure_and_retried() {
    if !stack_is_up("webhook_delivery") {
        return;
    }
    let receiver = Receiver::failing_first(1, Answer::CutOff, Answer::Status(200)).await;
    let pipeline = Pipeline::start("wh-cut-off").await;
    let subscription = subscribe(&pipeline, &receiver.url()).await;
    Writer::new(&pipeline).complete_order().await;

    let listed = attempts_until_delivered(&pipeline, &subscription.id, DELIVERY_LIMIT).await;
    assert_eq!(field(&listed, "result"), ["delivered", "failed"]);
    assert_eq!(listed[1]["status"], 200, "the cut-off answer had said 200");
    let error = listed[1]["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("reading the answer failed"), "{error}");
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].webhook_id(), received[1].webhook_id());
    assert_signed(&receiver, &subscription.secret);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_down_for_a_while_gets_every_event_once_it_is_back() {
    if !stack_is_up("webhook_delivery") {
        return;
    }
    const EVENTS: usize = 5;
    // Eight attempts about a second apart: the endpoint is back well before they run out.
    let schedule = [(
        "ORDERFLOW_WEBHOOKS__RETRY_SCHEDULE_MS",
        "[0, 1000, 1000, 1000, 1000, 1000, 1000, 1000]".to_owned(),
    )];
    let pipeline = Pipeline::start_with("wh-down", &schedule).await;
    let port = pick_port();
    let subscription = subscribe(&pipeline, &format!("http://127.0.0.1:{port}/hooks")).await;
    let writer = Writer::new(&pipeline);
    let mut sent = Vec::new();
    for _ in 0..EVENTS {
        sent.push(writer.complete_order().await.event_id.to_string());
    }

    let listed = attempts_until(&pipeline, &subscription.id, DELIVERY_LIMIT, |a| {
        a.len() >= EVENTS
    })
    .await;
    let error = listed[0]["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("cannot connect"), "{error}");
    let receiver = Receiver::start_on(port, Arc::new(|_| Answer::Status(204))).await;
    eventually("every event once back", DELIVERY_LIMIT, || async {
        let received = receiver.received();
        let all = sent
            .iter()
            .all(|id| received.iter().any(|r| r.webhook_id() == id));
        all.then_some(())
    })
    .await;
    assert_signed(&receiver, &subscription.secret);
    assert!(dead_letters(&pipeline, &subscription.id).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_with_emoji_and_line_separators_verify_with_the_reference_library() {
    if !stack_is_up("webhook_delivery") {
        return;
    }
    let pipeline = Pipeline::start("wh-unicode").await;
    let port = pick_port();
    let subscription = subscribe(&pipeline, &format!("http://127.0.0.1:{port}/hooks")).await;
    let (_python, deliveries) = reference_receiver(port, &subscription.secret).await;
    // Four-byte UTF-8 and the line and paragraph separators, which JavaScript-minded encoders
    // escape and a signature over re-encoded text would not match.
    let (email, authorization) = ("zoë😀\u{2028}@example.com", "auth_🎉\u{2029}\u{2028}🇪🇺");
    let event = completed_order(email, authorization);
    let rust = Receiver::answering(Answer::Status(204)).await;
    let rust_subscription = subscribe(&pipeline, &rust.url()).await;
    Writer::new(&pipeline).write(&event).await;

    let delivered = eventually(
        "a delivery at the Python receiver",
        DELIVERY_LIMIT,
        || async {
            let text = std::fs::read_to_string(deliveries.path()).unwrap_or_default();
            let first = text.lines().next()?;
            serde_json::from_str::<Value>(first).ok()
        },
    )
    .await;
    assert_eq!(delivered["verified"], true, "{delivered}");
    assert_eq!(delivered["webhook_id"], event.event_id.to_string());
    assert_eq!(delivered["payload"]["data"]["email"], email);
    assert_eq!(
        delivered["payload"]["data"]["authorization_id"],
        authorization
    );

    // The bytes signed are the raw UTF-8, not an escaped form of it.
    let received = eventually(
        "a delivery at the Rust receiver",
        DELIVERY_LIMIT,
        || async { rust.received().into_iter().next() },
    )
    .await;
    let body = String::from_utf8(received.body).expect("a UTF-8 body");
    assert!(
        body.contains(email) && body.contains(authorization),
        "{body}"
    );
    assert_signed(&rust, &rust_subscription.secret);
}
