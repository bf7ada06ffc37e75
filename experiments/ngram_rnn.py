"""A recurrent network on Penn Treebank 4-grams: the NPLM's data and softmax, an RNN over the context.

Command (the argument: any of D=<embedding>, H=<hidden units>, cell=rnn|lstm|gru, k=<BPTT horizon>, smoke):
  RNN_JAX_DATA_DIR=../shared/data python launch/main.py --config=experiments/ngram_rnn.py        # SimpleRNN, D=16 H=128, full BPTT
  RNN_JAX_DATA_DIR=../shared/data python launch/main.py --config=experiments/ngram_rnn.py:D=32   # issue 15 D.4 (D = 16/32/64/128)
  RNN_JAX_DATA_DIR=../shared/data python launch/main.py --config=experiments/ngram_rnn.py:k=1    # issue 15 D.5 (truncated BPTT)
  python launch/main.py --config=experiments/ngram_rnn.py:smoke                                  # seconds, for checks

Model (rnn_jax/models.py NgramRNN): the 3 context words' embeddings (D = 16) -> one recurrent layer
of H = 128 units (SimpleRNN by default) from a zero state -> its last state -> softmax over the 8,000
types; 1,178,560 parameters with SimpleRNN at the defaults. ``k`` (model.bptt_truncation) lets the
loss's gradient reach back only the last k of the 3 steps (rnn_jax/layers.py RNNLayer); unset is
full BPTT, and k >= 3 is the same. Data, training, metrics and evaluation as experiments/ngram_nplm.py,
whose base config this one extends, so RNN and NPLM runs compare at the same D, H, batch, learning
rate and epochs (issue 15 D.3).

Expected runtime on the 2-core CPU, 3 seeds: not yet measured. Estimate: ~15 minutes at H = 128,
as ngram_nplm.py: the fastest of 100 steps took 42.6 ms (median 49.9 ms, CPU shared, load
average 7.8), the same as the NPLM's, since the softmax layer dominates both:
  RNN_JAX_DATA_DIR=../shared/data python launch/bench_train_step.py --config=experiments/ngram_rnn.py \
      --config.seeds='(0,)' --batchings=auto --repeats=100
k = 1 ran 14.3 steps/s against 13.7 for full BPTT in a scratch probe of the trainer's step (shared
CPU): the truncated scan's k copies of the 3-step state are negligible next to the softmax.
Expected result: not yet measured. The report found D = 32 best among D = 16/32/64/128.
"""
from ml_collections import ConfigDict, config_dict

from experiments import common, ngram_nplm

#: the config argument's keys and their types: D, H as ngram_nplm.py; cell = model.cell, k = model.bptt_truncation
ARGUMENTS = {"D": int, "H": int, "cell": str, "k": int}


def get_config(arg: str | None = None) -> ConfigDict:
  values, smoke = common.parse_argument(arg, ARGUMENTS)
  c = ngram_nplm.base_config("ngram_rnn", "rnn")
  c.model.cell = values.get("cell", "rnn")   # rnn | lstm | gru | peephole_lstm
  c.model.bptt_truncation = config_dict.placeholder(int)  # k: unset = full BPTT
  if "k" in values:
    c.model.bptt_truncation = values["k"]
  c.model.cell_kwargs = ConfigDict()
  c.model.embed_dim = values.get("D", c.model.embed_dim)
  c.model.features = values.get("H", c.model.features)
  k = c.model.bptt_truncation
  c.name = f"ngram_rnn_{c.model.cell}_D{c.model.embed_dim}_H{c.model.features}" + ("" if k is None else f"_k{k}")
  if smoke:
    ngram_nplm.apply_smoke(c)
  return c
