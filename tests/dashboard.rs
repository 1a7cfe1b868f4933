//! The Grafana dashboard is valid JSON whose queries name only metrics orderflow exports, and
//! every metric orderflow exports has a panel.

use std::collections::BTreeSet;

use orderflow_telemetry::names;
use serde_json::Value;

const DASHBOARD: &str = "docs/grafana/orderflow.json";
/// The series Prometheus makes of one histogram.
const HISTOGRAM_SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];
/// PromQL words that take a parenthesised list of labels, not an expression.
const LABEL_LISTS: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
/// PromQL words that are never metric names: aggregations (which may put their label list
/// before their expression, `sum by (le) (...)`) and operators.
const KEYWORDS: [&str; 18] = [
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
    "and",
    "or",
    "unless",
    "bool",
];

fn dashboard() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(DASHBOARD);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{DASHBOARD}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{DASHBOARD} is not JSON: {e}"))
}

/// Every panel, those inside rows included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        all.push(panel);
        all.extend(panel["panels"].as_array().into_iter().flatten());
    }
    all
}

/// The metric names a PromQL expression selects: what is left once strings, label matchers,
/// ranges, label lists, function names and operators are taken out.
fn metric_names(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let skip_to = |from: usize, end: char| {
        (from + 1..chars.len())
            .find(|&j| chars[j] == end)
            .map_or(chars.len(), |j| j + 1)
    };
    let mut names = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => i = skip_to(i, c),
            '{' => i = skip_to(i, '}'),
            '[' => i = skip_to(i, ']'),
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i]))
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let next = chars[i..].iter().find(|c| !c.is_whitespace());
                if LABEL_LISTS.contains(&word.as_str()) && next == Some(&'(') {
                    i = skip_to(
                        i + chars[i..].iter().position(|&c| c == '(').unwrap_or(0),
                        ')',
                    );
                } else if next != Some(&'(')
                    && !KEYWORDS.contains(&word.as_str())
                    && word != "offset"
                {
                    names.push(word);
                }
            }
            // Numbers (0.99, 1e3) and variables ($group) are not metric names.
            c if c.is_ascii_digit() || c == '.' || c == '$' => {
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || "._".contains(chars[i]))
                {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// The exported metric a series belongs to, if it is one.
fn exported(series: &str) -> Option<&'static str> {
    names::ALL.into_iter().find(|name| {
        series == *name
            || (name.ends_with("_seconds")
                && HISTOGRAM_SUFFIXES
                    .iter()
                    .any(|s| series == format!("{name}{s}")))
    })
}

fn queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut queries = Vec::new();
    for panel in panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap_or_default().to_owned();
            queries.push((panel["title"].as_str().unwrap_or("?").to_owned(), expr));
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(query) = variable["query"]["query"].as_str() {
            let inner = query
                .trim_start_matches("label_values(")
                .trim_end_matches(')');
            let metric = inner.split(',').next().unwrap_or_default();
            queries.push((format!("variable {}", variable["name"]), metric.to_owned()));
        }
    }
    queries
}

#[test]
fn every_query_names_only_exported_metrics() {
    let dashboard = dashboard();
    for (title, expr) in queries(&dashboard) {
        let found = metric_names(&expr);
        assert!(
            !found.is_empty(),
            "{DASHBOARD}: {title}: {expr:?} selects no metric"
        );
        for series in found {
            assert!(
                exported(&series).is_some(),
                "{DASHBOARD}: {title}: {series} is not a metric orderflow exports"
            );
        }
    }
}

#[test]
fn every_exported_metric_has_a_panel() {
    let dashboard = dashboard();
    let shown: BTreeSet<&str> = queries(&dashboard)
        .iter()
        .flat_map(|(_, expr)| metric_names(expr))
        .filter_map(|series| exported(&series))
        .collect();
    let missing: Vec<_> = names::ALL
        .into_iter()
        .filter(|n| !shown.contains(n))
        .collect();
    assert!(
        missing.is_empty(),
        "{DASHBOARD}: no panel shows {missing:?}"
    );
}

#[test]
fn the_metric_name_reader_skips_functions_labels_and_ranges() {
    let expr = concat!(
        r#"histogram_quantile(0.99, sum by (le, route) "#,
        r#"(rate(a_seconds_bucket{status=~"5.."}[$__rate_interval]))) "#,
        "/ on(route) b_total offset 5m",
    );
    assert_eq!(metric_names(expr), ["a_seconds_bucket", "b_total"]);
}
