"""The numbers of the business (MRR, subscriptions, payments by month) and the audit log.

Plain Python over a session and ``now``: the dashboard's pages, the later Stripe-compatible
API and the benchmarks call the same functions. No Flask request in here.
"""
