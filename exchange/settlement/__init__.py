"""Escrow and settlement: deposits, trades from close to release, payouts, certificates."""
