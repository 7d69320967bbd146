"""Features for ranking: engagement rates, profiles and the Feast store that serves them."""
