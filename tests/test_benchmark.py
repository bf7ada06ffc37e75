"""The benchmark at toy shapes, the Flax peer against our layer, and the fused loop's gradients."""
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax import benchmarking, cells, layers

BATCH, TIME, IN, HID = 3, 7, 5, 4


def _close(a, b, **kw):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), **kw)


def test_benchmark_runs_and_prints_a_table(tmp_path):
  results = benchmarking.run_benchmark(["toy"], ["lstm", "gru"], repeats=2)
  impls = {r.implementation for r in results}
  assert {"ours", "flax"} <= impls
  assert ("torch" in impls) == benchmarking.torch_available()
  for r in results:
    assert r.median_ms > 0 and r.tokens_per_s > 0
    if r.implementation == "ours":
      assert r.ratio_vs_ours == pytest.approx(1.0)
  table = benchmarking.format_table(results)
  assert table.count("\n") == len(results) + 1 and "| toy | gru | flax |" in table
  path = tmp_path / "bench.json"
  benchmarking.write_json(str(path), results)
  assert path.read_text().count('"implementation"') == len(results)


def test_time_interleaved_takes_turns_in_blocks_with_an_untimed_call_after_each_switch():
  calls = []
  fns = {name: (lambda name=name: calls.append(name), ()) for name in ("a", "b")}
  times = benchmarking.time_interleaved(fns, repeats=5, warmup=1, block=2)
  assert {k: len(v) for k, v in times.items()} == {"a": 5, "b": 5}
  # warm-up a, b; then rounds of (1 untimed + up to 2 timed) calls, the order rotating each round.
  assert "".join(calls) == "ab" + "aaabbb" + "bbbaaa" + "aabb"


def test_train_step_benchmark_times_each_seed_batching():
  repo = Path(__file__).resolve().parents[1]
  cmd = [sys.executable, str(repo / "launch" / "bench_train_step.py"),
         f"--config={repo / 'experiments' / 'palindrome_lstm.py'}:smoke", "--config.seeds=(0,1,2)",
         "--batchings=vmap,sequential,auto", "--repeats=2"]
  out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "XLA_FLAGS": ""})
  assert out.returncode == 0, out.stderr
  rows = [line for line in out.stdout.splitlines() if line.startswith("| palindrome_lstm_T10_smoke | 3 |")]
  assert [r.split("|")[3].strip() for r in rows] == ["vmap", "sequential", "auto (sequential)"]
  assert rows[0].rstrip().endswith("| 1.00 |")
  bad = subprocess.run(cmd[:-2] + ["--batchings=batched"], capture_output=True, text=True, timeout=300)
  assert bad.returncode != 0 and bad.stderr.strip().splitlines()[-1].startswith("error: config.seed_batching")


@pytest.mark.parametrize("cell", benchmarking.CELLS)
def test_flax_peer_computes_the_same_function(cell):
  """With mapped weights, nn.RNN(OptimizedLSTMCell / GRUCell) equals our layer, gradients too."""
  shape = benchmarking.SHAPES["toy"]
  ours_fn, args = benchmarking.jax_grad_setup("ours", cell, shape)
  flax_fn, flax_args = benchmarking.jax_grad_setup("flax", cell, shape)
  params, xs, _ = args
  ours = benchmarking.our_layer(cell, shape.hidden).apply({"params": params}, xs)[1]
  peer = benchmarking.flax_layer(cell, shape.hidden).apply({"params": flax_args[0]}, xs)
  np.testing.assert_allclose(ours, peer, rtol=1e-5, atol=1e-6)
  g_ours, g_flax = ours_fn(*args), flax_fn(*flax_args)
  _close(g_ours[1], g_flax[1], rtol=1e-4, atol=1e-6)  # input gradients
  _close(benchmarking.map_params_to_flax(cell, g_ours[0]), g_flax[0], rtol=1e-4, atol=1e-6)


@pytest.mark.skipif(not benchmarking.torch_available(), reason="PyTorch not installed")
def test_torch_peer_runs():
  fn, args = benchmarking.torch_grad_setup("gru", benchmarking.SHAPES["toy"], threads=1)
  grads = fn(*args)
  assert grads[0].shape == (3, 5, 4)


@pytest.mark.skipif(not benchmarking.torch_available(), reason="PyTorch not installed")
def test_grimm_torch_peer_trains_a_few_steps(tmp_path):
  import pathlib
  import subprocess
  import sys
  text = tmp_path / "book.txt"
  text.write_text("Once upon a time there was a king who had three daughters. " * 20, encoding="utf-8")
  script = pathlib.Path(__file__).resolve().parents[1] / "launch" / "grimm_torch_peer.py"
  proc = subprocess.run([sys.executable, str(script), f"--text={text}", "--steps=3"], capture_output=True,
                        text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr
  assert "20 distinct" in proc.stdout and "step 3: train accuracy" in proc.stdout


CASES = [("lstm", {}), ("lstm", {"forget_gate": "zero"}), ("lstm", {"forget_gate": "one"}), ("gru", {}),
         ("gru", {"reset_after": True}), ("gru", {"reset_after": True, "use_bias": False})]


# (padded, reverse, hoist): every flag on in some combination, every cell in every combination.
OPTIONS = [(False, False, False), (True, True, False), (True, False, True)]


@pytest.mark.parametrize("padded,reverse,hoist", OPTIONS)
@pytest.mark.parametrize("name,kwargs", CASES)
def test_fused_loop_matches_autodiff_through_scan(name, kwargs, padded, reverse, hoist):
  """The hand-written backward pass of the fused loop equals autodiff through ``nn.scan``."""
  kx, kc, kh = jax.random.split(jax.random.key(1), 3)
  xs = jax.random.normal(kx, (BATCH, TIME, IN))
  cot = jax.random.normal(kc, (BATCH, TIME, HID))
  lengths = jnp.array([TIME, 3, 1]) if padded else None

  def make(implementation):
    return layers.RNNLayer(cells.make_cell(name, HID, **kwargs), reverse=reverse,
                           implementation=implementation, hoist_inputs=hoist)

  fused, scan = make("fused"), make("scan")
  params = scan.init(jax.random.key(0), xs)["params"]
  assert jax.tree.structure(fused.init(jax.random.key(0), xs)["params"]) == jax.tree.structure(params)
  carry0 = jax.tree.map(lambda a: 0.5 * jax.random.normal(kh, a.shape),
                        scan.cell.initialize_carry(None, xs[:, 0].shape))

  def loss(layer):
    def f(params, xs, carry0):
      carry, ys = layer.apply({"params": params}, xs, carry0, seq_lengths=lengths)
      return jnp.sum(ys * cot) + sum(jnp.sum(c ** 2) for c in jax.tree.leaves(carry))
    return jax.value_and_grad(f, argnums=(0, 1, 2))

  (v_f, g_f), (v_s, g_s) = loss(fused)(params, xs, carry0), loss(scan)(params, xs, carry0)
  np.testing.assert_allclose(v_f, v_s, rtol=1e-5)
  _close(g_f, g_s, rtol=1e-4, atol=1e-5)
  if padded:
    mask = np.asarray(layers.length_mask(lengths, TIME))
    assert np.all(np.asarray(g_f[1])[~mask] == 0.0)
