"""Talk mode: decks of scenes (TOML, validated before anything runs) and their figures.

Headless: nothing in this package imports textual or rich except the talk screen itself.
"""
