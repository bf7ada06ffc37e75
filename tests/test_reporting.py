"""Tests for rnn_jax.reporting and launch/report.py on fake workdirs with known numbers."""

import itertools
import json
import math
import os
from pathlib import Path
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.stats

from rnn_jax import reporting

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Palindrome-like run: final eval accuracy per seed; mean 0.95, sample std 0.0458.
FINAL_EVAL_ACCURACY = {0: 0.90, 1: 0.96, 2: 0.99}
# Language-model-like run: final test perplexity per seed; mean 110.3, sample std 2.25.
FINAL_TEST_PERPLEXITY = {0: 110.2, 1: 112.6, 2: 108.1}


def write_run(workdir, name, records, *, seeds=None, config=None, timing=None, extra_lines=()):
  """Writes a fake workdir the way the trainer does: config.json, metrics.jsonl, timing.json."""
  workdir = Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  seeds = sorted({r["seed"] for r in records}) if seeds is None else seeds
  (workdir / "config.json").write_text(json.dumps({"name": name, "seeds": seeds, **(config or {})}))
  lines = [json.dumps(r) for r in records] + list(extra_lines)
  (workdir / "metrics.jsonl").write_text("\n".join(lines) + "\n")
  if timing is not None:
    (workdir / "timing.json").write_text(json.dumps(timing))
  return workdir


def palindrome_records(final=True, seeds=(0, 1, 2)):
  """Train every 10 steps, eval every 20, final/* at step 40; seeds interleaved like the trainer."""
  records = []
  for step in range(0, 50, 10):
    for seed in seeds:
      records.append({"seed": seed, "step": step, "split": "train",
                      "loss": 0.7 - 0.01 * step + 0.001 * seed,
                      "accuracy": 0.6 + 0.005 * step + 0.002 * seed,
                      "learning_rate": 1e-3, "grad_norm": 0.3})
      if step % 20 == 0:
        records.append({"seed": seed, "step": step, "split": "eval",
                        "loss": 0.65 - 0.01 * step, "accuracy": 0.62 + 0.006 * step + 0.01 * seed})
  if final:
    for seed in seeds:
      records.append({"seed": seed, "step": 40, "split": "final/eval",
                      "loss": 0.2 + 0.01 * seed, "accuracy": FINAL_EVAL_ACCURACY[seed]})
      records.append({"seed": seed, "step": 40, "split": "final/train",
                      "loss": 0.1 + 0.01 * seed, "accuracy": 0.97 + 0.01 * seed})
  return records


def lm_records(seeds=(0, 1, 2)):
  """Per-epoch train and valid perplexity (with an epoch field), final/valid and final/test."""
  records = []
  for epoch in range(1, 5):
    for seed in seeds:
      records.append({"seed": seed, "step": 100 * epoch, "split": "train", "epoch": epoch,
                      "perplexity": 400.0 / epoch + seed, "loss": 6.0 - 0.3 * epoch})
      records.append({"seed": seed, "step": 100 * epoch, "split": "valid", "epoch": epoch,
                      "perplexity": 450.0 / epoch + 2 * seed, "loss": 6.1 - 0.3 * epoch})
  for seed in seeds:
    records.append({"seed": seed, "step": 400, "split": "final/valid", "epoch": 4,
                    "perplexity": FINAL_TEST_PERPLEXITY[seed] + 4.0, "loss": 4.75})
    records.append({"seed": seed, "step": 400, "split": "final/test", "epoch": 4,
                    "perplexity": FINAL_TEST_PERPLEXITY[seed], "loss": 4.7})
  return records


@pytest.fixture
def palindrome_dir(tmp_path):
  return write_run(tmp_path / "palindrome_lstm_T10", "palindrome_lstm_T10", palindrome_records(),
                   config={"num_train_steps": 40, "optimizer": "adam", "learning_rate": 1e-3,
                           "schedule": {"name": "constant", "hold_steps": 0.0, "every_steps": 1.0, "gamma": 1.0}},
                   timing={"train_seconds": 95.0, "timed_steps": 39, "launches": 1, "wall_clock_s": 101.0,
                           "train_examples_per_s": 1100.0, "examples_unit": "sequences"})


@pytest.fixture
def lm_dir(tmp_path):
  return write_run(tmp_path / "ptb_small", "ptb_lstm_small", lm_records(),
                   config={"num_epochs": 4, "optimizer": "sgd", "learning_rate": 1.0,
                           "schedule": {"name": "step_decay", "hold_epochs": 3.0, "every_epochs": 1.0, "gamma": 0.5}},
                   timing={"wall_clock_s": 7200.0, "train_examples_per_s": 6200.0,
                           "examples_unit": "words", "first_step": 1000, "last_step": 4000})


def test_summary_mean_and_std_match_numpy(palindrome_dir):
  summary = reporting.write_summary(palindrome_dir)
  assert json.loads((palindrome_dir / "summary.json").read_text()) == summary
  assert summary["name"] == "palindrome_lstm_T10"
  assert summary["seeds"] == [0, 1, 2]
  assert summary["steps"] == 40
  assert summary["timing"]["examples_unit"] == "sequences"
  assert "epochs" not in summary
  assert set(summary["per_seed"]) == {"0", "1", "2"}
  assert set(summary["mean"]) == {"final/train/accuracy", "final/train/loss",
                                  "final/eval/accuracy", "final/eval/loss"}
  accuracies = [FINAL_EVAL_ACCURACY[s] for s in (0, 1, 2)]
  assert [summary["per_seed"][str(s)]["final/eval/accuracy"] for s in (0, 1, 2)] == accuracies
  for key in summary["mean"]:
    values = [summary["per_seed"][str(s)][key] for s in (0, 1, 2)]
    np.testing.assert_allclose(summary["mean"][key], np.mean(values), rtol=1e-12)
    np.testing.assert_allclose(summary["std"][key], np.std(values, ddof=1), rtol=1e-12)
  np.testing.assert_allclose(summary["std"]["final/eval/accuracy"], 0.0458257569, rtol=1e-8)


def test_summary_without_final_splits_uses_last_logged_values(tmp_path):
  workdir = write_run(tmp_path / "run", "no_finals", palindrome_records(final=False))
  per_seed = reporting.write_summary(workdir)["per_seed"]
  for seed in (0, 1, 2):
    assert per_seed[str(seed)] == pytest.approx({
        "train/loss": 0.7 - 0.4 + 0.001 * seed,
        "train/accuracy": 0.6 + 0.2 + 0.002 * seed,
        "eval/loss": 0.65 - 0.4,
        "eval/accuracy": 0.62 + 0.24 + 0.01 * seed,
    })  # learning_rate and grad_norm are diagnostics, not final metrics.


def test_single_seed_has_zero_std_and_missing_seeds_are_named(tmp_path):
  workdir = write_run(tmp_path / "run", "one_seed", palindrome_records(seeds=(1,)),
                      seeds=[0, 1])
  summary = reporting.summarize(workdir)
  assert summary["seeds"] == [1]
  assert summary["missing_seeds"] == [0]
  assert summary["std"]["final/eval/accuracy"] == 0.0
  assert "0.960 ± 0.000 (1 seed)" in reporting.format_results_table([workdir])


def test_duplicate_lines_keep_the_last_and_truncated_last_line_is_skipped(tmp_path):
  resumed = [  # A resumed run re-logs steps 30 and 40 of seed 0 with other values.
      json.dumps({"seed": 0, "step": 30, "split": "train", "loss": 0.123, "accuracy": 0.9}),
      json.dumps({"seed": 0, "step": 40, "split": "final/eval", "loss": 0.05, "accuracy": 0.93}),
      '{"seed": 0, "step": 50, "split": "tra',  # killed mid-write
  ]
  workdir = write_run(tmp_path / "run", "dupes", palindrome_records(), extra_lines=resumed)
  run = reporting.load_run(workdir)
  keys = [(r.seed, r.step, r.split) for r in run.records]
  assert len(keys) == len(set(keys)) == len(palindrome_records())
  summary = reporting.summarize(run)
  assert summary["per_seed"]["0"]["final/eval/accuracy"] == 0.93
  _, curves = reporting.learning_curves(run.records, "train", "loss")
  np.testing.assert_array_equal(curves[0][0], [0, 10, 20, 30, 40])
  assert curves[0][1][3] == 0.123


def test_broken_line_in_the_middle_is_an_error(tmp_path):
  workdir = write_run(tmp_path / "run", "broken", palindrome_records()[:2],
                      extra_lines=["{not json", json.dumps(palindrome_records()[2])])
  with pytest.raises(reporting.ReportError, match=r"metrics.jsonl:3: not valid JSON"):
    reporting.load_run(workdir)


def test_results_table_has_mean_std_cells_and_run_columns(palindrome_dir, lm_dir, tmp_path):
  out = tmp_path / "report" / "results.md"
  text = reporting.write_results_md([palindrome_dir, lm_dir], out, command="python x.py")
  assert out.read_text() == text
  lines = text.splitlines()
  header = next(line for line in lines if line.startswith("| experiment"))
  columns = [c.strip() for c in header.strip("|").split("|")]
  assert columns == ["experiment", "final/train/accuracy", "final/train/loss",
                     "final/valid/perplexity", "final/valid/loss", "final/eval/accuracy",
                     "final/eval/loss", "final/test/perplexity", "final/test/loss", "steps",
                     "epochs", "optimizer", "lr", "schedule", "train throughput", "training time"]
  palindrome_row = next(line for line in lines if line.startswith("| palindrome_lstm_T10"))
  lm_row = next(line for line in lines if line.startswith("| ptb_lstm_small"))
  assert "0.950 ± 0.046 (3 seeds)" in palindrome_row          # accuracy: 3 decimals
  assert "0.210 ± 0.010 (3 seeds)" in palindrome_row          # loss: 3 decimals
  assert "1,100 sequences/s" in palindrome_row and "95 s" in palindrome_row
  assert "| adam " in palindrome_row and "| constant " in palindrome_row  # unused fields left out
  assert "110.3 ± 2.3 (3 seeds)" in lm_row                    # perplexity: 1 decimal
  assert "114.3 ± 2.3 (3 seeds)" in lm_row
  assert "step_decay(hold_epochs=3, every_epochs=1, gamma=0.5)" in lm_row
  assert "6,200 words/s" in lm_row
  assert "2.0 h (steps 1,000–4,000, last launch)" in lm_row  # an older timing.json: one launch's wall clock
  assert lm_row.count("—") == 4 and palindrome_row.count("—") == 5  # other runs' metrics, epochs
  assert "ddof=1" in text and "Made by: `python x.py`" in text
  assert f"`{lm_dir}`" in text


def test_aggregate_curves_align_on_common_steps():
  curves = {0: (np.array([0.0, 10, 20, 30]), np.array([1.0, 2, 3, 4])),
            1: (np.array([0.0, 10, 20]), np.array([3.0, 2, 7])),
            2: (np.array([10.0, 20, 30]), np.array([5.0, 8, 1]))}
  x, mean, std = reporting.aggregate_curves(curves)
  np.testing.assert_array_equal(x, [10, 20])
  np.testing.assert_allclose(mean, [np.mean([2, 2, 5]), np.mean([3, 7, 8])])
  np.testing.assert_allclose(std, [np.std([2, 2, 5], ddof=1), np.std([3, 7, 8], ddof=1)])
  _, _, single_std = reporting.aggregate_curves({0: curves[0]})
  np.testing.assert_array_equal(single_std, np.zeros(4))


def test_curves_use_epochs_only_when_every_record_has_one(palindrome_dir, lm_dir):
  lm = reporting.load_run(lm_dir)
  x_axis, curves = reporting.learning_curves(lm.records, "valid", "perplexity")
  assert x_axis == "epoch"
  np.testing.assert_array_equal(curves[2][0], [1, 2, 3, 4])
  np.testing.assert_allclose(curves[2][1], [450.0 / e + 4 for e in (1, 2, 3, 4)])
  palindrome = reporting.load_run(palindrome_dir)
  assert reporting.learning_curves(palindrome.records, "eval", "accuracy")[0] == "step"


def assert_png(path):
  path = Path(path)
  assert path.is_file() and path.stat().st_size > 1000
  assert path.read_bytes()[:8] == PNG_MAGIC


def test_plot_learning_curves_writes_one_png_per_curve(palindrome_dir, lm_dir):
  written = reporting.plot_learning_curves(palindrome_dir)
  assert sorted(p.name for p in written) == sorted(
      f"{split}_{metric}.png" for split, metric in [
          ("train", "loss"), ("train", "accuracy"), ("train", "learning_rate"),
          ("train", "grad_norm"), ("eval", "loss"), ("eval", "accuracy")])
  lm_written = reporting.plot_learning_curves(lm_dir)
  assert {p.name for p in lm_written} == {"train_perplexity.png", "train_loss.png",
                                          "valid_perplexity.png", "valid_loss.png",
                                          "perplexity_train_valid.png"}
  for path in written + lm_written:
    assert path.parent.name == "plots"
    assert_png(path)


def test_plot_comparison_and_its_error_naming_the_available_curves(palindrome_dir, tmp_path):
  other = write_run(tmp_path / "peephole", "palindrome_peephole_T10",
                    palindrome_records(seeds=(0, 1)))
  out = reporting.plot_comparison([palindrome_dir, other], "accuracy", "eval",
                                  tmp_path / "cmp" / "c.png")
  assert_png(out)
  with pytest.raises(reporting.ReportError, match=r"valid/perplexity.*eval/accuracy"):
    reporting.plot_comparison([palindrome_dir], "perplexity", "valid", tmp_path / "c.png")


def test_report_run_writes_everything_into_the_workdir(lm_dir):
  summary = reporting.report_run(lm_dir)
  assert summary["epochs"] == 4
  assert (lm_dir / "summary.json").is_file()
  assert "110.3 ± 2.3 (3 seeds)" in (lm_dir / "results.md").read_text()
  assert_png(lm_dir / "plots" / "perplexity_train_valid.png")


def run_cli(*args, cwd):
  env = {**os.environ, "PYTHONPATH": str(REPO)}
  return subprocess.run([sys.executable, str(REPO / "launch" / "report.py"), *args], cwd=cwd,
                        env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("make_dir", [False, True], ids=["missing", "empty"])
def test_cli_reports_a_bad_workdir_in_one_line(tmp_path, make_dir):
  bad = tmp_path / "no_such_run"
  if make_dir:
    bad.mkdir()
  result = run_cli(f"--workdirs={bad}", f"--out={tmp_path / 'out'}", cwd=tmp_path)
  assert result.returncode != 0
  assert "Traceback" not in result.stderr
  assert result.stderr.strip().splitlines()[-1:] == [result.stderr.strip()]
  assert result.stderr.startswith("error: workdir ") and str(bad) in result.stderr
  assert not (tmp_path / "out").exists()


def test_cli_writes_table_and_comparison(palindrome_dir, tmp_path):
  other = write_run(tmp_path / "peephole", "palindrome_peephole_T10",
                    palindrome_records(seeds=(0, 1)))
  result = run_cli("--workdirs", str(palindrome_dir), str(other), "--out=reports", cwd=tmp_path)
  assert result.returncode == 0, result.stderr
  out = tmp_path / "reports"
  assert (out / "results.md").read_text() == result.stdout
  assert "0.950 ± 0.046 (3 seeds)" in result.stdout
  assert "| palindrome_peephole_T10" in result.stdout
  assert "(2 seeds)" in result.stdout
  assert "Made by: `python " in result.stdout
  assert_png(out / "comparison_eval_accuracy.png")


def test_cli_adds_the_compared_curve_as_a_mean_std_table(palindrome_dir, tmp_path):
  other = write_run(tmp_path / "peephole", "palindrome_peephole_T10", palindrome_records(seeds=(0, 1)))
  result = run_cli("--workdirs", str(palindrome_dir), str(other), "--out=reports", "--curve_every=40", cwd=tmp_path)
  assert result.returncode == 0, result.stderr
  rows = table_rows(result.stdout, "## eval accuracy (mean ± std over seeds; comparison_eval_accuracy.png)")
  assert rows[0] == ["step", "palindrome_lstm_T10", "palindrome_peephole_T10"]
  # eval accuracy = 0.62 + 0.006 step + 0.01 seed: seeds (0, 1, 2) and (0, 1); steps 0 and 40 (20 is skipped).
  assert rows[1:] == [["0", "0.630 ± 0.010", "0.625 ± 0.007"], ["40", "0.870 ± 0.010", "0.865 ± 0.007"]]
  rows = table_rows(result.stdout, "## eval accuracy, each seed")  # each seed's own value, same rows
  assert rows == [["step", *(f"palindrome_lstm_T10 seed {s}" for s in (0, 1, 2)), "palindrome_peephole_T10 seed 0",
                   "palindrome_peephole_T10 seed 1"],
                  ["0", "0.620", "0.630", "0.640", "0.620", "0.630"], ["40", "0.860", "0.870", "0.880", "0.860", "0.870"]]


def test_std_band_stays_within_the_metric_range():
  curves = {0: (np.array([0.0, 1, 2]), np.array([0.5, 1.0, 1.0])),
            1: (np.array([0.0, 1, 2]), np.array([0.9, 0.6, 1.0]))}  # mean + std > 1 at step 1
  x, mean, std = reporting.aggregate_curves(curves)
  assert (mean + std).max() > 1.0
  for metric, high in (("accuracy", 1.0), ("loss", (mean + std).max())):
    _, ax = reporting._new_axes()
    reporting._draw_seeds_and_mean(ax, curves, color="C0", label="m", metric=metric)
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.max() == pytest.approx(high)


def test_per_epoch_train_perplexity_pools_the_windows_that_end_in_each_epoch():
  def rec(seed, step, epoch, loss):
    return reporting.Record(seed=seed, step=step, split="train", metrics={"loss": loss}, epoch=epoch)
  records = [rec(0, 10, 0.4, 5.0), rec(0, 20, 0.8, 4.0), rec(0, 25, 1.0, 3.0),  # epoch 1
             rec(0, 35, 1.4, 2.0), rec(0, 50, 2.0, 2.5),                       # epoch 2
             rec(1, 25, 1.0, 6.0),
             reporting.Record(seed=0, step=50, split="valid", metrics={"loss": 9.0}, epoch=2.0)]
  curves = reporting.per_epoch_perplexity(records, "train")
  np.testing.assert_array_equal(curves[0][0], [1, 2])
  np.testing.assert_allclose(curves[0][1], np.exp([4.0, 2.25]), rtol=1e-12)
  np.testing.assert_allclose(curves[1][1], np.exp([6.0]), rtol=1e-12)


# Seed statistics. Expected values come from closed forms of the t distribution where one exists
# (df = 1: the Cauchy quantile tan(pi (p - 1/2)); df = 2: t = sqrt(2 q^2 / (1 - q^2)) with q = 2p - 1)
# and from the textbook Welch formulas otherwise, never from the functions under test.
T_975_DF1 = math.tan(math.pi * 0.475)                  # 12.7062...
T_975_DF2 = math.sqrt(2 * 0.95 ** 2 / (1 - 0.95 ** 2))  # 4.3027...


def test_t_quantiles_by_hand_match_tables():
  assert T_975_DF1 == pytest.approx(12.706, abs=5e-4) and T_975_DF2 == pytest.approx(4.303, abs=5e-4)
  np.testing.assert_allclose([T_975_DF1, T_975_DF2], scipy.stats.t.ppf(0.975, [1, 2]), rtol=1e-12)


def test_seed_stats_is_the_student_t_interval_of_the_mean():
  accuracies = [FINAL_EVAL_ACCURACY[s] for s in (0, 1, 2)]
  stats = reporting.seed_stats(accuracies)
  std = math.sqrt(((0.90 - 0.95) ** 2 + (0.96 - 0.95) ** 2 + (0.99 - 0.95) ** 2) / 2)
  half_width = T_975_DF2 * std / math.sqrt(3)
  assert stats.n == 3
  assert (stats.mean, stats.std) == (pytest.approx(0.95, rel=1e-12), pytest.approx(std, rel=1e-12))
  np.testing.assert_allclose(stats.ci, [0.95 - half_width, 0.95 + half_width], rtol=1e-12)
  np.testing.assert_allclose(stats.ci, [0.836162, 1.063838], atol=1e-6)

  two = reporting.seed_stats([2.0, 3.0])                 # std 1/sqrt(2), std/sqrt(2) = 1/2
  np.testing.assert_allclose(two.ci, [2.5 - T_975_DF1 / 2, 2.5 + T_975_DF1 / 2], rtol=1e-12)
  one = reporting.seed_stats([0.7])
  assert (one.n, one.mean, one.std, one.ci) == (1, 0.7, 0.0, None)

  five = [101.2, 98.4, 105.0, 99.9, 102.7]               # df = 4: against scipy's own interval
  expected = scipy.stats.t.interval(0.95, df=4, loc=np.mean(five), scale=scipy.stats.sem(five))
  np.testing.assert_allclose(reporting.seed_stats(five).ci, expected, rtol=1e-12)


def test_welch_comparison_with_a_closed_form():
  # Equal n = 2 and equal variances (0.02): se = sqrt(0.01 + 0.01), Welch df = 2 exactly,
  # t = 0.5 / se, and the two-sided p-value at df = 2 is 1 - t / sqrt(2 + t^2).
  d = reporting.compare_seeds([1.0, 1.2], [0.5, 0.7])
  se, t = math.sqrt(0.02), 0.5 / math.sqrt(0.02)
  assert d.difference == pytest.approx(0.5, rel=1e-12)
  assert d.df == pytest.approx(2.0, rel=1e-9)
  assert d.p_value == pytest.approx(1 - t / math.sqrt(2 + t * t), rel=1e-9)
  np.testing.assert_allclose(d.ci, [0.5 - T_975_DF2 * se, 0.5 + T_975_DF2 * se], rtol=1e-9)
  assert d.verdict == "CI spans 0" and d.undecided is None  # p = 0.0715


def test_welch_comparison_matches_the_textbook_formulas_and_scipy():
  a, b = [0.90, 0.96, 0.99], [0.80, 0.85]
  d = reporting.compare_seeds(a, b)
  va, vb = np.var(a, ddof=1) / 3, np.var(b, ddof=1) / 2   # squared standard errors of the means
  se = math.sqrt(va + vb)
  df = (va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 1)       # Welch-Satterthwaite
  t = (0.95 - 0.825) / se
  assert d.difference == pytest.approx(0.125, rel=1e-12)
  assert d.df == pytest.approx(df, rel=1e-12)
  assert d.p_value == pytest.approx(2 * scipy.stats.t.sf(t, df), rel=1e-9)
  half_width = scipy.stats.t.ppf(0.975, df) * se
  np.testing.assert_allclose(d.ci, [0.125 - half_width, 0.125 + half_width], rtol=1e-9)
  welch = scipy.stats.ttest_ind(a, b, equal_var=False)
  assert d.p_value == pytest.approx(welch.pvalue, rel=1e-12)
  assert d.p_value == pytest.approx(0.0469730, abs=1e-7)  # fixed number, scipy 1.17.1
  np.testing.assert_allclose(d.ci, [0.0033014, 0.2466986], atol=1e-7)
  assert d.verdict == "A higher"
  assert reporting.compare_seeds(b, a).verdict == "A lower"


def test_comparison_without_enough_seeds_or_spread_gives_no_interval():
  few = reporting.compare_seeds([0.9, 0.95, 0.97], [0.8])
  assert (few.ci, few.p_value, few.df, few.undecided) == (None, None, None, reporting.TOO_FEW_SEEDS)
  assert few.difference == pytest.approx(0.94 - 0.8)
  flat = reporting.compare_seeds([1.0, 1.0, 1.0], [1.0, 1.0])  # saturated accuracy in both runs
  assert (flat.ci, flat.p_value, flat.verdict) == (None, None, reporting.NO_SPREAD)
  with warnings.catch_warnings():
    warnings.simplefilter("error")  # scipy's "precision loss" warning is not for this case
    one_flat = reporting.compare_seeds([1.0, 1.0], [0.9, 0.95])  # one flat run still has a test
  # se = sqrt(0 + 0.00125 / 2) = 0.025, t = 0.075 / se = 3, Welch df = 1: p = 1 - 2 atan(3) / pi.
  assert one_flat.df == pytest.approx(1.0, rel=1e-9)
  assert one_flat.p_value == pytest.approx(1 - 2 * math.atan(3) / math.pi, rel=1e-9)
  np.testing.assert_allclose(one_flat.ci, [0.075 - T_975_DF1 * 0.025, 0.075 + T_975_DF1 * 0.025], rtol=1e-9)


def test_summary_and_results_md_carry_the_confidence_intervals(palindrome_dir, tmp_path):
  summary = reporting.summarize(palindrome_dir)
  np.testing.assert_allclose(summary["ci95"]["final/eval/accuracy"], [0.836162, 1.063838], atol=1e-6)
  one = write_run(tmp_path / "one", "one_seed", palindrome_records(seeds=(1,)))
  assert reporting.summarize(one)["ci95"]["final/eval/accuracy"] is None
  rows = table_rows(reporting.write_results_md([palindrome_dir, one], tmp_path / "r.md"),
                    "## Final metrics over seeds: 95% confidence intervals")
  assert rows[0] == ["experiment", "metric", "seeds", "mean", "std", "95% CI", "each seed"]
  assert ["palindrome_lstm_T10", "final/eval/accuracy", "3", "0.950", "0.046", "[0.836, 1.064]",
          "0: 0.900, 1: 0.960, 2: 0.990"] in rows
  assert ["one_seed", "final/eval/accuracy", "1", "0.960", "0.000", "—", "1: 0.960"] in rows


def table_rows(text, heading):
  """The cells of the first Markdown table after `heading` (header, then data rows)."""
  lines = text.split(heading + "\n")[1].splitlines()
  start = next(i for i, line in enumerate(lines) if line.startswith("|"))
  table = [line for line in itertools.takewhile(lambda l: l.startswith("|"), lines[start:])]
  rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table]
  return [rows[0], *rows[2:]]


def test_cli_compare_prints_difference_interval_and_p_value(palindrome_dir, tmp_path):
  records = palindrome_records(seeds=(0, 1))
  for record in records:
    if record["split"] == "final/eval":
      record["accuracy"] = {0: 0.80, 1: 0.85}[record["seed"]]
  other = write_run(tmp_path / "peephole", "palindrome_peephole_T10", records)
  result = run_cli("--compare", str(palindrome_dir), str(other), "--out=reports", cwd=tmp_path)
  assert result.returncode == 0, result.stderr
  assert (tmp_path / "reports" / "results.md").read_text() == result.stdout
  rows = table_rows(result.stdout, "## A − B: palindrome_lstm_T10 vs palindrome_peephole_T10")
  assert rows[0] == ["metric", "A", "B", "A − B", "95% CI of A − B", "p (Welch)", "verdict"]
  # Expected numbers: test_welch_comparison_matches_the_textbook_formulas_and_scipy.
  assert ["final/eval/accuracy", "0.950 ± 0.046 (3 seeds)", "0.825 ± 0.035 (2 seeds)", "+0.125",
          "[0.003, 0.247]", "0.047", "A higher"] in rows
  assert "Too few seeds" not in result.stdout
  assert "| palindrome_peephole_T10" in result.stdout.split("## A − B")[0]  # in the results table


def test_cli_compare_says_plainly_when_a_run_has_one_seed(palindrome_dir, tmp_path):
  one = write_run(tmp_path / "one", "palindrome_gru_T10", palindrome_records(seeds=(1,)))
  result = run_cli(f"--compare={palindrome_dir},{one}", "--out=reports", cwd=tmp_path)
  assert result.returncode == 0, result.stderr
  rows = table_rows(result.stdout, "## A − B: palindrome_lstm_T10 vs palindrome_gru_T10")
  assert ["final/eval/accuracy", "0.950 ± 0.046 (3 seeds)", "0.960 ± 0.000 (1 seed)", "-0.010",
          "—", "—", "too few seeds"] in rows
  assert ("**Too few seeds to tell** (every shared metric): B has 1 seed; a confidence interval "
          "and a p-value need at least 2 seeds in each run") in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--compare", "A", "B", "C"], "error: --compare takes exactly two workdirs, A and B, got 3: A, B, C"),
    (["--workdirs", "X", "Y", "--compare", "A", "B"],
     "error: cannot tell whether Y B belong to --workdirs or --compare"),
    ([], "error: no workdirs given; pass --workdirs DIR [DIR ...] or --compare A B"),
])
def test_cli_rejects_bad_compare_arguments_in_one_line(tmp_path, args, message):
  result = run_cli(*args, f"--out={tmp_path / 'out'}", cwd=tmp_path)
  assert result.returncode != 0 and "Traceback" not in result.stderr
  assert result.stderr.startswith(message) and len(result.stderr.strip().splitlines()) == 1
  assert not (tmp_path / "out").exists()


def test_plus_joins_the_seeds_of_one_config_trained_in_separate_workdirs(tmp_path):
  config = {"num_epochs": 4, "optimizer": "sgd", "learning_rate": 1.0}
  all_records = lm_records()
  write_run(tmp_path / "s0", "ptb", [r for r in all_records if r["seed"] == 0], config=config,
            timing={"train_seconds": 100.0, "train_examples_per_s": 10.0, "launches": 2})
  write_run(tmp_path / "s12", "ptb", [r for r in all_records if r["seed"] != 0], config=config,
            timing={"train_seconds": 300.0, "train_examples_per_s": 20.0, "launches": 1})
  joined = reporting.load_run(f"{tmp_path / 's0'}+{tmp_path / 's12'}")
  assert joined.seeds == [0, 1, 2] and joined.config["seeds"] == [0, 1, 2]
  assert joined.timing["train_seconds"] == 400.0 and joined.timing["launches"] == 3
  assert joined.timing["train_examples_per_s"] == (100.0 * 10 + 300.0 * 20) / 400.0
  together = reporting.summarize(joined)
  whole = reporting.summarize(reporting.load_run(write_run(tmp_path / "all", "ptb", all_records, config=config)))
  assert together["mean"] == whole["mean"] and together["std"] == whole["std"]
  write_run(tmp_path / "other", "ptb", [r for r in all_records if r["seed"] == 1], config={**config, "learning_rate": 0.5})
  with pytest.raises(reporting.ReportError, match="configs differ in learning_rate"):
    reporting.load_run(f"{tmp_path / 's0'}+{tmp_path / 'other'}")
  with pytest.raises(reporting.ReportError, match="both trained seed 0"):
    reporting.load_run(f"{tmp_path / 's0'}+{tmp_path / 's0'}")
