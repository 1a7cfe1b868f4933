//! Schema evolution against the real schema registry: every current schema is compatible with
//! every released version in `schemas/avro/released/`, the check does refuse a breaking change,
//! and the pipeline declares BACKWARD for its subjects and will not start with a schema that
//! breaks the registered one.

mod support;

use orderflow_schemas::codec::REGISTRY_TIMEOUT;
use orderflow_schemas::compatibility::{
    Compatibility, CompatibilityError, SchemaRegistry, Version,
};
use orderflow_schemas::events::{OrderCreated, OrderItem};
use orderflow_schemas::{
    Codec, CodecError, CustomerId, EventType, OrderId, PaymentToken, Sku, Topics,
};
use serde_json::{json, Value};
use support::{stack_is_up, unique_namespace, PARTITIONS, REGISTRY};

/// The released versions of `event_type`, v1 first: `(version, schema text)`.
fn released(event_type: EventType) -> Vec<(u32, String)> {
    let stem = event_type.as_str().replace(['.', '-'], "_");
    let dir = support::repo_root()
        .join("schemas/avro/released")
        .join(stem);
    let text = |version: u32| std::fs::read_to_string(dir.join(format!("v{version}.avsc")));
    (1..)
        .map_while(|version| Some((version, text(version).ok()?)))
        .collect()
}

fn registry() -> SchemaRegistry {
    SchemaRegistry::new(REGISTRY, REGISTRY_TIMEOUT).expect("the registry's URL")
}

fn subject(namespace: &str, event_type: EventType) -> String {
    format!("{namespace}.{event_type}-value")
}

/// A fresh subject at `level` holding the released versions of `event_type`, registered in the
/// order they shipped; the registry refuses any that breaks `level` against the one before.
async fn subject_with_released_versions(
    registry: &SchemaRegistry,
    namespace: &str,
    event_type: EventType,
    level: Compatibility,
) -> String {
    let subject = subject(namespace, event_type);
    registry.declare(&subject, level).await.expect("declare");
    for (version, text) in released(event_type) {
        if let Err(e) = registry.register(&subject, &text).await {
            panic!("released {event_type} v{version} breaks {level} against the one before: {e}");
        }
    }
    subject
}

/// Asserts that the current schema of every event is `level` compatible with each of its
/// released versions, one registry check per version, and prints every refusal.
async fn assert_current_schemas_compatible(level: Compatibility) {
    let registry = registry();
    let namespace = unique_namespace("schema-evolution");
    let mut refusals = Vec::new();
    for event_type in EventType::ALL {
        let subject =
            subject_with_released_versions(&registry, &namespace, event_type, level).await;
        let versions = registry.versions(&subject).await.expect("versions");
        assert!(
            !versions.is_empty(),
            "{subject}: no released version registered"
        );
        for version in versions {
            let verdict = registry
                .check(&subject, event_type.schema(), Version::Number(version))
                .await
                .expect("a compatibility check");
            if !verdict.is_compatible {
                refusals.push(format!(
                    "{event_type} vs v{version}: {:?}",
                    verdict.messages
                ));
            }
        }
    }
    assert!(
        refusals.is_empty(),
        "schemas that are not {level} compatible with a released version:\n{}",
        refusals.join("\n")
    );
}

/// The current subscription schema with one field changed by `change`.
fn subscription_schema_changed(change: impl FnOnce(&mut Vec<Value>)) -> String {
    let mut schema: Value = serde_json::from_str(EventType::WebhookSubscription.schema()).unwrap();
    let fields = schema["fields"].as_array_mut().expect("a record's fields");
    change(fields);
    schema.to_string()
}

fn subscription_with_a_new_field_without_default() -> String {
    subscription_schema_changed(|fields| {
        fields.push(json!({"name": "tenant_id", "type": "string"}))
    })
}

fn subscription_with_url_as_a_number() -> String {
    subscription_schema_changed(|fields| {
        let url = fields
            .iter_mut()
            .find(|f| f["name"] == "url")
            .expect("a url field");
        url["type"] = json!("long");
    })
}

#[tokio::test]
async fn current_schemas_are_backward_compatible_with_every_released_version() {
    if !stack_is_up("schema_evolution") {
        return;
    }
    assert_current_schemas_compatible(Compatibility::Backward).await;
}

#[tokio::test]
async fn consumers_of_released_versions_can_read_the_current_schemas() {
    if !stack_is_up("schema_evolution") {
        return;
    }
    // FORWARD: data written with the new schema reads with the old one.
    assert_current_schemas_compatible(Compatibility::Forward).await;
}

#[tokio::test]
async fn registry_reports_a_new_field_without_default_and_a_changed_type_as_incompatible() {
    if !stack_is_up("schema_evolution") {
        return;
    }
    let registry = registry();
    let namespace = unique_namespace("schema-evolution-breaking");
    let subject = subject_with_released_versions(
        &registry,
        &namespace,
        EventType::WebhookSubscription,
        Compatibility::Backward,
    )
    .await;

    for (change, schema) in [
        (
            "a new field without default",
            subscription_with_a_new_field_without_default(),
        ),
        ("url changed to a long", subscription_with_url_as_a_number()),
    ] {
        for version in registry.versions(&subject).await.expect("versions") {
            let verdict = registry
                .check(&subject, &schema, Version::Number(version))
                .await
                .expect("a compatibility check");
            eprintln!("{change} vs v{version}: {verdict:?}");
            assert!(
                !verdict.is_compatible,
                "{change} passed as compatible with v{version}"
            );
            assert!(
                !verdict.messages.is_empty(),
                "{change}: the registry gave no reason"
            );
        }
    }
}

#[tokio::test]
async fn pipeline_declares_backward_for_every_subject_it_registers() {
    if !stack_is_up("schema_evolution") {
        return;
    }
    let namespace = unique_namespace("schema-evolution-declared");
    let codec = Codec::new(REGISTRY, &Topics::new(&namespace, PARTITIONS, PARTITIONS)).unwrap();
    codec.register(&EventType::ALL).await.expect("registered");

    let registry = registry();
    for event_type in EventType::ALL {
        let subject = subject(&namespace, event_type);
        let declared = registry
            .declared(&subject)
            .await
            .expect("the subject's level");
        assert_eq!(declared, Some(Compatibility::Backward), "{subject}");
    }
}

#[tokio::test]
async fn pipeline_will_not_start_with_a_schema_that_breaks_the_registered_one() {
    if !stack_is_up("schema_evolution") {
        return;
    }
    let namespace = unique_namespace("schema-evolution-refused");
    let subject = subject(&namespace, EventType::WebhookSubscription);
    let registry = registry();
    registry
        .register(&subject, &subscription_with_url_as_a_number())
        .await
        .expect("a first version is always accepted");

    let codec = Codec::new(REGISTRY, &Topics::new(&namespace, PARTITIONS, PARTITIONS)).unwrap();
    let error = codec
        .register(&[EventType::WebhookSubscription])
        .await
        .expect_err("an incompatible schema must stop start-up");

    eprintln!("start-up refused: {error}");
    assert!(error.to_string().contains(&subject), "{error}");
    assert!(
        matches!(
            &error,
            CodecError::Compatibility {
                source: CompatibilityError::Incompatible { .. },
                ..
            }
        ),
        "{error:?}"
    );
    assert!(!error.is_retriable(), "{error}");
    assert_eq!(registry.versions(&subject).await.expect("versions"), [1]);
}

fn order() -> OrderCreated {
    OrderCreated {
        order_id: OrderId::new_v7(),
        customer_id: CustomerId::parse("c-evolution").unwrap(),
        email: "evolution@example.com".into(),
        currency: "EUR".into(),
        items: vec![OrderItem {
            sku: Sku::parse("SKU-1").unwrap(),
            quantity: 2,
            unit_price_minor: 1250,
        }],
        total_minor: 2500,
        payment_token: PaymentToken::new("tok_visa".into()),
        created_at_ms: 1_700_000_000_000,
        metadata: [("channel".to_owned(), "web \u{1f6d2}".to_owned())].into(),
        idempotency: None,
    }
}

/// `order` as a producer of the released schema `text` writes it, in the Confluent wire
/// format under that schema's registered `id`.
fn framed_with(text: &str, id: u32, order: &OrderCreated) -> Vec<u8> {
    let schema = apache_avro::Schema::parse_str(text).expect("released schema parses");
    let apache_avro::Schema::Record(record) = &schema else {
        panic!("OrderCreated is a record");
    };
    let apache_avro::types::Value::Record(fields) = apache_avro::to_value(order).unwrap() else {
        panic!("an order is a record");
    };
    let known: Vec<_> = fields
        .into_iter()
        .filter(|(name, _)| record.lookup.contains_key(name))
        .collect();
    let datum = apache_avro::writer::datum::GenericDatumWriter::builder(&schema)
        .build()
        .and_then(|writer| writer.write_value_to_vec(apache_avro::types::Value::Record(known)))
        .expect("the order fits the released schema");
    let mut framed = vec![0];
    framed.extend(id.to_be_bytes());
    framed.extend(datum);
    framed
}

#[tokio::test]
async fn records_written_with_a_released_schema_read_with_the_current_one() {
    if !stack_is_up("schema_evolution") {
        return;
    }
    let namespace = unique_namespace("evolution-read");
    let topics = Topics::new(&namespace, PARTITIONS, PARTITIONS);
    let codec = Codec::new(REGISTRY, &topics).expect("codec");
    codec
        .register(&[EventType::OrderCreated])
        .await
        .expect("register");
    let registry = registry();
    let subject = format!("{}-value", topics.of(EventType::OrderCreated));
    let order = order();

    // The current schema: decoded as it is, without resolution.
    let current = codec.encode(&order).await.expect("encode");
    assert_eq!(codec.decode::<OrderCreated>(&current).await.unwrap(), order);

    // An older producer: the fields it does not know take their defaults.
    let (_, v1) = released(EventType::OrderCreated).remove(0);
    let id = registry
        .register(&subject, &v1)
        .await
        .expect("v1 registers under BACKWARD");
    let old = framed_with(&v1, id, &order);
    let read = codec
        .decode::<OrderCreated>(&old)
        .await
        .expect("a v1 record reads");
    assert_eq!(
        read,
        OrderCreated {
            metadata: Default::default(),
            ..order
        }
    );
}
