"""brokerauth-keyring: the ``keyring`` token store, tokens in the OS keyring (the Secret
Service, the macOS Keychain, the Windows Credential Manager)."""
