//! Partition hand-over. Revoked partitions leave only after their transaction committed (or,
//! when the assignment was lost, aborted); assigned partitions are processed only after their
//! store partition was restored from the changelog.

use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use orderflow_state::Changes;
use orderflow_telemetry::health;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, TopicPartitionList};

use super::task::{OwnedStore, Task};
use super::transaction::committed_or_beginning;

/// The consumer's context owns the task, because librdkafka runs the rebalance callbacks
/// inside `poll`, where they must commit, restore and release the task's state.
pub(crate) struct TaskContext {
    task: Mutex<Task>,
    /// The group, for the lag the consumer's statistics report.
    group: String,
}

impl TaskContext {
    pub fn new(task: Task) -> Self {
        Self {
            group: task.names.group.clone(),
            task: Mutex::new(task),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Task> {
        self.task.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ClientContext for TaskContext {
    fn stats(&self, statistics: rdkafka::Statistics) {
        super::lag::report(&self.group, &statistics);
    }
}

impl ConsumerContext for TaskContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let mut task = self.lock();
        match rebalance {
            Rebalance::Assign(partitions) => task.on_assign(consumer, partitions),
            Rebalance::Revoke(partitions) => {
                task.on_revoke(consumer, partitions, consumer.assignment_lost())
            }
            Rebalance::Error(e) => {
                tracing::warn!(processor = task.names.processor, error = %e, "rebalance error")
            }
        }
    }
}

impl Task {
    fn lead_partitions(&self, partitions: &TopicPartitionList) -> Vec<i32> {
        let Some(lead) = self.topology.stateful_inputs.first() else {
            return Vec::new();
        };
        partitions
            .elements_for_topic(self.env.topics.of(*lead))
            .iter()
            .map(|e| e.partition())
            .collect()
    }

    fn follower_partitions(&self, task_partitions: &[i32]) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        for event_type in self.topology.stateful_inputs.iter().skip(1) {
            for &partition in task_partitions {
                list.add_partition(self.env.topics.of(*event_type), partition);
            }
        }
        list
    }

    /// Restores the new tasks' stores before anything of theirs is read; the instance is not
    /// ready meanwhile.
    fn on_assign(&mut self, consumer: &BaseConsumer<TaskContext>, partitions: &TopicPartitionList) {
        let tasks = self.lead_partitions(partitions);
        if self.closing {
            // A rebalance that was under way when the loop ended still hands partitions over
            // while the consumer closes; restoring them (and asking for the followers'
            // offsets) would only hold up the exit, and the next owner restores them anyway.
            tracing::info!(
                processor = self.names.processor,
                tasks = ?tasks,
                "partitions assigned while closing; not restored"
            );
            return;
        }
        health::set_ready(self.names.processor, false);
        for &partition in &tasks {
            if let Err(e) = self.open_store(partition) {
                self.failure = Some(e);
                return;
            }
        }
        health::set_ready(self.names.processor, true);
        self.pending_followers.extend(&tasks);
        self.assign_followers(consumer);
        tracing::info!(
            processor = self.names.processor,
            tasks = ?tasks,
            partitions = partitions.count(),
            "partitions assigned"
        );
    }

    /// Starts reading the follower inputs of tasks whose lead was assigned, at the group's
    /// committed offsets. The broker withholds those offsets while a transaction that could
    /// still commit them is open (a crashed member's, until it times out), so tasks whose
    /// offsets are not known yet stay pending and are tried again from the poll loop.
    pub(crate) fn assign_followers(&mut self, consumer: &BaseConsumer<TaskContext>) {
        let Some(follower) = self.follower.clone() else {
            self.pending_followers.clear();
            return;
        };
        if self.pending_followers.is_empty() {
            return;
        }
        let tasks = std::mem::take(&mut self.pending_followers);
        let followers = self.follower_partitions(&tasks);
        let assigned = committed_or_beginning(consumer, &followers)
            .map_err(|f| format!("{f:?}"))
            .and_then(|c| follower.incremental_assign(&c).map_err(|e| e.to_string()));
        if let Err(reason) = assigned {
            tracing::warn!(
                processor = self.names.processor,
                tasks = ?tasks,
                reason,
                "follower inputs not assigned yet; trying again"
            );
            self.pending_followers = tasks;
        }
    }

    fn open_store(&mut self, partition: i32) -> Result<(), super::RuntimeError> {
        let path = self
            .env
            .settings
            .state_dir
            .join(&self.names.group)
            .join(self.topology.store)
            .join(partition.to_string());
        let started = Instant::now();
        let restored = self
            .restorer
            .restore(&path, &self.names.changelog, partition)?;
        let seconds = started.elapsed().as_secs_f64().max(1e-6);
        tracing::info!(
            processor = self.names.processor,
            changelog = %self.names.changelog,
            partition,
            records = restored.records,
            rebuilt = restored.rebuilt,
            elapsed_ms = restored.elapsed.as_millis() as u64,
            records_per_sec = (restored.records as f64 / seconds).round() as u64,
            "store restored"
        );
        self.stores.insert(
            partition,
            OwnedStore {
                store: restored.store,
                changes: Changes::default(),
            },
        );
        Ok(())
    }

    fn on_revoke(
        &mut self,
        consumer: &BaseConsumer<TaskContext>,
        partitions: &TopicPartitionList,
        lost: bool,
    ) {
        // Partitions that stay are affected too: their staged work rides in the same
        // transaction, so after an abort they must be read again from committed offsets.
        let settled = if lost {
            tracing::warn!(
                processor = self.names.processor,
                "assignment lost; aborting"
            );
            self.abort()
        } else {
            self.commit(consumer)
        };
        if let Err(fault) = settled {
            self.recover(fault, false);
        }

        // Only tasks that were opened have follower inputs to release.
        let tasks: Vec<i32> = self
            .lead_partitions(partitions)
            .into_iter()
            .filter(|partition| self.stores.remove(partition).is_some())
            .collect();
        self.pending_followers.retain(|p| !tasks.contains(p));
        let followers = self.follower_partitions(&tasks);
        if let (Some(follower), true) = (&self.follower, followers.count() > 0) {
            if let Err(e) = follower.incremental_unassign(&followers) {
                let processor = self.names.processor;
                tracing::warn!(processor, error = %e, "cannot release follower inputs");
            }
        }
        self.txn
            .consumed
            .retain(|(topic, partition), _| partitions.find_partition(topic, *partition).is_none());
        let processor = self.names.processor;
        tracing::info!(processor, tasks = ?tasks, lost, "partitions revoked");
    }
}
