"""Test-wide settings: float64 is enabled before any array exists (reference tests need it).

Tests that check float32/bfloat16 behaviour create arrays of those dtypes explicitly.
"""

import jax

jax.config.update("jax_enable_x64", True)
