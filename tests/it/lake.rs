//! The lake in object storage, end to end: `spider collect` writes a capture and usage to the S3
//! API (moto on loopback), `spider serve --data s3://…` answers every view from the bucket, each
//! answer equals that of a service over the same files downloaded to a directory, and
//! `spider retain` deletes what is past its age while the service keeps answering.

use spider_testkit::moto::Moto;

use crate::serve::{get_json, serving, serving_with, sql_rows};
use crate::support::{config_file, run, scratch, stderr, terminate};

const BUCKET: &str = "spider-lake";
const LAKE: &str = "s3://spider-lake/cluster-a";

/// Every capture of the public file (2004) and every usage record (now), for range checks that
/// also read the whole dataset.
const EVERYTHING: &str = "from=946684800&to=4102444800";

#[tokio::test(flavor = "multi_thread")]
async fn collect_to_s3_then_serve_from_the_bucket_answers_as_the_same_files_in_a_directory() {
    let moto = Moto::start();
    moto.s3(&["create", BUCKET]);
    let options = moto.options();
    let storage_options = options
        .iter()
        .map(|(key, value)| format!("{key}: {:?}", value))
        .collect::<Vec<_>>()
        .join(", ");
    let pcap = spider_testkit::captures::public_pcap("http.pcap");
    let staging = scratch("lake-e2e").join("staging");
    let yaml = format!(
        r#"
receivers:
  pcap: {{ file: "{pcap}" }}
  synthetic: {{ records: 3000, rate: 0, ports: 3 }}
processors:
  session: {{ emit_packets: true }}
exporters:
  parquet:
    path: "{staging}"
    url: {LAKE}
    storage_options: {{ {storage_options} }}
    sending_queue: {{ when_full: block }}
service:
  telemetry: {{ metrics: {{ level: none }} }}
  pipelines:
    capture: {{ receivers: [pcap], processors: [session], exporters: [parquet] }}
    usage: {{ receivers: [synthetic], exporters: [parquet] }}
"#,
        pcap = pcap.display(),
        staging = staging.display(),
    );
    let collected = run(&[
        "collect",
        "--config",
        config_file("lake-e2e", &yaml).to_str().unwrap(),
    ]);
    assert!(collected.status.success(), "{}", stderr(&collected));
    let downloaded = scratch("lake-e2e-downloaded");
    let keys = moto.s3(&["download", BUCKET, downloaded.to_str().unwrap()]);
    for dataset in ["network_usage", "packets", "tcp_sessions", "http", "hosts"] {
        let prefix = format!("cluster-a/{dataset}/cluster=default/date=");
        assert!(
            keys.as_array()
                .unwrap()
                .iter()
                .any(|key| key.as_str().unwrap().starts_with(&prefix)),
            "no {dataset} in the bucket: {keys}"
        );
    }

    let state = scratch("lake-e2e-state");
    // Listings reused for a second: what retention deletes shows that late.
    let mut flags = vec![
        "--state".to_owned(),
        state.display().to_string(),
        "--listing-ttl".to_owned(),
        "1s".to_owned(),
    ];
    for (key, value) in &options {
        flags.extend(["--storage-option".to_owned(), format!("{key}={value}")]);
    }
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let (bucket_child, bucket, client) = serving_with(LAKE, &flags, |command| command).await;
    let (directory_child, directory, _) = serving(&downloaded.join("cluster-a"), &[]).await;

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let recent = format!("from={}&to={}", now - 7200, now + 60);
    let routes = [
        "/api/datasets".to_owned(),
        format!("/api/map?view=logical&{recent}"),
        format!("/api/map?view=physical&{recent}"),
        format!("/api/timeline?{recent}"),
        format!("/api/stats?dataset=network_usage&{recent}&group_by=port&measure=records"),
        format!("/api/map?view=hosts&{EVERYTHING}"),
        format!("/api/grid/http?{EVERYTHING}&limit=50"),
        format!("/api/grid/tcp_sessions?{EVERYTHING}&limit=20"),
        format!("/api/stats?dataset=http&{EVERYTHING}&group_by=port&measure=records"),
    ];
    for route in &routes {
        let (status, from_bucket) = get_json(&client, &format!("http://{bucket}{route}")).await;
        assert_eq!(status, 200, "{route}: {from_bucket}");
        let (_, from_directory) = get_json(&client, &format!("http://{directory}{route}")).await;
        assert_eq!(from_bucket, from_directory, "{route}");
    }
    let (_, stats) = get_json(
        &client,
        &format!(
            "http://{bucket}/api/stats?dataset=network_usage&{recent}&group_by=port&measure=records"
        ),
    )
    .await;
    assert_eq!(stats["total"], 3000, "{stats}");

    // The capture's own hours, read directory by directory (the range above reads the whole
    // datasets): every exchange and session in them, as counted without any range.
    let span = sql_rows(
        &client,
        &bucket,
        "SELECT count(*) AS n, CAST(min(to_unixtime(first_packet)) AS BIGINT) AS first, \
         CAST(max(to_unixtime(last_packet)) AS BIGINT) AS last FROM tcp_sessions",
    )
    .await;
    let (first, last) = (
        span[0]["first"].as_i64().unwrap(),
        span[0]["last"].as_i64().unwrap(),
    );
    assert!(last - first < 3 * 3600, "the capture is short: {span:?}");
    let narrow = format!("from={first}&to={}", last + 1);
    for (dataset, counted) in [
        ("tcp_sessions", "SELECT count(*) AS n FROM tcp_sessions"),
        (
            "http",
            "SELECT count(*) AS n FROM http WHERE request_time IS NOT NULL",
        ),
    ] {
        let route = format!("/api/stats?dataset={dataset}&{narrow}&group_by=port&measure=records");
        let all = sql_rows(&client, &bucket, counted).await[0]["n"].clone();
        for listen in [&bucket, &directory] {
            let (status, stats) = get_json(&client, &format!("http://{listen}{route}")).await;
            assert_eq!(status, 200, "{route}: {stats}");
            assert_eq!(stats["total"], all, "{dataset} over its own hours: {stats}");
        }
    }

    // SQL runs in a worker process, which opens the bucket itself.
    let count = "SELECT count(*) AS n FROM packets";
    let in_bucket = sql_rows(&client, &bucket, count).await;
    assert_eq!(in_bucket, sql_rows(&client, &directory, count).await);
    assert!(in_bucket[0]["n"].as_u64().unwrap() > 0, "{in_bucket:?}");

    // A session's packets download from the bucket as they do from the directory.
    let (_, sessions) = get_json(
        &client,
        &format!("http://{bucket}/api/grid/tcp_sessions?{EVERYTHING}&limit=1"),
    )
    .await;
    let id = sessions["rows"][0]["session_id"].clone();
    let id = id.as_str().map_or_else(|| id.to_string(), str::to_owned);
    let pcap_of = |listen: &str| {
        let url = format!("http://{listen}/api/sessions/{id}/pcap");
        let client = client.clone();
        async move {
            let response = client.get(url).send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.bytes().await.unwrap()
        }
    };
    let from_bucket = pcap_of(&bucket).await;
    assert!(from_bucket.len() > 24, "more than a pcap header");
    assert_eq!(from_bucket, pcap_of(&directory).await);

    // Retention on the bucket: the 2004 capture is past any day's age, the usage of now is not.
    // The services' kept answers follow (the files of their range changed).
    let mut retain_args: Vec<String> = vec!["retain".into(), "--data".into(), LAKE.into()];
    for (key, value) in &options {
        retain_args.extend(["--storage-option".into(), format!("{key}={value}")]);
    }
    for dataset in ["packets", "tcp_sessions", "http", "hosts", "network_usage"] {
        retain_args.extend(["--max-age".into(), format!("{dataset}=24h")]);
    }
    let retain: Vec<&str> = retain_args.iter().map(String::as_str).collect();
    let http_route = format!("/api/stats?dataset=http&{narrow}&group_by=port&measure=records");
    let (_, before) = get_json(&client, &format!("http://{bucket}{http_route}")).await;
    assert!(before["total"].as_u64().unwrap() > 0, "{before}");
    let dry = run(&[&retain[..], &["--dry-run"]].concat());
    assert!(dry.status.success(), "{}", stderr(&dry));
    let planned = String::from_utf8_lossy(&dry.stdout).into_owned();
    assert!(
        planned.contains("would delete http/cluster=default/date="),
        "{planned}"
    );
    assert!(
        !planned.contains("would delete network_usage/"),
        "{planned}"
    );
    let (_, still) = get_json(&client, &format!("http://{bucket}{http_route}")).await;
    assert_eq!(still, before, "a dry run deletes nothing");
    let retained = run(&retain);
    assert!(retained.status.success(), "{}", stderr(&retained));
    assert!(
        String::from_utf8_lossy(&retained.stdout)
            .contains("deleted tcp_sessions/cluster=default/date="),
        "{}",
        String::from_utf8_lossy(&retained.stdout)
    );
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let (_, after) = get_json(&client, &format!("http://{bucket}{http_route}")).await;
    assert_eq!(after["total"], 0, "{after}");
    let usage = format!("/api/stats?dataset=network_usage&{recent}&group_by=port&measure=records");
    let (_, usage) = get_json(&client, &format!("http://{bucket}{usage}")).await;
    assert_eq!(usage["total"], 3000, "{usage}");

    // The UI is served over a bucket too.
    let page = client
        .get(format!("http://{bucket}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);

    for child in [bucket_child, directory_child] {
        let output = terminate(child);
        assert!(output.status.success(), "{}", stderr(&output));
    }
}

#[test]
fn an_object_store_lake_without_state_or_with_a_wrong_option_is_refused_plainly() {
    let no_state = run(&[
        "serve",
        "--data",
        LAKE,
        "--storage-option",
        "access_key_id=a",
        "--storage-option",
        "secret_access_key=b",
    ]);
    assert!(!no_state.status.success());
    assert!(
        stderr(&no_state).contains("--state DIR"),
        "{}",
        stderr(&no_state)
    );
    let state = scratch("lake-refused").display().to_string();
    let typo = run(&[
        "serve",
        "--data",
        LAKE,
        "--state",
        &state,
        "--storage-option",
        "endpiont=http://127.0.0.1:1",
    ]);
    assert!(!typo.status.success());
    assert!(stderr(&typo).contains("endpiont"), "{}", stderr(&typo));
    let scheme = run(&["serve", "--data", "ftp://host/lake", "--state", &state]);
    assert!(!scheme.status.success());
    assert!(
        stderr(&scheme).contains("s3://bucket"),
        "{}",
        stderr(&scheme)
    );
}
