"""The contract suite shipped in brokerauth.testing, run against the example plugin."""

from brokerauth.testing import BrokerContract


class TestAcmeContract(BrokerContract):
    broker = "acme"
    protected = ("GET", "/api/me")
