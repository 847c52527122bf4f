"""The core's own strategies (stores ``file`` and ``memory``, signer ``bearer``, flow
``none``), registered by the plugin host in code, before any entry point."""
