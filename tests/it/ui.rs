//! The UI in Debian's Chromium, driven by playwright-core (tests/browser/ui.mjs), against
//! `spider serve` over generated usage: the map draws exactly the compound graph the API answers,
//! in both views; clicking an edge filters on its two ends and selecting a stretch of the
//! timeline narrows the range — the map and the grid follow; a query saved in the UI survives a
//! server restart.
//! Screenshots are written to `target/ui-screenshots/`.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

use crate::serve::{get_json, serving};
use crate::support::{generated_hours, repo_root, terminate};

/// The generated data ends here; the UI is opened on the hour before.
const END: i64 = 1_795_258_800;
const RANGE: &str = "from=1795255200&to=1795258800";

fn browse(base: &str, scenario: &str) -> Value {
    browse_at(&format!("{base}/?{RANGE}"), scenario)
}

/// Runs a scenario of tests/browser/ui.mjs on the page at `url`.
pub(crate) fn browse_at(url: &str, scenario: &str) -> Value {
    browse_with(url, scenario, &[])
}

/// Runs a scenario with environment variables of its own (what it types in).
fn browse_with(url: &str, scenario: &str, env: &[(&str, &str)]) -> Value {
    let out = repo_root().join("target/ui-screenshots");
    std::fs::create_dir_all(&out).unwrap();
    let output = Command::new("node")
        .arg(repo_root().join("tests/browser/ui.mjs"))
        .args([url, out.to_str().unwrap(), scenario])
        .envs(env.iter().copied())
        .output()
        .expect("node runs (apt nodejs; npm ci --prefix tests/browser)");
    assert!(
        output.status.success(),
        "ui.mjs {scenario}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(seen["errors"], serde_json::json!([]), "no script errors");
    seen
}

/// The group keys of a stats answer, as the UI labels them ("—" for unknown).
fn group_keys(stats: &Value) -> Vec<String> {
    stats["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap_or("—").to_owned())
        .collect()
}

/// (id, parent) of every node of a map answer or of the page.
fn nodes(list: &Value) -> BTreeSet<(String, Option<String>)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let parent = n["parent"].as_str().map(str::to_owned);
            (n["id"].as_str().unwrap().to_owned(), parent)
        })
        .collect()
}

/// Two clusters in one lake: the UI opens on the cluster picker (each cluster with its agents and
/// last report), a choice draws that cluster's map exactly as the API answers it and stays in the
/// URL, and the selector switches to the other.
#[tokio::test(flavor = "multi_thread")]
async fn the_ui_opens_on_the_cluster_picker_and_draws_the_chosen_cluster() {
    let data = crate::support::two_clusters("ui-clusters", END, 2);
    let (child, listen, client) = serving(&data, &[]).await;
    let base = format!("http://{listen}");
    let seen = browse(&base, "clusters");
    let cards: Vec<&str> = seen["cards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|card| card["cluster"].as_str().unwrap())
        .collect();
    assert_eq!(cards, ["east", "west", "*"], "{seen}");
    let east_card = seen["cards"][0]["text"].as_str().unwrap();
    assert!(
        east_card.contains("1 agent") && east_card.contains("no controller reports"),
        "{east_card}"
    );
    assert_eq!(seen["mapShown"], false, "no map before a cluster is chosen");
    assert_eq!(seen["selector"], serde_json::json!(["*", "east", "west"]));
    for cluster in ["east", "west"] {
        let expected = map_nodes(
            &client,
            &format!("{base}/api/map?view=logical&{RANGE}&cluster={cluster}"),
        )
        .await;
        assert_eq!(
            nodes(&seen[cluster]),
            expected,
            "{cluster}: the API's graph"
        );
    }
    assert_eq!(nodes(&seen["reloaded"]), nodes(&seen["east"]));
    assert_eq!(seen["pickerAfterReload"], false);
    assert_ne!(nodes(&seen["east"]), nodes(&seen["west"]));
    assert!(
        !ids(&seen["east"], true).contains("ns|team-3"),
        "east has no team-3"
    );
    assert!(ids(&seen["west"], true).contains("ns|team-3"));
    terminate(child);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filter_the_api_refuses_is_explained_in_each_panel() {
    let data = generated_hours("ui-errors", END);
    let (child, listen, client) = serving(&data, &[]).await;
    let filter = "nosuchfield%20%3D%201";
    let (status, refused) = get_json(
        &client,
        &format!("http://{listen}/api/grid/network_usage?{RANGE}&filter={filter}"),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    // What the API says, without the position (the page's filter has the toggles' clauses too).
    let reason = "unknown field \"nosuchfield\"";
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains(reason),
        "{refused}"
    );
    let seen = browse_at(
        &format!("http://{listen}/?{RANGE}&filter={filter}"),
        "bad-filter",
    );
    for panel in ["grid", "timeline"] {
        let said = seen[panel].as_str().unwrap();
        assert!(
            said.contains(&format!("The {panel} could not load")) && said.contains(reason),
            "{panel}: {said}"
        );
    }
    assert_eq!(seen["map"]["hidden"], false, "{}", seen["map"]);
    assert!(
        seen["map"]["text"].as_str().unwrap().contains(reason),
        "{}",
        seen["map"]
    );
    terminate(child);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_anomalies_panel_lists_marks_and_shows_what_the_api_flags() {
    let data = crate::support::scratch("ui-anomalies").join("data");
    crate::support::generate_into(&data, END, 2, &["--plant-anomalies"]);
    let (child, listen, client) = serving(&data, &[]).await;
    let (status, flags) = get_json(
        &client,
        &format!("http://{listen}/api/anomalies?{RANGE}&baseline=1h"),
    )
    .await;
    assert_eq!(status, 200, "{flags}");
    let flags = flags["anomalies"].as_array().unwrap().clone();
    let kinds: BTreeSet<&str> = flags.iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "denied_by_policy",
            "excessive_dns",
            "excessive_external",
            "new_edge"
        ]
        .into(),
        "what was planted: {flags:?}"
    );
    let seen = browse(&format!("http://{listen}"), "anomalies");
    let listed = seen["flagged"]["listed"].as_array().unwrap();
    assert_eq!(listed.len(), flags.len(), "one line a flag: {listed:?}");
    for (line, flag) in listed.iter().zip(&flags) {
        assert_eq!(line["kind"], flag["kind"], "in the API's order");
        let text = line["text"].as_str().unwrap();
        assert!(
            text.contains(flag["source_label"].as_str().unwrap()),
            "{text} names {}",
            flag["source_label"]
        );
    }
    let marked: BTreeSet<String> = seen["flagged"]["marked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    for flag in &flags {
        assert!(
            marked.contains(flag["source"].as_str().unwrap()),
            "{flag} is marked"
        );
        if let Some(target) = flag["target"].as_str() {
            let edge = format!("{}→{target}", flag["source"].as_str().unwrap());
            assert!(marked.contains(&edge), "the flagged edge {edge} is marked");
        }
    }
    let only: BTreeSet<String> = seen["only"]["shown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    let all: BTreeSet<String> = seen["flagged"]["shown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    assert!(only.len() < all.len(), "anomalies only hides the rest");
    assert!(marked.is_subset(&only), "and keeps every flagged element");
    let new_edge = flags.iter().find(|f| f["kind"] == "new_edge").unwrap();
    assert!(
        seen["filter"]
            .as_str()
            .unwrap()
            .contains(new_edge["select"].as_str().unwrap()),
        "Show it applies the flag's clause: {}",
        seen["filter"]
    );
    let edge = format!(
        "{}→{}",
        new_edge["source"].as_str().unwrap(),
        new_edge["target"].as_str().unwrap()
    );
    assert_eq!(
        seen["edgesAfter"],
        serde_json::json!([edge]),
        "the map shows the new edge alone"
    );
    terminate(child);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_big_physical_map_opens_with_its_nodes_collapsed_and_drills_down() {
    let data = crate::support::scratch("ui-big").join("data");
    let shape = [
        "--nodes",
        "4",
        "--namespaces",
        "4",
        "--workloads",
        "5",
        "--pods",
        "10",
    ];
    crate::support::generate_into(&data, END, 1, &shape);
    let (child, listen, _) = serving(&data, &[]).await;
    let seen = browse_at(
        &format!("http://{listen}/?{RANGE}&view=physical"),
        "big-physical",
    );
    let opened = &seen["opened"];
    assert!(opened["leaves"].as_u64().unwrap() > 150, "{opened}");
    assert_eq!(opened["nodes"], 4, "{opened}");
    assert_eq!(
        opened["collapsed"], opened["nodes"],
        "every node collapsed: {opened}"
    );
    assert_eq!(opened["shownOnNodes"], 0, "no pod drawn: {opened}");
    assert!(
        opened["meta"].as_u64().unwrap() > 0,
        "traffic between nodes: {opened}"
    );
    let drilled = &seen["drilled"];
    assert!(drilled["inside"].as_u64().unwrap() > 10, "{drilled}");
    assert_eq!(drilled["shown"], drilled["inside"], "{drilled}");
    assert_eq!(
        drilled["spots"], drilled["inside"],
        "the node's pods are laid out, each in its own place: {drilled}"
    );
    assert_eq!(seen["after"]["collapsed"], 3, "{}", seen["after"]);
    terminate(child);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_map_draws_what_the_api_answers_and_an_edge_click_filters() {
    let data = generated_hours("ui", END);
    let (child, listen, client) = serving(&data, &[]).await;
    let base = format!("http://{listen}");

    let seen = browse(&base, "views");
    for view in ["logical", "physical"] {
        let expected = map_nodes(&client, &format!("{base}/api/map?view={view}&{RANGE}")).await;
        assert!(expected.len() > 10, "{view}: a real map");
        assert_eq!(
            nodes(&seen[view]),
            expected,
            "{view}: the page draws the API's graph"
        );
    }
    let compounds = |view: &str| ids(&seen[view], true);
    assert!(
        compounds("logical").contains("ns|kube-system"),
        "namespaces hold workloads"
    );
    assert!(
        compounds("physical")
            .iter()
            .any(|id| id.starts_with("node|")),
        "nodes hold namespaces"
    );

    // The legend names the kinds drawn, the tooltips the API's numbers, a selection its peers.
    let legend = browse(&base, "legend");
    let (_, answer) = get_json(
        &client,
        &format!("{base}/api/map?view=logical&{RANGE}&limit=300"),
    )
    .await;
    let mut kinds: Vec<String> = serde_json::from_value(legend["kinds"].clone()).unwrap();
    let mut listed: Vec<String> = serde_json::from_value(legend["legend"].clone()).unwrap();
    listed.retain(|kind| kind != "udp");
    kinds.sort();
    listed.sort();
    assert_eq!(listed, kinds, "the legend lists every kind drawn");
    assert!(
        kinds.len() >= 4,
        "generated clusters have many kinds: {kinds:?}"
    );
    let tip = &legend["edgeTip"];
    assert_eq!(tip["shown"], true);
    let edge = answer["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["source"] == tip["source"] && e["target"] == tip["target"])
        .unwrap_or_else(|| panic!("{tip}"));
    assert_eq!(tip["bytesToServer"], edge["bytes_to_server"]);
    assert_eq!(tip["bytesToClient"], edge["bytes_to_client"]);
    let text = tip["text"].as_str().unwrap();
    assert!(
        text.contains(" → ") && text.contains("messages") && text.contains("/s"),
        "{text}"
    );
    let ports = edge["ports"].as_array().unwrap();
    assert!(text.contains(&ports[0].to_string()), "{text}");
    let node_tip = &legend["nodeTip"];
    let leaf = answer["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == node_tip["id"])
        .unwrap();
    assert_eq!(node_tip["bytes"], leaf["bytes"]);
    assert_eq!(
        node_tip["hiddenAfter"], true,
        "the tooltip goes with the pointer"
    );
    let faded = &legend["faded"];
    assert!(
        faded["faded"].as_u64().unwrap() > 0
            && faded["faded"].as_u64().unwrap() < faded["all"].as_u64().unwrap(),
        "{faded}"
    );

    // Collapse and expand round-trip: the collapsed namespace's crossing bytes all go onto edges
    // of its own, and expanding restores the map as it was.
    let collapse = &legend["collapse"];
    assert!(collapse["inside"].as_u64().unwrap() > 1, "{collapse}");
    assert_eq!(collapse["stillShown"], 0, "{collapse}");
    assert!(collapse["meta"].as_u64().unwrap() > 0, "{collapse}");
    assert_eq!(
        collapse["metaBytes"], collapse["crossingBytes"],
        "{collapse}"
    );
    assert_eq!(collapse["metaTouch"], true, "{collapse}");
    assert_eq!(
        legend["expanded"],
        serde_json::json!({"visible": collapse["visibleBefore"], "meta": 0})
    );

    // Four range changes later, the captures are still polled every 3 s: 2 or 3 polls in 6.5 s.
    let polled = browse(&base, "pollers");
    let polls = polled["polls"].as_u64().unwrap();
    assert!((2..=3).contains(&polls), "{polls} capture polls in 6.5 s");

    let toggled = browse(&base, "toggles");
    let external = |list: &Value| {
        list.as_array()
            .unwrap()
            .iter()
            .any(|n| n["id"].as_str().unwrap().starts_with("e|") || n["id"] == "g|external")
    };
    assert!(
        external(&toggled["before"]),
        "the generated cluster calls an external API"
    );
    assert!(
        !external(&toggled["after"]),
        "Cloud off hides external ends"
    );
    let (_, stats) = get_json(
        &client,
        &format!("{base}/api/stats?{RANGE}&group_by=dst.namespace&measure=bytes&top=20&filter=not%20class%20%3D%20external"),
    )
    .await;
    let keys = group_keys(&stats);
    assert_eq!(
        toggled["stats"],
        serde_json::json!(keys),
        "the stats panel follows the toggles"
    );
    for (card, query) in [
        (
            "card-talkers",
            "group_by=src.workload&measure=bytes&top=10&filter=not%20class%20%3D%20external",
        ),
        (
            "card-cross",
            "group_by=src.namespace&measure=bytes&top=10&filter=(not%20class%20%3D%20external)%20and%20(scope%20%3D%20cross)",
        ),
    ] {
        let (_, stats) = get_json(&client, &format!("{base}/api/stats?{RANGE}&{query}")).await;
        let keys = group_keys(&stats);
        assert!(!keys.is_empty(), "{card}");
        assert_eq!(
            toggled["dashboard"][card],
            serde_json::json!(keys),
            "{card}"
        );
        if card == "card-talkers" {
            // The chart draws the top five over time, each with a point per step that has bytes.
            let lines = toggled["talkersOverTime"].as_array().unwrap();
            let drawn: Vec<&str> = lines.iter().map(|l| l["key"].as_str().unwrap()).collect();
            assert_eq!(
                drawn,
                keys.iter().take(5).map(String::as_str).collect::<Vec<_>>()
            );
            let (_, timeline) = get_json(
                &client,
                &format!(
                    "{base}/api/timeline?{RANGE}&filter=(not%20class%20%3D%20external)%20and%20(src.workload%20%3D%20%22{}%22)",
                    keys[0]
                ),
            )
            .await;
            assert_eq!(
                lines[0]["points"].as_u64().unwrap() as usize,
                timeline["bars"].as_array().unwrap().len()
            );
        }
    }

    let columns = toggled["columns"].as_array().unwrap();
    assert!(
        !columns.contains(&serde_json::json!("date"))
            && columns.contains(&serde_json::json!("bucket_start"))
    );
    let leaf = toggled["clicked"].as_str().unwrap();
    let (_, details) = get_json(
        &client,
        &format!(
            "{base}/api/details?{RANGE}&top=20&id={}&filter=not%20class%20%3D%20external",
            url_encode(leaf)
        ),
    )
    .await;
    assert_eq!(
        toggled["details"]["title"], details["label"],
        "the details panel shows {leaf}"
    );
    assert_eq!(
        toggled["details"]["sections"],
        serde_json::json!([
            "Pods",
            "Clients",
            "Servers",
            "Ports served",
            "Ports used",
            "Bytes over time",
            "Whisperer"
        ])
    );

    let clicked = browse(&base, "click-edge");
    let filter = clicked["filter"].as_str().unwrap();
    assert!(
        filter.contains("src.") && filter.contains("dst."),
        "{filter}"
    );
    let leaves = ids(&clicked["nodes"], false);
    let ends: BTreeSet<String> = [&clicked["edge"]["source"], &clicked["edge"]["target"]]
        .iter()
        .map(|end| end.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(leaves, ends, "the map follows the filter");
    let encoded: String = url_encode(filter);
    let (_, stats) = get_json(
        &client,
        &format!("{base}/api/stats?{RANGE}&group_by=transport&measure=records&filter={encoded}"),
    )
    .await;
    let records = stats["total"].as_u64().unwrap();
    assert_eq!(
        clicked["grid"].as_u64().unwrap(),
        records.min(100),
        "the grid follows the filter"
    );

    let selected = browse(&base, "timeline");
    let (from, to) = (
        selected["from"].as_i64().unwrap(),
        selected["to"].as_i64().unwrap(),
    );
    assert!(
        END - 3600 < from && from < to && to < END,
        "a quarter to a half of the hour: {from}..{to}"
    );
    let span = to - from;
    let zoomed = [from - span / 2, to + span / 2];
    assert_eq!(
        selected["zoomedOut"],
        serde_json::json!(zoomed),
        "zoom out doubles the range"
    );
    let panned = [zoomed[0] - span, zoomed[1] - span];
    assert_eq!(
        selected["panned"],
        serde_json::json!(panned),
        "pan moves by half a range"
    );
    // The timeline has a time axis, the range it shows, and each bar's value on hover.
    let axis: Vec<String> = serde_json::from_value(selected["axis"].clone()).unwrap();
    assert!(
        axis.len() >= 3 && axis.iter().all(|t| t.len() == 5 && t.as_bytes()[2] == b':'),
        "{axis:?}"
    );
    // "MM-DD HH:MM – HH:MM UTC", from the range's own start.
    let label = selected["rangeLabel"].as_str().unwrap();
    let time_of_day = format!(
        "{:02}:{:02}",
        panned[0].rem_euclid(86_400) / 3600,
        panned[0].rem_euclid(3600) / 60
    );
    assert_eq!(&label[6..11], time_of_day, "{label}");
    assert!(label.ends_with(" UTC") && label.contains(" – "), "{label}");
    let title = selected["barTitle"].as_str().unwrap();
    assert!(
        title.contains("UTC: ") && title.contains("messages"),
        "{title}"
    );
    let (before, after) = (&selected["beforeEscape"], &selected["afterEscape"]);
    assert!(
        before["selected"] == 1 && before["faded"].as_u64().unwrap() > 0,
        "{before}"
    );
    assert_eq!(
        *after,
        serde_json::json!({"details": "", "selected": 0, "faded": 0})
    );
    let expected = map_nodes(
        &client,
        &format!("{base}/api/map?view=logical&from={from}&to={to}"),
    )
    .await;
    assert_eq!(
        nodes(&selected["nodes"]),
        expected,
        "the map follows the timeline"
    );

    // A query saved in the UI survives a restart of the server and loads back.
    let saved = browse(&base, "save");
    assert!(
        saved["saved"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("team-0 out"))
    );
    assert!(terminate(child).status.success());
    let (child, listen, _) = serving(&data, &[]).await;
    let base = format!("http://{listen}");
    let loaded = browse(&base, "load-saved");
    assert_eq!(loaded["filter"], "src.namespace = team-0");
    let namespaces = ids(&loaded["nodes"], true);
    assert!(namespaces.contains("ns|team-0"), "{namespaces:?}");
    let logical = map_nodes(&client, &format!("{base}/api/map?view=logical&{RANGE}")).await;
    assert!(terminate(child).status.success());

    // Behind tokens (the chart's default), the page asks for one and then draws the same map.
    let (child, listen, _) = serving(&data, &["--reader-token", "reader-t"]).await;
    let url = format!("http://{listen}/?{RANGE}");
    let entered = browse_with(&url, "token", &[("SPIDER_UI_TOKEN", "reader-t")]);
    assert_eq!(entered["asked"], true, "a 401 shows the token form");
    assert_eq!(entered["form_hidden"], true);
    assert_eq!(
        nodes(&entered["nodes"]),
        logical,
        "the token's map is the map"
    );
    assert!(terminate(child).status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_capture_views_show_http_exchanges_sessions_and_their_pcap() {
    let data = crate::serve::generated(8, 3, 21);
    let (child, listen, client) = serving(&data, &[]).await;
    let base = format!("http://{listen}");
    let range = crate::serve::GENERATED_RANGE;
    let seen = browse_at(
        &format!("{base}/?{range}&view=hosts&dataset=http"),
        "capture",
    );
    let (_, page) = get_json(&client, &format!("{base}/api/grid/http?{range}&limit=100")).await;
    let expected: BTreeSet<(String, String)> = page["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["method"].as_str().unwrap_or("").to_owned(),
                row["status"].to_string(),
            )
        })
        .collect();
    let shown: BTreeSet<(String, String)> = seen["http"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["method"].as_str().unwrap().to_owned(),
                row["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        seen["http"].as_array().unwrap().len(),
        24,
        "8 sessions × 3 exchanges"
    );
    assert_eq!(shown, expected);
    assert_eq!(seen["sessions"], 8);
    assert_eq!(seen["pcap"]["status"], 200);
    assert!(
        seen["pcap"]["bytes"].as_u64().unwrap() > 24,
        "a pcap with packets: {}",
        seen["pcap"]
    );
    assert!(
        seen["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["id"] == "d|shop.example"),
        "the hosts map names the server"
    );
    assert!(terminate(child).status.success());
}

/// The ids of the page's compound nodes (`compound`) or of its leaves.
fn ids(list: &Value, compound: bool) -> BTreeSet<String> {
    list.as_array()
        .unwrap()
        .iter()
        .filter(|n| n["compound"] == compound)
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The nodes of the map at `url` over the two pages the UI fetches.
async fn map_nodes(
    client: &spider_testkit::reqwest::Client,
    url: &str,
) -> BTreeSet<(String, Option<String>)> {
    let mut all = BTreeSet::new();
    for page in ["offset=0&limit=300", "offset=300&limit=1000"] {
        let (status, answer) = get_json(client, &format!("{url}&{page}")).await;
        assert_eq!(status, 200, "{answer}");
        all.extend(nodes(&answer["nodes"]));
    }
    all
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// ESLint (tests/browser's, from npm) over `args`, from the repository root, with `stdin`.
fn eslint(args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    let root = repo_root();
    let mut child = Command::new(root.join("tests/browser/node_modules/.bin/eslint"))
        .current_dir(&root)
        .args([
            "--config",
            "tests/browser/eslint.config.mjs",
            "--max-warnings",
            "0",
        ])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ESLint runs (npm ci --prefix tests/browser)");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

#[test]
fn the_ui_and_its_browser_driver_lint_clean() {
    let output = eslint(&["server/ui", "tests/browser"], None);
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // The same rules catch what the UI must not do: an undeclared global, a reassigned const,
    // loose equality.
    let bad = "const shown = 1;\nshown = 2;\nif (shown == '2') undeclaredPoller();\n";
    let output = eslint(
        &["--stdin", "--stdin-filename", "server/ui/bad.js"],
        Some(bad),
    );
    assert!(!output.status.success());
    let report = String::from_utf8_lossy(&output.stdout);
    for rule in ["no-const-assign", "eqeqeq", "no-undef"] {
        assert!(report.contains(rule), "{rule} not in {report}");
    }
}

/// The UI's pure parts (formatting, URL state, filters from map clicks) pass their unit tests
/// (`node --test tests/browser/unit`), and every module has some.
#[test]
fn the_ui_pure_parts_pass_their_unit_tests() {
    let root = repo_root();
    let output = Command::new("node")
        .current_dir(&root)
        .args(["--test", "tests/browser/unit/"])
        .output()
        .expect("node runs (apt nodejs)");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}");
    let passed: u32 = report
        .lines()
        .find_map(|line| line.strip_prefix("# pass "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(passed >= 10, "{report}");
    for module in ["format", "state", "filters"] {
        assert!(
            root.join(format!("tests/browser/unit/{module}.test.mjs"))
                .is_file(),
            "{module} has no unit test"
        );
    }
}
