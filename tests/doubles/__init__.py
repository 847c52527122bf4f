"""The core tests' broker: a plugin like any third-party one (HMAC signer, client credentials
with rotating refresh tokens, revocation) and an emulator of its server with knobs that make it
misbehave on cue.

It is installed for the core's tests only, without pip: ``installed/`` holds the metadata pip
would have written (its entry points in the groups ``brokerauth`` and ``brokerauth.sandbox``),
and ``tests/conftest.py`` puts that folder on the path of the test process and of every process
a test starts.
"""
