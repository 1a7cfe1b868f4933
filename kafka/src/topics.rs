//! Creates the pipeline's topics at start-up, with explicit partition counts, and refuses to
//! run on existing topics whose partition count breaks co-partitioning.

use std::time::Duration;

use orderflow_schemas::TopicSpec;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::settings::KafkaSettings;

/// How long topic creation and the metadata check may take in all.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between looks for a topic that was just created.
const METADATA_RETRY: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("cannot reach Kafka at {bootstrap}: {source}")]
    Connect {
        bootstrap: String,
        #[source]
        source: KafkaError,
    },
    #[error("cannot create topic {topic}: {reason}")]
    Create { topic: String, reason: String },
    #[error(
        "topic {topic} has {found} partitions but orderflow needs {expected}; topics keyed \
         alike must be co-partitioned, so recreate it or change the partition setting"
    )]
    PartitionMismatch {
        topic: String,
        expected: i32,
        found: i32,
    },
}

/// Creates every topic in `specs` that does not exist yet and checks the partition counts of
/// those that do.
pub async fn ensure_topics(
    settings: &KafkaSettings,
    specs: &[TopicSpec],
) -> Result<(), TopicError> {
    let connect = |source| TopicError::Connect {
        bootstrap: settings.bootstrap_servers.clone(),
        source,
    };
    let admin: AdminClient<DefaultClientContext> = settings
        .client_config("orderflow-admin")
        .create()
        .map_err(connect)?;

    // With more than one replica, a write needs all but one in sync: acks=all then means a
    // record survives the loss of any one broker.
    let min_in_sync = (settings.replication_factor - 1).max(1).to_string();
    let new_topics: Vec<NewTopic> = specs
        .iter()
        .map(|spec| {
            let topic = NewTopic::new(
                &spec.name,
                spec.partitions,
                TopicReplication::Fixed(settings.replication_factor),
            )
            .set("min.insync.replicas", &min_in_sync);
            if spec.compacted {
                topic.set("cleanup.policy", "compact")
            } else {
                topic
            }
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
    let results = admin
        .create_topics(new_topics.iter(), &options)
        .await
        .map_err(connect)?;
    for result in results {
        match result {
            Ok(topic) => tracing::info!(topic, "created topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(TopicError::Create {
                    topic,
                    reason: code.to_string(),
                })
            }
        }
    }
    check_partitions(admin, specs.to_vec(), connect).await
}

/// Checks partition counts; a topic created a moment ago may not show in metadata yet, or
/// its partitions may not have leaders yet, so such a topic is looked at again until the
/// deadline.
async fn check_partitions(
    admin: AdminClient<DefaultClientContext>,
    specs: Vec<TopicSpec>,
    connect: impl Fn(KafkaError) -> TopicError,
) -> Result<(), TopicError> {
    let admin = std::sync::Arc::new(admin);
    let deadline = tokio::time::Instant::now() + ADMIN_TIMEOUT;
    loop {
        let client = admin.clone();
        let metadata =
            tokio::task::spawn_blocking(move || client.inner().fetch_metadata(None, ADMIN_TIMEOUT))
                .await
                .map_err(|e| TopicError::Create {
                    topic: "(metadata)".into(),
                    reason: e.to_string(),
                })?
                .map_err(&connect)?;
        let mut missing = None;
        for spec in &specs {
            let topic = metadata.topics().iter().find(|t| t.name() == spec.name);
            let found = topic.map(|t| t.partitions().len() as i32).unwrap_or(0);
            let leaderless = topic.is_some_and(|t| t.partitions().iter().any(|p| p.leader() < 0));
            if found == 0 || leaderless {
                missing = Some(spec.name.clone());
            } else if found != spec.partitions {
                return Err(TopicError::PartitionMismatch {
                    topic: spec.name.clone(),
                    expected: spec.partitions,
                    found,
                });
            }
        }
        match missing {
            None => return Ok(()),
            Some(topic) if tokio::time::Instant::now() >= deadline => {
                return Err(TopicError::Create {
                    topic,
                    reason: format!("no leader for every partition after {ADMIN_TIMEOUT:?}"),
                })
            }
            Some(_) => tokio::time::sleep(METADATA_RETRY).await,
        }
    }
}
