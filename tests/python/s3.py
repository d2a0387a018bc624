"""A few S3 calls against a local S3 API (moto) for the tests: make a bucket, fetch what was written.

    s3.py ENDPOINT create BUCKET
    s3.py ENDPOINT download BUCKET DIR     every object, as DIR/KEY; prints the keys as JSON
"""
import json
import pathlib
import sys

import boto3


def main(endpoint, command, bucket, *rest):
    s3 = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    if command == "create":
        s3.create_bucket(Bucket=bucket)
        print("[]")
        return
    target = pathlib.Path(rest[0])
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket) for o in page.get("Contents", [])]
    for key in keys:
        path = target / key
        path.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(path))
    json.dump(sorted(keys), sys.stdout)


if __name__ == "__main__":
    main(*sys.argv[1:])
