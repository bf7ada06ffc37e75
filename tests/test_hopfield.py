"""Hopfield network: Hebbian weights, sign updates and recall against NumPy references and known facts."""
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax import hopfield

REPO = Path(__file__).resolve().parents[1]


def numpy_patterns(p, n, seed=0):
  return np.random.default_rng(seed).choice([-1.0, 1.0], size=(p, n))


def numpy_sign_keep(field, state):
  return np.where(field > 0, 1.0, np.where(field < 0, -1.0, state))


def test_hebbian_weights_match_numpy_and_are_symmetric_with_zero_diagonal():
  xi = numpy_patterns(7, 20)
  expected = sum(np.outer(x, x) for x in xi) / 20.0
  np.fill_diagonal(expected, 0.0)
  w = np.asarray(hopfield.hebbian_weights(jnp.asarray(xi, jnp.float32)))
  np.testing.assert_allclose(w, expected, rtol=1e-6, atol=1e-7)
  assert np.array_equal(w, w.T) and np.all(np.diag(w) == 0.0)
  unscaled = np.asarray(hopfield.hebbian_weights(jnp.asarray(xi, jnp.float32), normalize=False))
  np.testing.assert_array_equal(unscaled, expected * 20.0)  # integer-valued, exact


@pytest.mark.parametrize("update", hopfield.UPDATES)
def test_a_single_stored_pattern_and_its_negative_are_fixed_points(update):
  xi = jnp.asarray(numpy_patterns(1, 30), jnp.float32)
  w = hopfield.hebbian_weights(xi)
  states = jnp.concatenate([xi, -xi])  # [2, N]
  final, sweeps, converged = hopfield.run_dynamics(w, states, jax.random.key(0), update, max_sweeps=5)
  np.testing.assert_array_equal(final, states)
  assert int(sweeps) == 1 and bool(jnp.all(converged))


def test_a_single_pattern_is_recovered_from_a_corrupted_copy_in_one_synchronous_step():
  xi = numpy_patterns(1, 30)
  probe = xi.copy()
  probe[0, :5] *= -1  # 5 of 30 bits wrong: every field still points to the pattern
  w = hopfield.hebbian_weights(jnp.asarray(xi, jnp.float32))
  np.testing.assert_array_equal(hopfield.sync_update(w, jnp.asarray(probe, jnp.float32)), xi)


def test_synchronous_update_equals_the_numpy_formula_ties_included():
  # P even and few: every N·W_ij is in {-4, -2, 0, 2, 4}, so fields of exactly 0 are common.
  xi = numpy_patterns(4, 21)
  w = np.asarray(hopfield.hebbian_weights(jnp.asarray(xi, jnp.float32), normalize=False))  # exact integers
  states = np.random.default_rng(1).choice([-1.0, 1.0], size=(64, 21))
  field = states @ w.T
  assert np.any(field == 0)  # ties occur, and must keep the unit's state
  expected = numpy_sign_keep(field, states)
  np.testing.assert_array_equal(hopfield.sync_update(jnp.asarray(w), jnp.asarray(states, jnp.float32)), expected)


def test_asynchronous_sweep_equals_a_unit_by_unit_numpy_loop():
  xi = numpy_patterns(12, 25)
  w = np.asarray(hopfield.hebbian_weights(jnp.asarray(xi, jnp.float32), normalize=False))
  states = np.random.default_rng(2).choice([-1.0, 1.0], size=(8, 25))
  order = np.random.default_rng(3).permutation(25)
  expected = states.copy()
  for i in order:  # each unit sees the updates made before it in this sweep
    expected[:, i] = numpy_sign_keep(expected @ w[i], expected[:, i])
  got = hopfield.async_sweep(jnp.asarray(w), jnp.asarray(states, jnp.float32), jnp.asarray(order))
  np.testing.assert_array_equal(got, expected)
  energy = lambda s: -0.5 * np.einsum("bi,ij,bj->b", s, w, s)
  assert np.all(energy(np.asarray(got)) <= energy(states))  # symmetric W, zero diagonal: E never rises


def setting(update, max_patterns=60, num_units=200):
  return hopfield.Setting(num_units=num_units, max_patterns=max_patterns, num_probes=64, flip_rate=0.1,
                          update=update, max_sweeps=30, overlap_threshold=0.9)


@pytest.mark.parametrize("update", hopfield.UPDATES)
def test_recall_is_one_at_low_load_and_breaks_down_at_high_load(update):
  low = hopfield.recall_trial(jax.random.key(0), jnp.asarray(4), setting(update))      # P/N = 0.02
  assert float(low["recall"]) == 1.0 and float(low["exact_recall"]) == 1.0 and float(low["overlap"]) == 1.0
  high = hopfield.recall_trial(jax.random.key(0), jnp.asarray(60), setting(update))    # P/N = 0.30
  assert float(high["recall"]) < 0.2 and float(high["overlap"]) < 0.6


# --- the launch script --------------------------------------------------------------------------

def run_script(*flags):
  return subprocess.run([sys.executable, str(REPO / "launch" / "hopfield.py"),
                         f"--config={REPO / 'experiments' / 'hopfield.py'}:smoke", *flags], cwd=REPO,
                        capture_output=True, text=True, timeout=300,
                        env={**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"})


def test_launch_writes_json_plot_and_prints_the_table(tmp_path):
  proc = run_script(f"--out={tmp_path / 'out'}")
  assert proc.returncode == 0, proc.stderr
  result = json.loads((tmp_path / "out" / "hopfield.json").read_text())
  assert result["num_patterns"] == {"0.0469": 3, "0.2969": 19}
  assert set(result["updates"]) == {"async", "sync"}
  assert set(result["updates"]["async"]["0.0469"]) == {"0", "1"}
  assert result["updates"]["async"]["0.0469"]["0"]["recall"] == 1.0
  assert (tmp_path / "out" / "hopfield_recall.png").stat().st_size > 10_000
  assert "| 0.0469 | 3 | 1.000 ± 0.000 |" in proc.stdout


@pytest.mark.parametrize("flag,message", [
    ("--config.num_units=-5", "config.num_units must be an int >= 2"),
    ("--config.flip_rate=1.5", "config.flip_rate must be in [0, 1]"),
    ("--config.flip_rate=-0.1", "config.flip_rate must be in [0, 1]"),
    ("--config.loads=(0.0,)", "config.loads must be > 0"),
    ("--config.updates=('parallel',)", "config.updates must name one or more of"),
    ("--config.overlap_threshold=2.0", "config.overlap_threshold must be in [0, 1]"),
    ("--config.no_such_key=1", "no_such_key"),
])
def test_bad_input_fails_with_one_line_and_writes_nothing(flag, message, tmp_path):
  proc = run_script(f"--out={tmp_path / 'out'}", flag)
  assert proc.returncode != 0
  assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
  assert not (tmp_path / "out").exists()
