"""brokerauth's test bench: what tests and the demo run brokers against, never the core.

* :mod:`~brokerauth_sandbox.server` — the toolkit broker emulators are built with (a loopback
  HTTP server, a headless browser for logins);
* :mod:`~brokerauth_sandbox.emulators` — brokers' emulators, found through the entry-point
  group ``brokerauth.sandbox``;
* :mod:`~brokerauth_sandbox.pytest_plugin` — opt-in fixtures and the contract suite
  (``pytest_plugins = ["brokerauth_sandbox.pytest_plugin"]`` in a conftest, or
  ``pytest -p brokerauth_sandbox.pytest_plugin``), with the secret canary
  (``--secret-canary``);
* :mod:`~brokerauth_sandbox.clock` — a manual clock; :mod:`~brokerauth_sandbox.fleet` — many
  processes on one token; :mod:`~brokerauth_sandbox.demo` — what ``brokerauth demo`` runs.
"""
