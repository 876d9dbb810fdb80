"""The risk service room."""
