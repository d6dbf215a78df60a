"""Games on disk: synthetic corpora (generate, shards), imported championship games (pgn,
wthor, records) and the HDF5 games file (corpus), with a game of it as a ``Game``."""
