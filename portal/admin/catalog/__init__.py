"""The product catalog in the dashboard: products, their images and prices."""
