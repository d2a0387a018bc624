"""Times queries in DuckDB over Spider's Parquet datasets, for benchmarks to compare with.

    duckdb_time.py DIR RUNS QUERY...

Each dataset is a view over its files (Hive partitions). Every query runs RUNS times in one
connection, reading every result row; prints JSON: per query, the seconds of each run and the
rows of the last one.
"""
import json
import pathlib
import sys
import time

import duckdb


def main(argv):
    root, runs, *queries = argv
    con = duckdb.connect()
    for d in sorted(pathlib.Path(root).iterdir()):
        if d.is_dir() and any(d.rglob("*.parquet")):
            con.execute(
                f"CREATE VIEW {d.name} AS SELECT * FROM read_parquet('{d}/**/*.parquet', hive_partitioning = true)"
            )
    timings = []
    for query in queries:
        seconds, rows = [], 0
        for _ in range(int(runs)):
            started = time.perf_counter()
            rows = len(con.execute(query).fetchall())
            seconds.append(time.perf_counter() - started)
        timings.append({"seconds": seconds, "rows": rows})
    print(json.dumps(timings))


if __name__ == "__main__":
    main(sys.argv[1:])
