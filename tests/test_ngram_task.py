"""The n-gram models, task and analysis: NumPy references, parameter counts, epochs, metrics, bad input."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import common, ngram_nplm, ngram_rnn
from rnn_jax import models, ngram_analysis, sampling, train
from rnn_jax.errors import ConfigError
from rnn_jax.tasks import ngram

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def data_env(monkeypatch, tmp_path_factory):
  """Real PTB from ../shared/data; the TFDS directory the other training tests of the session share."""
  monkeypatch.setenv("RNN_JAX_DATA_DIR", str(SHARED_DATA))
  monkeypatch.setenv("RNN_JAX_TFDS_DIR", str(tmp_path_factory.getbasetemp() / "tfds"))


# --- models ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("activation", ["linear", "tanh"])
def test_nplm_forward_matches_numpy_float64(activation):
  model = models.NPLM(vocab_size=50, embed_dim=4, features=7, activation=activation)
  context = np.array([[3, 1, 4], [1, 5, 9], [2, 6, 5], [3, 5, 8]], np.int32)
  params = model.init(jax.random.key(0), jnp.asarray(context))["params"]
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  x = p["embed"]["embedding"][context].reshape(4, 12)  # [batch, 3 * D]: the words' vectors side by side
  h = x @ p["hidden"]["kernel"] + p["hidden"]["bias"]
  h = np.tanh(h) if activation == "tanh" else h
  expected = h @ p["head"]["kernel"] + p["head"]["bias"]
  np.testing.assert_allclose(model.apply({"params": params}, context), expected, rtol=1e-5, atol=1e-6)


def n_params(model):
  """Shapes only (jax.eval_shape), as launch/count_params.py counts."""
  return models.count_params(jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 3), jnp.int32)))


def test_parameter_counts():
  V, D, H = 8000, 16, 128
  # Embedding VD + hidden (3D + 1)H + softmax (H + 1)V; the report's 264,767 is below the softmax alone.
  assert n_params(models.NPLM(V)) == V * D + (3 * D + 1) * H + (H + 1) * V == 1_166_272
  assert (H + 1) * V == 1_032_000 > 264_767
  assert n_params(models.NPLM(V, features=256)) == V * D + (3 * D + 1) * 256 + 257 * V
  # SimpleRNN: input path (D + 1)H (one bias) and recurrent H^2.
  assert n_params(models.NgramRNN(V)) == V * D + (D + 1) * H + H * H + (H + 1) * V == 1_178_560
  assert n_params(models.NgramRNN(V, cell_type="lstm")) == V * D + 4 * ((D + 1) * H + H * H) + (H + 1) * V


def test_rnn_truncation_changes_gradients_not_values():
  context = jnp.array([[3, 1, 4], [1, 5, 9]], jnp.int32)
  full = models.NgramRNN(20, embed_dim=4, features=6)
  params = full.init(jax.random.key(0), context)["params"]
  loss = lambda model: jax.jit(jax.value_and_grad(lambda p: jnp.sum(jax.nn.log_softmax(model.apply({"params": p}, context))[:, 0])))
  value, grads = loss(full)(params)
  for k in (1, 2):
    value_k, grads_k = loss(models.NgramRNN(20, embed_dim=4, features=6, bptt_truncation=k))(params)
    assert value_k == value
    # Only the last k context positions' words get embedding gradients (all six words are distinct).
    reached = np.abs(np.asarray(grads_k["embed"]["embedding"])).sum(-1) > 0
    assert set(np.flatnonzero(reached)) == set(np.asarray(context[:, 3 - k:]).ravel())
    # The output layer sees no difference: equal up to float32 rounding (the truncated model is another
    # XLA program, whose fusions may sum in another order: up to 6e-8 apart on an AMD EPYC VM).
    np.testing.assert_allclose(grads_k["head"]["kernel"], grads["head"]["kernel"], rtol=1e-6, atol=1e-7)
  value_3, grads_3 = loss(models.NgramRNN(20, embed_dim=4, features=6, bptt_truncation=3))(params)
  assert value_3 == value and all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(grads_3), jax.tree.leaves(grads)))


# --- analysis ----------------------------------------------------------------------------------------

def test_nearest_neighbours_on_a_planted_embedding():
  e = np.zeros((8, 3))
  e[0] = [1, 0, 0]
  e[1] = [2, 0.1, 0]      # nearly parallel to word 0, longer: cosine ignores length
  e[2] = [0, 1, 0]
  e[3] = [-1, 0, 0]       # opposite: distance 2
  e[4] = [1, 1, 0]        # 45 degrees: distance 1 - 1/sqrt 2
  e[5] = [0, 3, 0]        # ties with word 2 for query 0 (both at 90 degrees)
  e[6] = [0, 0, 0]        # zero vector: cosine 0
  e[7] = [1, 0.01, 0]     # nearest of all to 0, but outside the candidates
  table = ngram_analysis.nearest_neighbours(e, queries=[0, 7], candidates=np.arange(7), k=4)
  assert [i for i, _ in table[0]] == [1, 4, 2, 5]  # the query itself excluded; the 2/5 tie: lower id first
  np.testing.assert_allclose([d for _, d in table[0]], [1 - 2 / math.hypot(2, 0.1), 1 - 1 / math.sqrt(2), 1, 1])
  assert table[1][0][0] == 0  # a query outside the candidates is fine
  vocab = ["w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7"]
  md = ngram_analysis.neighbours_md(e, vocab, ["w0"], k=2, among=7)
  assert "| w0 | w1 (0.001) | w4 (0.293) |" in md
  with pytest.raises(ngram_analysis.AnalysisError, match="'nope'"):
    ngram_analysis.neighbours_md(e, vocab, ["w0", "nope"])


def test_labels_never_overlap_and_piles_are_thinned(tmp_path):
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure

  def placed_boxes(points):
    fig = Figure(figsize=(4, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.1, 0.1, 0.8, 0.8))
    ax.set_xlim(-1, 11)
    ax.set_ylim(-1, 11)
    return ngram_analysis.place_labels(ax, points, [f"word{i}" for i in range(len(points))])

  spread = np.stack(np.meshgrid(np.arange(0, 10, 3.3), np.arange(0, 10, 3.3)), -1).reshape(-1, 2)
  assert len(placed_boxes(spread)) == len(spread)  # room for all
  pile = np.full((40, 2), 5.0)
  boxes = placed_boxes(pile)
  assert 1 <= len(boxes) <= 8  # one point: at most one label per spot around it
  for i, a in enumerate(boxes):
    for b in boxes[i + 1:]:
      assert not ngram_analysis._overlap(a, b)
  path, labelled = ngram_analysis.plot_embedding(np.random.default_rng(0).normal(size=(30, 2)), [f"w{i}" for i in range(30)],
                                                 20, tmp_path / "e.png")
  assert path.stat().st_size > 0 and 0 < labelled <= 20


def test_sliding_window_generation_matches_a_greedy_loop_and_stops_at_end():
  vocab = ["UNK", "END", "START"] + [f"w{i}" for i in range(17)]
  model = models.NPLM(vocab_size=20, embed_dim=4, features=8, activation="tanh")
  params = model.init(jax.random.key(0), jnp.zeros((1, 3), jnp.int32))["params"]
  lm = ngram_analysis.SlidingWindowLM(model, context=3, vocab_size=20, pad_id=2)
  context, expected = [5, 9, 0], []  # w2 w6 UNK
  for _ in range(6):
    logits = model.apply({"params": params}, jnp.array([context[-3:]]))
    context.append(int(jnp.argmax(logits[0])))
    expected.append(vocab[context[-1]])
  expected = expected[:expected.index("END") + 1] if "END" in expected else expected
  text = ngram_analysis.generate(sampling.Sampler(lm), params, vocab, ["w2 w6 UNK"], 6, jax.random.key(0), 0.0)
  assert text == ["w2 w6 UNK | " + " ".join(expected)]

  class AlwaysEnd:
    def apply(self, variables, context):
      return jnp.zeros((context.shape[0], 20)).at[:, 1].set(5.0)

  ends = ngram_analysis.SlidingWindowLM(AlwaysEnd(), context=3, vocab_size=20, pad_id=2)
  assert ngram_analysis.generate(sampling.Sampler(ends), {}, vocab, ["w1"], 5, jax.random.key(0), 0.0) == ["w1 | END"]


# --- the task ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def smoke_task():
  os.environ.setdefault("RNN_JAX_DATA_DIR", str(SHARED_DATA))
  return ngram.NgramLanguageModelTask(ngram_nplm.get_config("smoke"))


def test_an_epoch_is_a_permutation_of_the_training_ngrams(smoke_task):
  task = smoke_task
  params = task.init_params(jax.random.key(0))
  data = task.device_data()
  key = jax.random.key(7)
  step = jax.jit(lambda extra, s: task.train_loss(params, extra, data, key, None, s)[1])
  sums, extra = step(task.init_extra(), 0)
  order = np.asarray(extra["order"])
  np.testing.assert_array_equal(np.sort(order), np.arange(len(task.train_rows)))  # every n-gram once
  _, later = step(extra, 5)  # inside the epoch the order is kept ...
  np.testing.assert_array_equal(later["order"], order)
  _, next_epoch = step(extra, task.steps_per_epoch)  # ... and a new one drawn at the next epoch's first step
  assert not np.array_equal(next_epoch["order"], order)
  # The batch of step 5 is rows order[5B:6B]: its loss sum is theirs.
  B = int(task.config.batch_size)
  rows = task.train_rows[order[5 * B:6 * B]]
  logits = task.model.apply({"params": params}, rows[:, :-1])
  expected = -np.take_along_axis(np.asarray(jax.nn.log_softmax(logits)), rows[:, -1:], -1).sum()
  np.testing.assert_allclose(step(extra, 5)[0]["loss"][0], expected, rtol=1e-5)


def test_seeds_batched_with_vmap_draw_the_same_epochs_as_alone(smoke_task):
  """Under a seed vmap (seed_batching='vmap', the GPU default) the epoch's lax.cond becomes a select."""
  task = smoke_task
  params = task.init_params(jax.random.key(0))
  data = task.device_data()
  keys = jax.random.split(jax.random.key(3), 2)
  one = lambda key, extra, s: task.train_loss(params, extra, data, key, None, s)[1]
  extra0 = task.init_extra()
  _, alone = jax.jit(one)(keys[1], extra0, 0)
  batched_extra = jax.tree.map(lambda a: jnp.stack([a, a]), extra0)
  sums, batched = jax.jit(jax.vmap(one, in_axes=(0, 0, None)))(keys, batched_extra, 0)
  np.testing.assert_array_equal(batched["order"][1], alone["order"])
  _, later = jax.jit(jax.vmap(one, in_axes=(0, 0, None)))(keys, batched, 3)
  np.testing.assert_array_equal(later["order"], batched["order"])  # kept within the epoch


def test_evaluation_covers_every_row_once_without_the_padding(smoke_task):
  task = smoke_task
  params = task.init_params(jax.random.key(1))
  sums = jax.jit(lambda p: task.evaluate(p, task.device_data(), None, "valid", 0))(params)
  rows = np.concatenate([b for b in task.eval_data["valid"]])[:task.eval_counts["valid"]]
  assert float(sums["loss"][1]) == len(rows) == 67_020
  logits = np.asarray(task.model.apply({"params": params}, rows[:, :-1]), np.float64)
  log_probs = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) - logits.max(-1, keepdims=True)
  np.testing.assert_allclose(sums["loss"][0], -np.take_along_axis(log_probs, rows[:, -1:], -1).sum(), rtol=1e-5)
  assert float(sums["accuracy"][0]) == np.sum(logits.argmax(-1) == rows[:, -1])
  reduced = task.reduce_metrics(jax.tree.map(np.asarray, sums))
  np.testing.assert_allclose(reduced["perplexity"], np.exp(reduced["loss"]))


def test_shrunk_rnn_run_with_truncation_end_to_end_then_the_analysis(tmp_path):
  """ngram_rnn.py:smoke,k=1 on the real PTB files (both configs' plain smoke runs are in test_train.py)."""
  config = ngram_rnn.get_config("smoke,k=1")
  assert config.model.bptt_truncation == 1 and config.name.endswith("_k1_smoke")
  summary = train.train_and_evaluate(config, tmp_path)
  records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  splits = {r["split"] for r in records}
  assert {"train", "train_subset", "valid", "final/train_subset", "final/valid", "final/test"} <= splits
  for r in records:
    if "loss" in r and r["split"] != "train":
      assert r["perplexity"] == pytest.approx(math.exp(r["loss"]), rel=1e-5)
  assert len(json.loads((tmp_path / "vocab.json").read_text())) == config.data.vocab_size
  assert sorted(summary["per_seed"]) == ["0", "1"]

  run = ngram_analysis.load_ngram_run(tmp_path, seed=1)
  assert run.embedding.shape == (100, config.model.embed_dim)
  text = ngram_analysis.analysis_md(run, tmp_path / "analysis", words=["the", "of"], prompts=["the company said"],
                                    temperatures=[1.0], length=4, key=jax.random.key(0), among=50)
  assert "| the |" in text and "greedy  the company said | " in text and "T=1     the company said | " in text
  assert (tmp_path / "analysis" / "embedding_top100.png").stat().st_size > 0


# --- bad input -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("module,arg,override,message", [
    (ngram_nplm, "smoke", {"activation": "relu"}, "config.model.activation 'relu' is not one of ('linear', 'tanh')"),
    (ngram_rnn, "smoke", {"bptt_truncation": 0}, "config.model.bptt_truncation (k, steps the gradient flows back"),
    (ngram_nplm, "smoke,D=0", {}, "config.model.embed_dim (D) must be an int >= 1, got 0"),
    (ngram_rnn, "smoke", {"cell": "transformer"}, "config.model.cell 'transformer' is not one of"),
])
def test_bad_model_values_fail_in_one_line_before_anything_is_written(module, arg, override, message, tmp_path):
  config = module.get_config(arg)
  config.model.update(override)
  with pytest.raises(ConfigError) as error:
    train.train_and_evaluate(config, tmp_path / "run")
  assert message in str(error.value) and "\n" not in str(error.value)
  assert not (tmp_path / "run").exists()


def test_the_launcher_prints_one_error_line(tmp_path):
  proc = subprocess.run([sys.executable, str(REPO / "launch" / "main.py"),
                         f"--config={REPO / 'experiments' / 'ngram_nplm.py'}:smoke,act=relu", f"--workdir={tmp_path / 'run'}"],
                        cwd=REPO, capture_output=True, text=True, timeout=300)
  assert proc.returncode != 0 and "Traceback" not in proc.stderr
  assert proc.stderr.strip().splitlines()[-1].startswith("error: config.model.activation 'relu' is not one of")
  assert not (tmp_path / "run").exists()


def test_config_argument_parsing():
  assert common.parse_argument("H=256,act=tanh,smoke", ngram_nplm.ARGUMENTS) == ({"H": 256, "act": "tanh"}, True)
  assert common.parse_argument(None, ngram_nplm.ARGUMENTS) == ({}, False)
  for bad, message in (("H=big", "expected H=<int>"), ("k=1", "not understood"), ("H=1,H=2", "repeated")):
    with pytest.raises(ValueError, match=message):
      ngram_nplm.get_config(bad)
  c = ngram_rnn.get_config("D=32,k=2,cell=gru")
  assert (c.model.embed_dim, c.model.bptt_truncation, c.model.cell, c.name) == (32, 2, "gru", "ngram_rnn_gru_D32_H128_k2")
  assert ngram_rnn.get_config().model.bptt_truncation is None
