"""The learning-rate schedule kinds a config may name, and the fields each one reads.

Kept free of JAX so that reporting (which leaves unused fields out of its tables) stays light;
`rnn_jax.optim` builds the schedules.
"""

SCHEDULES = ("constant", "step_decay", "exponential", "plateau")
# The schedule fields each kind reads; the others are ignored (and left out of reports).
_DECAY = ("hold_epochs", "every_epochs", "hold_steps", "every_steps", "gamma")  # a config has one unit's pair
SCHEDULE_FIELDS = {"constant": (), "step_decay": _DECAY, "exponential": _DECAY, "plateau": ("divide_by", "patience_evals")}
