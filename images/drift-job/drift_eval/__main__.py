"""``python -m drift_eval --reference REF --current CUR [--push-gateway URL --model NAME]``.

Prints the report as JSON on stdout. Bad input (missing or empty files, mismatched columns) is one
line on stderr and exit status 2; a failed push is one line and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys

from drift_eval.core import DriftError, evaluate, load_table


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="drift_eval", description=__doc__.splitlines()[0])
    p.add_argument("--reference", required=True, help="CSV/Parquet file, directory or s3:// prefix of reference data")
    p.add_argument("--current", required=True, help="CSV/Parquet file, directory or s3:// prefix of live inputs")
    p.add_argument("--bins", type=int, default=10, help="quantile bins for numeric columns (default 10)")
    p.add_argument("--push-gateway", help="Pushgateway address (host:port or URL); push the result when set")
    p.add_argument("--model", help="model name: the grouping key and `model` label of the pushed metrics")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation; the return value is the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.push_gateway and not args.model:
        parser.error("--push-gateway needs --model")
    if not 2 <= args.bins <= 100:
        parser.error("--bins must be between 2 and 100")
    try:
        report = evaluate(load_table(args.reference), load_table(args.current), bins=args.bins)
    except DriftError as exc:
        print(f"drift_eval: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.as_dict(), indent=2, sort_keys=True))
    if args.push_gateway:
        from drift_eval.push import push

        try:
            push(args.push_gateway, args.model, report.model_drift_score)
        except OSError as exc:
            print(f"drift_eval: error: push to {args.push_gateway} failed: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
