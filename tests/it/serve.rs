//! `spider serve` over what `spider collect` wrote: the API answers, and SIGTERM stops it.

use std::time::{Duration, Instant};

use crate::support::{collect_synthetic, spawn, stderr, terminate};

#[tokio::test(flavor = "multi_thread")]
async fn serve_answers_over_what_collect_wrote_and_stops_on_sigterm() {
    let data = collect_synthetic("serve", 2000, 3);

    let port = spider_testkit::free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = spawn(&[
        "serve",
        "--data",
        data.to_str().unwrap(),
        "--listen",
        &listen,
        "--token",
        "t0ken",
    ]);
    let client = spider_testkit::http();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client
        .get(format!("http://{listen}/api/health"))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "spider serve did not listen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let now = unix_now();
    let url = format!(
        "http://{listen}/api/stats?from={}&to={}&group_by=port&measure=records",
        now - 7200,
        now + 60
    );
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
    let body = client
        .get(&url)
        .bearer_auth("t0ken")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let stats: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stats["total"], 2000, "{stats}");
    assert_eq!(stats["groups"].as_array().unwrap().len(), 3);

    let output = terminate(child);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("SIGTERM received, stopping"));
}

/// Unix seconds now.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_downloads_as_a_pcap_and_unknown_ones_are_answered_plainly() {
    let dir = crate::support::scratch("serve-pcap");
    let data = dir.join("data");
    let public = spider_testkit::captures::public_pcap("http.pcap");
    let analyzed = crate::support::run(&[
        "analyze",
        public.to_str().unwrap(),
        "--out",
        data.to_str().unwrap(),
    ]);
    assert!(analyzed.status.success(), "{}", stderr(&analyzed));
    let listen = format!("127.0.0.1:{}", spider_testkit::free_port());
    let child = spawn(&[
        "serve",
        "--data",
        data.to_str().unwrap(),
        "--listen",
        &listen,
    ]);
    let client = spider_testkit::http();
    let url = |path: &str| format!("http://{listen}{path}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.get(url("/api/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "spider serve did not listen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let response = client
        .get(url("/api/sessions/0/pcap"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.tcpdump.pcap"
    );
    let downloaded = dir.join("session-0.pcap");
    std::fs::write(&downloaded, response.bytes().await.unwrap()).unwrap();
    let fields = ["frame.time_epoch", "frame.len", "tcp.seq_raw"];
    assert_eq!(
        spider_testkit::captures::tshark_fields(&downloaded, "tcp", &fields),
        spider_testkit::captures::tshark_fields(&public, "tcp.stream == 0", &fields)
    );
    for (path, status) in [
        ("/api/sessions/77/pcap", 404),
        ("/api/sessions/x/pcap", 400),
    ] {
        let response = client.get(url(path)).send().await.unwrap();
        assert_eq!(response.status(), status, "{path}");
        let body: serde_json::Value =
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert!(body["error"]["message"].is_string(), "{body}");
    }
    let output = terminate(child);
    assert!(output.status.success(), "{}", stderr(&output));
}

/// Every row of a grid, page after page.
async fn all_pages(
    client: &spider_testkit::reqwest::Client,
    first: &str,
) -> Vec<serde_json::Value> {
    let mut rows = Vec::new();
    let mut url = first.to_owned();
    loop {
        let page: serde_json::Value = serde_json::from_slice(
            &client
                .get(&url)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
        )
        .unwrap();
        rows.extend(
            page["rows"]
                .as_array()
                .unwrap_or_else(|| panic!("{page}"))
                .iter()
                .cloned(),
        );
        match page["next"].as_str() {
            Some(cursor) => url = format!("{first}&cursor={cursor}"),
            None => return rows,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn capture_datasets_have_grids_with_their_own_filter_fields() {
    let dir = crate::support::scratch("serve-capture-grid");
    let file = dir.join("http.pcap");
    let settings = spider_testkit::http_capture::HttpCapture {
        sessions: 40,
        requests_per_session: 4,
        max_body: 3_000,
        disorder_per_mille: 0,
        retransmit_per_mille: 0,
        seed: 5,
    };
    spider_testkit::http_capture::write(&file, &settings);
    let data = dir.join("data");
    let analyzed = crate::support::run(&[
        "analyze",
        file.to_str().unwrap(),
        "--out",
        data.to_str().unwrap(),
    ]);
    assert!(analyzed.status.success(), "{}", stderr(&analyzed));
    let listen = format!("127.0.0.1:{}", spider_testkit::free_port());
    let child = spawn(&[
        "serve",
        "--data",
        data.to_str().unwrap(),
        "--listen",
        &listen,
    ]);
    let client = spider_testkit::http();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client
        .get(format!("http://{listen}/api/health"))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "spider serve did not listen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let range = "from=1763690000&to=1763800000";
    let grid =
        |dataset: &str, query: &str| format!("http://{listen}/api/grid/{dataset}?{range}&{query}");

    let errors = grid(
        "http",
        "filter=status%20%3E%3D%20300%20and%20method%20%3D%20GET&sort=latency_us&order=asc&limit=7",
    );
    let rows = all_pages(&client, &errors).await;
    let duck = spider_testkit::python_json(
        "datasets.py",
        &[
            "sql".to_string(),
            data.display().to_string(),
            "SELECT latency_us, session_id, path, status FROM http WHERE status >= 300 AND method = 'GET' \
             ORDER BY latency_us ASC NULLS LAST, request_time ASC"
                .into(),
            "SELECT count(*) FROM tcp_sessions WHERE server_ip = '10.200.0.80' AND packets_to_server + packets_to_client > 12".into(),
        ],
    );
    let expected = duck[0].as_array().unwrap();
    assert!(expected.len() > 7, "more than one page: {}", expected.len());
    let key = |row: &serde_json::Value| {
        (
            row["latency_us"].clone(),
            row["session_id"].clone(),
            row["path"].clone(),
            row["status"].clone(),
        )
    };
    let got: Vec<_> = rows.iter().map(key).collect();
    let want: Vec<_> = expected
        .iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone(), r[3].clone()))
        .collect();
    let latencies = |list: &[(
        serde_json::Value,
        serde_json::Value,
        serde_json::Value,
        serde_json::Value,
    )]| { list.iter().map(|r| r.0.clone()).collect::<Vec<_>>() };
    assert_eq!(latencies(&got), latencies(&want), "sorted the same");
    let mut sorted_got = got.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>();
    let mut sorted_want = want.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>();
    sorted_got.sort();
    sorted_want.sort();
    assert_eq!(sorted_got, sorted_want, "the same rows");

    let sessions = all_pages(
        &client,
        &grid(
            "tcp_sessions",
            "filter=dst.ip%20%3D%2010.200.0.80%20and%20packets%20%3E%2012&limit=50",
        ),
    )
    .await;
    assert_eq!(serde_json::json!(sessions.len()), duck[1][0][0]);

    let packets = all_pages(
        &client,
        &grid("packets", "filter=session%20%3D%203&limit=500"),
    )
    .await;
    assert!(!packets.is_empty());
    assert!(
        packets
            .iter()
            .all(|p| p["session_id"] == 3 && p.get("frame").is_none()),
        "{:?}",
        packets[0]
    );
    let hosts = all_pages(&client, &grid("hosts", "filter=name%20~%20shop")).await;
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    let unknown = client.get(grid("nope", "limit=1")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    let output = terminate(child);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread")]
async fn capture_datasets_have_stats_by_their_own_groups() {
    let dir = crate::support::scratch("serve-capture-stats");
    let file = dir.join("http.pcap");
    let settings = spider_testkit::http_capture::HttpCapture {
        sessions: 30,
        requests_per_session: 5,
        max_body: 3_000,
        disorder_per_mille: 0,
        retransmit_per_mille: 0,
        seed: 9,
    };
    spider_testkit::http_capture::write(&file, &settings);
    let data = dir.join("data");
    let analyzed = crate::support::run(&[
        "analyze",
        file.to_str().unwrap(),
        "--out",
        data.to_str().unwrap(),
    ]);
    assert!(analyzed.status.success(), "{}", stderr(&analyzed));
    let listen = format!("127.0.0.1:{}", spider_testkit::free_port());
    let child = spawn(&[
        "serve",
        "--data",
        data.to_str().unwrap(),
        "--listen",
        &listen,
    ]);
    let client = spider_testkit::http();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client
        .get(format!("http://{listen}/api/health"))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "spider serve did not listen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = |query: &str| {
        let url = format!("http://{listen}/api/stats?from=1763690000&to=1763800000&{query}");
        let client = client.clone();
        async move {
            let response = client.get(url).send().await.unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value =
                serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
            (status, body)
        }
    };
    let duck = spider_testkit::python_json(
        "datasets.py",
        &[
            "sql".to_string(),
            data.display().to_string(),
            "SELECT CAST(status AS VARCHAR), count(*) FROM http GROUP BY 1 ORDER BY 2 DESC, 1".into(),
            "SELECT CAST(close_reason AS VARCHAR), sum(bytes_to_server + bytes_to_client) FROM tcp_sessions GROUP BY 1 ORDER BY 2 DESC, 1".into(),
        ],
    );
    let groups = |body: &serde_json::Value| -> Vec<serde_json::Value> {
        body["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| serde_json::json!([g["key"], g["value"]]))
            .collect()
    };
    let (status, by_status) = stats("dataset=http&group_by=status&measure=records&top=50").await;
    assert_eq!(status, 200, "{by_status}");
    assert_eq!(groups(&by_status), *duck[0].as_array().unwrap());
    assert_eq!(by_status["total"], 150);
    let (_, by_reason) = stats("dataset=tcp_sessions&group_by=close_reason&measure=bytes").await;
    assert_eq!(groups(&by_reason), *duck[1].as_array().unwrap());
    let (status, refused) = stats("dataset=http&group_by=status&measure=messages").await;
    assert_eq!(status, 400, "{refused}");
    let output = terminate(child);
    assert!(output.status.success(), "{}", stderr(&output));
}
