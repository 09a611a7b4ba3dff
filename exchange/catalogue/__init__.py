"""The public catalogue: announced listings, searchable in Chinese and English."""
