"""Where the bearer double used to live: it is the test bench's now
(:mod:`brokerauth_sandbox.bearer`), and the tests take it from there (the
``bearer_double_installed`` fixture).  What is left here serves only ``bench/stores.py`` and
``bench/sqlstore.py``, which still put ``installed/`` (the same entry points, naming the
bench's modules) and this folder's parent on their path; remove it once they use
``brokerauth_sandbox.bearer.INSTALLED`` and ``brokerauth_sandbox.bearer.sandbox``.
"""
