//! Getting missed events again: what was dead-lettered while an endpoint was down, or skipped
//! while its subscription was disabled, is delivered by a replay of its time window; one event
//! can be sent again by id; a subscription failing for too long is disabled.

mod support;

use std::sync::Arc;
use std::time::Duration;

use orderflow_schemas::clock::rfc3339;
use orderflow_schemas::events::{AnyEvent, DisableReason};
use orderflow_schemas::EventType;
use reqwest::Method;
use serde_json::json;
use support::receivers::{Answer, Receiver};
use support::webhooks::{
    assert_signed, attempts_until, await_dead_letters, completed_order, replay, show, subscribe,
    update, Writer,
};
use support::{eventually, http, pick_port, read_all, send_json, stack_is_up, Pipeline};

/// Bound on any one wait for deliveries: the test schedule spends about 4 s per event.
const LIMIT: Duration = Duration::from_secs(30);

/// Waits until `receiver` got every one of `ids` and returns what it got.
async fn await_ids(receiver: &Receiver, ids: &[String]) -> Vec<support::receivers::Received> {
    eventually(&format!("{} events received", ids.len()), LIMIT, || async {
        let received = receiver.received();
        let all = ids
            .iter()
            .all(|id| received.iter().any(|r| r.webhook_id() == id));
        all.then_some(received)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_dead_lettered_while_the_endpoint_was_down_are_delivered_by_a_replay() {
    if !stack_is_up("webhook_replay") {
        return;
    }
    let pipeline = Pipeline::start("wh-replay-down").await;
    let port = pick_port();
    let subscription = subscribe(&pipeline, &format!("http://127.0.0.1:{port}/hooks")).await;
    let writer = Writer::new(&pipeline);
    // Events a second apart in their own time, so that a replay window can fall between them.
    let mut events = Vec::new();
    for back in [3000, 2000, 1000] {
        let mut event = completed_order("ada@example.com", "auth_1");
        event.completed_at_ms -= back;
        writer.write(&event).await;
        events.push(event);
    }
    let ids: Vec<String> = events.iter().map(|e| e.event_id.to_string()).collect();
    let dead = await_dead_letters(&pipeline, &subscription.id, 3, LIMIT).await;
    assert!(dead.iter().all(|d| d.attempts == 4), "{dead:?}");

    let receiver = Receiver::start_on(port, Arc::new(|_| Answer::Status(204))).await;
    // A window that ends before the last event replays only the ones before it.
    let since = rfc3339(events[0].completed_at_ms);
    let until = rfc3339(events[2].completed_at_ms);
    assert_eq!(
        replay(
            &pipeline,
            &subscription.id,
            json!({"since": since, "until": until})
        )
        .await,
        2
    );
    let received = await_ids(&receiver, &ids[..2]).await;
    assert!(
        !received.iter().any(|r| r.webhook_id() == ids[2]),
        "outside the window"
    );
    assert_eq!(
        replay(&pipeline, &subscription.id, json!({"since": until})).await,
        1
    );
    await_ids(&receiver, &ids).await;
    assert_signed(&receiver, &subscription.secret);

    // Once everything arrived, nothing is missed any more.
    attempts_until(&pipeline, &subscription.id, LIMIT, |a| {
        a.iter().filter(|a| a["result"] == "delivered").count() >= 3
    })
    .await;
    assert_eq!(
        replay(&pipeline, &subscription.id, json!({"since": since})).await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_missed_while_disabled_are_delivered_by_a_replay_after_enabling() {
    if !stack_is_up("webhook_replay") {
        return;
    }
    let receiver = Receiver::answering(Answer::Status(204)).await;
    let pipeline = Pipeline::start("wh-replay-disabled").await;
    let subscription = subscribe(&pipeline, &receiver.url()).await;
    let disabled = update(&pipeline, &subscription.id, json!({"enabled": false})).await;
    assert_eq!(disabled["enabled"], false);
    let writer = Writer::new(&pipeline);
    let events = [writer.complete_order().await, writer.complete_order().await];

    let dead = await_dead_letters(&pipeline, &subscription.id, 2, LIMIT).await;
    for event in &events {
        let letter = dead.iter().find(|d| d.event_id == event.event_id);
        let letter = letter.unwrap_or_else(|| panic!("no dead letter for {event:?}"));
        assert_eq!(
            (letter.reason.as_str(), letter.attempts),
            ("subscription disabled", 0)
        );
    }
    assert_eq!(
        receiver.connections(),
        0,
        "a disabled subscription was delivered to"
    );

    update(&pipeline, &subscription.id, json!({"enabled": true})).await;
    let since = rfc3339(events[0].completed_at_ms - 1000);
    assert_eq!(
        replay(&pipeline, &subscription.id, json!({"since": since})).await,
        2
    );
    let ids: Vec<String> = events.iter().map(|e| e.event_id.to_string()).collect();
    await_ids(&receiver, &ids).await;
    assert_signed(&receiver, &subscription.secret);
}

/// Delivers two events, waits until the attempts list both as delivered and `pause` more, then
/// asks for the first one again by id: it arrives a second time, byte for byte, and alone.
async fn resend_one(prefix: &str, pause: Duration) {
    let receiver = Receiver::answering(Answer::Status(204)).await;
    let pipeline = Pipeline::start(prefix).await;
    let subscription = subscribe(&pipeline, &receiver.url()).await;
    let writer = Writer::new(&pipeline);
    let (event, other) = (writer.complete_order().await, writer.complete_order().await);
    let ids = [event.event_id.to_string(), other.event_id.to_string()];
    await_ids(&receiver, &ids).await;
    attempts_until(&pipeline, &subscription.id, LIMIT, |a| {
        a.iter().filter(|a| a["result"] == "delivered").count() == 2
    })
    .await;
    tokio::time::sleep(pause).await;

    let body = json!({"event_id": ids[0]});
    assert_eq!(replay(&pipeline, &subscription.id, body).await, 1);
    let received = eventually("the event received again", LIMIT, || async {
        let received = receiver.received();
        (received.len() >= 3).then_some(received)
    })
    .await;
    let bodies: Vec<String> = received
        .iter()
        .filter(|r| r.webhook_id() == ids[0])
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert_eq!(bodies.len(), 2, "{received:?}");
    assert_eq!(bodies[0], bodies[1], "the same event, byte for byte");
    assert_eq!(received.len(), 3, "only the one event was sent again");
    assert_signed(&receiver, &subscription.secret);

    let url = pipeline.url(&format!("/v1/webhooks/{}/replay", subscription.id));
    let unknown = json!({"event_id": uuid::Uuid::new_v4().to_string()});
    let (status, problem) = send_json(&http(), Method::POST, &url, &unknown).await;
    assert_eq!(status, 404, "{problem}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_of_one_event_id_sends_that_event_again() {
    if !stack_is_up("webhook_replay") {
        return;
    }
    // Long after the sink read the delivered attempt back: it did within about half a second.
    resend_one("wh-replay-one", Duration::from_secs(3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_asked_for_as_soon_as_the_delivery_is_listed_sends_the_event_again() {
    if !stack_is_up("webhook_replay") {
        return;
    }
    resend_one("wh-replay-at-once", Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_failing_for_longer_than_allowed_is_disabled() {
    if !stack_is_up("webhook_replay") {
        return;
    }
    const SCHEDULED_ATTEMPTS: usize = 8;
    let settings = [
        (
            "ORDERFLOW_WEBHOOKS__DISABLE_AFTER_FAILING_MS",
            "1500".to_owned(),
        ),
        (
            "ORDERFLOW_WEBHOOKS__RETRY_SCHEDULE_MS",
            "[0, 1000, 1000, 1000, 1000, 1000, 1000, 1000]".to_owned(),
        ),
    ];
    let receiver = Receiver::answering(Answer::Status(500)).await;
    let pipeline = Pipeline::start_with("wh-auto-disable", &settings).await;
    let subscription = subscribe(&pipeline, &receiver.url()).await;
    let event = Writer::new(&pipeline).complete_order().await;

    let shown = eventually("the subscription disabled", LIMIT, || async {
        let shown = show(&pipeline, &subscription.id).await;
        (shown["enabled"] == false).then_some(shown)
    })
    .await;
    let reason = shown["disabled_reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("failing"), "{shown}");
    let announced: Vec<AnyEvent> =
        read_all(&pipeline, EventType::WebhookSubscriptionDisabled).await;
    let failing = announced.iter().any(|e| {
        matches!(e, AnyEvent::WebhookSubscriptionDisabled(d)
            if d.subscription_id.as_str() == subscription.id
                && d.reason == DisableReason::Failing
                && d.failing_since_ms.is_some())
    });
    assert!(failing, "no operational event: {announced:?}");

    // The disabled subscription gets no further attempts; the event waits to be replayed.
    let dead = await_dead_letters(&pipeline, &subscription.id, 1, LIMIT).await;
    assert_eq!(
        (dead[0].event_id, dead[0].reason.as_str()),
        (event.event_id, "subscription disabled")
    );
    let made = receiver.received().len();
    assert!(
        made < SCHEDULED_ATTEMPTS,
        "{made} attempts: the schedule ran out first"
    );
}
