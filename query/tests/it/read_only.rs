//! Only queries are answered: every form that writes, changes settings or reaches outside the
//! datasets is refused.

use spider_query::{QueryError, open, read_only};

use crate::support::{scratch, write_usage};

#[tokio::test]
async fn every_forbidden_statement_is_refused() {
    let dir = scratch("forbidden");
    write_usage(&dir, 10).await;
    let context = open(&dir).unwrap();
    let target = dir.join("copied.parquet");
    let forbidden = [
        "CREATE TABLE t AS SELECT 1".to_owned(),
        "CREATE VIEW v AS SELECT 1".to_owned(),
        "INSERT INTO hosts SELECT * FROM hosts".to_owned(),
        format!("COPY (SELECT 1) TO '{}'", target.display()),
        "CREATE EXTERNAL TABLE etc STORED AS CSV LOCATION '/etc/'".to_owned(),
        "DROP TABLE network_usage".to_owned(),
        "SET datafusion.execution.batch_size = 1".to_owned(),
        "SELECT * FROM '/etc/passwd'".to_owned(),
        format!("SELECT * FROM '{}/network_usage/'", dir.display()),
        "DELETE FROM network_usage".to_owned(),
    ];
    for statement in &forbidden {
        match read_only(&context, statement).await {
            Err(QueryError::Refused(message)) => assert!(!message.is_empty()),
            other => panic!("{statement:?} was not refused: {other:?}"),
        }
    }
    assert!(!target.exists(), "COPY wrote nothing");
    let still = read_only(&context, "SELECT count(*) FROM network_usage")
        .await
        .unwrap();
    assert_eq!(still[0].num_rows(), 1, "the tables are untouched");
}

#[tokio::test]
async fn a_failing_query_is_an_error_not_a_panic() {
    let context = open(&scratch("failing")).unwrap();
    assert!(matches!(
        read_only(&context, "SELECT nope FROM hosts").await,
        Err(QueryError::Refused(_))
    ));
    assert!(matches!(
        read_only(&context, "SELEC 1").await,
        Err(QueryError::Refused(_))
    ));
}

#[tokio::test]
async fn the_service_refuses_unbounded_functions_and_long_statements() {
    let dir = scratch("unbounded");
    write_usage(&dir, 10).await;
    let context = open(&dir).unwrap();
    let limits = spider_query::SqlLimits::default();
    let refused = [
        "SELECT repeat('x', 1000000000)".to_owned(),
        "SELECT upper(LPAD('x', 1000000000, 'y'))".to_owned(),
        "SELECT * FROM hosts WHERE name IN (SELECT repeat(name, 99) FROM hosts)".to_owned(),
        format!("SELECT '{}'", "x".repeat(20_000)),
    ];
    for statement in &refused {
        match spider_query::read_only_within(&context, statement, limits).await {
            Err(QueryError::Refused(message)) => {
                assert!(
                    message.contains("not available") || message.contains("bytes"),
                    "{message}"
                )
            }
            other => panic!("{:.80} was not refused: {other:?}", statement),
        }
    }
    let table = spider_query::read_only_within(
        &context,
        "SELECT count(*) FROM generate_series(1, 10)",
        limits,
    )
    .await;
    assert!(table.is_ok(), "generate_series as a table stays: {table:?}");
}
