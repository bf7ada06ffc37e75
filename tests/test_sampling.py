"""Text generation: the carried-state sampler against recomputation, temperature conventions, the CLI."""
import functools
import json
import math
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import grimm_lstm
from rnn_jax import models, sampling, train, trained_runs
from rnn_jax.tasks import language_model

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
VOCAB = list("\n .Tabehkt")  # a tiny character vocabulary, sorted by code point like a run's


@pytest.fixture(scope="module")
def tiny():
  """A 2-layer LSTM LM with random parameters, its sampler and a prompt batch."""
  model = models.LanguageModel(vocab_size=len(VOCAB), embed_dim=6, cell_type="lstm", features=12, num_layers=2)
  params = model.init(jax.random.key(0), jnp.zeros((1, 4), jnp.int32))["params"]
  prompt = np.array([[3, 5, 6], [1, 2, 8], [4, 4, 4]], np.int32)  # [batch 3, prompt_len 3]
  return model, params, sampling.Sampler(model), prompt


WIDTH = 32


@functools.lru_cache
def _logits_at(model):
  return jax.jit(lambda params, ids, position: model.apply({"params": params}, ids)[1][:, position])


def reference_logits(model, params, ids):
  """The last position's logits, recomputing the whole prefix from a zero state.

  The prefix is right-padded to ``WIDTH`` so that one compiled program serves every prefix; the
  model is causal, so the padding cannot change the logits at the prefix's last position.
  """
  ids = np.asarray(ids, np.int32)
  padded = np.zeros((ids.shape[0], WIDTH), np.int32)
  padded[:, :ids.shape[1]] = ids
  return np.asarray(_logits_at(model)(params, padded, ids.shape[1] - 1))


def test_the_same_key_gives_the_same_sample_and_another_key_another(tiny):
  model, params, sampler, prompt = tiny
  a = sampler(params, prompt, 40, jax.random.key(1), temperature=1.0)
  b = sampler(params, prompt, 40, jax.random.key(1), temperature=1.0)
  c = sampler(params, prompt, 40, jax.random.key(2), temperature=1.0)
  assert a.shape == (3, 40) and a.dtype == np.int32
  np.testing.assert_array_equal(a, b)
  assert (a != c).any()
  # A longer sample with the same key extends the shorter one.
  np.testing.assert_array_equal(sampler(params, prompt, 10, jax.random.key(1), temperature=1.0), a[:, :10])


def test_greedy_is_the_argmax_of_step_by_step_logits(tiny):
  model, params, sampler, prompt = tiny
  length = 12
  ids = prompt
  for _ in range(length):
    ids = np.concatenate([ids, np.argmax(reference_logits(model, params, ids), -1)[:, None]], axis=1)
  expected = ids[:, prompt.shape[1]:]
  np.testing.assert_array_equal(sampler(params, prompt, length, jax.random.key(0), temperature=0.0), expected)
  # The greedy string does not depend on the key.
  np.testing.assert_array_equal(sampler(params, prompt, length, jax.random.key(9), temperature=0.0), expected)


def test_carried_state_logits_equal_recomputing_the_whole_prefix(tiny):
  model, params, sampler, prompt = tiny
  tokens, logits = sampler(params, prompt, 12, jax.random.key(3), temperature=1.0, return_logits=True)
  assert logits.shape == (3, 12, len(VOCAB))
  for t in range(tokens.shape[1]):
    prefix = np.concatenate([prompt, tokens[:, :t]], axis=1)
    np.testing.assert_allclose(logits[:, t], reference_logits(model, params, prefix), atol=1e-5, rtol=0)


def test_temperature_to_zero_is_greedy(tiny):
  model, params, sampler, prompt = tiny
  greedy = sampler(params, prompt, 30, jax.random.key(4), temperature=0.0)
  for key in (4, 5):
    np.testing.assert_array_equal(sampler(params, prompt, 30, jax.random.key(key), temperature=1e-4), greedy)
    np.testing.assert_array_equal(
        sampler(params, prompt, 30, jax.random.key(key), inverse_temperature=math.inf), greedy)
  # ...while T = 1 does sample something else.
  assert (sampler(params, prompt, 30, jax.random.key(4), temperature=1.0) != greedy).any()


def test_inverse_temperature_is_one_over_temperature(tiny):
  model, params, sampler, prompt = tiny
  logits = jnp.asarray(reference_logits(model, params, prompt)) * 5.0
  for tau in (0.5, 1.0, 2.0, 7.0):
    np.testing.assert_allclose(sampling.next_token_probs(logits, inverse_temperature=tau),
                               jax.nn.softmax(tau * logits, axis=-1), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(sampling.next_token_probs(logits, temperature=1 / tau),
                               jax.nn.softmax(tau * logits, axis=-1), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(sampler(params, prompt, 20, jax.random.key(6), inverse_temperature=tau),
                                  sampler(params, prompt, 20, jax.random.key(6), temperature=1 / tau))
  assert sampling.resolve_temperature(inverse_temperature=0.0) == math.inf  # tau = 0: uniform
  np.testing.assert_allclose(sampling.next_token_probs(logits, inverse_temperature=0.0), 1 / len(VOCAB), rtol=1e-6)
  with pytest.raises(sampling.SamplingError, match="not both"):
    sampling.resolve_temperature(0.5, 2.0)
  with pytest.raises(sampling.SamplingError, match="temperature must be >= 0"):
    sampling.resolve_temperature(-1.0)


def test_top_k_keeps_only_the_k_most_likely(tiny):
  model, params, sampler, prompt = tiny
  greedy = sampler(params, prompt, 20, jax.random.key(7), temperature=0.0)
  np.testing.assert_array_equal(sampler(params, prompt, 20, jax.random.key(7), temperature=5.0, top_k=1), greedy)
  tokens, logits = sampler(params, prompt, 30, jax.random.key(7), temperature=5.0, top_k=2, return_logits=True)
  top2 = np.argsort(-logits, axis=-1)[..., :2]
  assert (tokens[..., None] == top2).any(-1).all()
  probs = sampling.next_token_probs(logits[:, 0], temperature=1.0, top_k=2)
  assert ((np.asarray(probs) > 0).sum(-1) == 2).all()


def test_prompt_completion_starts_with_the_prompt_and_unknown_characters_are_named(tiny):
  model, params, sampler, _ = tiny
  text = sampling.complete(sampler, params, VOCAB, "The bat", 15, jax.random.key(8), temperature=0.5)
  assert text.startswith("The bat") and len(text) == len("The bat") + 15 and set(text) <= set(VOCAB)
  with pytest.raises(sampling.UnknownCharactersError, match=r"'Z' \(U\+005A\), 'ü' \(U\+00FC\)"):
    sampling.complete(sampler, params, VOCAB, "The Zaü", 5, jax.random.key(8))
  with pytest.raises(sampling.SamplingError, match="at least one character"):
    sampling.complete(sampler, params, VOCAB, "", 5, jax.random.key(8))


def test_samples_file_keeps_earlier_milestones_and_replaces_later_ones(tmp_path):
  path = tmp_path / "samples.md"
  write = lambda step, body: language_model.write_samples_section(path, step, f"## Step {step} of 9\n\n{body}\n", "# H\n")
  write(3, "a")
  write(6, "b")
  write(6, "b2")  # a run resumed before step 6 writes it again
  assert path.read_text() == "# H\n\n## Step 3 of 9\n\na\n\n## Step 6 of 9\n\nb2\n"
  write(3, "a2")
  assert path.read_text() == "# H\n\n## Step 3 of 9\n\na2\n"


# --- a trained run: milestone samples and the CLI ------------------------------------------------

@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
  """The smoke config trained into a temporary workdir (real Grimm text from ../shared/data)."""
  workdir = tmp_path_factory.mktemp("grimm_smoke")
  config = grimm_lstm.get_config("smoke")
  with pytest.MonkeyPatch.context() as env:
    env.setenv("RNN_JAX_DATA_DIR", str(SHARED_DATA))
    env.setenv("RNN_JAX_TFDS_DIR", str(tmp_path_factory.getbasetemp() / "tfds"))
    train.train_and_evaluate(config, workdir)
  return workdir, config


def test_training_writes_samples_at_one_two_and_three_thirds(trained_run):
  workdir, config = trained_run
  text = (workdir / "samples.md").read_text()
  steps = [int(line.split()[2]) for line in text.splitlines() if line.startswith("## Step ")]
  assert steps == [2, 4, 6]
  samples = [line.split(None, 1) for line in text.splitlines() if line.startswith(("greedy ", "T="))]
  assert len(samples) == 3 * len(config.seeds) * 4 * 5  # milestones x seeds x (greedy, 3 T) x starts
  vocab = json.loads((workdir / "vocab.json").read_text())
  for _, quoted in samples:
    sample = json.loads(quoted)
    assert len(sample) == language_model.SAMPLE_LENGTH and set(sample) <= set(vocab)
  assert [json.loads(q)[0] for _, q in samples[:5]] == ["T", "I", "A", "H", "W"]


def run_cli(*args):
  return subprocess.run([sys.executable, str(REPO / "launch" / "sample.py"), *args], cwd=REPO,
                        capture_output=True, text=True, timeout=300)


def test_cli_completes_a_prompt_and_rejects_unknown_characters_in_one_line(trained_run):
  workdir, _ = trained_run
  proc = run_cli(f"--workdir={workdir}", "--prompt=Once upon", "--length=25", "--temperature=0.7", "--seed=1",
                 "--top_k=5", "--checkpoint=latest")
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.startswith("Once upon") and len(proc.stdout.rstrip("\n")) >= len("Once upon") + 20
  proc = run_cli(f"--workdir={workdir}", "--prompt=Once 日本", "--length=5")
  assert proc.returncode != 0 and "Traceback" not in proc.stderr
  assert proc.stderr.strip().splitlines()[-1] == (
      "error: the prompt has 2 character(s) not in the run's vocabulary of 80: '日' (U+65E5), '本' (U+672C)")


def test_load_run_picks_the_seed_slice_and_refuses_other_workdirs(trained_run, tmp_path):
  workdir, config = trained_run
  best = trained_runs.load_run(workdir, seed=1)
  latest = trained_runs.load_run(workdir, checkpoint="latest", seed=0)
  assert best.seed == 1 and best.step == config.num_train_steps and len(best.vocab) == 80
  assert jax.tree.leaves(best.params)[0].shape == jax.tree.leaves(latest.params)[0].shape  # seed axis gone
  assert not np.array_equal(jax.tree.leaves(latest.params)[0],
                            jax.tree.leaves(trained_runs.load_run(workdir, checkpoint="latest", seed=1).params)[0])
  with pytest.raises(sampling.SamplingError, match="seed 5 was not trained"):
    trained_runs.load_run(workdir, seed=5)
  with pytest.raises(sampling.SamplingError, match="no config.json"):
    trained_runs.load_run(tmp_path)
  (tmp_path / "config.json").write_text(json.dumps({"task": "toy", "seeds": [0]}))
  with pytest.raises(sampling.SamplingError, match="not a language model"):
    trained_runs.load_run(tmp_path)
  (tmp_path / "config.json").write_text((workdir / "config.json").read_text())
  (tmp_path / "vocab.json").write_text((workdir / "vocab.json").read_text())
  with pytest.raises(sampling.SamplingError, match="has no checkpoint"):
    trained_runs.load_run(tmp_path)



# --- word-level runs: word prompts, <eos> ends each sample --------------------------------------------

def test_stop_id_ends_each_row_independently_and_a_finished_row_repeats_it(tiny):
  model, params, sampler, prompt = tiny
  key = jax.random.key(3)
  free = sampler(params, prompt, 30, key, temperature=1.0)
  stop = int(free[0, 4])  # a token row 0 draws at step 4 (and maybe earlier)
  stopped = sampler(params, prompt, 30, key, temperature=1.0, stop_id=stop)
  lengths = sampling.generated_lengths(stopped, stop)
  for row_free, row, n in zip(free, stopped, lengths):
    hits = np.flatnonzero(row_free == stop)
    expected = hits[0] + 1 if len(hits) else 30
    assert n == expected
    np.testing.assert_array_equal(row[:n], row_free[:n])  # identical up to the stop: same key, same draws
    assert np.all(row[n:] == stop)
  assert lengths[0] <= 5


def test_word_prompts_and_unknown_words_are_named():
  vocab = ["<unk>", "the", "<eos>", "company"]
  np.testing.assert_array_equal(sampling.encode_words("the  company <eos>", vocab), [1, 3, 2])
  with pytest.raises(sampling.UnknownCharactersError, match=r"2 word\(s\) not in the run's vocabulary of 4: "
                     r"'Company', 'said' \(rare words are written <unk>"):
    sampling.encode_words("the Company said", vocab)


@pytest.fixture(scope="module")
def trained_word_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("ptb_run")
  import importlib
  config = importlib.import_module("experiments.ptb_lstm").get_config("smoke")
  with pytest.MonkeyPatch.context() as mp:
    mp.setenv("RNN_JAX_DATA_DIR", str(SHARED_DATA))
    mp.setenv("RNN_JAX_TFDS_DIR", str(tmp_path_factory.getbasetemp() / "tfds"))
    train.train_and_evaluate(config, workdir)
  return workdir


def test_cli_samples_words_until_eos_and_names_an_unknown_word(trained_word_run):
  vocab = json.loads((trained_word_run / "vocab.json").read_text())
  assert len(vocab) == 10000 and "<eos>" in vocab
  proc = run_cli(f"--workdir={trained_word_run}", "--prompt=the company said", "--length=12", "--num_samples=4",
                 "--temperature=1.5")
  assert proc.returncode == 0, proc.stderr
  lines = proc.stdout.rstrip("\n").split("\n")
  assert len(lines) == 4
  for line in lines:
    words = line.split()
    assert words[:3] == ["the", "company", "said"] and 3 <= len(words) <= 15 and "<eos>" not in words
    assert all(w in vocab for w in words)
  proc = run_cli(f"--workdir={trained_word_run}", "--prompt=the qwertyuiop said", "--length=5")
  assert proc.returncode != 0 and "Traceback" not in proc.stderr
  assert proc.stderr.strip().splitlines()[-1].startswith("error: the prompt has 1 word(s) not in the run's vocabulary "
                                                         "of 10000: 'qwertyuiop'")
