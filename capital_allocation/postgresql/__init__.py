"""Django's PostgreSQL backend with the connection health check made once a second (``base``)."""
