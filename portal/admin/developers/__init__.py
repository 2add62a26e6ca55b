"""Dashboard: Developers (secret API keys for the /v1 API; the webhooks pages link from it)."""
