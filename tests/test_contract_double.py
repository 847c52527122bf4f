"""The contract suite shipped in brokerauth_sandbox.pytest_plugin, run against the example
plugin."""

from brokerauth_sandbox.pytest_plugin import BrokerContract


class TestDoubleContract(BrokerContract):
    broker = "double"
    protected = ("GET", "/api/me")
