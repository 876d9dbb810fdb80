"""The router service room."""
