"""The contract between the core and a plugin: the hookspecs, and every type a hook receives
or returns (tokens, requests and answers, verdicts, specs, errors, the clock and the user).

A plugin author reads :mod:`brokerauth.contract.hookspecs` first; nothing here depends on the
engine, so it can be read (and imported) on its own.
"""
