"""Settings shared by every test folder of the project (core, plugins, examples)."""

from hypothesis import HealthCheck, settings

# Deterministic (the same examples on every run) and free of timing-based failures: a test
# suite that passes or fails by the machine's load would prove nothing.
settings.register_profile(
    "brokerauth",
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
settings.load_profile("brokerauth")
