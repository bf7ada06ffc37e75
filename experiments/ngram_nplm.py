"""Neural probabilistic language model (Bengio et al. 2003) on Penn Treebank 4-grams (CMU 10-707 HW3).

Command (the argument: any of D=<embedding>, H=<hidden units>, act=linear|tanh, smoke, comma-separated):
  RNN_JAX_DATA_DIR=../shared/data python launch/main.py --config=experiments/ngram_nplm.py            # D=16 H=128 linear
  RNN_JAX_DATA_DIR=../shared/data python launch/main.py --config=experiments/ngram_nplm.py:H=256      # issue 15 D.1
  RNN_JAX_DATA_DIR=../shared/data python launch/main.py --config=experiments/ngram_nplm.py:act=tanh   # issue 15 D.2
  RNN_JAX_DATA_DIR=../shared/data python launch/main.py --config=experiments/ngram_nplm.py:D=2        # issue 15 D.6
  python launch/main.py --config=experiments/ngram_nplm.py:smoke                                      # seconds, for checks
Then: python launch/ngram_analysis.py --workdir=runs/ngram_nplm_linear_D16_H128 (neighbours, embedding
plots, generation); python launch/count_params.py --config=experiments/ngram_nplm.py (parameters).

Model (rnn_jax/models.py NPLM): the 3 context words share one embedding of D = 16, concatenated
(48) -> H = 128 hidden units, linear (default) or tanh -> softmax over the 8,000 types. 1,166,272
parameters at the defaults, 1,032,000 of them in the softmax layer (128 x 8,000 + 8,000). The
report counts 264,767 for its model: less than our softmax layer alone, so its figure cannot
include a full H x 8,000 output layer with biases; we count every trainable array.
Data (rnn_jax/data/ngrams.py): 845,453 training 4-grams of START/END-marked PTB sentences, 7,999
words + UNK. Training (rnn_jax/tasks/ngram.py): SGD, lr 1.0 on the batch-mean cross-entropy, batch
512 (1,651 steps per epoch), 4 epochs, each a new permutation of the training 4-grams; gradient
norm clipped at 5 (a guard against a blow-up of the wide linear models; whether it acts is not
measured). Metrics after
every epoch: cross-entropy (nats), perplexity = exp(cross-entropy), top-1 accuracy on valid and on
a fixed subset of 65,536 training 4-grams; the final evaluation (valid, test, train subset) uses
the best-by-validation parameters. 3 seeds, one after another on a CPU.

Expected runtime on the 2-core CPU, 3 seeds: not yet measured. Estimate: ~15 minutes at H = 128,
from 42.5 ms per step (the fastest of 100 steps; median 90 ms with the CPU shared by other jobs,
load average 7.6) x 1,651 steps x 4 epochs x 3 seeds, plus ~4 s of evaluation per epoch and seed:
  RNN_JAX_DATA_DIR=../shared/data python launch/bench_train_step.py --config=experiments/ngram_nplm.py \
      --config.seeds='(0,)' --batchings=auto --repeats=100
The softmax layer dominates the step and grows with H: H = 512 ran 2.4-3.3x slower per step in a
scratch probe of the trainer's step (6.2 vs 15-20 steps/s, same shared CPU), so ~40 minutes for 3
seeds -- over the ~15-minute budget.
Expected result: not yet measured. The report found H = 256 best among linear H = 128/256/512.
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

