//! `spider serve` over what `spider collect` and `spider analyze` wrote: the API answers (usage
//! stats with the token, capture grids and stats against DuckDB, pcap downloads against tshark),
//! and SIGTERM stops it.

use std::time::{Duration, Instant};

use std::path::{Path, PathBuf};
use std::process::Child;

use serde_json::{Value, json};
use spider_testkit::captures::tshark_fields;
use spider_testkit::http_capture::{self, HttpCapture};
use spider_testkit::python_json;
use spider_testkit::reqwest::Client;

use crate::support::{analyze, collect_synthetic, scratch, stderr, terminate};

#[tokio::test(flavor = "multi_thread")]
async fn serve_answers_over_what_collect_wrote_and_stops_on_sigterm() {
    let data = collect_synthetic("serve", 2000, 3);

    let (child, listen, client) = serving(&data, &["--token", "t0ken"]).await;
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
    // On loopback, a name that rebinds to 127.0.0.1 is not one the service answers.
    let rebound = |host: &'static str| {
        client
            .get(&url)
            .bearer_auth("t0ken")
            .header("host", host)
            .send()
    };
    assert_eq!(rebound("attacker.example:80").await.unwrap().status(), 403);
    assert_eq!(rebound("localhost").await.unwrap().status(), 200);

    let output = terminate(child);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("SIGTERM received, stopping"));
}

/// The records of a little-endian microsecond pcap file: timestamp, lengths and bytes.
fn pcap_records(file: &[u8]) -> Vec<(u64, u32, Vec<u8>)> {
    let field = |at: usize| u32::from_le_bytes(file[at..at + 4].try_into().unwrap());
    assert_eq!(field(0), 0xa1b2_c3d4, "a little-endian microsecond pcap");
    let mut records = Vec::new();
    let mut at = 24;
    while at < file.len() {
        let micros = u64::from(field(at)) * 1_000_000 + u64::from(field(at + 4));
        let captured = field(at + 8) as usize;
        let data = file[at + 16..at + 16 + captured].to_vec();
        records.push((micros, field(at + 12), data));
        at += 16 + captured;
    }
    records
}

/// Unix seconds now.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `spider serve --data DATA EXTRA…` on a free port, once it answers `/api/health`: the
/// process, its address and a client.
pub async fn serving(data: &Path, extra: &[&str]) -> (Child, String, Client) {
    serving_with(data, extra, |command| command).await
}

/// The same, with the command adjusted first (where its output goes, say).
pub async fn serving_with(
    data: impl AsRef<std::ffi::OsStr>,
    extra: &[&str],
    adjust: impl FnOnce(&mut std::process::Command) -> &mut std::process::Command,
) -> (Child, String, Client) {
    let listen = format!("127.0.0.1:{}", spider_testkit::free_port());
    let mut command = crate::support::spider();
    command
        .args(["serve", "--listen", &listen, "--data"])
        .arg(data)
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = adjust(&mut command).spawn().expect("spider starts");
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
    (child, listen, client)
}

/// A read-only SQL statement's status and answer.
pub async fn sql_answer(client: &Client, listen: &str, query: &str) -> (u16, Value) {
    let response = client
        .post(format!("http://{listen}/api/sql"))
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    (status, body)
}

/// The rows of a read-only SQL statement, which must succeed.
pub async fn sql_rows(client: &Client, listen: &str, query: &str) -> Vec<Value> {
    let (status, body) = sql_answer(client, listen, query).await;
    assert_eq!(status, 200, "{query}: {body}");
    body["rows"].as_array().cloned().unwrap_or_default()
}

/// The ids of the sessions that came `sequence`th in their run, as the API writes them.
async fn sessions_numbered(client: &Client, listen: &str, sequence: u32) -> Vec<String> {
    let rows = sql_rows(
        client,
        listen,
        &format!("SELECT session_id FROM tcp_sessions WHERE session_id % 4294967296 = {sequence}"),
    )
    .await;
    rows.iter()
        .map(|row| {
            let id = row["session_id"].as_str();
            id.unwrap_or_else(|| panic!("a session id is beyond 2^53, so a string: {row}"))
                .to_owned()
        })
        .collect()
}

/// A GET's status and JSON body.
pub async fn get_json(client: &Client, url: &str) -> (u16, Value) {
    let response = client.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let body = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    (status, body)
}

/// Generated HTTP traffic (`sessions` × `requests`, in order) analyzed into a dataset directory.
pub fn generated(sessions: usize, requests_per_session: usize, seed: u64) -> PathBuf {
    let file = scratch("serve-generated").join("http.pcap");
    let settings = HttpCapture {
        sessions,
        requests_per_session,
        max_body: 3_000,
        disorder_per_mille: 0,
        retransmit_per_mille: 0,
        seed,
    };
    http_capture::write(&file, &settings);
    analyze(&file)
}

/// The time range of generated captures.
pub const GENERATED_RANGE: &str = "from=1763690000&to=1763800000";

#[tokio::test(flavor = "multi_thread")]
async fn a_session_downloads_as_a_pcap_and_unknown_ones_are_answered_plainly() {
    let public = spider_testkit::captures::public_pcap("http.pcap");
    let data = analyze(&public);
    let (child, listen, client) = serving(&data, &[]).await;
    let url = |path: &str| format!("http://{listen}{path}");
    let fields = ["frame.time_epoch", "frame.len", "tcp.seq_raw"];
    let first_stream = tshark_fields(&public, "tcp.stream == 0", &fields);
    let session_pcap = |id: String| {
        let (client, url) = (client.clone(), url(&format!("/api/sessions/{id}/pcap")));
        async move {
            let response = client.get(url).send().await.unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(
                response.headers()["content-type"],
                "application/vnd.tcpdump.pcap"
            );
            let downloaded = scratch("serve-pcap").join(format!("session-{id}.pcap"));
            std::fs::write(&downloaded, response.bytes().await.unwrap()).unwrap();
            tshark_fields(&downloaded, "tcp", &fields)
        }
    };
    let Ok([first]) = <[String; 1]>::try_from(sessions_numbered(&client, &listen, 0).await) else {
        panic!("one run, one first session");
    };
    assert_eq!(session_pcap(first.clone()).await, first_stream);
    // A filtered set of packets, cut to a limit; the header tells how many matched in all.
    let everything = "from=946684800&to=1900000000";
    let response = client
        .get(url(&format!(
            "/api/packets/pcap?{everything}&filter=length%20%3E%20100&limit=5"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let selected: usize = response.headers()["x-spider-packets-selected"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let filtered = scratch("serve-pcap").join("filtered.pcap");
    std::fs::write(&filtered, response.bytes().await.unwrap()).unwrap();
    let reference = tshark_fields(&public, "(ip or ipv6) and frame.len > 100", &fields);
    assert_eq!(selected, reference.len());
    assert!(selected > 5, "the limit cuts: {selected}");
    assert_eq!(tshark_fields(&filtered, "frame", &fields), reference[..5]);
    // The same capture analyzed again into the same lake: each run's first session downloads
    // alone, never mixed with the other run's.
    let again = crate::support::run(&[
        "analyze",
        public.to_str().unwrap(),
        "--out",
        data.to_str().unwrap(),
    ]);
    assert!(again.status.success(), "{}", stderr(&again));
    let firsts = sessions_numbered(&client, &listen, 0).await;
    assert_eq!(firsts.len(), 2, "two runs: {firsts:?}");
    assert!(firsts.contains(&first));
    for id in firsts {
        assert_eq!(session_pcap(id).await, first_stream);
    }
    for (path, status) in [
        ("/api/sessions/77/pcap", 404),
        ("/api/packets/pcap?from=946684800&to=946684900", 404),
        ("/api/sessions/x/pcap", 400),
    ] {
        let (code, body) = get_json(&client, &url(path)).await;
        assert_eq!(code, status, "{path}");
        assert!(body["error"]["message"].is_string(), "{body}");
    }
    let output = terminate(child);
    assert!(output.status.success(), "{}", stderr(&output));
}

/// Every row of a grid, page after page.
async fn all_pages(client: &Client, first: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut url = first.to_owned();
    loop {
        let (_, page) = get_json(client, &url).await;
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
    let data = generated(40, 4, 5);
    let (child, listen, client) = serving(&data, &[]).await;
    let grid = |dataset: &str, query: &str| {
        format!("http://{listen}/api/grid/{dataset}?{GENERATED_RANGE}&{query}")
    };
    let errors = grid(
        "http",
        "filter=status%20%3E%3D%20300%20and%20method%20%3D%20GET&sort=latency_us&order=asc&limit=7",
    );
    let rows = all_pages(&client, &errors).await;
    let duck = python_json(
        "datasets.py",
        &[
            "sql".to_string(),
            data.display().to_string(),
            "SELECT latency_us, CAST(session_id AS VARCHAR), path, status FROM http WHERE status >= 300 AND method = 'GET' \
             ORDER BY latency_us ASC NULLS LAST, request_time ASC"
                .into(),
            "SELECT count(*) FROM tcp_sessions WHERE server_ip = '10.200.0.80' AND packets_to_server + packets_to_client > 12".into(),
        ],
    );
    let expected = duck[0].as_array().unwrap();
    assert!(expected.len() > 7, "more than one page: {}", expected.len());
    let got: Vec<Value> = rows
        .iter()
        .map(|row| {
            json!([
                row["latency_us"],
                row["session_id"],
                row["path"],
                row["status"]
            ])
        })
        .collect();
    let latencies = |rows: &[Value]| rows.iter().map(|r| r[0].clone()).collect::<Vec<_>>();
    assert_eq!(latencies(&got), latencies(expected), "sorted the same");
    let sorted = |rows: &[Value]| {
        let mut texts: Vec<String> = rows.iter().map(Value::to_string).collect();
        texts.sort();
        texts
    };
    assert_eq!(sorted(&got), sorted(expected), "the same rows");

    let sessions = all_pages(
        &client,
        &grid(
            "tcp_sessions",
            "filter=dst.ip%20%3D%2010.200.0.80%20and%20packets%20%3E%2012&limit=50",
        ),
    )
    .await;
    assert_eq!(json!(sessions.len()), duck[1][0][0]);
    let Ok([fourth]) = <[String; 1]>::try_from(sessions_numbered(&client, &listen, 3).await) else {
        panic!("one run, one fourth session");
    };
    let packets = all_pages(
        &client,
        &grid(
            "packets",
            &format!("filter=session%20%3D%20{fourth}&limit=500"),
        ),
    )
    .await;
    assert!(!packets.is_empty());
    assert!(
        packets
            .iter()
            .all(|p| p["session_id"] == fourth.as_str() && p.get("frame").is_none()),
        "{:?}",
        packets[0]
    );
    let hosts = all_pages(&client, &grid("hosts", "filter=name%20~%20shop")).await;
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    let (status, _) = get_json(&client, &grid("nope", "limit=1")).await;
    assert_eq!(status, 404);
    let output = terminate(child);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread")]
async fn capture_datasets_have_stats_by_their_own_groups() {
    let data = generated(30, 5, 9);
    let (child, listen, client) = serving(&data, &[]).await;
    let stats = |query: &str| format!("http://{listen}/api/stats?{GENERATED_RANGE}&{query}");
    let duck = python_json(
        "datasets.py",
        &[
            "sql".to_string(),
            data.display().to_string(),
            "SELECT CAST(status AS VARCHAR), count(*) FROM http GROUP BY 1 ORDER BY 2 DESC, 1".into(),
            "SELECT CAST(close_reason AS VARCHAR), sum(bytes_to_server + bytes_to_client) FROM tcp_sessions \
             GROUP BY 1 ORDER BY 2 DESC, 1"
                .into(),
        ],
    );
    let groups = |body: &Value| -> Vec<Value> {
        body["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| json!([g["key"], g["value"]]))
            .collect()
    };
    let (status, by_status) = get_json(
        &client,
        &stats("dataset=http&group_by=status&measure=records&top=50"),
    )
    .await;
    assert_eq!(status, 200, "{by_status}");
    assert_eq!(groups(&by_status), *duck[0].as_array().unwrap());
    assert_eq!(by_status["total"], 150);
    let (_, by_reason) = get_json(
        &client,
        &stats("dataset=tcp_sessions&group_by=close_reason&measure=bytes"),
    )
    .await;
    assert_eq!(groups(&by_reason), *duck[1].as_array().unwrap());
    let (status, refused) = get_json(
        &client,
        &stats("dataset=http&group_by=status&measure=messages"),
    )
    .await;
    assert_eq!(status, 400, "{refused}");

    // Status classes with their latency percentiles: DuckDB's exact quantile_cont, rounded.
    let class = "CASE status // 100 WHEN 1 THEN '1xx' WHEN 2 THEN '2xx' WHEN 3 THEN '3xx' \
                 WHEN 4 THEN '4xx' WHEN 5 THEN '5xx' END";
    for (measure, sql) in [
        ("records", "count(*)".to_owned()),
        ("latency_avg", "round(avg(latency_us))".to_owned()),
        (
            "latency_p50",
            "round(quantile_cont(latency_us, 0.5))".to_owned(),
        ),
        (
            "latency_p99",
            "round(quantile_cont(latency_us, 0.99))".to_owned(),
        ),
    ] {
        let duck = python_json(
            "datasets.py",
            &[
                "sql".to_string(),
                data.display().to_string(),
                format!(
                    "SELECT {class} AS c, CAST({sql} AS BIGINT) AS v FROM http \
                     GROUP BY 1 ORDER BY v DESC NULLS LAST, c"
                ),
                format!("SELECT CAST({sql} AS BIGINT) FROM http"),
            ],
        );
        let (status, by_class) = get_json(
            &client,
            &stats(&format!(
                "dataset=http&group_by=status_class&measure={measure}"
            )),
        )
        .await;
        assert_eq!(status, 200, "{by_class}");
        assert_eq!(groups(&by_class), *duck[0].as_array().unwrap(), "{measure}");
        assert_eq!(by_class["total"], duck[1][0][0], "{measure}");
        assert!(
            by_class["groups"].as_array().unwrap().len() >= 4,
            "200, 302, 404 and 500 are generated: {by_class}"
        );
    }
    let (status, errors) = get_json(
        &client,
        &stats(
            "dataset=http&group_by=path&measure=records&filter=status_class%20in%20(4xx%2C%205xx)",
        ),
    )
    .await;
    let duck = python_json(
        "datasets.py",
        &[
            "sql".to_string(),
            data.display().to_string(),
            "SELECT count(*) FROM http WHERE status >= 400 AND status < 600".into(),
        ],
    );
    assert_eq!(
        (status, &errors["total"]),
        (200, &duck[0][0][0]),
        "{errors}"
    );
    let output = terminate(child);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hosts_map_draws_captured_sessions_between_named_hosts() {
    let data = generated(12, 2, 4);
    let (child, listen, client) = serving(&data, &[]).await;
    let (status, map) = get_json(
        &client,
        &format!("http://{listen}/api/map?view=hosts&{GENERATED_RANGE}&limit=1000"),
    )
    .await;
    assert_eq!(status, 200, "{map}");
    let duck = python_json(
        "datasets.py",
        &[
            "sql".to_string(),
            data.display().to_string(),
            "SELECT concat('h|', coalesce(client_namespace, ''), '|', coalesce(client_dns_name, ''), '|', client_ip) AS c, \
                    concat('h|', coalesce(server_namespace, ''), '|', coalesce(server_host, server_dns_name, ''), '|', server_ip) AS s, \
                    sum(bytes_to_server + bytes_to_client) AS b, count(*) \
             FROM tcp_sessions GROUP BY 1, 2 ORDER BY b DESC, 1, 2"
                .into(),
        ],
    );
    let edges: Vec<Value> = map["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| json!([e["source"], e["target"], e["bytes"], e["sessions"]]))
        .collect();
    assert_eq!(edges, *duck[0].as_array().unwrap());
    let node = |id: &str| {
        map["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .unwrap_or_else(|| panic!("no node {id} in {map}"))
            .clone()
    };
    let server = node(edges[0][1].as_str().unwrap());
    assert_eq!(
        (&server["label"], &server["kind"], &server["parent"]),
        (
            &json!("shop.example"),
            &json!("Host"),
            &json!("d|shop.example")
        ),
        "the server is named by the Host header it was asked for"
    );
    let client_leaf = node(edges[0][0].as_str().unwrap());
    assert_eq!(client_leaf["parent"], "g|addresses", "clients have no name");
    let domain = node("d|shop.example");
    assert_eq!(
        (&domain["kind"], domain["bytes"].as_u64()),
        (&json!("Domain"), server["bytes"].as_u64())
    );
    let output = terminate(child);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_never_finishes_its_head_is_let_go_at_the_header_read_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let data = collect_synthetic("slowloris", 10, 1);
    let (child, listen, client) = serving(&data, &["--header-read-timeout", "1s"]).await;
    let mut slow = tokio::net::TcpStream::connect(&listen).await.unwrap();
    slow.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection was still open after 10 s");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed before the timeout"
    );
    let (status, _) = get_json(&client, &format!("http://{listen}/api/health")).await;
    assert_eq!(status, 200);
    assert!(terminate(child).status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_larger_than_the_service_may_hold_downloads_whole() {
    use spider_testkit::memory_cap::MemoryCap;
    use std::io::Write;
    // One keep-alive connection of 5,000 responses up to 100 kB: a session of about 150 MB.
    let file = scratch("serve-big-session").join("http.pcap");
    let written = http_capture::write(
        &file,
        &HttpCapture {
            sessions: 1,
            requests_per_session: 5_000,
            max_body: 100_000,
            disorder_per_mille: 0,
            retransmit_per_mille: 0,
            seed: 7,
        },
    );
    let data = analyze(&file);
    let (child, listen, client) = serving(
        &data,
        &["--max-query-memory", "32MiB", "--max-downloads", "1"],
    )
    .await;
    // Less than the session: a download built in memory would be killed.
    let cap_bytes = 128 << 20;
    assert!(written.bytes > cap_bytes, "{written:?}");
    let cap = MemoryCap::new("serve-big-session", cap_bytes);
    cap.add(child.id());
    let Ok([session]) = <[String; 1]>::try_from(sessions_numbered(&client, &listen, 0).await)
    else {
        panic!("one session");
    };
    let mut response = client
        .get(format!("http://{listen}/api/sessions/{session}/pcap"))
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status != 200 {
        panic!("{status}: {}", response.text().await.unwrap());
    }
    // While it streams, it holds the one download place.
    let second = client
        .get(format!("http://{listen}/api/sessions/{session}/pcap"))
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 503);
    let downloaded = file.with_file_name("downloaded.pcap");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&downloaded).unwrap());
    while let Some(piece) = response.chunk().await.unwrap() {
        out.write_all(&piece).unwrap();
    }
    out.flush().unwrap();
    drop(out);
    let fields = ["frame.time_epoch", "frame.len", "frame.cap_len"];
    let original = tshark_fields(&file, "tcp", &fields);
    assert_eq!(original.len(), written.frames);
    assert_eq!(tshark_fields(&downloaded, "tcp", &fields), original);
    // Every frame's bytes too (as a multiset: frames of one microsecond may trade places).
    let frames = |path: &Path| {
        let mut records = pcap_records(&std::fs::read(path).unwrap());
        records.sort_unstable();
        records
    };
    assert!(
        frames(&downloaded) == frames(&file),
        "the frames' bytes differ"
    );
    eprintln!(
        "a {} MB session downloaded under a 128 MiB cap, no OOM kill (cgroup peak, page cache \
         included: {} MiB)",
        written.bytes / 1_000_000,
        cap.peak() >> 20
    );
    assert_eq!(cap.oom_kills(), 0);
    assert!(terminate(child).status.success());
}
