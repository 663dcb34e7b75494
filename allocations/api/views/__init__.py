"""API views by resource; ``allocations.api.urls`` maps them."""
