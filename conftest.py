"""Settings shared by every test folder of the project (core, plugins, examples)."""

from hypothesis import HealthCheck, settings

# The test bench's fixtures and the secret canary are opt-in: installing brokerauth (or any
# plugin) never adds them to someone else's test run.
pytest_plugins = ["brokerauth_sandbox.pytest_plugin"]

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
