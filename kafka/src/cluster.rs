//! Which Kafka cluster a client talks to. Local state built from one cluster's topics means
//! nothing against another's: a store remembers the cluster it was built from and is rebuilt
//! when that changes (a development stack started afresh, a migration to a new cluster).

use std::time::Duration;

use rdkafka::consumer::{Consumer, ConsumerContext};

/// Bound on asking the cluster for its id.
const CLUSTER_ID_TIMEOUT: Duration = Duration::from_secs(10);

/// The cluster's id, or `None` when the cluster did not say in time. Blocks.
pub fn cluster_id<C: ConsumerContext, K: Consumer<C>>(consumer: &K) -> Option<String> {
    consumer.client().fetch_cluster_id(CLUSTER_ID_TIMEOUT)
}
