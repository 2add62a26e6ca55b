"""Customers in the dashboard: search, a customer's page, new customers and subscriptions."""
