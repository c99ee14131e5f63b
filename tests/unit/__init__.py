"""Engine tests: real runs and pure Timeline/Frame tests; nothing here imports Textual."""
