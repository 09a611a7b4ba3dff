"""Agreement pricing with notice (协议定价 + 公示): a price agreed with one buyer, publicly noticed
for at least 15 days, open to objections, and only then dealt and settled like any other sale."""
