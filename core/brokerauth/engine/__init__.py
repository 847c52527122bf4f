"""The engine: profiles resolved into a binding of plugins, the one auth flow every
credential-carrying request goes through, refresh under a cross-process lock, transport.

Plugins never need to import it; applications reach it through :func:`brokerauth.session`.
"""
