//! Flattening decoded OTLP requests (protobuf JSON mapping, proto field names) into points.

use std::collections::BTreeMap;

use serde_json::Value;

/// One data point with everything around it.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub metric: String,
    pub unit: String,
    pub temporality: String,
    pub monotonic: bool,
    pub resource: BTreeMap<String, String>,
    pub attributes: BTreeMap<String, String>,
    pub start: u64,
    pub time: u64,
    pub value: i64,
}

fn attributes(list: &Value) -> BTreeMap<String, String> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|kv| {
            let value = &kv["value"];
            let text = value
                .get("string_value")
                .or_else(|| value.get("int_value"))
                .or_else(|| value.get("bool_value"))
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string())
                })
                .unwrap_or_default();
            (kv["key"].as_str().unwrap().to_owned(), text)
        })
        .collect()
}

fn number(value: &Value) -> u64 {
    value
        .as_str()
        .map(|s| s.parse().unwrap())
        .or_else(|| value.as_u64())
        .unwrap_or(0)
}

/// Every point of every request.
pub fn points(requests: &[Value]) -> Vec<Point> {
    let mut found = Vec::new();
    for request in requests {
        for resource_metrics in request["request"]["resource_metrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let resource = attributes(&resource_metrics["resource"]["attributes"]);
            for scope in resource_metrics["scope_metrics"]
                .as_array()
                .into_iter()
                .flatten()
            {
                assert_eq!(scope["scope"]["name"], "spider");
                for metric in scope["metrics"].as_array().into_iter().flatten() {
                    let sum = &metric["sum"];
                    for point in sum["data_points"].as_array().into_iter().flatten() {
                        found.push(Point {
                            metric: metric["name"].as_str().unwrap().to_owned(),
                            unit: metric["unit"].as_str().unwrap_or_default().to_owned(),
                            temporality: sum["aggregation_temporality"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                            monotonic: sum["is_monotonic"].as_bool().unwrap_or(false),
                            resource: resource.clone(),
                            attributes: attributes(&point["attributes"]),
                            start: number(&point["start_time_unix_nano"]),
                            time: number(&point["time_unix_nano"]),
                            value: number(&point["as_int"]) as i64,
                        });
                    }
                }
            }
        }
    }
    found
}

/// The value of the one point of `metric` whose attributes include `with`.
pub fn value(points: &[Point], metric: &str, with: &[(&str, &str)]) -> i64 {
    let matching: Vec<&Point> = points
        .iter()
        .filter(|p| {
            p.metric == metric
                && with
                    .iter()
                    .all(|(k, v)| p.attributes.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert_eq!(matching.len(), 1, "{metric} {with:?}: {matching:#?}");
    matching[0].value
}
