"""brokerauth-redis: the ``redis`` token store, shared by every process on every machine."""
