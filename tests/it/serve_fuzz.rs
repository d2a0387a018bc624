//! Hostile requests against a running `spider serve` inside a 1 GiB memory cgroup (a pod's
//! limit): filters from the grammar and beyond its limits, noise, wild numbers and instants,
//! SQL from a small grammar (huge series, cross joins, huge strings, strings doubled through CTEs,
//! deep recursion, deep expressions), bodies of
//! the wrong shape and type. Every answer is below 500 or a 503, `/api/health` answers all along,
//! and the kernel never OOM-kills the service.
//!
//! `SPIDER_FUZZ_REQUESTS` sets the number of requests (1,500 in CI); the long run in the README
//! sets hundreds of thousands.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use spider_testkit::memory_cap::MemoryCap;
use spider_testkit::reqwest::{Client, Method};

use crate::serve::serving_with;
use crate::support::{generated_hours, run, stderr, terminate};

/// The longest URI hyper reads (`u16::MAX - 1`); a longer one is refused with a 414.
const MAX_URI_BYTES: usize = 65_534;

/// The end of the generated data.
const END: i64 = 1_795_258_800;

/// A small, seeded generator (xorshift): the same seed makes the same requests.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn chance(&mut self, per_cent: usize) -> bool {
        self.below(100) < per_cent
    }

    /// A number: small, at the edges of the integer types, negative, or not one at all.
    fn number(&mut self) -> String {
        match self.below(8) {
            0 => "0".into(),
            1 => "-1".into(),
            2 => u64::MAX.to_string(),
            3 => "18446744073709551616".into(),
            4 => "1e308".into(),
            5 => "NaN".into(),
            6 => self.below(1_000_000_000).to_string(),
            _ => self.below(500).to_string(),
        }
    }

    /// An instant: in range, RFC 3339, out of range, or junk.
    fn instant(&mut self) -> String {
        match self.below(7) {
            0 => (END - self.below(7200) as i64).to_string(),
            1 => "2026-11-21T09:00:00Z".into(),
            2 => "-9223372036854775808".into(),
            3 => "9000000000000".into(),
            4 => "yesterday".into(),
            5 => "".into(),
            _ => self.number(),
        }
    }

    /// Noise: printable, control characters, or invalid UTF-8 once percent-encoded.
    fn noise(&mut self) -> String {
        let length = self.below(60);
        (0..length)
            .map(|_| char::from(self.below(256) as u8))
            .collect()
    }
}

const FIELDS: [&str; 14] = [
    "src.namespace",
    "dst.namespace",
    "src.workload",
    "dst.pod",
    "port",
    "ip",
    "src.ip",
    "class",
    "scope",
    "transport",
    "status",
    "method",
    "host",
    "nope",
];
const OPS: [&str; 9] = ["=", "!=", "<", ">", "<=", ">=", "~", "in", "=="];

/// A filter from the grammar, `depth` levels of nesting at most, now and then over its limits
/// or broken.
fn filter(dice: &mut Dice, depth: usize) -> String {
    if depth == 0 || dice.chance(40) {
        let field = dice.pick(&FIELDS);
        let op = dice.pick(&OPS);
        let value = match dice.below(6) {
            0 => dice.number(),
            1 => "10.244.0.0/16".into(),
            2 => "\"quoted \\\" text\"".into(),
            3 => "(80, 443, x)".into(),
            4 => dice.noise(),
            _ => dice
                .pick(&["shop", "kube-system", "tcp", "external", "::1"])
                .into(),
        };
        return format!("{field} {op} {value}");
    }
    match dice.below(5) {
        0 => format!("not {}", filter(dice, depth - 1)),
        1 => format!("({})", filter(dice, depth - 1)),
        2 => format!(
            "{} and {}",
            filter(dice, depth - 1),
            filter(dice, depth - 1)
        ),
        3 => format!("{} or {}", filter(dice, depth - 1), filter(dice, depth - 1)),
        _ => "(".repeat(dice.below(5_000)),
    }
}

const TABLES: [&str; 6] = [
    "network_usage",
    "network_usage_reports",
    "tcp_sessions",
    "http",
    "packets",
    "hosts",
];

/// SQL from a small grammar, with the statements a careless or hostile user sends.
fn sql(dice: &mut Dice) -> String {
    let table = dice.pick(&TABLES);
    let n = dice.number();
    match dice.below(15) {
        0 => format!("SELECT * FROM {table} LIMIT {n}"),
        1 => format!("SELECT count(*) FROM generate_series(1, {n})"),
        2 => format!("SELECT * FROM generate_series(1, {n})"),
        3 => format!("SELECT count(*) FROM {table} a, {table} b, {table} c"),
        4 => format!("SELECT repeat('x', {n})"),
        5 => format!("SELECT lpad('x', {n}, 'y')"),
        6 => format!("SELECT string_agg(repeat('x', 100000), ',') FROM generate_series(1, {n})"),
        7 => {
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"
                .into()
        }
        8 => format!("SELECT * FROM {table} ORDER BY random()"),
        9 => format!("SELECT 1/0, CAST('x' AS INT) FROM {table}"),
        10 => format!("COPY {table} TO '/tmp/x'"),
        11 => self_doubling(dice.below(9000), 4 + dice.below(8)),
        12 => format!(
            "WITH RECURSIVE r(s, n) AS (SELECT '{}', 1 UNION ALL SELECT s || s, n + 1 FROM r \
             WHERE n < {}) SELECT max(length(s)) FROM r",
            "x".repeat(dice.below(1000)),
            dice.below(60)
        ),
        13 => format!("SELECT {}", vec!["1"; 1 + dice.below(8000)].join(" + ")),
        _ => dice.noise(),
    }
}

/// A string of `bytes` that each of `levels` CTEs concatenates four times: 4^levels × bytes, built
/// inside one expression, where no memory pool sees it.
pub fn self_doubling(bytes: usize, levels: usize) -> String {
    let mut ctes = vec![format!("a0 AS (SELECT '{}' AS s)", "x".repeat(bytes))];
    for level in 1..=levels {
        ctes.push(format!(
            "a{level} AS (SELECT s || s || s || s AS s FROM a{})",
            level - 1
        ));
    }
    format!(
        "WITH {} SELECT length(s) AS n FROM a{levels}",
        ctes.join(", ")
    )
}

/// One request: method, path and query, and a JSON body when it has one.
fn request(dice: &mut Dice) -> (Method, String, Option<Value>) {
    let range = format!(
        "from={}&to={}",
        urlencode(&dice.instant()),
        urlencode(&dice.instant())
    );
    let filtered = if dice.chance(70) {
        let depth = dice.below(40);
        format!("&filter={}", urlencode(&filter(dice, depth)))
    } else {
        String::new()
    };
    let dataset = dice.pick(&[
        "network_usage",
        "tcp_sessions",
        "http",
        "packets",
        "hosts",
        "nope",
        "../etc",
    ]);
    let get = |path: String| (Method::GET, path, None);
    match dice.below(15) {
        0 => get(format!(
            "/api/map?view={}&{range}{filtered}&offset={}&limit={}",
            dice.pick(&["logical", "physical", "hosts", "x"]),
            dice.number(),
            dice.number()
        )),
        1 => get(format!(
            "/api/timeline?{range}{filtered}&step={}",
            dice.number()
        )),
        2 => get(format!(
            "/api/grid/{dataset}?{range}{filtered}&sort={}&order={}&limit={}&cursor={}",
            dice.pick(&["bytes_to_server", "time", "nope", "frame"]),
            dice.pick(&["asc", "desc", "sideways"]),
            dice.number(),
            urlencode(&dice.noise())
        )),
        3 => get(format!(
            "/api/stats?dataset={dataset}&{range}{filtered}&group_by={}&measure={}&top={}",
            dice.pick(&FIELDS),
            dice.pick(&["bytes", "messages", "records", "latency_p99", "x"]),
            dice.number()
        )),
        4 => get(format!(
            "/api/details?id={}&{range}{filtered}&top={}",
            urlencode(dice.pick(&[
                "w|team-0|Deployment|web-1",
                "n|node-0",
                "e|1.2.3.4",
                "x",
                "w||||"
            ])),
            dice.number()
        )),
        5 => get(format!(
            "/api/workloads/{}/{}/{}?{range}",
            urlencode(&dice.noise()),
            dice.pick(&["Deployment", "Pod", "x"]),
            "a".repeat(dice.below(3_000))
        )),
        6 => get(format!("/api/fields/{dataset}")),
        7 => get(format!("/api/sessions/{}/pcap", dice.number())),
        8 => get(format!(
            "/api/packets/pcap?{range}{filtered}&limit={}",
            dice.number()
        )),
        9 => get(format!(
            "/api/captures?state={}",
            dice.pick(&["active", "x", ""])
        )),
        10 | 11 => (
            Method::POST,
            "/api/sql".into(),
            Some(json!({ "query": sql(dice) })),
        ),
        13 => get(format!(
            "/api/anomalies?{range}{filtered}&kind={}&baseline={}&dns_floor={}&dns_factor={}&external_factor={}",
            dice.pick(&["new_edge", "excessive_dns,excessive_external", "x", ""]),
            dice.pick(&["168h", "1m", "0", "745h", "soon", "9999999999h"]),
            dice.number(),
            dice.number(),
            dice.number()
        )),
        12 => (
            Method::POST,
            "/api/captures".into(),
            Some(json!({
                "workload": {"namespace": dice.noise(), "kind": dice.pick(&["Deployment", "x"]), "name": "web"},
                "duration_seconds": dice.below(100_000),
                "filter": dice.pick(&["tcp) or (ip", "tcp port 80", "", "port eighty"]),
            })),
        ),
        _ => (
            Method::POST,
            "/api/queries".into(),
            Some(
                json!({"name": dice.noise(), "view": "logical", "filter": filter(dice, 3), "from": dice.instant(), "to": dice.instant()}),
            ),
        ),
    }
}

/// Percent-encodes everything but unreserved characters.
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Sends one request; the status, or 0 when the connection failed.
async fn send(
    client: &Client,
    base: &str,
    (method, path, body): &(Method, String, Option<Value>),
) -> u16 {
    let mut request = client.request(method.clone(), format!("{base}{path}"));
    if let Some(body) = body {
        request = request.json(body);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let _ = response.bytes().await;
            status
        }
        Err(_) => 0,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_requests_get_4xx_or_503_and_never_kill_the_service() {
    let data = generated_hours("serve-fuzz", END);
    let public = spider_testkit::captures::public_pcap("http.pcap");
    let analyzed = run(&[
        "analyze",
        public.to_str().unwrap(),
        "--out",
        data.to_str().unwrap(),
    ]);
    assert!(analyzed.status.success(), "{}", stderr(&analyzed));

    // Sized as README says a pod is: the pool plus two statements' workers under the 1 GiB cap.
    let limits = [
        "--max-query-memory",
        "256MiB",
        "--max-sql-memory",
        "256MiB",
        "--max-sql-time",
        "2s",
        "--request-timeout",
        "5s",
        "--max-requests",
        "16",
    ];
    // A request is a log line: into a file, so that no pipe fills and stalls the service.
    let log = std::fs::File::create(data.with_file_name("serve.log")).unwrap();
    let (child, listen, client) = serving_with(&data, &limits, |command| command.stderr(log)).await;
    let cap = MemoryCap::new("serve-fuzz", 1 << 30);
    cap.add(child.id());
    let base = format!("http://{listen}");

    let stop = Arc::new(AtomicBool::new(false));
    let health_failures = Arc::new(AtomicU64::new(0));
    let health = tokio::spawn({
        let (client, base, stop, failures) = (
            client.clone(),
            base.clone(),
            stop.clone(),
            health_failures.clone(),
        );
        async move {
            let mut checks = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let health = (Method::GET, "/api/health".to_owned(), None);
                if send(&client, &base, &health).await != 200 {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                checks += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            checks
        }
    });

    let total: usize = std::env::var("SPIDER_FUZZ_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_500);
    let workers = 8;
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let (client, base) = (client.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let mut dice = Dice(0x9e37_79b9_7f4a_7c15 ^ (worker as u64 + 1));
            let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
            let mut bad = Vec::new();
            for _ in 0..total / workers {
                let request = request(&mut dice);
                let mut status = send(&client, &base, &request).await;
                // A request line beyond hyper's limit is answered 414 or 431 and the connection
                // closed while the client is still sending it, so the client sees a reset.
                if status == 0 && request.1.len() > MAX_URI_BYTES {
                    status = 414;
                }
                *statuses.entry(status).or_default() += 1;
                if (status >= 500 && status != 503) || status == 0 {
                    bad.push((
                        status,
                        request.0.to_string(),
                        request.1.chars().take(300).collect::<String>(),
                        request.2,
                    ));
                }
            }
            (statuses, bad)
        }));
    }
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let mut bad = Vec::new();
    for task in tasks {
        let (counts, failures) = task.await.unwrap();
        for (status, n) in counts {
            *statuses.entry(status).or_default() += n;
        }
        bad.extend(failures);
    }
    stop.store(true, Ordering::Relaxed);
    let checks = health.await.unwrap();
    eprintln!(
        "{} hostile requests: statuses {statuses:?}; {checks} health checks; cgroup peak {} MiB",
        statuses.values().sum::<usize>(),
        cap.peak() >> 20
    );
    assert!(
        bad.is_empty(),
        "{} answers were 5xx (not 503) or no answer, first: {:?}",
        bad.len(),
        &bad[..bad.len().min(5)]
    );
    assert_eq!(
        health_failures.load(Ordering::Relaxed),
        0,
        "/api/health failed during the run"
    );
    assert_eq!(cap.oom_kills(), 0, "the service was OOM-killed");
    assert!(
        statuses.keys().any(|s| (400..500).contains(s)),
        "hostile requests were refused"
    );
    let output = terminate(child);
    assert!(output.status.success(), "{}", stderr(&output));
}

/// One SQL statement's status and error message.
async fn post_sql(client: &Client, listen: &str, query: &str) -> (u16, String) {
    let (status, body) = crate::serve::sql_answer(client, listen, query).await;
    let message = body["error"]["message"].as_str().unwrap_or_default();
    (status, message.to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_statement_that_outgrows_its_memory_ends_its_worker_and_the_service_runs_on() {
    let data = crate::support::collect_synthetic("sql-memory", 100, 1);
    let log_path = data.with_file_name("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let (child, listen, client) = serving_with(&data, &["--max-sql-memory", "512MiB"], |command| {
        command.stderr(log)
    })
    .await;
    let cap = MemoryCap::new("sql-memory", 1 << 30);
    cap.add(child.id());
    let base = format!("http://{listen}");

    // 8,000 bytes × 4^9: a 2 GiB string inside one expression. It once aborted the service.
    let (status, message) = post_sql(&client, &listen, &self_doubling(8000, 9)).await;
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("more than 512 MiB of memory"), "{message}");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("memory allocation of"),
        "the kernel's bound stopped the worker, not the memory pool: {log}"
    );
    // The same by recursion: each step doubles the string.
    let recursive = "WITH RECURSIVE r(s, n) AS (SELECT 'spider', 1 UNION ALL \
                     SELECT s || s, n + 1 FROM r WHERE n < 40) SELECT max(length(s)) FROM r";
    let (status, message) = post_sql(&client, &listen, recursive).await;
    assert_eq!(status, 400, "{message}");
    // Nine rows of an 8 MiB string: within memory, but a 72 MiB answer.
    let wide = self_doubling(8000, 5).replace(
        "SELECT length(s) AS n FROM a5",
        "SELECT s FROM a5, generate_series(1, 9)",
    );
    let (status, message) = post_sql(&client, &listen, &wide).await;
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("larger than 64 MiB"), "{message}");

    let (status, _) = crate::serve::get_json(&client, &format!("{base}/api/health")).await;
    assert_eq!(status, 200);
    let rows =
        crate::serve::sql_rows(&client, &listen, "SELECT count(*) AS n FROM network_usage").await;
    assert_eq!(rows, vec![json!({"n": 100})]);
    assert_eq!(cap.oom_kills(), 0, "the kernel's OOM killer was needed");
    eprintln!("cgroup peak {} MiB", cap.peak() >> 20);
    let output = terminate(child);
    assert!(output.status.success(), "{}", stderr(&output));
}
