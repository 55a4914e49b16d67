"""The iron condor strategy: snapshot, entry (one mleg order), management, trade booking."""
