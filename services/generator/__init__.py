"""The generator service room."""
