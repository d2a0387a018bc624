//! `spider generate`: a cluster's worth of attributed usage, queryable at once.

use crate::support::{run, scratch, stderr};

#[test]
fn generate_writes_an_attributed_cluster_that_sql_reads() {
    let out = scratch("generate").join("data");
    let out = out.to_str().unwrap();
    let args = [
        "generate",
        "--out",
        out,
        "--nodes",
        "2",
        "--namespaces",
        "2",
        "--workloads",
        "3",
        "--pods",
        "2",
        "--hours",
        "1",
    ];
    let generated = run(&[&args[..], &["--end", "2026-11-21T07:00:00Z", "--seed", "7"]].concat());
    assert!(generated.status.success(), "{}", stderr(&generated));
    assert!(
        String::from_utf8_lossy(&generated.stdout)
            .contains("over 60 minutes for 14 pods in 2 namespaces on 2 nodes")
    );

    let query = "SELECT count(DISTINCT bucket_start) AS minutes, min(bucket_start) AS first, \
                 count(DISTINCT client_namespace) AS client_namespaces, \
                 count(*) FILTER (WHERE server_owner_name = 'coredns' AND server_port = 53 AND transport = 'udp') > 0 AS dns, \
                 count(*) FILTER (WHERE client_class <> 'pod' OR client_owner_kind IS NULL) AS unattributed \
                 FROM network_usage";
    let answer = run(&["sql", "--data", out, "--format", "csv", query]);
    assert!(answer.status.success(), "{}", stderr(&answer));
    assert_eq!(
        String::from_utf8_lossy(&answer.stdout),
        "minutes,first,client_namespaces,dns,unattributed\n60,2026-11-21T06:00:00Z,2,true,0\n"
    );
    let again = scratch("generate-again").join("data");
    let again = again.to_str().unwrap();
    let repeated = run(&[
        &["generate", "--out", again][..],
        &args[3..],
        &["--end", "2026-11-21T07:00:00Z", "--seed", "7"],
    ]
    .concat());
    assert!(repeated.status.success());
    let total = "SELECT sum(bytes_to_server) FROM network_usage";
    let first = run(&["sql", "--data", out, "--format", "csv", total]).stdout;
    assert_eq!(
        first,
        run(&["sql", "--data", again, "--format", "csv", total]).stdout,
        "the same seed gives the same data"
    );
}
