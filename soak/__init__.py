"""``make soak``: load, faults and bad input through the whole local pipeline (never deployed)."""
