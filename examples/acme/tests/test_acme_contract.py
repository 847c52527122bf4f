"""The test bench's contract suite run against Acme: where a broker plugin's tests start."""

from brokerauth_sandbox.pytest_plugin import BrokerContract


class TestAcmeContract(BrokerContract):
    broker = "acme"
    protected = ("GET", "/api/me")  # a request the sandbox accepts only when signed
