"""Loading tables (CSV or Parquet, a file or a directory, local or ``s3://``) and scoring drift."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from scipy.spatial.distance import jensenshannon

SUFFIXES = (".csv", ".parquet", ".pq")
MISSING = "<missing>"


class DriftError(Exception):
    """Bad input: printed as one line, exit status 2."""


@dataclass(frozen=True)
class FeatureDrift:
    """The drift of one column."""

    kind: str
    """``numeric`` or ``categorical``."""
    score: float
    """Jensen–Shannon distance (base 2) in [0, 1]."""


@dataclass(frozen=True)
class DriftReport:
    """The evaluation result printed as JSON."""

    model_drift_score: float
    reference_rows: int
    current_rows: int
    features: dict[str, FeatureDrift] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form: the score, row counts and per-feature scores."""
        return {
            "model_drift_score": round(self.model_drift_score, 6),
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "features": {n: {"kind": f.kind, "score": round(f.score, 6)} for n, f in self.features.items()},
        }


# --------------------------------------------------------------------------- loading
def _s3(uri: str) -> tuple[pafs.FileSystem, str]:
    """An S3 filesystem for ``s3://bucket/key``, configured from the environment the pod gets.

    The region comes from ``AWS_REGION`` (set by the CronJob) so no bucket-region lookup is needed;
    credentials come from the AWS SDK's default chain, which includes the IRSA web identity
    (``AWS_ROLE_ARN`` + ``AWS_WEB_IDENTITY_TOKEN_FILE``). ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL``
    override the endpoint (an S3-compatible store, or a test emulator).
    """
    options: dict[str, str] = {}
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        options["region"] = region
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["endpoint_override"] = endpoint
        options["scheme"] = endpoint.split("://", 1)[0] if "://" in endpoint else "https"
    return pafs.S3FileSystem(**options), uri.removeprefix("s3://")


def _files(uri: str) -> tuple[pafs.FileSystem, list[str]]:
    try:
        if uri.startswith("s3://"):
            fs, path = _s3(uri)
        elif "://" in uri:
            fs, path = pafs.FileSystem.from_uri(uri)
        else:
            fs, path = pafs.LocalFileSystem(), uri
        if uri.startswith("s3://") and uri.endswith("/"):
            # A prefix is only listed: a HEAD on the "directory" key would need s3:GetObject outside the
            # prefix (and S3 answers 403, not 404, to a role whose ListBucket is limited to the prefix).
            found = fs.get_file_info(pafs.FileSelector(path.rstrip("/"), recursive=True, allow_not_found=True))
            info_type = pafs.FileType.Directory
        else:
            info_type = fs.get_file_info(path).type
            found = []
            if info_type == pafs.FileType.Directory:
                found = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    except (OSError, pa.ArrowInvalid) as exc:
        raise DriftError(f"{uri}: cannot open ({_first_line(exc)})") from None
    if info_type == pafs.FileType.NotFound:
        raise DriftError(f"{uri}: no such file or prefix")
    if info_type == pafs.FileType.File:
        return fs, [path]
    files = sorted(f.path for f in found if f.type == pafs.FileType.File and f.path.lower().endswith(SUFFIXES))
    if not files:
        raise DriftError(f"{uri}: no {', '.join(SUFFIXES)} files under this prefix")
    return fs, files


def _read_one(fs: pafs.FileSystem, path: str, uri: str) -> pa.Table:
    if not path.lower().endswith(SUFFIXES):
        raise DriftError(f"{uri}: unsupported file type; use {', '.join(SUFFIXES)}")
    try:
        if path.lower().endswith(".csv"):
            if fs.get_file_info(path).size == 0:
                raise DriftError(f"{uri}: {path} is empty")
            with fs.open_input_stream(path) as stream:
                return pcsv.read_csv(stream)
        return pq.read_table(path, filesystem=fs)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DriftError(f"{uri}: cannot read {path} ({_first_line(exc)})") from None


def load_table(uri: str) -> pa.Table:
    """Every CSV/Parquet file at ``uri`` (a file, a directory or an ``s3://`` prefix) as one table."""
    fs, paths = _files(uri)
    tables = [_read_one(fs, p, uri) for p in paths]
    names = {tuple(t.column_names) for t in tables}
    if len(names) > 1:
        raise DriftError(f"{uri}: files disagree on columns: {sorted(names)}")
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DriftError(f"{uri}: files disagree on column types ({_first_line(exc)})") from None
    if table.num_columns == 0 or table.num_rows == 0:
        raise DriftError(f"{uri}: no rows")
    return table


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# --------------------------------------------------------------------------- scoring
def _is_numeric(col: pa.ChunkedArray) -> bool:
    t = col.type
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def _numeric_hist(ref: np.ndarray, cur: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts over the reference's quantile bins, plus an under-, an overflow and a missing bin.

    Values outside the reference's range get bins of their own, so a shift past the reference's
    extremes (or a constant reference) still shows up as drift.
    """
    ref_ok, cur_ok = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    if ref_ok.size == 0:
        edges, lo, hi = np.array([]), math.inf, -math.inf
    else:
        edges = np.unique(np.quantile(ref_ok, np.linspace(0, 1, bins + 1)[1:-1]))
        lo, hi = float(ref_ok.min()), float(ref_ok.max())

    def counts(values: np.ndarray, nan_count: int) -> np.ndarray:
        idx = np.searchsorted(edges, values, side="right") + 1
        idx[values < lo] = 0
        idx[values > hi] = edges.size + 2
        out = np.bincount(idx, minlength=edges.size + 3).astype(float)
        return np.append(out, nan_count)

    return counts(ref_ok, ref.size - ref_ok.size), counts(cur_ok, cur.size - cur_ok.size)


def _categorical_hist(ref: pa.ChunkedArray, cur: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    def freq(col: pa.ChunkedArray) -> dict[str, int]:
        values = pc.fill_null(pc.cast(col, pa.string()), MISSING)
        vc = pc.value_counts(values)
        return {v.as_py(): c.as_py() for v, c in zip(vc.field("values"), vc.field("counts"), strict=True)}

    r, c = freq(ref), freq(cur)
    keys = sorted(set(r) | set(c))
    return np.array([r.get(k, 0) for k in keys], float), np.array([c.get(k, 0) for k in keys], float)


def _js(p: np.ndarray, q: np.ndarray) -> float:
    d = float(jensenshannon(p, q, base=2))
    # Identical histograms can give a tiny negative rounding error under the square root (NaN).
    return 0.0 if math.isnan(d) else min(1.0, max(0.0, d))


def evaluate(reference: pa.Table, current: pa.Table, *, bins: int = 10) -> DriftReport:
    """Score ``current`` against ``reference``; both need the same columns (order may differ)."""
    missing = [c for c in reference.column_names if c not in current.column_names]
    extra = [c for c in current.column_names if c not in reference.column_names]
    if missing or extra:
        parts = ([f"missing from current: {missing}"] if missing else []) + (
            [f"not in reference: {extra}"] if extra else []
        )
        raise DriftError("columns differ: " + "; ".join(parts))
    features: dict[str, FeatureDrift] = {}
    for name in reference.column_names:
        ref, cur = reference.column(name), current.column(name)
        if _is_numeric(ref) != _is_numeric(cur):
            kinds = ("numeric" if _is_numeric(ref) else "text", "numeric" if _is_numeric(cur) else "text")
            raise DriftError(f"column {name!r} is {kinds[0]} in reference but {kinds[1]} in current")
        if _is_numeric(ref):
            p, q = _numeric_hist(_floats(ref), _floats(cur), bins)
            features[name] = FeatureDrift("numeric", _js(p, q))
        else:
            p, q = _categorical_hist(ref, cur)
            features[name] = FeatureDrift("categorical", _js(p, q))
    score = float(np.mean([f.score for f in features.values()]))
    return DriftReport(score, reference.num_rows, current.num_rows, features)


def _floats(col: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False), dtype=float)
