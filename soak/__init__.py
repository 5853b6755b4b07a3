"""Chaos soak (``python -m soak``): steady load while every part is SIGKILLed and restarted, then an exact check."""
