"""Penn Treebank small LSTM (Zaremba et al. 2014: embedding 200, 2x200, batch 20, windows of 20), tied, no dropout.

Command: python launch/main.py --config=experiments/ptb_lstm.py --config.seeds='(0,)'   (:smoke runs in seconds)
Runtime on a 2-core CPU, one seed: 55 min alone, 106 min beside a second one-seed training.
Result: test perplexity 110.3 +- 1.2 over seeds 0, 1, 2 (110.53 / 109.00 / 111.33; target <= 110 missed).
"""
from ml_collections import ConfigDict, config_dict

from experiments import common


def get_config(arg: str | None = None) -> ConfigDict:
  c = common.run_config("ptb_lstm", "ptb", num_epochs=13)
  c.batch_size = 20
  c.optimizer = "sgd"
  c.learning_rate = 1.0
  c.schedule = common.schedule("step_decay", "epochs", hold=4.0, every=1.0, gamma=0.5)  # epochs
  c.grad_clip_norm = 5.0
  c.log_every_steps = 200
  c.eval_every_steps = 0  # after every epoch
  c.checkpoint_every_steps = 1000

  c.data = ConfigDict()
  c.data.window_tokens = 20     # truncated-BPTT length: tokens per training window
  c.data.eval_batch_size = 1    # evaluation streams (1 = the whole split as one stream, as the reference test)
  c.data.manual_dir = config_dict.placeholder(str)  # folder with ptb.{train,valid,test}.txt; unset = $RNN_JAX_DATA_DIR/ptb, then download
  c.data.tfds_dir = config_dict.placeholder(str)    # TFDS data dir; unset = $RNN_JAX_TFDS_DIR or ~/tensorflow_datasets
  c.data.final_eval_train = True  # the final evaluation includes a full pass over train

  c.model = ConfigDict()
  c.model.cell = "lstm"
  c.model.features = 200
  c.model.embed_dim = 200
  c.model.num_layers = 2
  c.model.word_dropout = 0.0     # whole rows of the input embedding (rnn_jax/models.py LanguageModel)
  c.model.input_dropout = 0.0    # on the embedding output
  c.model.between_dropout = 0.0  # between the layers
  c.model.output_dropout = 0.0   # on the last layer's output
  c.model.variational_dropout = False  # True: one mask per window for all time steps; False: per step (Zaremba)
  c.model.init_scale = 0.1
  c.model.tie_embeddings = True
  c.model.cell_kwargs = ConfigDict()

  return finish(c, arg)


def finish(c: ConfigDict, arg: str | None) -> ConfigDict:
  """Applies the config argument: none, or `smoke`."""
  return common.apply_argument(c, arg, apply_smoke)


def apply_smoke(c: ConfigDict) -> None:
  """Tiny widths and 30 steps instead of epochs (the step-based schedule is then in steps); seconds on a CPU."""
  c.name += "_smoke"
  c.seeds = (0, 1)
  del c.num_epochs
  c.num_train_steps = 30
  c.schedule = common.schedule(c.schedule.name, "steps", hold=10.0, every=10.0, gamma=c.schedule.gamma)
  c.data.eval_batch_size = 128
  c.data.final_eval_train = False
  c.data.window_tokens = 35
  c.model.features = c.model.embed_dim = 16
  c.log_every_steps = c.eval_every_steps = 10
  c.checkpoint_every_steps = 20
