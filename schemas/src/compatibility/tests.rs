//! Records written with one version of a schema and read with another, in both directions,
//! without a registry: the released versions in `avro/released/` against the current
//! schemas compiled into this build.

use std::collections::HashMap;
use std::path::PathBuf;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema::{NamesRef, ResolvedSchema, UuidSchema};
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::{from_value, AvroResult, Schema};
use serde_json::Value as Json;

use crate::events::*;

/// One released version of an event's schema, as it shipped.
struct Released {
    event_type: EventType,
    version: u32,
    text: String,
}

impl Released {
    fn label(&self) -> String {
        format!("{} v{}", self.event_type, self.version)
    }
}

fn released_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("avro/released")
}

/// The schema file's name without `.avsc`: `order.created` lives in `order_created.avsc`.
fn stem(event_type: EventType) -> String {
    event_type.as_str().replace(['.', '-'], "_")
}

/// The released versions of `event_type`, v1 first, up to the first missing number.
fn released(event_type: EventType) -> Vec<Released> {
    let dir = released_dir().join(stem(event_type));
    (1..)
        .map_while(|version| {
            let text = std::fs::read_to_string(dir.join(format!("v{version}.avsc"))).ok()?;
            Some(Released {
                event_type,
                version,
                text,
            })
        })
        .collect()
}

fn every_released() -> Vec<Released> {
    EventType::ALL.into_iter().flat_map(released).collect()
}

/// The released versions that differ from the schema of this build.
fn changed_since_release() -> Vec<Released> {
    let changed: Vec<Released> = every_released()
        .into_iter()
        .filter(|r| r.text != r.event_type.schema())
        .collect();
    assert!(
        !changed.is_empty(),
        "no released version differs from its current schema: nothing to read across"
    );
    changed
}

fn parse(text: &str, what: &str) -> Schema {
    Schema::parse_str(text).unwrap_or_else(|e| panic!("{what} does not parse: {e}"))
}

fn resolve(schema: &Schema) -> ResolvedSchema<'_> {
    ResolvedSchema::try_from(schema).unwrap_or_else(|e| panic!("{schema:?}: {e}"))
}

/// The Avro datum of `value`, a sample of `schema`.
fn write(schema: &Schema, value: &Value) -> Vec<u8> {
    GenericDatumWriter::builder(schema)
        .build()
        .and_then(|writer| writer.write_value_to_vec(value.clone()))
        .unwrap_or_else(|e| panic!("sample record does not fit its schema: {e}"))
}

/// Decodes `datum` with its `writer` schema, resolved against `reader` when there is one.
fn read(writer: &Schema, datum: &[u8], reader: Option<&Schema>) -> AvroResult<Value> {
    GenericDatumReader::builder(writer)
        .maybe_reader_schema(reader)
        .build()?
        .read_value(&mut &datum[..])
}

/// A string for the field `field`: a UUID of its name, which the Rust types of ids,
/// SKUs and tokens accept whatever else they check, and which differs from field to field.
fn text(field: &str) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, field.as_bytes()).to_string()
}

/// A value of `schema` with something in every field, taking the first non-null branch of
/// each union so that optional fields carry a value too. `field` names the strings.
fn sample(schema: &Schema, names: &NamesRef, field: &str) -> Value {
    match schema {
        Schema::Null => Value::Null,
        Schema::Boolean => Value::Boolean(false),
        Schema::Int => Value::Int(3),
        Schema::Long => Value::Long(1_099),
        Schema::String => Value::String(text(field)),
        Schema::Uuid(UuidSchema::String) => Value::Uuid(uuid::Uuid::from_u128(
            0x0192_f0c4_5e7a_7b3c_8d9e_0a1b_2c3d_4e5f,
        )),
        Schema::TimestampMillis => Value::TimestampMillis(1_767_225_600_000),
        Schema::Enum(schema) => Value::Enum(0, schema.symbols[0].clone()),
        Schema::Array(array) => Value::Array(vec![sample(&array.items, names, field)]),
        Schema::Map(map) => Value::Map(HashMap::from([(
            text(field),
            sample(&map.types, names, field),
        )])),
        Schema::Union(union) => {
            let variants = union.variants();
            let branch = variants
                .iter()
                .position(|s| !matches!(s, Schema::Null))
                .unwrap_or(0);
            let value = sample(&variants[branch], names, field);
            Value::Union(branch as u32, Box::new(value))
        }
        Schema::Record(record) => Value::Record(
            record
                .fields
                .iter()
                .map(|f| (f.name.clone(), sample(&f.schema, names, &f.name)))
                .collect(),
        ),
        Schema::Ref { name } => sample(names[name], names, field),
        other => panic!("no sample value for {other:?} yet: add one to `sample`"),
    }
}

/// Asserts that `read`, decoded with `reader` from a record written as `written`, holds
/// every value of `written` that `reader` has a field for, and the field's default where
/// `written` has no such field.
fn assert_read_back(written: &Value, read: &Value, reader: &Schema, names: &NamesRef, at: &str) {
    match (written, read, reader) {
        (_, _, Schema::Ref { name }) => assert_read_back(written, read, names[name], names, at),
        (Value::Union(_, written), _, _) => assert_read_back(written, read, reader, names, at),
        (_, Value::Union(branch, read), Schema::Union(union)) => {
            let branch = &union.variants()[*branch as usize];
            assert_read_back(written, read, branch, names, at)
        }
        (Value::Record(written), Value::Record(read), Schema::Record(record)) => {
            for field in &record.fields {
                let at = format!("{at}.{}", field.name);
                let got =
                    field_value(read, &field.name).unwrap_or_else(|| panic!("{at}: not read"));
                match (field_value(written, &field.name), &field.default) {
                    (Some(value), _) => assert_read_back(value, got, &field.schema, names, &at),
                    (None, Some(default)) => {
                        assert!(holds(got, default), "{at}: read {got:?}, not {default}")
                    }
                    (None, None) => panic!("{at}: not written, and it has no default"),
                }
            }
        }
        (Value::Array(written), Value::Array(read), Schema::Array(array)) => {
            assert_eq!(written.len(), read.len(), "{at}: number of items");
            for (i, (w, r)) in written.iter().zip(read).enumerate() {
                assert_read_back(w, r, &array.items, names, &format!("{at}[{i}]"));
            }
        }
        (Value::Map(written), Value::Map(read), Schema::Map(map)) => {
            assert_eq!(written.len(), read.len(), "{at}: number of entries");
            for (key, w) in written {
                let r = read
                    .get(key)
                    .unwrap_or_else(|| panic!("{at}[{key}]: not read"));
                assert_read_back(w, r, &map.types, names, &format!("{at}[{key}]"));
            }
        }
        // Enum positions may differ between versions; the symbol is what was written.
        (Value::Enum(_, written), Value::Enum(_, read), _) => assert_eq!(written, read, "{at}"),
        _ => assert_eq!(written, read, "{at}"),
    }
}

fn field_value<'v>(fields: &'v [(String, Value)], name: &str) -> Option<&'v Value> {
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

/// True when `value` is what the JSON `default` of its field stands for.
fn holds(value: &Value, default: &Json) -> bool {
    match (value, default) {
        (Value::Union(_, value), _) => holds(value, default),
        (Value::Null, Json::Null) => true,
        (Value::Boolean(b), Json::Bool(d)) => b == d,
        (Value::Int(n), Json::Number(d)) => d.as_i64() == Some(i64::from(*n)),
        (Value::Long(n) | Value::TimestampMillis(n), Json::Number(d)) => d.as_i64() == Some(*n),
        (Value::String(s) | Value::Enum(_, s), Json::String(d)) => s == d,
        (Value::Array(items), Json::Array(d)) => {
            items.len() == d.len() && items.iter().zip(d).all(|(v, d)| holds(v, d))
        }
        (Value::Map(entries), Json::Object(d)) => {
            entries.len() == d.len()
                && entries
                    .iter()
                    .all(|(k, v)| d.get(k).is_some_and(|d| holds(v, d)))
        }
        (Value::Record(fields), Json::Object(d)) => fields
            .iter()
            .all(|(k, v)| d.get(k).is_some_and(|d| holds(v, d))),
        _ => false,
    }
}

/// Deserializes `value` into the Rust type of `event_type`, as `Codec::decode` does.
fn into_event(event_type: EventType, value: &Value) -> Result<(), apache_avro::Error> {
    match event_type {
        EventType::OrderCreated => from_value::<OrderCreated>(value).map(drop),
        EventType::OrderCompleted => from_value::<OrderCompleted>(value).map(drop),
        EventType::OrderFailed => from_value::<OrderFailed>(value).map(drop),
        EventType::StockSet => from_value::<StockSet>(value).map(drop),
        EventType::StockLevel => from_value::<StockLevel>(value).map(drop),
        EventType::StockReservationRequested => {
            from_value::<StockReservationRequested>(value).map(drop)
        }
        EventType::StockReleaseRequested => from_value::<StockReleaseRequested>(value).map(drop),
        EventType::StockReservationResult => from_value::<StockReservationResult>(value).map(drop),
        EventType::PaymentAuthorization => from_value::<PaymentAuthorization>(value).map(drop),
        EventType::WebhookSubscription => from_value::<WebhookSubscription>(value).map(drop),
        EventType::WebhookAttempt => from_value::<WebhookAttempt>(value).map(drop),
        EventType::WebhookDeliveryFailed => from_value::<WebhookDeliveryFailed>(value).map(drop),
        EventType::WebhookDeliveryRequested => {
            from_value::<WebhookDeliveryRequested>(value).map(drop)
        }
        EventType::WebhookSubscriptionDisabled => {
            from_value::<WebhookSubscriptionDisabled>(value).map(drop)
        }
    }
}

#[test]
fn every_event_type_has_its_released_versions_numbered_from_v1() {
    let mut folders: Vec<String> = std::fs::read_dir(released_dir())
        .expect("schemas/avro/released")
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    let mut stems: Vec<String> = EventType::ALL.into_iter().map(stem).collect();
    stems.sort();
    assert_eq!(
        folders, stems,
        "one folder of released versions per schema file"
    );

    for event_type in EventType::ALL {
        let current_file = released_dir().join(format!("../{}.avsc", stem(event_type)));
        let current_text = std::fs::read_to_string(&current_file).unwrap_or_default();
        assert_eq!(
            current_text,
            event_type.schema(),
            "{}",
            current_file.display()
        );

        let versions = released(event_type);
        let files = std::fs::read_dir(released_dir().join(stem(event_type)))
            .map(|dir| dir.count())
            .unwrap_or_default();
        assert!(!versions.is_empty(), "{event_type}: no v1.avsc");
        assert_eq!(
            files,
            versions.len(),
            "{event_type}: files other than v1.avsc, v2.avsc, ... or a gap"
        );
        let current = parse(event_type.schema(), event_type.as_str());
        for version in &versions {
            let schema = parse(&version.text, &version.label());
            assert_eq!(
                schema.name(),
                current.name(),
                "{}: another record",
                version.label()
            );
        }
    }
}

/// Writes a sample record with `writer`, reads it with `reader` and asserts that every
/// value the reader has a field for came across, and defaults filled the others.
fn assert_reads_across(writer: (&str, &str), reader: (&str, &str)) {
    let (writer_text, writer_label) = writer;
    let (reader_text, reader_label) = reader;
    let writer = parse(writer_text, writer_label);
    let reader = parse(reader_text, reader_label);
    let written = sample(&writer, resolve(&writer).get_names(), "record");

    let read = read(&writer, &write(&writer, &written), Some(&reader))
        .unwrap_or_else(|e| panic!("{reader_label} cannot read a record of {writer_label}: {e}"));
    let names = resolve(&reader);
    assert_read_back(&written, &read, &reader, names.get_names(), reader_label);
}

#[test]
fn readers_of_released_versions_read_records_of_the_current_schema() {
    for released in changed_since_release() {
        let current = format!("current {}", released.event_type);
        assert_reads_across(
            (released.event_type.schema(), &current),
            (&released.text, &released.label()),
        );
    }
}

#[test]
fn current_readers_read_records_of_released_versions_with_defaults_for_new_fields() {
    for released in changed_since_release() {
        let current = format!("current {}", released.event_type);
        assert_reads_across(
            (&released.text, &released.label()),
            (released.event_type.schema(), &current),
        );
    }
}

#[test]
fn records_of_every_released_version_decode_into_the_current_event_types() {
    for released in every_released() {
        let writer = parse(&released.text, &released.label());
        let reader = parse(released.event_type.schema(), released.event_type.as_str());
        let written = sample(&writer, resolve(&writer).get_names(), "record");

        // The steps of `Codec::decode` once the writer's schema came from the registry.
        let decoded = read(&writer, &write(&writer, &written), None)
            .and_then(|value| value.resolve(&reader))
            .and_then(|value| into_event(released.event_type, &value));
        if let Err(e) = decoded {
            let label = released.label();
            panic!("a {label} record does not decode into the current event: {e}");
        }
    }
}
