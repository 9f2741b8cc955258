"""LTI 1.3 protocol code. No Flask imports here: views adapt requests to these functions."""
