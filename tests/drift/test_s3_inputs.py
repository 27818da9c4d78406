"""The evaluator reads s3:// prefixes the way the CronJob passes them, against moto in server mode (no network)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import boto3
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from moto.server import ThreadedMotoServer

from tests.drift.data import features

from drift_eval import DriftError, evaluate, load_table  # isort: skip

BUCKET = "ai-platform-dev-artifacts-x"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for var in ("AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_url)
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-west-2")
    if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})

    def put(key: str, table: object, fmt: str) -> None:
        buf = io.BytesIO()
        (pq.write_table if fmt == "parquet" else pcsv.write_csv)(table, buf)
        s3.put_object(Bucket=BUCKET, Key=key, Body=buf.getvalue())

    ref = features(1, rows=1000)
    put("drift/llm/reference/part-0.parquet", ref, "parquet")
    put("drift/llm/current/2026/12/02/00/a-1.csv", features(2, rows=500, shift_sigmas=1.5), "csv")
    put("drift/llm/current/2026/12/02/01/a-2.csv", features(3, rows=500, shift_sigmas=1.5), "csv")
    # A sibling whose name shares the prefix string: must not be read as part of drift/llm/current/.
    put("drift/llm/current-old/x.csv", features(4, rows=10), "csv")
    return f"s3://{BUCKET}"


def test_reads_prefixes_as_the_cronjob_passes_them(bucket: str) -> None:
    ref = load_table(f"{bucket}/drift/llm/reference/")
    cur = load_table(f"{bucket}/drift/llm/current/")
    assert (ref.num_rows, cur.num_rows) == (1000, 1000)
    assert evaluate(ref, cur).model_drift_score > 0.3


def test_an_empty_prefix_is_a_one_line_error(bucket: str) -> None:
    with pytest.raises(DriftError, match=re.escape("no .csv, .parquet, .pq files under this prefix")):
        load_table(f"{bucket}/drift/nothing-here/")


def test_a_single_object_uri_works(bucket: str) -> None:
    assert load_table(f"{bucket}/drift/llm/reference/part-0.parquet").num_rows == 1000
