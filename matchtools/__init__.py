"""Tools around the API: match generator (and, later, importer, smoke test, load replay)."""
