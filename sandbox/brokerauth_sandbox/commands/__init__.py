"""The ``brokerauth sandbox`` and ``brokerauth demo`` commands (entry-point group
``brokerauth.commands``)."""
