//! The HTTP API on loopback: answers, saved queries across restarts, the token, and malformed
//! requests answered 400 in the one error shape, never 500.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use spider_server::{QueryLimits, ServerConfig, Tokens, router};
use tokio::task::JoinHandle;

use crate::support::{scratch, write_usage};

const RANGE: &str = "from=2026-11-21T06:00:00Z&to=2026-11-21T09:00:00Z";

struct Server {
    address: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The service's config over `data`, with the default limits.
fn config(data: &Path, token: Option<&str>) -> ServerConfig {
    ServerConfig {
        data: spider_query::LakeConfig::local(data),
        listing_ttl: std::time::Duration::ZERO,
        state: None,
        tokens: Tokens {
            writer: token.map(str::to_owned),
            ..Tokens::default()
        },
        cors_origin: None,
        capture_limits: Default::default(),
        query_limits: Default::default(),
        allowed_hosts: None,
        sql_worker: None,
    }
}

async fn serve(data: &Path, token: Option<&str>) -> Server {
    serve_config(config(data, token)).await
}

async fn serve_config(config: ServerConfig) -> Server {
    let app = router(&config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    // The service's own listener, as `spider serve` runs it (header-read timeout included).
    let task = tokio::spawn(spider_server::serve(
        listener,
        app,
        Duration::from_secs(10),
        std::future::pending(),
    ));
    Server { address, task }
}

async fn get(server: &Server, path: &str) -> (StatusCode, Value) {
    let (status, _, body) = get_cached(server, path).await;
    (status, body)
}

/// A POST's JSON answer, whatever its status.
async fn post_json(client: &reqwest::Client, url: &str, body: &Value) -> Value {
    let response = client.post(url).json(body).send().await.unwrap();
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_view_answers_over_http() {
    let dir = scratch("api");
    write_usage(&dir, 1000).await;
    let server = serve(&dir, None).await;
    assert_eq!(
        get(&server, "/api/health").await,
        (StatusCode::OK, json!({"status": "ok"}))
    );

    let (status, map) = get(
        &server,
        &format!("/api/map?view=physical&{RANGE}&limit=5&filter=src.namespace%20%3D%20shop"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{map}");
    assert_eq!(map["edges"].as_array().unwrap().len(), 5);
    assert!(map["rest"]["edges"].as_u64().unwrap() > 0);
    assert_eq!(map["view"], "physical");

    // Anomalies: three hours of history, so nothing is new against a week; a two-hour
    // baseline flags what began in the last hour of the range. Bad thresholds are 400s.
    let (status, flags) = get(&server, &format!("/api/anomalies?{RANGE}")).await;
    assert_eq!(status, StatusCode::OK, "{flags}");
    assert_eq!(
        flags["anomalies"],
        json!([]),
        "a lake younger than a week flags nothing"
    );
    assert_eq!(flags["thresholds"]["baseline"], 7 * 86_400);
    let (status, flags) = get(
        &server,
        &format!("/api/anomalies?{RANGE}&kind=new_edge,excessive_dns&baseline=1h&dns_floor=1"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{flags}");
    assert_eq!(flags["thresholds"]["dns_floor"], 1);
    for bad in [
        "kind=surprising",
        "baseline=1000h",
        "baseline=soon",
        "dns_factor=0.1",
        "external_floor=0",
        "dns_floor=-1",
    ] {
        let (status, answer) = get(&server, &format!("/api/anomalies?{RANGE}&{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {answer}");
        assert!(answer["error"]["message"].is_string(), "{bad}: {answer}");
    }

    let (status, timeline) = get(&server, &format!("/api/timeline?{RANGE}&step=3600")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(timeline["bars"].as_array().unwrap().len(), 3);
    let total: u64 = timeline["bars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["messages"].as_u64().unwrap())
        .sum();
    let (_, stats) = get(
        &server,
        &format!("/api/stats?{RANGE}&group_by=transport&measure=messages"),
    )
    .await;
    assert_eq!(
        stats["total"].as_u64().unwrap(),
        total,
        "timeline and stats agree"
    );

    let (status, page) = get(
        &server,
        &format!("/api/grid/network_usage?{RANGE}&sort=bytes_to_server&order=asc&limit=2"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["rows"][0]["bytes_to_server"], 0);
    let next = page["next"].as_str().unwrap();
    let (_, second) = get(
        &server,
        &format!(
            "/api/grid/network_usage?{RANGE}&sort=bytes_to_server&order=asc&limit=2&cursor={next}"
        ),
    )
    .await;
    assert_eq!(second["rows"][0]["bytes_to_server"], 20);

    let (status, workload) = get(
        &server,
        &format!("/api/workloads/payments/StatefulSet/db?{RANGE}&top=2"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{workload}");
    assert_eq!(workload["id"], "w|payments|StatefulSet|db");
    assert_eq!(
        workload["workload"],
        json!({"namespace": "payments", "kind": "StatefulSet", "name": "db"}),
        "the workload to attach a Whisperer to, not an id to parse"
    );
    assert_eq!(workload["clients"].as_array().unwrap().len(), 2);
    assert!(workload["peers_left_out"].as_u64().unwrap() > 0);
    let (status, same) = get(
        &server,
        &format!("/api/details?id=w%7Cpayments%7CStatefulSet%7Cdb&{RANGE}&top=2"),
    )
    .await;
    assert_eq!((status, &same), (StatusCode::OK, &workload));
    let (status, absent) = get(
        &server,
        &format!("/api/workloads/payments/Deployment/ghost?{RANGE}"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{absent}");

    let (status, fields) = get(&server, "/api/fields/http").await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = fields["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = spider_query::fields::HTTP.iter().map(|f| f.0).collect();
    assert_eq!(names, expected);
    assert!(
        fields["fields"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "dst.ip", "kind": "address"}))
    );
    assert_eq!(
        get(&server, "/api/fields/nope").await.0,
        StatusCode::NOT_FOUND
    );

    // The catalog: every dataset, with what a client needs to query it, and the same fields.
    let (status, catalog) = get(&server, "/api/datasets").await;
    assert_eq!(status, StatusCode::OK);
    let listed: Vec<(&str, &str, &str)> = catalog["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["partitions"], json!(["cluster", "date", "hour"]));
            (
                d["name"].as_str().unwrap(),
                d["signal"].as_str().unwrap(),
                d["time_column"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("network_usage", "usage", "bucket_start"),
            ("packets", "capture", "time"),
            ("tcp_sessions", "capture", "first_packet"),
            ("http", "capture", "request_time"),
            ("hosts", "capture", "first_seen"),
        ]
    );
    for listed in catalog["datasets"].as_array().unwrap() {
        let name = listed["name"].as_str().unwrap();
        let (status, own) = get(&server, &format!("/api/fields/{name}")).await;
        assert_eq!(
            (status, &own["fields"]),
            (StatusCode::OK, &listed["fields"]),
            "{name}"
        );
        assert!(!listed["fields"].as_array().unwrap().is_empty(), "{name}");
    }

    let sql = spider_testkit::http()
        .post(format!("http://{}/api/sql", server.address))
        .json(&json!({"query": "SELECT count(*) AS n FROM network_usage"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sql.status(), StatusCode::OK);
    assert_eq!(
        sql.json::<Value>().await.unwrap(),
        json!({"columns": ["n"], "rows": [{"n": 1000}]})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn saved_queries_are_created_renamed_deleted_and_survive_a_restart() {
    let dir = scratch("saved");
    write_usage(&dir, 10).await;
    let client = spider_testkit::http();
    let server = serve(&dir, None).await;
    let base = format!("http://{}/api/queries", server.address);
    let body = json!({"name": "shop traffic", "view": "logical", "filter": "namespace = shop", "from": "-1h", "to": "now"});
    let created: Value = post_json(&client, &base, &body).await;
    let second: Value = post_json(
        &client,
        &base,
        &json!({"name": "dns", "view": "physical", "from": "-1d", "to": "now"}),
    )
    .await;
    let id = created["id"].as_u64().unwrap();
    let renamed = client.put(format!("{base}/{id}")).json(&json!({"name": "shop", "view": "logical", "filter": "namespace = shop", "from": "-1h", "to": "now"})).send().await.unwrap();
    assert_eq!(renamed.status(), StatusCode::OK);
    let deleted = client
        .delete(format!("{base}/{}", second["id"]))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    drop(server);

    let restarted = serve(&dir, None).await;
    let (status, list) = get(&restarted, "/api/queries").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list,
        json!([{"id": id, "name": "shop", "view": "logical", "filter": "namespace = shop", "from": "-1h", "to": "now"}])
    );
    let missing = client
        .delete(format!("http://{}/api/queries/999", restarted.address))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    // A client names no id and no field the service does not keep; an id in a path is a number.
    for extra in [json!({"id": 7}), json!({"color": "red"})] {
        let mut sent = body.clone();
        sent.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let refused = client
            .post(format!("http://{}/api/queries", restarted.address))
            .json(&sent)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{extra}");
    }
    let not_an_id = client
        .delete(format!("http://{}/api/queries/seven", restarted.address))
        .send()
        .await
        .unwrap();
    assert_eq!(not_an_id.status(), StatusCode::BAD_REQUEST);
    let answer: Value = not_an_id.json().await.unwrap();
    assert_eq!(
        answer["error"]["message"],
        "\"seven\" is not a saved query id"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_is_required_when_set() {
    let dir = scratch("token");
    write_usage(&dir, 10).await;
    let server = serve(&dir, Some("s3cret")).await;
    let url = format!("http://{}/api/stats?{RANGE}&group_by=port", server.address);
    let client = spider_testkit::http();
    for presented in [
        None,
        Some("Bearer wrong"),
        Some("s3cret"),
        Some("Bearer s3cret2"),
    ] {
        let mut request = client.get(&url);
        if let Some(value) = presented {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{presented:?}");
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"]["code"],
            "unauthorized"
        );
    }
    let allowed = client.get(&url).bearer_auth("s3cret").send().await.unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(
        client
            .get(format!("http://{}/api/health", server.address))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

/// A request of the roles test: method, path, JSON body, whose token.
type Call = (Method, String, Option<Value>, &'static str);

async fn call(
    client: &reqwest::Client,
    server: &Server,
    (method, path, body, token): &Call,
) -> u16 {
    let mut request = client
        .request(method.clone(), format!("http://{}{path}", server.address))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_role_token_reaches_only_its_routes() {
    let dir = scratch("roles");
    write_usage(&dir, 10).await;
    let server = serve_config(ServerConfig {
        tokens: Tokens {
            reader: Some("reader-t".into()),
            agent: Some("agent-t".into()),
            writer: Some("writer-t".into()),
        },
        ..config(&dir, None)
    })
    .await;
    let client = spider_testkit::http();
    let capture = json!({
        "workload": {"namespace": "shop", "kind": "Deployment", "name": "web"},
        "duration_seconds": 60
    });
    let report = json!({"pods": ["web-1"], "packets": 3, "capturing": true});
    let saved =
        json!({"name": "mine", "view": "logical", "filter": "", "from": "now-1h", "to": "now"});
    let stats = format!("/api/stats?{RANGE}&group_by=port");
    let calls: Vec<(Call, u16)> = vec![
        ((Method::GET, stats.clone(), None, "reader-t"), 200),
        ((Method::GET, stats.clone(), None, "agent-t"), 403),
        ((Method::GET, stats, None, "writer-t"), 200),
        (
            (
                Method::POST,
                "/api/sql".into(),
                Some(json!({"query": "SELECT 1"})),
                "reader-t",
            ),
            200,
        ),
        (
            (
                Method::POST,
                "/api/sql".into(),
                Some(json!({"query": "SELECT 1"})),
                "agent-t",
            ),
            403,
        ),
        (
            (
                Method::POST,
                "/api/captures".into(),
                Some(capture.clone()),
                "reader-t",
            ),
            403,
        ),
        (
            (
                Method::POST,
                "/api/captures".into(),
                Some(capture.clone()),
                "agent-t",
            ),
            403,
        ),
        (
            (
                Method::POST,
                "/api/captures".into(),
                Some(capture),
                "writer-t",
            ),
            201,
        ),
        (
            (
                Method::GET,
                "/api/captures?state=active".into(),
                None,
                "agent-t",
            ),
            200,
        ),
        (
            (Method::GET, "/api/captures/1".into(), None, "agent-t"),
            200,
        ),
        ((Method::GET, "/api/captures".into(), None, "reader-t"), 200),
        (
            (
                Method::PUT,
                "/api/captures/1/agents/node-a".into(),
                Some(report.clone()),
                "reader-t",
            ),
            403,
        ),
        (
            (
                Method::PUT,
                "/api/captures/1/agents/node-a".into(),
                Some(report.clone()),
                "agent-t",
            ),
            204,
        ),
        (
            (Method::POST, "/api/captures/1/stop".into(), None, "agent-t"),
            403,
        ),
        (
            (
                Method::POST,
                "/api/captures/1/stop".into(),
                None,
                "reader-t",
            ),
            403,
        ),
        (
            (
                Method::POST,
                "/api/captures/1/stop".into(),
                None,
                "writer-t",
            ),
            200,
        ),
        (
            (
                Method::PUT,
                "/api/captures/1/agents/node-a".into(),
                Some(report),
                "agent-t",
            ),
            204,
        ),
        (
            (
                Method::POST,
                "/api/queries".into(),
                Some(saved.clone()),
                "reader-t",
            ),
            403,
        ),
        (
            (Method::POST, "/api/queries".into(), Some(saved), "writer-t"),
            201,
        ),
        ((Method::GET, "/api/queries".into(), None, "reader-t"), 200),
    ];
    for (request, expected) in &calls {
        let status = call(&client, &server, request).await;
        assert_eq!(
            status, *expected,
            "{} {} as {}",
            request.0, request.1, request.3
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plain_form_cannot_change_anything() {
    let dir = scratch("forms");
    write_usage(&dir, 10).await;
    let server = serve(&dir, None).await;
    let client = spider_testkit::http();
    let url = |path: &str| format!("http://{}{path}", server.address);
    let capture = r#"{"workload":{"namespace":"shop","kind":"Deployment","name":"web"},"duration_seconds":60}"#;
    // What a page of another site can make a browser send without a preflight.
    for (method, path, content_type, body) in [
        (Method::POST, "/api/captures", "text/plain", capture),
        (
            Method::POST,
            "/api/captures",
            "application/x-www-form-urlencoded",
            "a=b",
        ),
        (
            Method::POST,
            "/api/captures",
            "multipart/form-data; boundary=x",
            "--x--",
        ),
        (Method::POST, "/api/captures/1/stop", "", ""),
        (
            Method::POST,
            "/api/queries",
            "text/plain",
            r#"{"name":"x","view":"logical"}"#,
        ),
    ] {
        let mut request = client.request(method.clone(), url(path)).body(body);
        if !content_type.is_empty() {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{method} {path} {content_type}"
        );
    }
    let (status, listed) = get(&server, "/api/captures").await;
    assert_eq!(
        (status, listed),
        (StatusCode::OK, json!([])),
        "nothing was started"
    );
    let created = client
        .post(url("/api/captures"))
        .header("content-type", "application/json")
        .body(capture)
        .send()
        .await
        .unwrap();
    assert_eq!(
        created.status(),
        StatusCode::CREATED,
        "JSON is what the UI sends"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn captures_are_capped_and_reports_bounded() {
    let dir = scratch("capture-caps");
    write_usage(&dir, 10).await;
    let server = serve(&dir, None).await;
    let client = spider_testkit::http();
    let url = |path: &str| format!("http://{}{path}", server.address);
    let start = |name: &str| {
        let body = json!({
            "workload": {"namespace": "shop", "kind": "Deployment", "name": name},
            "duration_seconds": 60
        });
        let request = client.post(url("/api/captures")).json(&body);
        async move { request.send().await.unwrap() }
    };
    assert_eq!(start("web").await.status(), StatusCode::CREATED);
    assert_eq!(start("web").await.status(), StatusCode::CREATED);
    let third = start("web").await;
    assert_eq!(third.status(), StatusCode::CONFLICT, "two per workload");
    let message = third.json::<Value>().await.unwrap()["error"]["message"].clone();
    assert!(message.as_str().unwrap().contains("limit"), "{message}");
    for n in 0..14 {
        assert_eq!(
            start(&format!("api-{n}")).await.status(),
            StatusCode::CREATED
        );
    }
    assert_eq!(
        start("db").await.status(),
        StatusCode::CONFLICT,
        "16 in all"
    );
    let stop = client
        .post(url("/api/captures/1/stop"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(stop.status(), StatusCode::OK);
    assert_eq!(
        start("db").await.status(),
        StatusCode::CREATED,
        "a stopped one frees a place"
    );

    let report = |node: &str, body: Value| {
        let request = client
            .put(url(&format!("/api/captures/2/agents/{node}")))
            .json(&body);
        async move { request.send().await.unwrap().status() }
    };
    let many_pods: Vec<String> = (0..1001).map(|n| format!("web-{n}")).collect();
    for (node, body) in [
        ("node%20a", json!({"pods": []})),
        (&"n".repeat(254)[..], json!({"pods": []})),
        ("node-a", json!({"pods": many_pods})),
        ("node-a", json!({"pods": ["web 1"]})),
        ("node-a", json!({"error": "e".repeat(4097)})),
        ("node-a", json!({"pods": [], "extra": 1})),
    ] {
        assert_eq!(report(node, body).await, StatusCode::BAD_REQUEST, "{node}");
    }
    assert_eq!(
        report("node-a", json!({"pods": ["web-1"]})).await,
        StatusCode::NO_CONTENT
    );
    let (_, capture) = get(&server, "/api/captures/2").await;
    assert_eq!(capture["agents"].as_object().unwrap().len(), 1, "{capture}");
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_are_400s_in_one_shape() {
    let dir = scratch("malformed");
    write_usage(&dir, 10).await;
    let server = serve(&dir, None).await;
    let cases = [
        "/api/map".to_owned(),
        format!("/api/map?{RANGE}&view=sideways"),
        format!("/api/map?{RANGE}&limit=abc"),
        format!("/api/map?{RANGE}&limit=0"),
        "/api/map?from=yesterday&to=2026-11-21T09:00:00Z".to_owned(),
        "/api/map?from=2026-11-21T09:00:00Z&to=2026-11-21T06:00:00Z".to_owned(),
        format!("/api/map?{RANGE}&filter=port%20%3D"),
        format!("/api/map?{RANGE}&filter=nosuch%20%3D%201"),
        format!("/api/timeline?{RANGE}&step=7"),
        format!("/api/grid/network_usage?{RANGE}&sort=nope"),
        format!("/api/grid/network_usage?{RANGE}&cursor=zzz"),
        format!("/api/grid/network_usage?{RANGE}&order=up"),
        format!("/api/stats?{RANGE}"),
        format!("/api/stats?{RANGE}&group_by=namespace"),
        format!("/api/stats?{RANGE}&group_by=port&measure=weight"),
        format!("/api/stats?{RANGE}&group_by=port&measure=latency_p99"),
        format!("/api/details?{RANGE}"),
        format!("/api/workloads/a/Deployment/b?{RANGE}&top=0"),
        format!("/api/packets/pcap?{RANGE}&filter=nosuch%20%3D%201"),
        format!("/api/packets/pcap?{RANGE}&limit=-1"),
        // Hostile (issue 16): each of these once aborted or exhausted the service.
        format!("/api/timeline?from=0&to=60&filter={}", "%28".repeat(5_000)),
        format!(
            "/api/map?{RANGE}&filter={}port%3D1{}",
            "%28".repeat(40),
            "%29".repeat(40)
        ),
        "/api/timeline?from=0&to=9000000000000&step=60".to_owned(),
        "/api/timeline?from=0&to=9223372036854775807".to_owned(),
        "/api/map?from=-9223372036854775808&to=60".to_owned(),
        "/api/timeline?from=0&to=253402300799&step=60".to_owned(),
    ];
    for path in &cases {
        let (status, body) = get(&server, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"]["code"], "bad_request", "{path}");
        assert!(
            !body["error"]["message"].as_str().unwrap().is_empty(),
            "{path}"
        );
    }
    let (_, body) = get(&server, &format!("/api/map?{RANGE}&filter=port%20%3D")).await;
    assert_eq!(
        body["error"]["message"],
        "filter error at position 6: expected a value"
    );

    let client = spider_testkit::http();
    let sql = format!("http://{}/api/sql", server.address);
    for body in [
        json!({"query": "DROP TABLE network_usage"}),
        json!({"query": "COPY (SELECT 1) TO '/tmp/x.csv'"}),
        json!({"sql": "SELECT 1"}),
        // Errors of the statement itself are the client's: 400, not 500.
        json!({"query": "SELECT 1/0"}),
        json!({"query": "SELECT CAST('x' AS INT)"}),
        json!({"query": "SELECT nosuch FROM network_usage"}),
        // Once OOM-killed the service in a 3 GiB cgroup; now cut off at the row cap.
        json!({"query": "SELECT * FROM generate_series(1, 300000000)"}),
    ] {
        let response = client.post(&sql).json(&body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    let capped: Value = post_json(
        &client,
        &sql,
        &json!({"query": "SELECT * FROM generate_series(1, 300000000)"}),
    )
    .await;
    assert!(
        capped["error"]["message"]
            .as_str()
            .unwrap()
            .contains("more than 100000 rows"),
        "{capped}"
    );
    let not_json = client
        .post(&sql)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    let (status, body) = get(&server, "/api/nothing-here").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_request_is_given_up_and_requests_beyond_the_limit_are_503s_while_health_answers() {
    let dir = scratch("bounded");
    write_usage(&dir, 10).await;
    let limits = QueryLimits {
        max_requests: 1,
        request_timeout: Duration::from_secs(2),
        ..QueryLimits::default()
    };
    let server = serve_config(ServerConfig {
        query_limits: limits,
        ..config(&dir, None)
    })
    .await;
    let url = format!("http://{}/api/sql", server.address);
    let slow = tokio::spawn(async move {
        let started = Instant::now();
        let response = spider_testkit::http()
            .post(url)
            .json(&json!({"query": "SELECT count(*) FROM generate_series(1, 100000000000)"}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        (status, body, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, body) = get(&server, &format!("/api/map?{RANGE}")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    assert_eq!(
        get(&server, "/api/health").await.0,
        StatusCode::OK,
        "health is outside the limit"
    );
    let (status, body, took) = slow.await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("longer than 2 s"),
        "{body}"
    );
    assert!(
        took < Duration::from_secs(10),
        "given up at the limit: {took:?}"
    );
    assert_eq!(
        get(&server, &format!("/api/map?{RANGE}")).await.0,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebound_host_name_is_refused_and_pages_carry_the_safety_headers() {
    let dir = scratch("hosts");
    write_usage(&dir, 10).await;
    let server = serve_config(ServerConfig {
        allowed_hosts: Some(vec!["localhost".into(), "::1".into()]),
        ..config(&dir, None)
    })
    .await;
    let client = spider_testkit::http();
    let ask = |host: &'static str, path: &'static str| {
        let client = client.clone();
        let url = format!("http://{}{path}", server.address);
        async move { client.get(url).header("host", host).send().await.unwrap() }
    };
    let rebound = ask("attacker.example:8080", "/api/health").await;
    assert_eq!(rebound.status(), StatusCode::FORBIDDEN);
    let body: Value = rebound.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden");
    assert_eq!(
        ask("[::1]:8080", "/api/health").await.status(),
        StatusCode::OK
    );
    let page = ask("localhost:8080", "/").await;
    assert_eq!(page.status(), StatusCode::OK);
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("frame-ancestors 'none'") && policy.contains("script-src 'self'"),
        "{policy}"
    );
    assert_eq!(page.headers()["x-frame-options"], "DENY");
}

/// A GET's status, `x-spider-cache` header and JSON body.
async fn get_cached(server: &Server, path: &str) -> (StatusCode, Option<String>, Value) {
    let response = spider_testkit::http()
        .get(format!("http://{}{path}", server.address))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let cache = response
        .headers()
        .get(spider_server::CACHE_HEADER)
        .map(|v| v.to_str().unwrap().to_owned());
    (status, cache, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_is_kept_until_a_file_lands_in_its_range() {
    use spider_collector::records::{NetworkUsage, Timestamp};

    let dir = scratch("answers");
    write_usage(&dir, 600).await;
    let server = serve(&dir, None).await;
    let stats = format!("/api/stats?{RANGE}&group_by=port&measure=bytes");
    let (status, cache, first) = get_cached(&server, &stats).await;
    assert_eq!((status, cache.as_deref()), (StatusCode::OK, Some("miss")));
    let (_, cache, again) = get_cached(&server, &stats).await;
    assert_eq!(cache.as_deref(), Some("hit"));
    assert_eq!(again, first);
    // The same parameters in another order are the same request.
    let reordered = format!("/api/stats?measure=bytes&group_by=port&{RANGE}");
    assert_eq!(
        get_cached(&server, &reordered).await.1.as_deref(),
        Some("hit")
    );
    // Another route over the same range is its own answer.
    let map = format!("/api/map?view=logical&{RANGE}");
    assert_eq!(get_cached(&server, &map).await.1.as_deref(), Some("miss"));
    assert_eq!(get_cached(&server, &map).await.1.as_deref(), Some("hit"));

    let record = |at: i64, bytes: u64| NetworkUsage {
        bucket_start: Timestamp::from_secs(at),
        client_ip: "10.244.0.1".parse().unwrap(),
        server_ip: "10.244.1.1".parse().unwrap(),
        server_port: 80,
        bytes_to_server: bytes,
        ..NetworkUsage::default()
    };
    // A file a day later is outside the range: still kept.
    crate::support::write_records(&dir, vec![record(1_795_240_800 + 86_400, 7)]).await;
    assert_eq!(get_cached(&server, &stats).await.1.as_deref(), Some("hit"));
    // A file landing in the range (an agent uploading late): computed anew, with its bytes.
    crate::support::write_records(&dir, vec![record(1_795_240_800 + 3_600, 12_345)]).await;
    let (_, cache, after) = get_cached(&server, &stats).await;
    assert_eq!(cache.as_deref(), Some("miss"));
    let total = |answer: &Value| answer["total"].as_u64().unwrap();
    assert_eq!(total(&after) - total(&first), 12_345, "{after}");
    assert_eq!(get_cached(&server, &stats).await.1.as_deref(), Some("hit"));
    // Requests for one answer at once compute it once.
    let timeline = format!("/api/timeline?{RANGE}&step=60");
    let together = futures::future::join_all((0..4).map(|_| get_cached(&server, &timeline))).await;
    let states: Vec<String> = together
        .into_iter()
        .map(|(_, cache, _)| cache.unwrap())
        .collect();
    assert_eq!(
        states.iter().filter(|s| *s == "miss").count(),
        1,
        "{states:?}"
    );
    // Errors are not kept.
    let unknown = format!("/api/details?id=w|nowhere|Deployment|none&{RANGE}");
    for _ in 0..2 {
        let (status, cache, _) = get_cached(&server, &unknown).await;
        assert_eq!((status, cache), (StatusCode::NOT_FOUND, None));
    }

    // Without a cache, answers carry no header.
    let uncached = serve_config(ServerConfig {
        query_limits: QueryLimits {
            answer_cache: 0,
            ..QueryLimits::default()
        },
        ..config(&dir, None)
    })
    .await;
    let (status, cache, answer) = get_cached(&uncached, &stats).await;
    assert_eq!((status, cache), (StatusCode::OK, None));
    assert_eq!(answer, after);
}
