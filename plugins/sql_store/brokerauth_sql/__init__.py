"""brokerauth-sql: the ``sql`` token store, one row per profile and identity in a database."""
