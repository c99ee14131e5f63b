"""The headless core of concviz: runs models, records events, folds them into Frames.

Nothing under this package imports Textual or Rich (a test checks it in a fresh interpreter).
"""
