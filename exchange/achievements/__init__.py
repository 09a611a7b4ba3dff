"""The achievement registry (科技成果登记): what institutions own and may list."""
