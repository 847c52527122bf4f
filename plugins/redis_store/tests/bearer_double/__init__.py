"""The Redis store tests' broker: as little as a broker can be and still refresh (the built-in
bearer signer, client credentials with rotating refresh tokens), and an emulator of its server
that counts refreshes and can hold one open, so that a fleet sharing Redis shows whether it
refreshed once.

It is installed for these tests only, without pip: ``installed/`` holds the metadata pip
would have written, and the tests' ``conftest.py`` puts that folder on the path of the test
process and of every process a test starts.
"""
