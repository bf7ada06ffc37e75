"""Neural probabilistic language model (Bengio et al. 2003) on PTB 4-grams; argument: D=,H=,act=linear|tanh,smoke.

Command: python launch/main.py --config=experiments/ngram_nplm.py   (e.g. :H=256, :act=tanh, :D=2, :smoke)
Runtime on a 2-core CPU, 3 seeds: 11 min (D=16, H=128, beside a PTB training); alone 14 min at H=256, 22 min at H=512.
Result: valid perplexity 183.6 +- 2.1, test 195.2 +- 1.8 (H=128, linear); H=256: 179.5, H=512: 177.2, tanh: 181.5, D=2: 336.8.
"""
from ml_collections import ConfigDict, config_dict

from experiments import common

#: the config argument's keys and their types: D = model.embed_dim, H = model.features, act = model.activation
ARGUMENTS = {"D": int, "H": int, "act": str}
EPOCHS = 4


def base_config(name: str, kind: str) -> ConfigDict:
  """The fields both n-gram models share (``ngram_rnn.py`` starts from here too)."""
  c = common.run_config(name, "ngram", num_epochs=EPOCHS)
  c.batch_size = 512
  c.optimizer = "sgd"
  c.learning_rate = 1.0          # on the batch-mean cross-entropy
  c.grad_clip_norm = 5.0        # global norm
  c.log_every_steps = 200
  c.eval_every_steps = 0         # after every epoch
  c.checkpoint_every_steps = 1651  # one epoch at batch 512

  c.data = ConfigDict()
  c.data.order = 4               # n: 3 context words -> the 4th
  c.data.vocab_size = 8000       # types, UNK included
  c.data.train_subset_size = 65_536  # training n-grams evaluated every epoch (fixed subset)
  c.data.eval_batch_size = 4096  # n-grams per evaluation batch
  c.data.manual_dir = config_dict.placeholder(str)  # folder with ptb.*.txt; unset = $RNN_JAX_DATA_DIR/ptb, then download
  c.data.tfds_dir = config_dict.placeholder(str)    # TFDS data dir; unset = $RNN_JAX_TFDS_DIR or ~/tensorflow_datasets

  c.model = ConfigDict()
  c.model.kind = kind            # nplm | rnn
  c.model.embed_dim = 16         # D
  c.model.features = 128         # H
  return c


def get_config(arg: str | None = None) -> ConfigDict:
  values, smoke = common.parse_argument(arg, ARGUMENTS)
  c = base_config("ngram_nplm", "nplm")
  c.model.activation = "linear"  # linear | tanh
  c.model.embed_dim = values.get("D", c.model.embed_dim)
  c.model.features = values.get("H", c.model.features)
  c.model.activation = values.get("act", c.model.activation)
  c.name = f"ngram_nplm_{c.model.activation}_D{c.model.embed_dim}_H{c.model.features}"
  if smoke:
    apply_smoke(c)
  return c


def apply_smoke(c: ConfigDict) -> None:
  """Tiny widths, vocabulary, batches and subsets; 2 seeds, 12 steps; seconds on a CPU (still the real PTB files)."""
  c.name += "_smoke"
  c.seeds = (0, 1)
  del c.num_epochs
  c.num_train_steps = 12
  c.schedule = common.schedule(c.schedule.name, "steps")
  c.batch_size = 32
  c.data.vocab_size = 100        # a 100-way softmax keeps the full valid/test passes cheap
  c.data.train_subset_size = 256
  c.data.eval_batch_size = 8192  # valid and test in a few batches
  c.model.embed_dim = min(c.model.embed_dim, 4)
  c.model.features = min(c.model.features, 8)
  c.log_every_steps = c.eval_every_steps = 6
  c.checkpoint_every_steps = 12

