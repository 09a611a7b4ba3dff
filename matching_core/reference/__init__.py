"""Simple, obviously-correct engines that the fast books are tested against."""
