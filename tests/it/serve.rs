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
