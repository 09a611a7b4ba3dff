"""Server-rendered pages in Chinese and English."""
