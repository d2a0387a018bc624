//! Two clusters sharing one lake, as the seeds' "select the Controller of your cluster" needs:
//! each cluster's agents write below its own `cluster=` prefix, `GET /api/clusters` lists both
//! with their agents and a controller that reports itself, and every route given `cluster=`
//! reads that cluster alone — the map shows only its own namespaces and pods, and its bytes are
//! what SQL finds for that cluster.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use spider_testkit::kube_api::{self, FakeApi};

use crate::serve::{get_json, serving, sql_rows};
use crate::support::{scratch, spawn, stderr, terminate, two_clusters};

/// The namespaces of a map answer's workloads.
fn namespaces(map: &Value) -> BTreeSet<String> {
    map["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|node| node["kind"] == "Namespace")
        .map(|node| node["label"].as_str().unwrap().to_owned())
        .collect()
}

fn edge_bytes(map: &Value) -> u64 {
    let edges = map["edges"].as_array().unwrap();
    edges
        .iter()
        .map(|e| e["bytes"].as_u64().unwrap())
        .sum::<u64>()
        + map["rest"]["bytes"].as_u64().unwrap()
}

#[tokio::test]
async fn two_clusters_share_a_lake_and_each_is_read_alone() {
    let end = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 3600
        * 3600) as i64;
    let data = two_clusters("two-clusters", end, 1);
    let (server, listen, client) = serving(&data, &[]).await;

    // A controller of east reports itself; one of a third cluster with no data yet too.
    let api = FakeApi::start_new(Duration::from_millis(200)).await;
    api.apply(kube_api::node("node-0", &["10.1.0.1"]));
    api.apply(kube_api::pod(
        "team-0",
        "web-1",
        "node-0",
        &["10.244.0.9"],
        None,
        false,
    ));
    let kubeconfig = scratch("two-clusters-kube").join("config");
    api.write_kubeconfig(&kubeconfig);
    let service = format!("http://{listen}");
    let controller = |cluster: &str, port: u16| {
        spawn(&[
            "controller",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--cluster",
            cluster,
            "--advertise",
            &format!("http://127.0.0.1:{port}"),
            "--report-to",
            &service,
        ])
    };
    let east_port = spider_testkit::free_port();
    let controllers = [
        controller("east", east_port),
        controller("north", spider_testkit::free_port()),
    ];

    let url = format!("http://{listen}/api/clusters");
    let deadline = Instant::now() + Duration::from_secs(30);
    let listed = loop {
        let (status, body) = get_json(&client, &url).await;
        assert_eq!(status, 200, "{body}");
        let reported = body["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["controller"]["ready"] == true)
            .count();
        if reported == 2 {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "controllers never reported: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let clusters = listed["clusters"].as_array().unwrap();
    let names: Vec<&str> = clusters
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["east", "north", "west"]);
    let [east, north, west] = [&clusters[0], &clusters[1], &clusters[2]];
    assert_eq!(
        east["controller"]["feed"],
        format!("http://127.0.0.1:{east_port}")
    );
    assert_eq!(east["controller"]["objects"]["Pod"], 1, "{east}");
    assert_eq!(north["datasets"], serde_json::json!([]));
    assert!(west["controller"].is_null());
    for cluster in [east, west] {
        assert_eq!(cluster["datasets"], serde_json::json!(["network_usage"]));
        let agents = cluster["agents"].as_array().unwrap();
        assert_eq!(agents.len(), 1, "one writer, `spider generate`: {cluster}");
        assert_eq!(agents[0]["datasets"], serde_json::json!(["network_usage"]));
        assert!(agents[0]["last_report"].as_i64().unwrap() > (end - 3600) * 1_000_000);
        assert_eq!(cluster["last_report"], agents[0]["last_report"]);
    }

    // Each cluster's map holds its own namespaces, and the bytes SQL finds in it.
    let range = format!("from={}&to={end}", end - 3600);
    let map_of = |cluster: Option<&str>| {
        let scope = cluster.map_or(String::new(), |c| format!("&cluster={c}"));
        format!("http://{listen}/api/map?view=logical&{range}{scope}")
    };
    let (_, all) = get_json(&client, &map_of(None)).await;
    let (_, east_map) = get_json(&client, &map_of(Some("east"))).await;
    let (_, west_map) = get_json(&client, &map_of(Some("west"))).await;
    let teams = |map: &Value| {
        namespaces(map)
            .into_iter()
            .filter(|n| n.starts_with("team-"))
            .collect::<Vec<_>>()
    };
    assert_eq!(teams(&east_map), ["team-0", "team-1"]);
    assert_eq!(teams(&west_map), ["team-0", "team-1", "team-2", "team-3"]);
    for (cluster, map) in [("east", &east_map), ("west", &west_map)] {
        let rows = sql_rows(
            &client,
            &listen,
            &format!(
                "SELECT CAST(sum(bytes_to_server + bytes_to_client) AS BIGINT) AS b \
                 FROM network_usage WHERE cluster = '{cluster}' \
                 AND bucket_start >= to_timestamp({}) AND bucket_start < to_timestamp({end})",
                end - 3600
            ),
        )
        .await;
        assert_eq!(rows[0]["b"].as_u64(), Some(edge_bytes(map)), "{cluster}");
    }
    assert_eq!(
        edge_bytes(&all),
        edge_bytes(&east_map) + edge_bytes(&west_map)
    );
    // The other routes read one cluster too.
    let (_, timeline) = get_json(
        &client,
        &format!("http://{listen}/api/timeline?{range}&cluster=east"),
    )
    .await;
    let bars: u64 = timeline["bars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(bars, edge_bytes(&east_map));
    let (_, grid) = get_json(
        &client,
        &format!("http://{listen}/api/grid/network_usage?{range}&cluster=west&limit=50"),
    )
    .await;
    let rows = grid["rows"].as_array().unwrap();
    assert!(
        !rows.is_empty() && rows.iter().all(|r| r["cluster"] == "west"),
        "{grid}"
    );
    let (_, stats) = get_json(
        &client,
        &format!(
            "http://{listen}/api/stats?{range}&cluster=east&group_by=src.namespace&measure=bytes&top=50"
        ),
    )
    .await;
    assert_eq!(
        stats["total"].as_u64(),
        Some(edge_bytes(&east_map)),
        "{stats}"
    );
    // Answers are kept per cluster: east's again is a hit, west's its own.
    let cache_of = |url: String| {
        let client = client.clone();
        async move {
            let response = client.get(url).send().await.unwrap();
            let state = response.headers()["x-spider-cache"]
                .to_str()
                .unwrap()
                .to_owned();
            let body: Value = response.json().await.unwrap();
            (state, edge_bytes(&body))
        }
    };
    assert_eq!(
        cache_of(map_of(Some("east"))).await,
        ("hit".to_owned(), edge_bytes(&east_map))
    );
    let west_again = cache_of(map_of(Some("west"))).await;
    assert_eq!(west_again.1, edge_bytes(&west_map));
    // A cluster with no data has an empty map; a name that is none is a 400.
    let (status, north_map) = get_json(&client, &map_of(Some("north"))).await;
    assert_eq!((status, north_map["total_edges"].as_u64()), (200, Some(0)));
    let (status, body) = get_json(&client, &map_of(Some("x'%20OR%20'1"))).await;
    assert_eq!(status, 400, "{body}");

    // A report of another cluster than its path, or from nowhere near a status, is refused.
    let put = |path: &str, body: &str| {
        client
            .put(format!("http://{listen}{path}"))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
    };
    let wrong = put(
        "/api/clusters/west/controller",
        r#"{"cluster":"east","ready":true,"objects":{},"feeds":0}"#,
    )
    .await
    .unwrap();
    assert_eq!(wrong.status().as_u16(), 400);
    let huge = format!(
        r#"{{"cluster":"west","ready":true,"objects":{{}},"feeds":0,"feed":"{}"}}"#,
        "x".repeat(64 * 1024)
    );
    let too_big = put("/api/clusters/west/controller", &huge).await.unwrap();
    assert_eq!(too_big.status().as_u16(), 413);

    for controller in controllers {
        let stopped = terminate(controller);
        assert!(stopped.status.success(), "{}", stderr(&stopped));
    }
    terminate(server);
}
