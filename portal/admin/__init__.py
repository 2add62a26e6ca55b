"""The merchant dashboard at /admin: staff sign-in and thin views over the features' operations.

Nothing outside ``portal.admin`` imports from it (architecture.md): the dashboard is a front door
like the portal and the API, and every write it makes is an operation a feature owns.
"""
