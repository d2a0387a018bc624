"""Reads Spider's Parquet datasets the way users do — DuckDB and pyarrow with Hive partitioning —
and prints what it found as JSON, for the Rust tests to compare with what they wrote.

    datasets.py sql DIR QUERY...     each query's rows (a view per dataset: network_usage, …)
    datasets.py pyarrow DIR          per dataset: rows, files, partition fields, file metadata
    datasets.py files DIR            every visible .parquet file read whole: rows, unreadable ones,
                                     and how many hidden in-progress files lie around
"""
import json
import pathlib
import sys

import duckdb
import pyarrow.dataset as ds
import pyarrow.parquet as pq


def dataset_dirs(root):
    return [d for d in sorted(pathlib.Path(root).iterdir()) if d.is_dir() and any(d.rglob("*.parquet"))]


def sql(root, queries):
    con = duckdb.connect()
    for d in dataset_dirs(root):
        con.execute(
            f"CREATE VIEW {d.name} AS SELECT * FROM read_parquet('{d}/**/*.parquet', hive_partitioning = true)"
        )
    return [con.execute(query).fetchall() for query in queries]


def with_pyarrow(root):
    found = {}
    for d in dataset_dirs(root):
        dataset = ds.dataset(d, format="parquet", partitioning="hive")
        metadata = [pq.read_metadata(f).metadata or {} for f in dataset.files]
        found[d.name] = {
            "rows": dataset.count_rows(),
            "files": len(dataset.files),
            "partition_fields": [f for f in dataset.schema.names if f in ("date", "hour")],
            "datasets": sorted({m.get(b"spider.dataset", b"").decode() for m in metadata}),
            "schema_versions": sorted({m.get(b"spider.schema_version", b"").decode() for m in metadata}),
        }
    return found


def files(root):
    rows, unreadable, visible = 0, [], 0
    for f in sorted(pathlib.Path(root).rglob("*.parquet")):
        visible += 1
        try:
            rows += pq.read_table(f).num_rows
        except Exception as error:  # every failure is reported, none is fatal
            unreadable.append(f"{f}: {error}")
    hidden = sum(1 for f in pathlib.Path(root).rglob(".*") if f.is_file())
    return {"files": visible, "rows": rows, "unreadable": unreadable, "in_progress": hidden}


def main(argv):
    command, root, *rest = argv
    result = {"sql": lambda: sql(root, rest), "pyarrow": lambda: with_pyarrow(root), "files": lambda: files(root)}[command]()
    json.dump(result, sys.stdout, default=str)


if __name__ == "__main__":
    main(sys.argv[1:])
