"""hedged: rest post-only maker orders on Extended, hedge every fill with a taker order on Lighter."""

__version__ = "0.1.0"
