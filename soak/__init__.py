"""Chaos soak: steady load with corrections and voids while every part of the pipeline is SIGKILLed and
restarted, then an exact verification against an independent recomputation (``python -m soak``)."""
