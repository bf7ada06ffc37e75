"""Test set-up: emulate 4 CPU devices so multi-device code is exercised on every machine.

XLA reads XLA_FLAGS once, when jax initialises its backends, so this must run before any test
module imports jax.
"""
import os

_FLAG = "--xla_force_host_platform_device_count=4"
if _FLAG not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _FLAG).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
