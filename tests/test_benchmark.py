"""The benchmark at toy shapes, FLOP counts, the Flax and PyTorch peers against ours, the fused loop's gradients."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from jax.extend import core as jcore

from rnn_jax import benchmarking, train
from rnn_jax.rng_streams import DATA_STREAM, DROPOUT_STREAM, INIT_STREAM

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
needs_torch = pytest.mark.skipif(not benchmarking.torch_available(), reason="PyTorch not installed")



def _close(a, b, **kw):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), **kw)


def test_benchmark_runs_layers_and_steps_and_writes_every_row(tmp_path):
  results = benchmarking.run_benchmark(["toy"], ["lstm", "gru"], repeats=2, kinds=("layer", "step"),
                                       torch_threads=1)
  rows = {(r.kind, r.cell, r.implementation) for r in results}
  torch = {"torch"} if benchmarking.torch_available() else set()
  for cell in ("lstm", "gru"):
    assert {i for k, c, i in rows if (k, c) == ("layer", cell)} == {"ours", "flax"} | torch
    assert {i for k, c, i in rows if (k, c) == ("step", cell)} == {"ours"} | torch  # no Flax step
  for r in results:
    assert r.median_ms > 0 and r.tokens_per_s > 0 and r.gemm_gflops > 0
    assert r.floor_ms == pytest.approx(r.flops / (r.gemm_gflops * 1e9) * 1e3)
    if r.implementation == "ours":
      assert r.ratio_vs_ours == pytest.approx(1.0)
  step = next(r for r in results if (r.kind, r.cell, r.implementation) == ("step", "lstm", "ours"))
  # palindrome_lstm:smoke: batch 8, T = 10 -> 41 steps, 8 units, 3 symbols, 2 classes
  assert step.flops == benchmarking.step_flops(8, 41, 8, 8, 1, 2, 4, outputs_every_step=False)
  assert step.tokens_per_s == pytest.approx(41 * step.sequences_per_s)
  table = benchmarking.format_table(results)
  assert "| toy | gru | layer | flax |" in table and "| toy | lstm | step | ours |" in table
  assert table.count("\n| toy |") == len(results) and "GFLOP/s" in table.splitlines()[-1]
  path = tmp_path / "bench.json"
  benchmarking.write_json(str(path), results, {"command": "test"})
  payload = json.loads(path.read_text())
  assert payload["command"] == "test" and payload["environment"]["choices"]["platform"] == "cpu"
  assert len(payload["results"]) == len(results)
  for row in payload["results"]:
    assert {"shape", "cell", "kind", "implementation", "median_ms", "min_ms", "tokens_per_s", "flops",
            "floor_ms"} <= set(row)


def test_benchmark_cli_selects_kinds_and_writes_json(tmp_path):
  path = tmp_path / "rows.json"
  cmd = [sys.executable, str(REPO / "launch" / "benchmark.py"), "--kinds=layer", "--shapes=toy", "--cells=gru",
         "--implementations=ours", "--repeats=2", f"--output_json={path}"]  # the old flag name still works
  out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "XLA_FLAGS": ""})
  assert out.returncode == 0, out.stderr
  assert "| toy | gru | layer | ours |" in out.stdout
  assert [(r["kind"], r["implementation"]) for r in json.loads(path.read_text())["results"]] == [("layer", "ours")]
  bad = subprocess.run(cmd[:2] + ["--kinds=epoch"], capture_output=True, text=True, timeout=300)
  assert bad.returncode != 0 and "unknown kind 'epoch'" in bad.stderr


def test_flop_formula_against_a_hand_count():
  """B = 2, T = 3, E = 5, H = 4, two LSTM layers (G = 4), V = 7 outputs: every matmul written out."""
  forward = (2 * (2 * 3) * 5 * 16      # layer 1 input path: [6, 5] @ [5, 16]
             + 3 * 2 * 2 * 4 * 16      # layer 1 recurrent path: 3 steps of [2, 4] @ [4, 16]
             + 2 * (2 * 3) * 4 * 16    # layer 2 input path: [6, 4] @ [4, 16]
             + 3 * 2 * 2 * 4 * 16)     # layer 2 recurrent path
  logits_every_step, logits_at_end = 2 * (2 * 3) * 4 * 7, 2 * 2 * 4 * 7
  assert forward == 960 + 768 + 768 + 768
  assert benchmarking.step_flops(2, 3, 5, 4, 2, 7, 4, outputs_every_step=True) == 3 * (forward + logits_every_step)
  assert benchmarking.step_flops(2, 3, 5, 4, 2, 7, 4, outputs_every_step=False) == 3 * (forward + logits_at_end)
  assert benchmarking.recurrent_flops(2, 3, 5, 4, 4) == 3 * (2 * 6 * 5 * 16 + 3 * 2 * 2 * 4 * 16)
  # The figure: PTB small, 6.34 GFLOP per LSTM step, of which the tied softmax is 4.8.
  assert benchmarking.step_flops(20, 20, 200, 200, 2, 10_000, 4, True) == 6_336_000_000
  assert benchmarking.step_flops(20, 20, 200, 200, 2, 10_000, 3, True) == 5_952_000_000


def _dot_flops(jaxpr) -> int:
  """FLOPs of every dot_general in a jaxpr, inner jaxprs included (a scan body times its length)."""
  total = 0
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == "dot_general":
      (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
      lhs, rhs = (v.aval.shape for v in eqn.invars)
      free = lambda shape, skip: math.prod(d for i, d in enumerate(shape) if i not in skip)  # noqa: E731
      total += 2 * math.prod(lhs[i] for i in lc) * math.prod(lhs[i] for i in lb) * free(lhs, (*lc, *lb)) \
          * free(rhs, (*rc, *rb))
    inner = [x.jaxpr if isinstance(x, jcore.ClosedJaxpr) else x
             for v in eqn.params.values() for x in (v if isinstance(v, (tuple, list)) else (v,))
             if isinstance(x, (jcore.ClosedJaxpr, jcore.Jaxpr))]
    if inner:
      counts = [_dot_flops(j) for j in inner]
      count = max(counts) if eqn.primitive.name == "cond" else sum(counts)
      total += count * (eqn.params["length"] if eqn.primitive.name == "scan" else 1)
  return total


@pytest.mark.parametrize("cell", benchmarking.CELLS)
def test_flop_formula_counts_every_matmul_the_programs_run(cell):
  """The analytic count equals the dot products in the jaxprs of our layer's and our task's gradients."""
  shape = benchmarking.SHAPES["toy"]
  fn, args = benchmarking.jax_grad_setup("ours", cell, shape)
  assert _dot_flops(jax.make_jaxpr(fn)(*args).jaxpr) == benchmarking.recurrent_flops(
      shape.batch, shape.steps, shape.inputs, shape.hidden, benchmarking.GATE_BLOCKS[cell])
  config = benchmarking.step_config("toy", cell)
  task = train.make_task(config)
  params = task.init_params(jax.random.key(0))
  grad = jax.grad(lambda p: task.train_loss(p, {}, {}, jax.random.key(1), jax.random.key(2), 0)[0])
  assert _dot_flops(jax.make_jaxpr(grad)(params).jaxpr) == benchmarking.config_step_flops(config, task)


def test_time_interleaved_takes_turns_in_blocks_with_an_untimed_call_after_each_switch():
  calls = []
  fns = {name: (lambda name=name: calls.append(name), ()) for name in ("a", "b")}
  times = benchmarking.time_interleaved(fns, repeats=5, warmup=1, block=2)
  assert {k: len(v) for k, v in times.items()} == {"a": 5, "b": 5}
  # warm-up a, b; then rounds of (1 untimed + up to 2 timed) calls, the order rotating each round.
  assert "".join(calls) == "ab" + "aaabbb" + "bbbaaa" + "aabb"


def test_train_step_benchmark_times_each_seed_batching():
  cmd = [sys.executable, str(REPO / "launch" / "bench_train_step.py"),
         f"--config={REPO / 'experiments' / 'palindrome_lstm.py'}:smoke", "--config.seeds=(0,1,2)",
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


@pytest.fixture
def ptb_data(monkeypatch, tmp_path_factory):
  """Real PTB from ../shared/data; the TFDS directory the other tests of the session share."""
  if not SHARED_DATA.is_dir():
    pytest.skip(f"{SHARED_DATA} not on this machine")
  monkeypatch.setenv("RNN_JAX_DATA_DIR", str(SHARED_DATA))
  monkeypatch.setenv("RNN_JAX_TFDS_DIR", str(tmp_path_factory.getbasetemp() / "tfds"))


@needs_torch
@pytest.mark.parametrize("cell", benchmarking.CELLS)
def test_torch_ptb_peer_loss_at_init_equals_ours(cell, ptb_data):
  """PTB small: given our seed-0 initial parameters, the PyTorch twin's first-window loss is ours."""
  import torch
  config = benchmarking.step_config("ptb_small", cell)
  task = train.make_task(config)
  key = jax.random.key(0)
  params = task.init_params(jax.random.fold_in(key, INIT_STREAM))  # what the run initialises seed 0 with
  ours, _ = jax.jit(task.train_loss)(params, task.init_extra(), task.device_data(),
                                     jax.random.fold_in(key, DATA_STREAM), jax.random.fold_in(key, DROPOUT_STREAM), 0)
  model = benchmarking.torch_language_model(cell, jax.tree.map(np.asarray, params))
  streams = torch.from_numpy(np.asarray(task.streams["train"], np.int64))
  width = config.data.window_tokens
  with torch.no_grad():
    peer, _ = benchmarking.torch_language_model_loss(model, streams[:, :width], streams[:, 1:width + 1])
  assert float(peer) == pytest.approx(float(ours), rel=1e-5)


def _training_losses(config, steps: int):
  """The losses of the first ``steps`` training steps: ours (the run's compiled step, from its metric
  sums) and the PyTorch peer's, started from our initial parameters."""
  ours = benchmarking.our_train_step(config)
  peer, _ = benchmarking.torch_step_setup(config, ours.task, ours.params, threads=1)
  ours_losses, total = [], 0.0
  for _ in range(steps):
    summed = float(np.asarray(ours.fn()["loss"][0])[0])  # seed 0's loss sum since the start
    # PTB: summed over the window, averaged over the batch; palindrome: the batch mean.
    ours_losses.append((summed - total) / config.batch_size)
    total = summed
  return ours_losses, [float(peer()) for _ in range(steps)]


@needs_torch
@pytest.mark.parametrize("cell", benchmarking.CELLS)
def test_torch_palindrome_peer_trains_as_ours(cell):
  """Same parameters, same batches: the losses of three Adam steps (clipped) agree."""
  ours, peer = _training_losses(benchmarking.step_config("toy", cell), steps=3)
  np.testing.assert_allclose(peer, ours, rtol=1e-5)
  assert len(set(ours)) == 3  # the steps did change something


@needs_torch
@pytest.mark.parametrize("cell", benchmarking.CELLS)
def test_torch_ptb_peer_trains_as_ours(cell, ptb_data):
  """ptb_smoke (16 units, the real 10k softmax): three SGD steps with the state carried between windows."""
  ours, peer = _training_losses(benchmarking.step_config("ptb_smoke", cell), steps=3)
  np.testing.assert_allclose(peer, ours, rtol=1e-5)
  assert len(set(ours)) == 3


def test_step_rows_without_ptb_data_are_skipped_with_a_message(monkeypatch, tmp_path):
  monkeypatch.delenv("RNN_JAX_DATA_DIR", raising=False)
  monkeypatch.setenv("RNN_JAX_TFDS_DIR", str(tmp_path / "empty"))
  lines = []
  results = benchmarking.run_benchmark(["ptb_small"], ["lstm"], repeats=1, kinds=("step",), log=lines.append)
  assert results == [] and not (tmp_path / "empty").exists()
  assert lines == ["step rows ptb_small lstm skipped: no PTB data (ptb.train.txt, ptb.valid.txt, ptb.test.txt not "
                   "found and no prepared dataset): set RNN_JAX_DATA_DIR to a folder holding "
                   "ptb/ptb.{train,valid,test}.txt (here: RNN_JAX_DATA_DIR=../shared/data)"]


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
