"""A recurrent network on PTB 4-grams (the NPLM's data and softmax); argument: D=,H=,cell=rnn|lstm|gru,k=,smoke.

Command: python launch/main.py --config=experiments/ngram_rnn.py   (e.g. :D=32, :k=1 for truncated BPTT, :smoke)
Runtime on a 2-core CPU, 3 seeds: 16-22 min beside a PTB training (docs/results/ngram.md).
Result: valid perplexity 178.5 +- 1.8, test 191.4 +- 1.7 (D=16); D=128: valid 155.0 +- 0.6; k=1: valid 187.7 +- 1.7.
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
