"""The fault-injection suite: ``python -m tools.faults.run``."""
