"""The exchange application: one package per capability plus infrastructure adapters."""
