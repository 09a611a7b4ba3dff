"""Problem tenders (难题招标 / 揭榜挂帅): a budget escrowed by the owner, released per milestone."""
