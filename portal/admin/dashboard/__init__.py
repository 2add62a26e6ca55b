"""Dashboard home: the numbers of the business over 12 months, and the audit log."""
