"""The demo data set loaded on first start: fictional institutions, achievements and listings."""
