"""The survey engine: survey flows as data, answer understanding, and the next step."""
