"""``blueprint prices refresh`` against botocore's Stubber: moto (5.2.5, server mode included) has no
backend for the Price List API (``pricing``), so the responses are stubbed at the client."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from blueprint.cli import main
from blueprint.preview import prices

TEMPLATE = {
    "region": "us-west-2",
    "date": "2025-01-01",
    "currency": "USD",
    "hoursPerMonth": 730,
    "source": "x",
    "instances": {"g5.xlarge": {"usdPerHour": 1.0, "gpus": 1}},
    "prices": {"ec2.natGateway.hour": 0.04, "ebs.gp3.gbMonth": 0.07},
    "queries": {
        "ec2.natGateway.hour": {
            "serviceCode": "AmazonEC2",
            "unit": "Hrs",
            "filters": {"productFamily": "NAT Gateway", "usagetype": "USW2-NatGateway-Hours"},
        },
        "ebs.gp3.gbMonth": {
            "serviceCode": "AmazonEC2",
            "unit": "GB-Mo",
            "filters": {"productFamily": "Storage", "volumeApiName": "gp3"},
        },
    },
    "spot": {"source": "advisor", "discountByFamily": {"g5": 0.6}},
}


def _product(unit: str, usd: str, attrs: dict[str, str] | None = None) -> str:
    dim = {"unit": unit, "beginRange": "0", "pricePerUnit": {"USD": usd}}
    return json.dumps(
        {"product": {"attributes": attrs or {}}, "terms": {"OnDemand": {"T1": {"priceDimensions": {"D1": dim}}}}}
    )


def _filters(**kv: str) -> list[dict[str, str]]:
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in sorted(kv.items())]


def _expect(stub: Stubber, service: str, filters: list[dict[str, str]], products: list[str]) -> None:
    stub.add_response(
        "get_products",
        {"PriceList": products, "FormatVersion": "aws_v1"},
        {"ServiceCode": service, "Filters": filters, "FormatVersion": "aws_v1"},
    )


@pytest.fixture
def client() -> Any:
    return boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_refresh_a_new_region_from_the_template(tmp_path: Path, client: Any) -> None:
    (tmp_path / "us-west-2.json").write_text(json.dumps(TEMPLATE))
    with Stubber(client) as stub:
        # sorted query keys: ebs first (no usage type: filtered by regionCode), then NAT (usage type re-prefixed)
        _expect(
            stub,
            "AmazonEC2",
            _filters(productFamily="Storage", regionCode="us-east-1", volumeApiName="gp3"),
            [_product("GB-Mo", "0.0800000000")],
        )
        _expect(
            stub,
            "AmazonEC2",
            _filters(productFamily="NAT Gateway", usagetype="USE1-NatGateway-Hours"),
            [_product("Hrs", "0.0450000000")],
        )
        instance = _filters(
            capacitystatus="Used", instanceType="g5.xlarge", licenseModel="No License required",
            operatingSystem="Linux", preInstalledSw="NA", regionCode="us-east-1", tenancy="Shared",
        )  # fmt: skip
        _expect(stub, "AmazonEC2", instance, [_product("Hrs", "1.0060000000", {"gpu": "1"})])
        path = prices.refresh(client, "us-east-1", directory=tmp_path, today=dt.date(2026, 12, 2))
        stub.assert_no_pending_responses()
    doc = json.loads(path.read_text())
    assert path.name == "us-east-1.json"
    assert doc["region"] == "us-east-1"
    assert doc["date"] == "2026-12-02"
    assert doc["prices"] == {"ebs.gp3.gbMonth": 0.08, "ec2.natGateway.hour": 0.045}
    assert doc["instances"] == {"g5.xlarge": {"usdPerHour": 1.006, "gpus": 1}}
    assert doc["queries"]["ec2.natGateway.hour"]["filters"]["usagetype"] == "USE1-NatGateway-Hours"
    assert doc["spot"] == TEMPLATE["spot"], "documented Spot discounts are kept"


def test_an_ambiguous_query_writes_nothing(tmp_path: Path, client: Any) -> None:
    (tmp_path / "us-west-2.json").write_text(json.dumps(TEMPLATE))
    with Stubber(client) as stub:
        two = [_product("GB-Mo", "0.08"), _product("GB-Mo", "0.10")]
        _expect(stub, "AmazonEC2", _filters(productFamily="Storage", regionCode="us-west-2", volumeApiName="gp3"), two)
        with pytest.raises(prices.RefreshError, match=r"ebs.gp3.gbMonth: .* 2 different prices \[0.08, 0.1\]"):
            prices.refresh(client, "us-west-2", directory=tmp_path)
    assert json.loads((tmp_path / "us-west-2.json").read_text()) == TEMPLATE


def test_cli_without_credentials_says_so_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: Any, tmp_path: Path
) -> None:
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    before = {p: p.read_text() for p in prices.table_dir().glob("*.json")}
    assert main(["prices", "refresh", "--region", "us-west-2"]) == 1
    assert "no AWS credentials" in capsys.readouterr().err
    assert {p: p.read_text() for p in prices.table_dir().glob("*.json")} == before


def test_cli_rejects_an_unknown_region(capsys: Any) -> None:
    assert main(["prices", "refresh", "--region", "mars-1"]) == 2
    assert "unknown region 'mars-1'" in capsys.readouterr().err


@pytest.fixture
def moto_ec2() -> Any:
    """An EC2 client against moto in server mode (real HTTP on 127.0.0.1), fake credentials."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield boto3.client(
            "ec2",
            region_name="us-west-2",
            endpoint_url=f"http://{host}:{port}",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    finally:
        server.stop()


def test_live_spot_discounts_from_the_spot_price_history(moto_ec2: Any) -> None:
    # moto 5.2.5 answers DescribeSpotPriceHistory with $0.00001 for every offered type and AZ, so the
    # discount is the 95% clamp; what this checks is the request and the per-family reduction.
    instances = {"g5.xlarge": {"usdPerHour": 1.006, "gpus": 1}, "m6i.large": {"usdPerHour": 0.096, "gpus": 0}}
    assert prices.spot_discounts(moto_ec2, instances) == {"g5": 0.95, "m6i": 0.95}


def test_spot_discount_is_the_family_minimum_of_the_median_over_azs() -> None:
    class FakeEc2:
        def get_paginator(self, name: str) -> Any:
            assert name == "describe_spot_price_history"
            history = [
                {"InstanceType": "g5.xlarge", "AvailabilityZone": "a", "SpotPrice": "0.40"},
                {"InstanceType": "g5.xlarge", "AvailabilityZone": "b", "SpotPrice": "0.50"},
                {"InstanceType": "g5.xlarge", "AvailabilityZone": "c", "SpotPrice": "0.60"},
                {"InstanceType": "g5.2xlarge", "AvailabilityZone": "a", "SpotPrice": "0.80"},
            ]
            return type("P", (), {"paginate": lambda self, **kw: [{"SpotPriceHistory": history}]})()

    instances = {"g5.xlarge": {"usdPerHour": 1.0}, "g5.2xlarge": {"usdPerHour": 1.0}}
    # g5.xlarge: median 0.50 -> 50% off; g5.2xlarge: 20% off; the family takes the smaller.
    assert prices.spot_discounts(FakeEc2(), instances) == {"g5": 0.2}


def test_a_missing_price_table_is_named_as_the_repository_names_it() -> None:
    """The message lands in plans and snapshots: it must not carry where this checkout lives, or a fork
    (another directory) would never match its committed snapshots."""
    from ai_platform_policies import estimate as est

    region = "xx-nowhere-9"
    with pytest.raises(est.PriceTableError) as err:
        est.load_prices(region)
    message = str(err.value)
    assert str(est.PRICES_DIR) not in message
    assert f"({est.PRICES_DIR.relative_to(est.PRICES_DIR.parents[2])}/{region}.json)" in message
