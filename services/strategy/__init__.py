"""The strategy service room."""
