//! The chaos run's verdict: invariants over everything the pipeline committed to Kafka and
//! every webhook the receiver got, each one a check that a lost or doubled order would fail.

use std::collections::{BTreeMap, HashMap, HashSet};

/// What the run knows about one accepted order.
#[derive(Debug, Clone)]
pub struct Placed {
    /// Units per SKU.
    pub lines: BTreeMap<String, i64>,
    /// The card will be declined, so the order must not complete.
    pub declined: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    Failed,
}

/// One record of `stock.level`: a committed state of a SKU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    pub sku: String,
    pub total: i64,
    pub reserved: i64,
    pub available: i64,
}

#[derive(Debug, Default)]
pub struct Facts {
    /// Orders answered `201`, by order id.
    pub placed: HashMap<String, Placed>,
    /// Every committed outcome event: order id, outcome, event id.
    pub outcomes: Vec<(String, Outcome, String)>,
    /// Every committed payment authorization, by order id.
    pub authorizations: Vec<String>,
    /// Every committed stock reservation result: order id and SKU.
    pub reservation_results: Vec<(String, String)>,
    /// Every committed `stock.level` record, in offset order per SKU.
    pub levels: Vec<Level>,
    /// The total the run set for each SKU.
    pub totals: HashMap<String, i64>,
    /// Every webhook delivery the receiver verified: webhook id and body.
    pub deliveries: Vec<(String, Vec<u8>)>,
    /// Records on the dead-letter topic.
    pub dead_letters: usize,
    /// Members asked to stop (SIGTERM) that overran their grace or did not exit cleanly.
    pub stop_problems: Vec<String>,
}

/// Every broken invariant, in words; empty when the run passed.
pub fn violations(facts: &Facts) -> Vec<String> {
    let mut found = Vec::new();
    outcomes(facts, &mut found);
    exactly_once_internals(facts, &mut found);
    stock(facts, &mut found);
    webhooks(facts, &mut found);
    found.extend(facts.stop_problems.iter().cloned());
    if facts.dead_letters > 0 {
        found.push(format!(
            "{} dead letters for valid input",
            facts.dead_letters
        ));
    }
    found
}

/// Every accepted order has exactly one outcome, and no outcome names an unknown order.
fn outcomes(facts: &Facts, found: &mut Vec<String>) {
    let mut per_order: HashMap<&str, Vec<Outcome>> = HashMap::new();
    for (order, outcome, _) in &facts.outcomes {
        per_order.entry(order).or_default().push(*outcome);
    }
    for (order, placed) in &facts.placed {
        match per_order.get(order.as_str()).map(Vec::as_slice) {
            None | Some([]) => found.push(format!("order {order} has no outcome")),
            Some([Outcome::Completed]) if placed.declined => {
                found.push(format!("order {order} completed with a declined card"))
            }
            Some([_]) => {}
            Some(many) => found.push(format!(
                "order {order} has {} outcomes: {many:?}",
                many.len()
            )),
        }
    }
    for order in per_order.keys() {
        if !facts.placed.contains_key(*order) {
            found.push(format!(
                "outcome for order {order}, which was never accepted"
            ));
        }
    }
}

/// The internal steps happened once per order too: one authorization, one result per line.
fn exactly_once_internals(facts: &Facts, found: &mut Vec<String>) {
    let mut authorizations: HashMap<&str, usize> = HashMap::new();
    for order in &facts.authorizations {
        *authorizations.entry(order).or_default() += 1;
    }
    for (order, count) in authorizations.iter().filter(|(_, c)| **c > 1) {
        found.push(format!("order {order} was authorized {count} times"));
    }
    let mut results: HashMap<(&str, &str), usize> = HashMap::new();
    for (order, sku) in &facts.reservation_results {
        *results.entry((order, sku)).or_default() += 1;
    }
    for ((order, sku), count) in results.iter().filter(|(_, c)| **c > 1) {
        found.push(format!(
            "line {sku} of order {order} was decided {count} times"
        ));
    }
}

/// At every committed point `reserved + available == total` and nothing is negative; at the
/// end each SKU holds exactly the units of the completed orders.
fn stock(facts: &Facts, found: &mut Vec<String>) {
    let mut last: HashMap<&str, &Level> = HashMap::new();
    for level in &facts.levels {
        if level.reserved < 0
            || level.available < 0
            || level.reserved + level.available != level.total
        {
            found.push(format!(
                "stock of {} not conserved at a committed point: {level:?}",
                level.sku
            ));
        }
        last.insert(&level.sku, level);
    }
    let completed: HashSet<&str> = facts
        .outcomes
        .iter()
        .filter(|(_, o, _)| *o == Outcome::Completed)
        .map(|(order, _, _)| order.as_str())
        .collect();
    let mut held: HashMap<&str, i64> = HashMap::new();
    for (order, placed) in &facts.placed {
        if completed.contains(order.as_str()) {
            for (sku, units) in &placed.lines {
                *held.entry(sku).or_default() += units;
            }
        }
    }
    for (sku, total) in &facts.totals {
        let expected = held.get(sku.as_str()).copied().unwrap_or(0);
        match last.get(sku.as_str()) {
            Some(level) if level.total == *total && level.reserved == expected => {}
            other => found.push(format!(
                "final stock of {sku}: {other:?}, expected total {total} with {expected} reserved"
            )),
        }
    }
}

/// Each outcome reached the subscriber, and a webhook id never stood for two different
/// events (repeats of the same event are allowed: delivery is at-least-once).
fn webhooks(facts: &Facts, found: &mut Vec<String>) {
    let mut bodies: HashMap<&str, HashSet<&[u8]>> = HashMap::new();
    for (id, body) in &facts.deliveries {
        bodies.entry(id).or_default().insert(body);
    }
    for (id, distinct) in bodies.iter().filter(|(_, b)| b.len() > 1) {
        found.push(format!(
            "webhook id {id} was delivered as {} different events",
            distinct.len()
        ));
    }
    for (order, _, event_id) in &facts.outcomes {
        if !bodies.contains_key(event_id.as_str()) {
            found.push(format!(
                "no webhook for the outcome of order {order} (event {event_id})"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passing() -> Facts {
        let mut facts = Facts::default();
        facts.placed.insert(
            "o1".into(),
            Placed {
                lines: BTreeMap::from([("A".into(), 2)]),
                declined: false,
            },
        );
        facts.placed.insert(
            "o2".into(),
            Placed {
                lines: BTreeMap::from([("A".into(), 1)]),
                declined: true,
            },
        );
        facts.outcomes = vec![
            ("o1".into(), Outcome::Completed, "e1".into()),
            ("o2".into(), Outcome::Failed, "e2".into()),
        ];
        facts.authorizations = vec!["o1".into(), "o2".into()];
        facts.reservation_results = vec![("o1".into(), "A".into()), ("o2".into(), "A".into())];
        facts.totals.insert("A".into(), 5);
        let level = |reserved| Level {
            sku: "A".into(),
            total: 5,
            reserved,
            available: 5 - reserved,
        };
        facts.levels = vec![level(0), level(2), level(3), level(2)];
        facts.deliveries = vec![
            ("e1".into(), b"one".to_vec()),
            ("e2".into(), b"two".to_vec()),
            ("e2".into(), b"two".to_vec()),
        ];
        facts
    }

    #[test]
    fn a_clean_run_passes() {
        assert_eq!(violations(&passing()), Vec::<String>::new());
    }

    #[test]
    fn a_lost_or_doubled_outcome_fails() {
        let mut lost = passing();
        lost.outcomes.pop();
        assert!(violations(&lost)
            .iter()
            .any(|v| v.contains("o2 has no outcome")));
        let mut doubled = passing();
        doubled
            .outcomes
            .push(("o1".into(), Outcome::Completed, "e1".into()));
        assert!(violations(&doubled)
            .iter()
            .any(|v| v.contains("o1 has 2 outcomes")));
    }

    #[test]
    fn a_doubled_authorization_or_reservation_fails() {
        let mut facts = passing();
        facts.authorizations.push("o1".into());
        facts.reservation_results.push(("o1".into(), "A".into()));
        assert_eq!(violations(&facts).len(), 2);
    }

    #[test]
    fn unconserved_or_leaked_stock_fails() {
        let mut broken = passing();
        broken.levels[1].available = 4;
        assert!(violations(&broken)
            .iter()
            .any(|v| v.contains("not conserved")));
        let mut leaked = passing();
        leaked.levels.push(Level {
            sku: "A".into(),
            total: 5,
            reserved: 3,
            available: 2,
        });
        assert!(violations(&leaked)
            .iter()
            .any(|v| v.contains("final stock of A")));
    }

    #[test]
    fn one_webhook_id_for_two_events_fails_and_a_missing_webhook_fails() {
        let mut facts = passing();
        facts.deliveries.push(("e1".into(), b"other".to_vec()));
        assert!(violations(&facts)
            .iter()
            .any(|v| v.contains("2 different events")));
        let mut missing = passing();
        missing.deliveries.retain(|(id, _)| id != "e2");
        assert!(violations(&missing)
            .iter()
            .any(|v| v.contains("no webhook")));
    }

    #[test]
    fn a_declined_order_that_completes_fails() {
        let mut facts = passing();
        facts.outcomes[1].1 = Outcome::Completed;
        assert!(violations(&facts)
            .iter()
            .any(|v| v.contains("declined card")));
    }
}
