"""The drift evaluator (images/drift-job): known drift in, the expected score out; bad input, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from tests.drift.conftest import DRIFT_JOB
from tests.drift.data import NUMERIC, features

from drift_eval import DriftError, evaluate, load_table  # isort: skip
from drift_eval.__main__ import main  # isort: skip

ALERT_THRESHOLD = 0.3  # components/rules/drift.yaml, ModelDriftHigh


def _write(table: pa.Table, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        pcsv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    return path


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_distribution_scores_near_zero(seed: int) -> None:
    report = evaluate(features(seed), features(seed + 100))
    assert report.model_drift_score < 0.1, report.as_dict()
    assert all(f.score < 0.1 for f in report.features.values())


def test_a_1_5_sigma_mean_shift_scores_well_above_the_alert_threshold() -> None:
    report = evaluate(features(1, categorical=False), features(2, shift_sigmas=1.5, categorical=False))
    assert report.model_drift_score > ALERT_THRESHOLD, report.as_dict()
    assert {n: f.kind for n, f in report.features.items()} == dict.fromkeys(NUMERIC, "numeric")


def test_a_shift_in_one_column_moves_that_feature_only() -> None:
    ref, cur = features(1), features(2)
    shifted = cur.set_column(0, NUMERIC[0], pa.array(cur.column(0).to_numpy() + 1.5 * 120.0))
    report = evaluate(ref, shifted)
    assert report.features[NUMERIC[0]].score > 0.5
    assert all(report.features[n].score < 0.1 for n in (*NUMERIC[1:], "language"))
    # The mean over four features: one drifted column alone does not reach the alert.
    assert 0.1 < report.model_drift_score < ALERT_THRESHOLD


def test_categorical_drift_and_new_categories() -> None:
    ref = pa.table({"language": ["en"] * 80 + ["de"] * 20})
    assert evaluate(ref, ref).model_drift_score == 0.0
    disjoint = pa.table({"language": ["pt"] * 100})
    assert evaluate(ref, disjoint).model_drift_score == pytest.approx(1.0)
    assert evaluate(ref, disjoint).features["language"].kind == "categorical"


def test_values_beyond_a_constant_reference_are_drift() -> None:
    ref = pa.table({"x": [5.0] * 100})
    assert evaluate(ref, pa.table({"x": [9.0] * 100})).model_drift_score == pytest.approx(1.0)
    assert evaluate(ref, pa.table({"x": [1.0] * 100})).model_drift_score == pytest.approx(1.0)


def test_missing_values_count_as_their_own_bin() -> None:
    rng = np.random.default_rng(7)
    ref = pa.table({"x": rng.normal(0, 1, 2000)})
    values = rng.normal(0, 1, 2000)
    with_nulls = pa.table({"x": pa.array([None if i % 2 else v for i, v in enumerate(values)], pa.float64())})
    assert evaluate(ref, with_nulls).model_drift_score > ALERT_THRESHOLD


def test_score_is_bounded_for_any_input() -> None:
    rng = np.random.default_rng(11)
    for _ in range(20):
        a = pa.table({"x": rng.standard_cauchy(50), "c": rng.integers(0, 3, 50).astype(str)})
        b = pa.table({"x": rng.standard_cauchy(30) * 100, "c": rng.integers(0, 9, 30).astype(str)})
        score = evaluate(a, b).model_drift_score
        assert 0.0 <= score <= 1.0


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_reads_files_and_directories(tmp_path: Path, suffix: str) -> None:
    table = features(3, rows=300)
    one = _write(table, tmp_path / f"one{suffix}")
    assert load_table(str(one)).num_rows == 300
    _write(table.slice(0, 100), tmp_path / "dir" / "2026" / f"a{suffix}")
    _write(table.slice(100), tmp_path / "dir" / "2026" / f"b{suffix}")
    (tmp_path / "dir" / "_SUCCESS").write_text("")
    merged = load_table(str(tmp_path / "dir"))
    assert merged.num_rows == 300
    assert evaluate(table, merged).model_drift_score == 0.0


def test_column_order_does_not_matter() -> None:
    ref = features(1)
    assert evaluate(ref, ref.select(list(reversed(ref.column_names)))).model_drift_score == 0.0


# --------------------------------------------------------------------------- errors
def _text(path: Path, content: str) -> Path:
    path.write_text(content)
    return path


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict | None, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out else None), err


def test_cli_prints_the_report_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = _write(features(1, rows=500), tmp_path / "ref.csv")
    cur = _write(features(2, rows=500, shift_sigmas=1.5), tmp_path / "cur.parquet")
    code, report, err = _cli(capsys, "--reference", str(ref), "--current", str(cur))
    assert (code, err) == (0, "")
    assert report is not None
    assert report["model_drift_score"] > ALERT_THRESHOLD
    assert set(report["features"]) == {*NUMERIC, "language"}
    assert (report["reference_rows"], report["current_rows"]) == (500, 500)


@pytest.mark.parametrize(
    ("make_current", "expected"),
    [
        (lambda p: _write(features(2, rows=50).drop_columns(["language"]), p / "cur.csv"),
         "columns differ: missing from current: ['language']"),
        (lambda p: _write(features(2, rows=50).append_column("extra", pa.array(range(50))), p / "cur.csv"),
         "columns differ: not in reference: ['extra']"),
        (lambda p: _text(p / "cur.csv", ""), "cur.csv is empty"),
        (lambda p: _text(p / "cur.csv", "a,b\n"), "no rows"),
        (lambda p: p / "absent.csv", "no such file or prefix"),
        (lambda p: (p / "cur").mkdir() or p / "cur", "no .csv, .parquet, .pq files under this prefix"),
        (lambda p: _text(p / "cur.json", "{}"), "unsupported file type"),
        (lambda p: _write(features(2, rows=50).set_column(0, "prompt_tokens", pa.array(["x"] * 50)), p / "cur.csv"),
         "column 'prompt_tokens' is numeric in reference but text in current"),
    ],
    ids=["missing-column", "extra-column", "empty-file", "header-only", "absent", "empty-dir", "json", "type-change"],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make_current: object, expected: str
) -> None:
    ref = _write(features(1, rows=50), tmp_path / "ref.csv")
    cur = make_current(tmp_path)  # type: ignore[operator]
    code, report, err = _cli(capsys, "--reference", str(ref), "--current", str(cur))
    assert code == 2
    assert report is None
    assert err.count("\n") == 1, err
    assert err.startswith("drift_eval: error: "), err
    assert expected in err
    assert "Traceback" not in err


def test_evaluate_refuses_tables_with_different_columns() -> None:
    with pytest.raises(DriftError, match="columns differ"):
        evaluate(pa.table({"a": [1]}), pa.table({"b": [1]}))


def test_push_without_model_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--reference", "r", "--current", "c", "--push-gateway", "localhost:9091"])
    assert exc.value.code == 2
    assert "--push-gateway needs --model" in capsys.readouterr().err


def test_module_runs_from_its_directory(tmp_path: Path) -> None:
    """What the issue's acceptance check runs: `python -m drift_eval` with images/drift-job as the working directory."""
    ref = _write(features(1, rows=2000), tmp_path / "ref.csv")
    same = _write(features(2, rows=2000), tmp_path / "same.csv")
    shifted = _write(features(3, rows=2000, shift_sigmas=1.5, categorical=False), tmp_path / "shift.csv")
    ref_num = _write(features(1, rows=2000, categorical=False), tmp_path / "ref_num.csv")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def run(r: Path, c: Path) -> float:
        res = subprocess.run(
            [sys.executable, "-m", "drift_eval", "--reference", str(r), "--current", str(c)],
            cwd=DRIFT_JOB, capture_output=True, text=True, check=True, env=env, timeout=120,
        )  # fmt: skip
        return float(json.loads(res.stdout)["model_drift_score"])

    assert run(ref, same) < 0.1
    assert run(ref_num, shifted) > ALERT_THRESHOLD
