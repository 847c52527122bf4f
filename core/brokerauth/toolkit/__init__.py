"""What a plugin author builds a broker with: OAuth 2.0 helpers and the loopback listener,
private files and the token codec, settings checks, strict numbers, secrets, call budgets.

Optional: a plugin may use any of it, and the engine uses the same pieces.
"""
