"""One-time sealed quotes (一次性报价) and weighted quotes (综合评议) among a listing's buyers."""
