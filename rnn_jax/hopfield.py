"""Hopfield networks (Hopfield 1982): Hebbian storage of ±1 patterns, sign dynamics, recall against load.

Definitions (N units, P stored patterns ``ξ^μ ∈ {-1, +1}^N``, load ``α = P/N``):

* Weights (Hebb's rule): ``W = (1/N) Σ_μ ξ^μ ξ^μᵀ`` with ``W_ii = 0`` -- symmetric, zero diagonal.
* Local field of unit i: ``h_i = Σ_j W_ij s_j``. Sign update: ``s_i ← +1`` if ``h_i > 0``, ``-1`` if
  ``h_i < 0``, unchanged if ``h_i = 0`` (a tie keeps the unit as it is).
* Synchronous dynamics: every unit at once, ``s ← sgn(W s)``; it can end in a 2-cycle.
* Asynchronous dynamics: one unit at a time, each seeing the latest state, in a random order (a fresh
  permutation every sweep of N updates, shared by the probes of a batch). With symmetric ``W`` and a
  zero diagonal the energy ``-½ sᵀWs`` falls with every flip, so it always reaches a fixed point in the end.
* Both run until a sweep (asynchronous) or step (synchronous) changes no unit of any probe, or for at
  most ``max_sweeps``; a probe has *converged* when its last sweep changed nothing.
* Probe: a stored pattern with every bit flipped independently with probability ``flip_rate``.
* Overlap of the final state ``s`` with the probe's pattern: ``m = (1/N) Σ_i s_i ξ_i ∈ [-1, 1]``.
* **Recall** = the fraction of probes whose final overlap is ``>= overlap_threshold`` (default 0.9:
  the retrieval state below capacity has ``m > 0.96``, Amit, Gutfreund & Sompolinsky 1985, so 0.9
  accepts it with its few wrong bits and rejects spurious and collapsed states). **Exact recall** =
  the fraction that end exactly on their pattern (``m = 1``).

The classic result this reproduces: for large N, recall of the retrieval state breaks down near
``α_c ≈ 0.138``; exact recall breaks down much earlier at finite N.

Numerics: the experiment keeps ``N·W`` (integer-valued, exact in float32), so every local field is an
exact integer and a tie is a true tie; the positive factor ``1/N`` changes no sign.
"""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from matplotlib.figure import Figure

from rnn_jax.errors import ConfigError
from rnn_jax import reporting
from rnn_jax.reporting import mean_and_std

Array = jax.Array
UPDATES = ("async", "sync")
CAPACITY = 0.138  # α_c of Amit, Gutfreund & Sompolinsky (1985), N → ∞
JSON_FILE = "hopfield.json"
PLOT_FILE = "hopfield_recall.png"


# ---------------------------------------------------------------------------------------- network

def random_patterns(key: Array, num_patterns: int, num_units: int) -> Array:
  """``[P, N]`` float32 patterns with independent, equiprobable ±1 entries."""
  return jax.random.rademacher(key, (num_patterns, num_units), jnp.float32)


def hebbian_weights(patterns: Array, normalize: bool = True) -> Array:
  """``W = (1/N) Σ_μ ξ^μ ξ^μᵀ`` with a zero diagonal, ``[N, N]``; ``normalize=False``: ``N·W``."""
  n = patterns.shape[-1]
  w = patterns.T @ patterns  # [N, N]; integer sums, exact in float32 while P < 2**24
  w = jnp.where(jnp.eye(n, dtype=bool), 0.0, w)
  return w / n if normalize else w


def _sign_keep(field: Array, state: Array) -> Array:
  """+1 / -1 by the sign of ``field``; where it is exactly 0 the unit keeps ``state``."""
  return jnp.where(field > 0, 1.0, jnp.where(field < 0, -1.0, state)).astype(state.dtype)


def sync_update(w: Array, states: Array) -> Array:
  """One synchronous step for ``states`` ``[..., N]``: ``s_i ← sgn(Σ_j W_ij s_j)`` for all i at once."""
  return _sign_keep(states @ w.T, states)


def async_sweep(w: Array, states: Array, order: Array) -> Array:
  """N asynchronous single-unit updates of ``states`` ``[batch, N]`` in the unit order ``order`` ``[N]``."""

  def update_unit(k, s):
    i = order[k]
    field = s @ w[i]  # [batch]: Σ_j W_ij s_j with the latest s
    return s.at[:, i].set(_sign_keep(field, s[:, i]))

  return lax.fori_loop(0, order.shape[0], update_unit, states)


def run_dynamics(w: Array, states: Array, key: Array, update: str, max_sweeps: int) -> tuple[Array, Array, Array]:
  """``(final states [batch, N], sweeps run, converged [batch])``; see the module docstring."""
  if update not in UPDATES:
    raise ValueError(f"unknown update {update!r}; choose one of {UPDATES}")
  n = states.shape[-1]

  def step(sweep, s):
    if update == "sync":
      return sync_update(w, s)
    return async_sweep(w, s, jax.random.permutation(jax.random.fold_in(key, sweep), n))

  def cond(carry):
    sweep, _, changed = carry
    return (sweep < max_sweeps) & jnp.any(changed)

  def body(carry):
    sweep, s, _ = carry
    new = step(sweep, s)
    return sweep + 1, new, jnp.any(new != s, axis=-1)

  changed = jnp.ones(states.shape[:-1], bool)
  sweeps, final, changed = lax.while_loop(cond, body, (jnp.asarray(0), states, changed))
  return final, sweeps, ~changed


# ------------------------------------------------------------------------------------- experiment

@dataclasses.dataclass(frozen=True)
class Setting:
  """The static part of a trial (``jax.jit`` compiles once per setting, whatever the load)."""
  num_units: int
  max_patterns: int  # the largest P of the sweep: patterns are drawn at this size, the first P stored
  num_probes: int
  flip_rate: float
  update: str
  max_sweeps: int
  overlap_threshold: float


@functools.partial(jax.jit, static_argnums=(2,))
def recall_trial(key: Array, num_patterns: Array, setting: Setting) -> dict[str, Array]:
  """Store the first ``num_patterns`` of ``max_patterns`` random patterns, run ``num_probes``
  corrupted probes (probe k starts from pattern ``k mod P``) and measure: recall, exact recall, mean
  overlap, fraction converged, sweeps run. For one key, the stored sets of two loads are nested."""
  s = setting
  pattern_key, flip_key, dynamics_key = jax.random.split(key, 3)
  patterns = random_patterns(pattern_key, s.max_patterns, s.num_units)        # [P_max, N]
  stored = (jnp.arange(s.max_patterns) < num_patterns)[:, None]
  w = hebbian_weights(jnp.where(stored, patterns, 0.0), normalize=False)      # N·W of the first P, exact
  targets = patterns[jnp.arange(s.num_probes) % num_patterns]                 # [probes, N]
  flips = jax.random.bernoulli(flip_key, s.flip_rate, targets.shape)
  probes = jnp.where(flips, -targets, targets)
  final, sweeps, converged = run_dynamics(w, probes, dynamics_key, s.update, s.max_sweeps)
  overlap = jnp.mean(final * targets, axis=-1)                                # [probes]
  return {"recall": jnp.mean(overlap >= s.overlap_threshold), "exact_recall": jnp.mean(jnp.all(final == targets, -1)),
          "overlap": overlap.mean(), "converged": converged.mean(), "sweeps": sweeps}


def num_patterns(load: float, num_units: int) -> int:
  """P for a load: ``round(load * N)``."""
  return round(load * num_units)


def check_config(c) -> None:
  """Raises ``ConfigError`` (one line, naming the field) for values the experiment cannot use."""
  def bad(field, value, need):
    raise ConfigError(f"config.{field} {need}, got {value!r}")

  if not isinstance(c.num_units, int) or c.num_units < 2:
    bad("num_units", c.num_units, "must be an int >= 2")
  if not c.loads:
    bad("loads", c.loads, "must list at least one load P/N")
  for load in c.loads:
    if not load > 0 or num_patterns(load, c.num_units) < 1:
      bad("loads", tuple(c.loads), f"must be > 0 with P = round(load * {c.num_units}) >= 1 for every load")
  if not 0.0 <= c.flip_rate <= 1.0:
    bad("flip_rate", c.flip_rate, "must be in [0, 1]")
  if not 0.0 <= c.overlap_threshold <= 1.0:
    bad("overlap_threshold", c.overlap_threshold, "must be in [0, 1]")
  if c.num_probes < 1:
    bad("num_probes", c.num_probes, "must be >= 1")
  if c.max_sweeps < 1:
    bad("max_sweeps", c.max_sweeps, "must be >= 1")
  if not c.updates or any(u not in UPDATES for u in c.updates):
    bad("updates", tuple(c.updates), f"must name one or more of {UPDATES}")
  seeds = tuple(c.seeds)
  if not seeds or any(not isinstance(s, int) or s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
    bad("seeds", seeds, "must be distinct non-negative ints")


def sweep(c) -> dict[str, Any]:
  """Every (update, load, seed) of config ``c``: ``{"updates": {update: {"P/N": {seed: metrics}}},
  "num_patterns": {"P/N": P}}``. Seed s draws the patterns, probes and update orders from
  ``key(s)`` at every load and for both updates (so async and sync see the same probes)."""
  loads = {f"{num_patterns(a, c.num_units) / c.num_units:.4f}": num_patterns(a, c.num_units) for a in c.loads}
  results: dict[str, Any] = {"num_patterns": loads, "updates": {}}
  for update in c.updates:
    setting = Setting(c.num_units, max(loads.values()), c.num_probes, float(c.flip_rate), update, c.max_sweeps,
                      float(c.overlap_threshold))
    for load, p in loads.items():
      for seed in c.seeds:
        metrics = recall_trial(jax.random.key(seed), jnp.asarray(p), setting)
        results["updates"].setdefault(update, {}).setdefault(load, {})[str(seed)] = {
            k: float(v) for k, v in metrics.items()}
  return results


# -------------------------------------------------------------------------------- table and plot

def format_table(results: Mapping[str, Any]) -> str:
  """Markdown: one row per load; per update, recall and exact recall (mean ± std over seeds), the mean
  final overlap and the mean fraction of probes that reached a fixed point."""
  updates = list(results["updates"])
  header = ["P/N", "P"]
  for u in updates:
    header += [f"{u}: recall", f"{u}: exact recall", f"{u}: overlap", f"{u}: converged"]
  lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---:"] * len(header)) + "|"]
  for load, p in results["num_patterns"].items():
    row = [load, str(p)]
    for u in updates:
      per_seed = results["updates"][u][load].values()
      for metric in ("recall", "exact_recall"):
        mean, std = mean_and_std([m[metric] for m in per_seed])
        row.append(f"{mean:.3f} ± {std:.3f}")
      row += [f"{mean_and_std([m[metric] for m in per_seed])[0]:.3f}" for metric in ("overlap", "converged")]
    lines.append("| " + " | ".join(row) + " |")
  return "\n".join(lines) + "\n"


def plot(results: Mapping[str, Any], title: str, path: Path) -> Path:
  """Recall and mean final overlap against the load P/N: per update a colour, thin lines per seed, the
  mean over seeds (thick) with a ±1 std band (clipped to the metric's range), the mean exact recall
  (dotted), and α_c ≈ 0.138."""
  fig = Figure(figsize=(11.0, 4.2), dpi=110, layout="constrained")
  axes = fig.subplots(1, 2)
  loads = np.array([float(k) for k in results["num_patterns"]])
  for ax, metric, label, low in ((axes[0], "recall", "recall (fraction of probes with overlap ≥ threshold)", 0.0),
                                 (axes[1], "overlap", "mean final overlap m with the probe's pattern", -1.0)):
    for i, (update, per_load) in enumerate(results["updates"].items()):
      color = f"C{i % 10}"
      values = np.array([[m[metric] for m in per_seed.values()] for per_seed in per_load.values()])  # [loads, seeds]
      for column in values.T:
        ax.plot(loads, column, color=color, linewidth=0.8, alpha=0.35)
      mean = values.mean(1)
      several = values.shape[1] >= 2
      ax.plot(loads, mean, color=color, linewidth=2.2, marker="o", markersize=3,
              label=f"{update} ({values.shape[1]} seeds)" + (" ± 1 std" if several else ""))
      if several:
        std = values.std(1, ddof=1)
        ax.fill_between(loads, np.clip(mean - std, low, 1.0), np.clip(mean + std, low, 1.0), color=color,
                        alpha=0.2, linewidth=0)
      if metric == "recall":
        exact = np.array([[m["exact_recall"] for m in per_seed.values()] for per_seed in per_load.values()])
        ax.plot(loads, exact.mean(1), color=color, linewidth=1.2, linestyle=":",
                label=f"{update}: exact recall (m = 1), mean")
    ax.axvline(CAPACITY, color="0.4", linestyle="--", linewidth=1.0, label=f"α_c ≈ {CAPACITY} (N → ∞)")
    ax.set_xlabel("load P/N")
    ax.set_ylabel(label)
    ax.set_ylim(-0.02 if metric == "recall" else None, 1.02)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
  fig.suptitle(title)
  return reporting.save_figure(fig, path)


def write_json(result: Mapping[str, Any], out_dir: Path) -> Path:
  return reporting.write_json(result, out_dir / JSON_FILE)
