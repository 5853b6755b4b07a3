"""Plain-Python core of the football match data processor (no side effects at import)."""
