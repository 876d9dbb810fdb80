"""The defense service room."""
