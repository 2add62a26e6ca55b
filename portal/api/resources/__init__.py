"""The API's endpoints, one module per kind of object (registered by portal/api/views.py)."""
