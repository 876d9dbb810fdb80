"""The safety policy the router applies: the crisis protocol and output screening."""
