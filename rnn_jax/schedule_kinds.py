"""The learning-rate schedule kinds a config may name, and the fields each one reads.

Kept free of JAX so that reporting (which leaves unused fields out of its tables) stays light;
`rnn_jax.optim` builds the schedules.
"""

SCHEDULES = ("constant", "step_decay", "exponential")
# The schedule fields each kind reads; the others are ignored (and left out of reports).
SCHEDULE_FIELDS = {"constant": (), "step_decay": ("hold", "every", "gamma"),
                   "exponential": ("hold", "every", "gamma")}
