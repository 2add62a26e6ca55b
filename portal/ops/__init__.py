"""Running the portal in production: health checks, structured logs with a request id, and
Prometheus metrics (README "Running in production")."""
