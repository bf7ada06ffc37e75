"""Character-level 2x256 LSTM on Grimms' Fairy Tales: the report's cell size, the 2020 UvA course's setup otherwise.

Command: python launch/main.py --config=experiments/grimm_lstm.py   (or :smoke; another text: --config.data.path=FILE)
Runtime on a 2-core CPU, 3 seeds: 64 min with a PTB training sharing the CPU (measured).
Result: training accuracy 0.671 +/- 0.001 at step 5,000, validation 0.577 +/- 0.003 (docs/results/grimm.md).
"""
from ml_collections import ConfigDict, config_dict

from experiments import common


def get_config(arg: str | None = None) -> ConfigDict:
  c = common.run_config("grimm_lstm", "chars", num_train_steps=5000)
  c.batch_size = 64
  c.optimizer = "adam"
  c.learning_rate = 2e-3
  c.schedule = common.schedule("step_decay", "steps", hold=5000.0, every=5000.0, gamma=0.96)  # steps
  c.grad_clip_norm = 5.0
  c.log_every_steps = 100
  c.eval_every_steps = 500
  c.checkpoint_every_steps = 1000

  c.data = ConfigDict()
  c.data.path = config_dict.placeholder(str)  # unset = Grimm; else any UTF-8 text file
  c.data.window_tokens = 30      # window length (characters); targets are the next 30
  c.data.gutenberg_body_only = True  # keep only the book between Gutenberg's START/END lines (if present)
  c.data.valid_fraction = 0.05   # the last 5% of the (book) text is held out
  c.data.eval_batch_size = 256   # windows per evaluation batch
  c.data.manual_dir = config_dict.placeholder(str)  # folder with grimms_fairy_tales.txt; unset = $RNN_JAX_DATA_DIR/grimm, then download
  c.data.tfds_dir = config_dict.placeholder(str)    # TFDS data dir; unset = $RNN_JAX_TFDS_DIR or ~/tensorflow_datasets

  c.model = ConfigDict()
  c.model.cell = "lstm"
  c.model.features = 256        # the report: "embedding dimension 64 ... a quarter of the cell state size"
  c.model.embed_dim = 64
  c.model.num_layers = 2
  c.model.word_dropout = 0.0      # dropout placements: see rnn_jax/models.py LanguageModel
  c.model.input_dropout = 0.0
  c.model.between_dropout = 0.0
  c.model.output_dropout = 0.0
  c.model.variational_dropout = False
  c.model.init_scale = config_dict.placeholder(float)  # unset = Flax's default initialisers; s = U(-s, s) everywhere
  c.model.tie_embeddings = False
  c.model.cell_kwargs = ConfigDict()

  return common.apply_argument(c, arg, apply_smoke)


def apply_smoke(c: ConfigDict) -> None:
  """Tiny widths and 6 steps (samples at steps 2, 4 and 6); seconds on a CPU."""
  c.name += "_smoke"
  c.seeds = (0, 1)
  c.num_train_steps = 6
  c.batch_size = 8
  c.schedule.hold_steps = c.schedule.every_steps = 3.0
  c.data.window_tokens = 10
  c.data.eval_batch_size = 512
  c.model.features = 16
  c.model.embed_dim = 8
  c.log_every_steps = c.eval_every_steps = c.checkpoint_every_steps = 3
