"""ray-lab."""
