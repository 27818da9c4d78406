"""``blueprint prices refresh --region R``: rewrite the committed price table from the AWS Price List API.

The table (``policy/ai_platform_policies/prices/<region>.json``) lives in the policy pack, because the
pack's ``cost-monthly-caps`` policy reads it when the Pulumi CLI runs the pack on its own; the preview
reads the same file. Each price in it carries the Price List query that produced it, so a refresh is
just those queries again (``pricing:GetProducts`` on the us-east-1 endpoint, OnDemand terms, USD) plus
one query per EC2 instance type (Linux, shared tenancy, no pre-installed software). A query that
matches no price, or several different ones, fails the refresh naming the query: nothing is written.
The Spot discounts are documented values, kept as they are, unless ``--spot`` asks for the live ones:
then each family's discount is recomputed from ``ec2:DescribeSpotPriceHistory`` in the region (Linux/UNIX,
the latest price per AZ, the median over AZs, the family's smallest discount, rounded down).

Exit codes: 0 written, 1 no credentials or an API/query error, 2 usage error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import statistics
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

# The Price List API is served from us-east-1 (also eu-central-1, ap-south-1); prices cover every region.
PRICING_ENDPOINT_REGION = "us-east-1"
TEMPLATE_REGION = "us-west-2"

# Usage-type prefixes of the regions the policy pack allows (aws-provider-region-allowlist).
USAGE_PREFIX = {"us-east-1": "USE1", "us-east-2": "USE2", "us-west-2": "USW2", "eu-west-1": "EU"}


class RefreshError(RuntimeError):
    """A query that cannot be turned into one price."""


def table_dir() -> Path:
    """Where the price tables live (inside the policy pack)."""
    from blueprint.preview.policy_eval import pack_dir

    return pack_dir() / "ai_platform_policies" / "prices"


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``prices refresh`` to the CLI."""
    p = sub.add_parser("prices", help="the committed price tables behind the cost estimate")
    ps = p.add_subparsers(dest="prices_command", required=True, parser_class=type(p))
    r = ps.add_parser("refresh", help="rewrite prices/<region>.json from the AWS Price List API (needs credentials)")
    r.add_argument("--region", required=True, help=f"one of {', '.join(sorted(USAGE_PREFIX))}")
    r.add_argument("--instance-type", action="append", default=[], help="also price this EC2 type (repeatable)")
    r.add_argument("--spot", action="store_true", help="recompute the Spot discounts from the live Spot price history")
    r.set_defaults(handler=_cmd)


def _cmd(args: argparse.Namespace) -> int:
    from blueprint.common import UsageError

    if args.region not in USAGE_PREFIX:
        raise UsageError(f"prices refresh: unknown region {args.region!r}; known: {', '.join(sorted(USAGE_PREFIX))}")
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.Session()
    if session.get_credentials() is None:
        print(
            "prices refresh: no AWS credentials (set AWS_PROFILE or AWS_ACCESS_KEY_ID, or assume a role); nothing written",
            file=sys.stderr,
        )
        return 1
    client = session.client("pricing", region_name=PRICING_ENDPOINT_REGION)
    try:
        ec2 = session.client("ec2", region_name=args.region) if args.spot else None
        path = refresh(client, args.region, extra_types=args.instance_type, spot_client=ec2)
    except (RefreshError, BotoCoreError, ClientError) as exc:
        print(f"prices refresh: {exc}; nothing written", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


def refresh(
    client: Any,
    region: str,
    *,
    extra_types: Iterable[str] = (),
    directory: Path | None = None,
    today: dt.date | None = None,
    spot_client: Any | None = None,
) -> Path:
    """Query every price of the region's table (or the template's, for a new region) and write it."""
    directory = directory or table_dir()
    path = directory / f"{region}.json"
    base = json.loads((path if path.exists() else directory / f"{TEMPLATE_REGION}.json").read_text())
    old_prefix, new_prefix = USAGE_PREFIX[str(base["region"])], USAGE_PREFIX[region]
    prices = {}
    for key, query in sorted(base["queries"].items()):
        filters = {k: str(v).replace(f"{old_prefix}-", f"{new_prefix}-") for k, v in query["filters"].items()}
        if "usagetype" not in filters:
            filters["regionCode"] = region
        prices[key] = _one_price(client, query["serviceCode"], filters, query["unit"], key)
    instances = {}
    for itype in sorted(set(base["instances"]) | set(extra_types)):
        instances[itype] = _instance(client, region, itype)
    date = (today or dt.datetime.now(dt.UTC).date()).isoformat()
    spot = dict(base["spot"])
    if spot_client is not None:
        spot["discountByFamily"] = spot_discounts(spot_client, instances)
        spot["source"] = (
            f"EC2 DescribeSpotPriceHistory in {region} on {date}: Linux/UNIX, latest price per AZ, median over AZs, the family's smallest discount, rounded down"
        )
    doc = {
        **base,
        "spot": spot,
        "region": region,
        "date": date,
        "instances": instances,
        "prices": prices,
        "queries": {
            k: {
                **q,
                "filters": {f: str(v).replace(f"{old_prefix}-", f"{new_prefix}-") for f, v in q["filters"].items()},
            }
            for k, q in base["queries"].items()
        },
        "source": "AWS Price List API (pricing:GetProducts, us-east-1 endpoint), OnDemand terms, Linux, shared tenancy, no pre-installed software. Written by `blueprint prices refresh`.",
    }
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return path


def _products(client: Any, service: str, filters: Mapping[str, str]) -> list[dict[str, Any]]:
    terms = [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in sorted(filters.items())]
    out: list[dict[str, Any]] = []
    for page in client.get_paginator("get_products").paginate(
        ServiceCode=service, Filters=terms, FormatVersion="aws_v1"
    ):
        out.extend(json.loads(p) if isinstance(p, str) else p for p in page.get("PriceList", []))
    return out


def _usd(products: list[dict[str, Any]], unit: str) -> set[float]:
    """Distinct OnDemand USD prices per ``unit`` (the first tier where tiered)."""
    found: set[float] = set()
    for product in products:
        for term in (product.get("terms", {}).get("OnDemand") or {}).values():
            dims = [d for d in term.get("priceDimensions", {}).values() if d.get("unit") == unit]
            first = [d for d in dims if str(d.get("beginRange", "0")) == "0"] or dims
            found.update(float(d["pricePerUnit"]["USD"]) for d in first[:1])
    return found


def _one_price(client: Any, service: str, filters: Mapping[str, str], unit: str, key: str) -> float:
    got = _usd(_products(client, service, filters), unit)
    if len(got) != 1:
        what = "no price" if not got else f"{len(got)} different prices {sorted(got)}"
        raise RefreshError(f"{key}: {service} {dict(filters)} per {unit} gave {what}; fix its query in the table")
    return got.pop()


def _instance(client: Any, region: str, itype: str) -> dict[str, Any]:
    filters = {
        "instanceType": itype,
        "regionCode": region,
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
        "licenseModel": "No License required",
    }
    products = _products(client, "AmazonEC2", filters)
    got = _usd(products, "Hrs")
    if len(got) != 1:
        raise RefreshError(f"instance {itype} in {region}: {len(got)} on-demand Linux prices {sorted(got)}")
    gpus = str(products[0].get("product", {}).get("attributes", {}).get("gpu") or "0")
    return {"usdPerHour": got.pop(), "gpus": int(gpus) if gpus.isdigit() else 0}


def spot_discounts(ec2: Any, instances: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Discount per instance family from the current Spot prices (1 - Spot / On-Demand)."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
    latest: dict[tuple[str, str], tuple[dt.datetime, float]] = {}
    pages = ec2.get_paginator("describe_spot_price_history").paginate(
        InstanceTypes=sorted(instances), ProductDescriptions=["Linux/UNIX"], StartTime=start
    )
    for page in pages:
        for h in page.get("SpotPriceHistory", []):
            key = (h["InstanceType"], h["AvailabilityZone"])
            stamp = h.get("Timestamp") or start
            if key not in latest or stamp >= latest[key][0]:
                latest[key] = (stamp, float(h["SpotPrice"]))
    by_type: dict[str, list[float]] = {}
    for (itype, _), (_, price) in latest.items():
        by_type.setdefault(itype, []).append(price)
    out: dict[str, float] = {}
    for itype, prices in sorted(by_type.items()):
        discount = 1 - statistics.median(prices) / float(instances[itype]["usdPerHour"])
        family = itype.split(".")[0]
        out[family] = min(out.get(family, 1.0), math.floor(round(max(0.0, min(discount, 0.95)) * 100, 6)) / 100)
    return out
