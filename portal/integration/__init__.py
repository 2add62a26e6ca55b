"""The merchant's systems: secret API keys and idempotent requests, for the /v1 API
(portal/api/) and the dashboard alike."""
