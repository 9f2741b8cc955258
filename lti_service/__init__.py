"""Quality Club: an LTI 1.3 / LTI Advantage tool for peer-learning clubs on mobility quality."""

__version__ = "0.1.0"
