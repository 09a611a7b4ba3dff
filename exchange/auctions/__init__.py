"""Live English auctions: the single-writer sequencer, durable timers, the Redis feed."""
