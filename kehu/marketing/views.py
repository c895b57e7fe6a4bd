"""Pages of 精准营销."""
