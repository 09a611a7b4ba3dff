"""Load tests a load-test team runs against a deployment: `exchange load <scenario>` (see README, "Load tests")."""
