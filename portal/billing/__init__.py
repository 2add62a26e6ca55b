"""Subscription billing: the arithmetic (calc), invoices from subscriptions (invoicing), the
merchant's retry rules (policy), the engine that renews and charges (engine, charging) and its
command (cli)."""
