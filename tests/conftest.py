"""Test set-up: emulate 4 CPU devices so multi-device code is exercised on every machine, and share
compiled programs between the tests of one pytest run.

XLA reads XLA_FLAGS once, when jax initialises its backends, so this must run before any test
module imports jax.

Many tests train the same tiny configs more than once (a run and its resumed copy, the launches of a
sweep, subprocesses of the CLI), and on a 2-core CPU compiling dominates them. JAX's persistent
compilation cache, in one temporary folder per pytest run, lets every later compile of an identical
program load it instead: the xdist workers and every subprocess inherit the folder through the
environment. A cached program is the compiled program, so results are unchanged. Set
JAX_COMPILATION_CACHE_DIR yourself to choose (and keep) the folder.
"""
import atexit
import os
import shutil
import tempfile

_FLAG = "--xla_force_host_platform_device_count=4"
if _FLAG not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _FLAG).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:  # the first process of the run (xdist's controller)
  _cache = tempfile.mkdtemp(prefix="rnn_jax_test_xla_cache_")
  atexit.register(shutil.rmtree, _cache, ignore_errors=True)
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")  # cache every program, however quick
